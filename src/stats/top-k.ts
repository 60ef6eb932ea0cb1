/**
 * Heavy-hitter candidates per field: k slots of (id, estimate) per field in flat typed arrays.
 * A new id replaces the smallest slot when its sketch estimate is larger. Linear scans over k
 * slots: k is small (default 16) and only sampled lookups reach this.
 */
export class FieldTopK {
  readonly ids: Int32Array;
  readonly counts: Float64Array;
  readonly sizes: Int32Array;

  constructor(
    readonly fields: number,
    readonly k: number,
  ) {
    this.ids = new Int32Array(fields * k);
    this.counts = new Float64Array(fields * k);
    this.sizes = new Int32Array(fields);
  }

  /** Offers (field, id) with its current estimate. */
  offer(field: number, id: number, estimate: number): void {
    const { ids, counts, k } = this;
    const base = field * k;
    const n = this.sizes[field]!;
    let minSlot = -1;
    let min = Number.POSITIVE_INFINITY;
    for (let s = base; s < base + n; s++) {
      if (ids[s] === id) {
        counts[s] = estimate;
        return;
      }
      if (counts[s]! < min) {
        min = counts[s]!;
        minSlot = s;
      }
    }
    if (n < k) {
      ids[base + n] = id;
      counts[base + n] = estimate;
      this.sizes[field] = n + 1;
    } else if (estimate > min) {
      ids[minSlot] = id;
      counts[minSlot] = estimate;
    }
  }

  clear(): void {
    this.sizes.fill(0);
  }
}
