/**
 * Evaluation on a split: embeddings from the stage (inference form), probabilities from the
 * exported scorer graph itself (inference BatchNorm with the running statistics), so the numbers
 * the trainer reports are those of the bundle it writes.
 */
import type { Dataset } from '../data/ingest.js';
import { buildMlpScorer } from '../scorer/mlp.js';
import { createScorerSession, scoreBatch } from '../scorer/session.js';
import type { DenseNet } from './dense-net.js';
import type { EmbeddingStage } from './embedding-stage.js';
import { exactAuc, logLoss } from './metrics.js';

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

/** Scores `rows` of the dataset with the stage and the scorer built from `net`'s current weights. */
export async function predictRows(ds: Dataset, rows: Int32Array, stage: EmbeddingStage, net: DenseNet, intraOpThreads?: number): Promise<SplitPredictions> {
  const F = ds.fieldCount;
  const d = stage.d;
  const dim = F * d;
  const n = rows.length;
  const probabilities = new Float32Array(n);
  const labels = new Uint8Array(n);
  if (n === 0) return { auc: Number.NaN, logLoss: Number.NaN, rows: 0, rowIndex: rows, probabilities };
  const bytes = buildMlpScorer(net.toMlpWeights());
  const { session } = await createScorerSession(bytes, { provider: 'cpu', allowSpinning: false, ...(intraOpThreads !== undefined ? { intraOpThreads } : {}) });
  const ids = new Int32Array(EVAL_BATCH * F);
  const x = new Float32Array(EVAL_BATCH * dim);
  try {
    for (let start = 0; start < n; start += EVAL_BATCH) {
      const m = Math.min(EVAL_BATCH, n - start);
      for (let i = 0; i < m; i++) {
        const r = rows[start + i]!;
        ids.set(ds.ids.subarray(r * F, r * F + F), i * F);
        labels[start + i] = ds.labels[r]!;
      }
      stage.forward(ids, m, F, x, false);
      const p = await scoreBatch(session, x, m, dim);
      probabilities.set(p, start);
    }
  } finally {
    await session.release();
  }
  return { auc: exactAuc(probabilities, labels, n), logLoss: logLoss(probabilities, labels, n), rows: n, rowIndex: rows, probabilities };
}
