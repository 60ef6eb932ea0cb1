/**
 * The fp32 embedding stage: plain gather on the forward pass, merged sparse Adam on the way back,
 * exported as a grouped table whose groups are all 32-bit rows.
 */
import type { GroupedTableSpec } from '../codec/layout.js';
import type { EmbeddingStage } from './embedding-stage.js';
import { RowGradientAccumulator, type SparseAdamOptions, SparseAdamTable, type SparseAdamSnapshot } from './embedding-table.js';

/** Groups of an exported table (the authors' G = 128, docs/mpe.md "Defaults"), so fp32 and MPE bundles share one group layout. */
export const EXPORT_GROUPS = 128;

/** Group size that cuts `featureCount` ids into at most {@link EXPORT_GROUPS} equal slices. */
export function exportGroupSize(featureCount: number): number {
  return Math.max(1, Math.ceil(featureCount / EXPORT_GROUPS));
}

/** fp32 embeddings with sparse Adam (see {@link SparseAdamTable}). */
export class Fp32EmbeddingStage implements EmbeddingStage {
  readonly d: number;
  readonly featureCount: number;
  readonly table: SparseAdamTable;
  private readonly acc: RowGradientAccumulator;

  /** @param maxBatchIds the largest rows * fields a batch will have */
  constructor(featureCount: number, d: number, maxBatchIds: number, opts: SparseAdamOptions = {}) {
    this.table = new SparseAdamTable(featureCount, d, opts);
    this.acc = new RowGradientAccumulator(featureCount, maxBatchIds, d);
    this.d = d;
    this.featureCount = featureCount;
  }

  forward(ids: Int32Array, rows: number, fields: number, out: Float32Array, _training = true): void {
    this.table.gatherRows(ids, rows * fields, out);
  }

  backwardAndStep(ids: Int32Array, rows: number, fields: number, gradOut: Float32Array): void {
    const u = this.acc.accumulate(ids, rows * fields, gradOut);
    this.table.applyRowGradients(u.uniqueIds, u.count, u.grads);
  }

  regularizerLoss(): number {
    return 0;
  }

  snapshot(): unknown {
    return this.table.snapshot();
  }

  restore(snapshot: unknown): void {
    this.table.restore(snapshot as SparseAdamSnapshot);
  }

  exportTable(): { spec: GroupedTableSpec; weights: Float32Array } {
    const groupSize = exportGroupSize(this.featureCount);
    const groups = Math.ceil(this.featureCount / groupSize);
    const spec: GroupedTableSpec = {
      kind: 'grouped',
      d: this.d,
      featureCount: this.featureCount,
      groupSize,
      bitsPerGroup: new Uint8Array(groups).fill(32),
      alpha: new Float32Array(9),
      beta: new Float32Array(this.d),
    };
    return { spec, weights: this.table.readWeights() };
  }
}
