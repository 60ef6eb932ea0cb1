/**
 * Evaluation on a split: embeddings from the stage (inference form), probabilities from the
 * exported scorer graph itself (inference BatchNorm with the running statistics), so the numbers
 * the trainer reports are those of the bundle it writes.
 */
import type { InferenceSession } from 'onnxruntime-node';
import type { Dataset } from '../data/ingest.js';
import { buildMlpScorer } from '../scorer/mlp.js';
import { createScorerSession, scoreBatch } from '../scorer/session.js';
import type { DenseNet } from './dense-net.js';
import type { EmbeddingStage } from './embedding-stage.js';
import { exactAuc, logLoss } from '../stats/auc.js';

export interface SplitMetrics {
  readonly auc: number;
  readonly logLoss: number;
  readonly rows: number;
}

export interface SplitPredictions extends SplitMetrics {
  /** Dataset row index of each prediction. */
  readonly rowIndex: Int32Array;
  readonly probabilities: Float32Array;
}

/** Rows per scorer call: large enough to amortise a run, small enough for a 20 MB input buffer at 624 inputs. */
const EVAL_BATCH = 8192;

/** Row indices of one split. */
export function splitRows(ds: Dataset, split: number): Int32Array {
  let n = 0;
  for (let r = 0; r < ds.rows; r++) if (ds.split[r] === split) n++;
  const out = new Int32Array(n);
  let k = 0;
  for (let r = 0; r < ds.rows; r++) if (ds.split[r] === split) out[k++] = r;
  return out;
}

/**
 * Fills the scorer input `x` (m rows of inputDim floats) from the ids of m rows (`ids`, m * F,
 * row-major): the embedding half of scoring, which differs between a trainer's stage and a
 * bundle's packed table.
 */
export type EmbedBatch = (ids: Int32Array, m: number, x: Float32Array) => void;

/**
 * Scores `rows` of the dataset in batches of `batch` rows: copies each batch's ids and labels,
 * lets `embed` fill the scorer input, runs `session`, and returns the probabilities with AUC and
 * log loss. Shared by {@link predictRows} (the trainer's stage) and `mpe/score-bundle.ts` (a
 * bundle's packed table), so the two evaluations cannot drift apart.
 */
export async function scoreRowsInBatches(ds: Dataset, rows: Int32Array, session: InferenceSession, batch: number, inputDim: number, embed: EmbedBatch): Promise<SplitPredictions> {
  const F = ds.fieldCount;
  const n = rows.length;
  const probabilities = new Float32Array(n);
  const labels = new Uint8Array(n);
  const ids = new Int32Array(batch * F);
  const x = new Float32Array(batch * inputDim);
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    for (let i = 0; i < m; i++) {
      const r = rows[start + i]!;
      ids.set(ds.ids.subarray(r * F, r * F + F), i * F);
      labels[start + i] = ds.labels[r]!;
    }
    embed(ids, m, x);
    probabilities.set(await scoreBatch(session, x, m, inputDim), start);
  }
  return { auc: exactAuc(probabilities, labels, n), logLoss: logLoss(probabilities, labels, n), rows: n, rowIndex: rows, probabilities };
}

/** Scores `rows` of the dataset with the stage and the scorer built from `net`'s current weights. */
export async function predictRows(ds: Dataset, rows: Int32Array, stage: EmbeddingStage, net: DenseNet, intraOpThreads?: number): Promise<SplitPredictions> {
  const F = ds.fieldCount;
  if (rows.length === 0) return { auc: Number.NaN, logLoss: Number.NaN, rows: 0, rowIndex: rows, probabilities: new Float32Array(0) };
  const bytes = buildMlpScorer(net.toMlpWeights());
  const { session } = await createScorerSession(bytes, { provider: 'cpu', allowSpinning: false, ...(intraOpThreads !== undefined ? { intraOpThreads } : {}) });
  try {
    return await scoreRowsInBatches(ds, rows, session, EVAL_BATCH, F * stage.d, (ids, m, x) => stage.forward(ids, m, F, x, false));
  } finally {
    await session.release();
  }
}
