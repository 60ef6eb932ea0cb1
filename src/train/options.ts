/**
 * The training defaults, in one frozen object (units in comments), and the named presets. The
 * trainer applies them (`trainer.ts`); the CLI's one flag definition (`cli/train-options.ts`),
 * shared by `mpe train` and `mpe compare`, prints and overrides them.
 */

export interface TrainDefaults {
  /** Max epochs per phase (MPE.md section 7: up to 8 on Criteo). */
  readonly epochs: number;
  /** Early-stopping patience, epochs without a validation AUC improvement (MPE.md: 3). */
  readonly patience: number;
  /** Rows per batch. */
  readonly batchSize: number;
  /** Hidden layer widths of the dense net. */
  readonly hidden: readonly number[];
  /** Embedding dimension. */
  readonly d: number;
  /** Adam learning rate of every parameter. */
  readonly lr: number;
  /** L2 weight decay of the dense net (the authors' Criteo value). */
  readonly weightDecay: number;
  /** BatchNorm after each hidden layer. */
  readonly batchNorm: boolean;
  /** Std of the normal embedding initialisation. */
  readonly initStd: number;
  /** Seed of initialisation and shuffles. */
  readonly seed: number;
  /** Seed of the random 8:1:1 split, separate from `seed` (MPE.md section 1: fixed, 2022). */
  readonly splitSeed: number;
  /** Values seen fewer times on the train split share their field's OOV feature. */
  readonly minCount: number;
}

export const TRAIN_DEFAULTS: TrainDefaults = Object.freeze({
  epochs: 8,
  patience: 3,
  batchSize: 2048,
  hidden: Object.freeze([1024, 512, 256]),
  d: 16,
  lr: 1e-3,
  weightDecay: 3e-6,
  batchNorm: true,
  initStd: 0.003,
  seed: 2022,
  splitSeed: 2022,
  minCount: 2,
});

/** Named option sets (`--preset NAME`); explicit flags override them. */
export const TRAIN_PRESETS: Readonly<Record<string, Readonly<Partial<TrainDefaults>>>> = Object.freeze({
  /** The protocol of the authors' runs as shared/tools/mperef runs it: 15 epochs, patience 2, weight decay 0, batch 2048. */
  paper: Object.freeze({ epochs: 15, patience: 2, weightDecay: 0, batchSize: 2048 }),
});
