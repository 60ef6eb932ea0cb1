/**
 * The training loop: shuffled mini-batches through an {@link EmbeddingStage} and the
 * {@link DenseNet}, validation AUC after every epoch, early stopping with patience, and the best
 * checkpoint (stage + dense net) restored at the end. Stage timings are accumulated for the
 * benchmark's split (gather, dense forward/backward, scatter, optimiser, evaluation).
 */
import { MpeError } from '../errors.js';
import { SPLIT_TRAIN, SPLIT_VALID, type Dataset } from '../data/ingest.js';
import { createRng } from '../util/random.js';
import type { DenseNet } from './dense-net.js';
import type { EmbeddingStage } from './embedding-stage.js';
import { predictRows, type SplitMetrics, splitRows } from './evaluate.js';

/** Seconds spent in each stage (summed over batches). */
export interface StageTimes {
  gather: number;
  dense: number;
  scatter: number;
  optimizer: number;
  evaluation: number;
}

export function emptyTimes(): StageTimes {
  return { gather: 0, dense: 0, scatter: 0, optimizer: 0, evaluation: 0 };
}

/** Events a caller can render (progress bar, log lines, JSON). */
export type TrainEvent =
  | { readonly type: 'epoch-start'; readonly phase: string; readonly epoch: number; readonly epochs: number; readonly rows: number }
  | { readonly type: 'batch'; readonly phase: string; readonly epoch: number; readonly rowsDone: number; readonly rows: number; readonly loss: number; readonly samplesPerSecond: number }
  | { readonly type: 'epoch-end'; readonly phase: string; readonly epoch: number; readonly trainLoss: number; readonly valid: SplitMetrics; readonly best: boolean; readonly seconds: number; readonly samplesPerSecond: number }
  | { readonly type: 'log'; readonly message: string }
  | SearchEpochEvent;

/**
 * After each epoch of an MPE search (before the checkpoint decision): the search state, for traces
 * (`bench/fidelity.ts --trace`) and the run summary. Arrays are copies the receiver may keep.
 */
export interface SearchEpochEvent {
  readonly type: 'search-epoch';
  readonly epoch: number;
  readonly validAuc: number;
  /** Average bits per feature of the selection at this epoch. */
  readonly selectedBits: number;
  /** Expected bits per feature under the probabilities. */
  readonly expectedBits: number;
  /** Selected bits per group (group 0 = most frequent ids). */
  readonly bitsPerGroup: readonly number[];
  /** G x K logits and probabilities, row-major. */
  readonly logits: Float32Array;
  readonly probabilities: Float64Array;
}

export interface PhaseOptions {
  /** Name in events and results ('train', 'search', 'retrain'). */
  readonly name: string;
  readonly epochs: number;
  /** Epochs without a validation AUC improvement before stopping. */
  readonly patience: number;
  readonly batchSize: number;
  /** Seed of the per-epoch shuffles. */
  readonly seed: number;
  readonly intraOpThreads?: number;
  readonly onEvent?: (e: TrainEvent) => void;
  /** Called after each epoch's evaluation, before the checkpoint decision (MPE: record the search state). */
  readonly afterEpoch?: (epoch: number, valid: SplitMetrics) => void;
}

export interface EpochRecord {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly valid: SplitMetrics;
  readonly seconds: number;
  readonly samplesPerSecond: number;
}

export interface PhaseResult {
  readonly name: string;
  /** 1-based epoch of the best validation AUC (its checkpoint is restored). */
  readonly bestEpoch: number;
  readonly bestValid: SplitMetrics;
  readonly history: readonly EpochRecord[];
  readonly times: StageTimes;
  /** Training samples processed and the time the training batches took (excluding evaluation). */
  readonly samples: number;
  readonly trainSeconds: number;
}

/** Rows of a batch below which a step is skipped (BatchNorm's unbiased variance needs 2). */
const MIN_BATCH = 2;
/** Batch events at most this often (ms), so rendering never costs a measurable share. */
const EVENT_INTERVAL_MS = 250;

/**
 * Trains `stage` and `net` on the train split for up to `epochs`, keeping the checkpoint with
 * the best validation AUC (restored before returning). Throws MPE_ERR_TRAIN_DIVERGED on a
 * non-finite loss.
 */
export async function fitPhase(ds: Dataset, stage: EmbeddingStage, net: DenseNet, o: PhaseOptions): Promise<PhaseResult> {
  const F = ds.fieldCount;
  const d = stage.d;
  const B = o.batchSize;
  if (!Number.isInteger(B) || B < MIN_BATCH) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `batch size must be an integer >= ${MIN_BATCH}, got ${B}`);
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `epochs must be a positive integer, got ${o.epochs}`);
  if (net.spec.inputDim !== F * d) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `dense input ${net.spec.inputDim} != fields ${F} x d ${d}`);
  const train = splitRows(ds, SPLIT_TRAIN);
  const valid = splitRows(ds, SPLIT_VALID);
  const evalRows = valid.length > 0 ? valid : train; // no valid split: select on train (reported as such)
  const rng = createRng(o.seed);
  const ids = new Int32Array(B * F);
  const x = new Float32Array(B * F * d);
  const y = new Float32Array(B);
  const times = emptyTimes();
  const history: EpochRecord[] = [];
  const emit = o.onEvent;
  let best: { epoch: number; valid: SplitMetrics; stage: unknown; net: ReturnType<DenseNet['snapshot']> } | null = null;
  let samples = 0;
  let trainSeconds = 0;
  let sinceBest = 0;
  const now = () => performance.now();

  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    emit?.({ type: 'epoch-start', phase: o.name, epoch, epochs: o.epochs, rows: train.length });
    // Fisher-Yates shuffle of the train rows.
    for (let i = train.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      const t = train[i]!;
      train[i] = train[j]!;
      train[j] = t;
    }
    const e0 = now();
    let lossSum = 0;
    let lossRows = 0;
    let lastEvent = e0;
    for (let start = 0; start + MIN_BATCH <= train.length; start += B) {
      const n = Math.min(B, train.length - start);
      let t = now();
      for (let i = 0; i < n; i++) {
        const r = train[start + i]!;
        ids.set(ds.ids.subarray(r * F, r * F + F), i * F);
        y[i] = ds.labels[r]!;
      }
      stage.forward(ids, n, F, x, true);
      let t2 = now();
      times.gather += t2 - t;
      t = t2;
      const g = await net.gradients(x, y, n);
      t2 = now();
      times.dense += t2 - t;
      t = t2;
      stage.backwardAndStep(ids, n, F, g.dx);
      t2 = now();
      times.scatter += t2 - t;
      t = t2;
      net.applyGradients(g, n);
      t2 = now();
      times.optimizer += t2 - t;
      const loss = g.loss + stage.regularizerLoss();
      if (!Number.isFinite(loss)) throw new MpeError('MPE_ERR_TRAIN_DIVERGED', `${o.name} epoch ${epoch}, rows ${start}..${start + n}: loss ${loss}`);
      lossSum += g.loss * n;
      lossRows += n;
      if (emit && t2 - lastEvent >= EVENT_INTERVAL_MS) {
        lastEvent = t2;
        emit({ type: 'batch', phase: o.name, epoch, rowsDone: start + n, rows: train.length, loss: lossSum / lossRows, samplesPerSecond: (1000 * lossRows) / (t2 - e0) });
      }
    }
    const seconds = (now() - e0) / 1000;
    samples += lossRows;
    trainSeconds += seconds;
    const v0 = now();
    const pv = await predictRows(ds, evalRows, stage, net, o.intraOpThreads);
    times.evaluation += now() - v0;
    const validMetrics: SplitMetrics = { auc: pv.auc, logLoss: pv.logLoss, rows: pv.rows };
    o.afterEpoch?.(epoch, validMetrics);
    // NaN AUC (one class only) never counts as an improvement, but the first epoch is always kept.
    const improved = best === null || validMetrics.auc > best.valid.auc;
    const rec: EpochRecord = { epoch, trainLoss: lossSum / Math.max(lossRows, 1), valid: validMetrics, seconds, samplesPerSecond: lossRows / seconds };
    history.push(rec);
    emit?.({ type: 'epoch-end', phase: o.name, epoch, trainLoss: rec.trainLoss, valid: validMetrics, best: improved, seconds, samplesPerSecond: rec.samplesPerSecond });
    if (improved) {
      best = { epoch, valid: validMetrics, stage: stage.snapshot(), net: net.snapshot() };
      sinceBest = 0;
    } else if (++sinceBest >= o.patience) {
      emit?.({ type: 'log', message: `${o.name}: early stop after epoch ${epoch} (best epoch ${best!.epoch}, valid AUC ${best!.valid.auc.toFixed(5)})` });
      break;
    }
  }
  // Restore the best checkpoint (a no-op copy when it is the last epoch).
  if (best!.epoch !== history.length) {
    stage.restore(best!.stage);
    net.restore(best!.net);
  }
  for (const k of Object.keys(times) as (keyof StageTimes)[]) times[k] /= 1000;
  return { name: o.name, bestEpoch: best!.epoch, bestValid: best!.valid, history, times, samples, trainSeconds };
}
