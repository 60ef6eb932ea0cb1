/**
 * Scores a split of an ingested data set with a bundle AS SERVED: the bundle's packed table
 * dequantizes the rows and its ONNX scorer runs them. Used by the comparison (row-wise bundles
 * have no trainer evaluation) and by tests that check a bundle reproduces the trainer.
 */
import { loadBundle } from '../bundle/load.js';
import type { Dataset } from '../data/ingest.js';
import { MpeError } from '../errors.js';
import { createScorerSession, scoreBatch } from '../scorer/session.js';
import { splitRows } from '../train/evaluate.js';
import { exactAuc, logLoss } from '../train/metrics.js';

/** Rows per scorer call. */
const BATCH = 4096;

export interface BundleScores {
  readonly auc: number;
  readonly logLoss: number;
  readonly rows: number;
  readonly rowIndex: Int32Array;
  readonly probabilities: Float32Array;
}

/** Scores the rows of `split` (0 train, 1 valid, 2 test) of `ds` with the bundle in `dir`. */
export async function scoreBundleOnSplit(dir: string, ds: Dataset, split: number, intraOpThreads?: number): Promise<BundleScores> {
  const b = await loadBundle(dir, { verify: true });
  const d = b.table.d;
  const F = ds.fieldCount;
  if (b.table.featureCount !== ds.featureCount || b.fields.length !== F) {
    throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `bundle has ${b.table.featureCount} features / ${b.fields.length} fields, data set ${ds.featureCount} / ${F}`);
  }
  const rows = splitRows(ds, split);
  const n = rows.length;
  const probabilities = new Float32Array(n);
  const labels = new Uint8Array(n);
  const ids = new Int32Array(BATCH * F);
  const x = new Float32Array(BATCH * F * d);
  // onnxruntime-node rejects SharedArrayBuffer-backed model bytes: copy into a plain buffer.
  const { session } = await createScorerSession(Uint8Array.from(b.scorerBytes), { provider: 'cpu', ...(intraOpThreads !== undefined ? { intraOpThreads } : {}) });
  try {
    for (let start = 0; start < n; start += BATCH) {
      const m = Math.min(BATCH, n - start);
      for (let i = 0; i < m; i++) {
        const r = rows[start + i]!;
        ids.set(ds.ids.subarray(r * F, r * F + F), i * F);
        labels[start + i] = ds.labels[r]!;
      }
      b.table.dequantize(ids, m * F, x);
      probabilities.set(await scoreBatch(session, x, m, F * d), start);
    }
  } finally {
    await session.release();
  }
  return { auc: exactAuc(probabilities, labels, n), logLoss: logLoss(probabilities, labels, n), rows: n, rowIndex: rows, probabilities };
}
