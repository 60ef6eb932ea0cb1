/**
 * The distinct features of one batch, with the occurrence -> distinct-slot map, so that the MPE
 * stages quantize each distinct row once per batch (a frequent feature appears in many rows of a
 * batch) and merge the occurrences' gradients before the quantizer's backward. Every MPE gradient
 * is linear in dL/de(x) for a fixed x, so working per distinct row is exact.
 *
 * Buffers are allocated once for `capacity` ids and grow (doubling) only if a larger batch comes.
 */
import type { SparseAdamTable } from '../train/embedding-table.js';

export class BatchRows {
  readonly d: number;
  /** Distinct ids in first-appearance order: `uniqueIds[0..count)`. */
  uniqueIds: Int32Array;
  /** Slot of each occurrence: `inverse[k]` indexes uniqueIds. */
  inverse: Int32Array;
  /** Gathered fp32 weights of the distinct rows (count * d). */
  weights: Float32Array;
  /** Per distinct row: the stage's output (count * d), then reused for merged gradients. */
  rowOut: Float32Array;
  /** Group of each distinct row. */
  group: Int32Array;
  count = 0;
  /** Occurrences in the batch (rows * fields). */
  n = 0;
  private readonly slot: Int32Array;

  constructor(featureCount: number, d: number, capacity: number) {
    this.d = d;
    this.slot = new Int32Array(featureCount).fill(-1);
    this.uniqueIds = new Int32Array(capacity);
    this.inverse = new Int32Array(capacity);
    this.weights = new Float32Array(capacity * d);
    this.rowOut = new Float32Array(capacity * d);
    this.group = new Int32Array(capacity);
  }

  private grow(n: number): void {
    let c = this.uniqueIds.length;
    while (c < n) c *= 2;
    const d = this.d;
    this.uniqueIds = new Int32Array(c);
    this.inverse = new Int32Array(c);
    this.weights = new Float32Array(c * d);
    this.rowOut = new Float32Array(c * d);
    this.group = new Int32Array(c);
  }

  /** Finds the distinct ids of `ids[0..n)`, gathers their weights from `table` and their groups from `groupOf`. */
  load(ids: Int32Array, n: number, table: SparseAdamTable, groupOf: Int32Array): void {
    if (n > this.uniqueIds.length) this.grow(n);
    const { slot, uniqueIds, inverse, group } = this;
    let count = 0;
    for (let k = 0; k < n; k++) {
      const id = ids[k]!;
      let s = slot[id]!;
      if (s < 0) {
        s = count++;
        slot[id] = s;
        uniqueIds[s] = id;
        group[s] = groupOf[id]!;
      }
      inverse[k] = s;
    }
    for (let k = 0; k < count; k++) slot[uniqueIds[k]!] = -1;
    this.count = count;
    this.n = n;
    table.gatherRows(uniqueIds, count, this.weights);
  }

  /** Copies each occurrence's distinct-row output (`rowOut`) into `out[k*d ..]`. */
  scatter(out: Float32Array): void {
    const { inverse, rowOut, d, n } = this;
    for (let k = 0; k < n; k++) {
      const src = inverse[k]! * d;
      const dst = k * d;
      for (let j = 0; j < d; j++) out[dst + j] = rowOut[src + j]!;
    }
  }

  /** Sums `gradOut[k*d ..]` of the occurrences into `rowOut` per distinct row (overwrites rowOut). */
  mergeGradients(gradOut: Float32Array): Float32Array {
    const { inverse, rowOut, d, n, count } = this;
    rowOut.fill(0, 0, count * d);
    for (let k = 0; k < n; k++) {
      const dst = inverse[k]! * d;
      const src = k * d;
      for (let j = 0; j < d; j++) rowOut[dst + j]! += gradOut[src + j]!;
    }
    return rowOut;
  }
}
