/**
 * Scores a split of an ingested data set with a bundle AS SERVED: the bundle's packed table
 * dequantizes the rows and its ONNX scorer runs them. Used by the comparison (row-wise bundles
 * have no trainer evaluation) and by tests that check a bundle reproduces the trainer.
 */
import { loadBundle } from '../bundle/load.js';
import type { Dataset } from '../data/ingest.js';
import { MpeError } from '../errors.js';
import { createScorerSession } from '../scorer/session.js';
import { type SplitPredictions, scoreRowsInBatches, splitRows } from '../train/evaluate.js';

/** Rows per scorer call. */
const BATCH = 4096;

/** Same shape as the trainer's evaluation: AUC, log loss, row indices and probabilities. */
export type BundleScores = SplitPredictions;

/** Scores the rows of `split` (0 train, 1 valid, 2 test) of `ds` with the bundle in `dir`. */
export async function scoreBundleOnSplit(dir: string, ds: Dataset, split: number, intraOpThreads?: number): Promise<BundleScores> {
  const b = await loadBundle(dir, { verify: true });
  const d = b.table.d;
  const F = ds.fieldCount;
  if (b.table.featureCount !== ds.featureCount || b.fields.length !== F) {
    throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `bundle has ${b.table.featureCount} features / ${b.fields.length} fields, data set ${ds.featureCount} / ${F}`);
  }
  // onnxruntime-node rejects SharedArrayBuffer-backed model bytes: copy into a plain buffer.
  const { session } = await createScorerSession(Uint8Array.from(b.scorerBytes), { provider: 'cpu', ...(intraOpThreads !== undefined ? { intraOpThreads } : {}) });
  try {
    return await scoreRowsInBatches(ds, splitRows(ds, split), session, BATCH, F * d, (ids, m, x) => b.table.dequantize(ids, m * F, x));
  } finally {
    await session.release();
  }
}
