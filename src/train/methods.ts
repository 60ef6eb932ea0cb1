/**
 * Training methods: how the embedding stage(s) are trained around the shared loop and dense net.
 * `fp32` is built in; the caller passes the methods it offers to the trainer as a map (no global
 * registry): `TRAINING_METHODS` in mpe/methods.ts adds `mpe` and `uniform` (search + retrain
 * phases through the same `ctx.fit`).
 */
import type { ModelMethod } from '../bundle/manifest.js';
import type { Dataset } from '../data/ingest.js';
import { MpeError } from '../errors.js';
import type { DenseNet } from './dense-net.js';
import type { EmbeddingStage } from './embedding-stage.js';
import { Fp32EmbeddingStage } from './fp32-stage.js';
import type { PhaseOptions, PhaseResult, TrainEvent } from './loop.js';

/** Resolved training options a method may read (defaults applied, validated). */
export interface MethodOptions {
  readonly d: number;
  readonly batchSize: number;
  readonly epochs: number;
  readonly patience: number;
  readonly lr: number;
  readonly seed: number;
  readonly initStd: number;
  /** Method-specific options passed through from the caller (e.g. MPE's lambda, tau). */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** What a method gets: the data, the dense net (shared by all phases) and the loop. */
export interface MethodContext {
  readonly dataset: Dataset;
  readonly options: MethodOptions;
  readonly net: DenseNet;
  /**
   * Runs the training loop on `stage` (defaults for epochs, patience, batch size, seed come from
   * the options); restores the best validation checkpoint of stage and net before returning.
   */
  fit(stage: EmbeddingStage, phase: Partial<Omit<PhaseOptions, 'onEvent' | 'intraOpThreads'>> & { readonly name: string }): Promise<PhaseResult>;
  emit(e: TrainEvent): void;
}

/** What a method returns: the stage whose table goes in the bundle, and free-form manifest info. */
export interface MethodOutcome {
  readonly stage: EmbeddingStage;
  /** Merged into the manifest's `training` object. */
  readonly info?: Readonly<Record<string, unknown>>;
}

export interface TrainingMethod {
  readonly name: ModelMethod;
  /** Checks the method's options (`extra`) before any data is read or training starts; throws an MpeError. */
  validate?(extra: Readonly<Record<string, unknown>>): void;
  run(ctx: MethodContext): Promise<MethodOutcome>;
}

/** The methods a trainer may run, by name (`--method`). */
export type MethodsMap = Readonly<Record<string, TrainingMethod>>;

/** Looks `name` up in `methods`; MPE_ERR_TRAIN_CONFIG lists the known ones. */
export function pickMethod(methods: MethodsMap, name: string): TrainingMethod {
  const m = Object.hasOwn(methods, name) ? methods[name] : undefined;
  if (!m) {
    const hint = Object.hasOwn(methods, 'mpe') ? '' : ' (a caller of trainModel offers mpe and uniform by passing methods: TRAINING_METHODS from mpe/methods.ts)';
    throw new MpeError('MPE_ERR_TRAIN_CONFIG', `unknown method '${name}': use one of ${Object.keys(methods).join(', ')}${hint}`);
  }
  return m;
}

/** Largest rows * fields of a batch. */
export function maxBatchIds(ctx: MethodContext): number {
  return ctx.options.batchSize * ctx.dataset.fieldCount;
}

/** The fp32 baseline: one phase with sparse-Adam fp32 embeddings. */
export const fp32Method: TrainingMethod = {
  name: 'fp32',
  async run(ctx) {
    const o = ctx.options;
    const stage = new Fp32EmbeddingStage(ctx.dataset.featureCount, o.d, maxBatchIds(ctx), { lr: o.lr, initStd: o.initStd, seed: o.seed });
    await ctx.fit(stage, { name: 'train' });
    return { stage };
  },
};

/** The trainer's default methods: the fp32 baseline only. */
export const FP32_ONLY: MethodsMap = Object.freeze({ fp32: fp32Method });
