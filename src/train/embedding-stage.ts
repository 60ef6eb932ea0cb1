/**
 * The contract between the training loop (`train/trainer.ts`) and the part that turns a batch's
 * feature ids into the dense network's input. The fp32 trainer uses a plain gather/scatter stage;
 * MPE's search (mixture of quantizers) and retraining (frozen precision) stages implement the same
 * interface, so the loop, the dense network, the optimiser and evaluation stay unchanged.
 */
import type { TableSpec } from '../codec/layout.js';

export interface EmbeddingStage {
  /** Embedding dimension d. */
  readonly d: number;
  /** Number of features (rows). */
  readonly featureCount: number;
  /**
   * Writes the embeddings the dense network sees for one batch:
   * `out[(r * fields + f) * d + j]` for row r, field f; `ids[r * fields + f]` is the feature id.
   * `training` is false during evaluation (a stage may then use its deterministic/frozen form).
   */
  forward(ids: Int32Array, rows: number, fields: number, out: Float32Array, training: boolean): void;
  /**
   * Given dL/d(out) for the batch last passed to `forward(..., training = true)` (same layout),
   * computes the stage's gradients and applies one optimiser step to the rows the batch touched
   * and to any parameters of the stage (MPE: alpha, beta, group logits).
   */
  backwardAndStep(ids: Int32Array, rows: number, fields: number, gradOut: Float32Array): void;
  /** Extra loss added to BCE for the last training batch (MPE's bits regulariser), 0 if none. */
  regularizerLoss(): number;
  /** Deep copy of every trainable value (for best-validation checkpoints). */
  snapshot(): unknown;
  restore(snapshot: unknown): void;
  /**
   * What the bundle stores: the table layout and the fp32 weights (featureCount * d) to pack with
   * it; `prunedToOov`: pruned features were trained as their field's OOV row, so their keys leave
   * the vocabulary (serving then resolves them the same way).
   */
  exportTable(): { spec: TableSpec; weights: Float32Array; prunedToOov?: boolean };
}
