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

/**
 * The bundle's id of each data-set id, resolved as serving resolves raw values: a token through
 * the bundle's vocabulary (a key that left it, e.g. a pruned feature, gets its field's OOV id),
 * an OOV feature to the bundle's OOV id of its field. Bundles reorder rows (format v2), so data-set
 * ids are not bundle ids.
 */
export function bundleIdsOf(ds: Pick<Dataset, 'vocab' | 'fields' | 'featureCount'>, vocab: { lookup(field: number, token: string): number }, fields: readonly { readonly oovId: number }[]): Int32Array {
  const map = new Int32Array(ds.featureCount).fill(-1);
  for (let f = 0; f < ds.fields.length; f++) {
    map[ds.fields[f]!.oovId] = fields[f]!.oovId;
    const { tokens, ids } = ds.vocab[f]!;
    for (let i = 0; i < tokens.length; i++) {
      const id = vocab.lookup(f, tokens[i]!);
      map[ids[i]!] = id < 0 ? fields[f]!.oovId : id;
    }
  }
  for (let i = 0; i < map.length; i++) if (map[i]! < 0) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `data-set id ${i} has neither a token nor an OOV role`);
  return map;
}

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
    const map = bundleIdsOf(ds, b.vocab, b.fields);
    let mapped = new Int32Array(0);
    return await scoreRowsInBatches(ds, splitRows(ds, split), session, BATCH, F * d, (ids, m, x) => {
      if (mapped.length < m * F) mapped = new Int32Array(m * F);
      for (let i = 0; i < m * F; i++) mapped[i] = map[ids[i]!]!;
      b.table.dequantize(mapped, m * F, x);
    });
  } finally {
    await session.release();
  }
}
