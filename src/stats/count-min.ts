/**
 * Count-min sketches, one per field, in one Uint32Array, plus the stated error bound.
 * Cormode & Muthukrishnan: with width w and depth k, an estimate never undercounts, and
 * overcounts by more than epsilon * N (epsilon = e / w, N = the field's total) with probability at
 * most delta = e^-k per query.
 */
import { mix32 } from '../util/hash.js';
import { MpeError } from '../errors.js';

/** Error bound of a count-min sketch of `width` x `depth`. */
export function countMinBound(width: number, depth: number): { epsilon: number; delta: number } {
  return { epsilon: Math.E / width, delta: Math.exp(-depth) };
}

/** Row hash: murmur3's finaliser of (key ^ seed). `width` is a power of two, so `& mask` picks the column. */
function rowHash(key: number, seed: number): number {
  return mix32((key ^ seed) >>> 0);
}

/** Per-row seeds derived from one seed (the same on every replica, so sketches merge by addition). */
export function sketchSeeds(depth: number, seed: number): Uint32Array {
  const s = new Uint32Array(depth);
  for (let r = 0; r < depth; r++) s[r] = rowHash(r + 1, seed ^ 0x9e3779b9);
  return s;
}

/** `fields` count-min sketches of width x depth; cell (f, r, c) at `(f * depth + r) * width + c`. */
export class FieldSketches {
  readonly cells: Uint32Array;
  private readonly seeds: Uint32Array;
  private readonly mask: number;

  constructor(
    readonly fields: number,
    readonly width: number,
    readonly depth: number,
    readonly seed: number,
    cells?: Uint32Array,
  ) {
    if (!Number.isInteger(width) || width < 16 || width > 1 << 24 || (width & (width - 1)) !== 0) throw new MpeError('MPE_ERR_STATS_CONFIG', `width ${width}: use a power of two in [16, 2^24]`);
    if (!Number.isInteger(depth) || depth < 1 || depth > 16) throw new MpeError('MPE_ERR_STATS_CONFIG', `depth ${depth}: use 1..16`);
    if (!Number.isInteger(fields) || fields < 1) throw new MpeError('MPE_ERR_STATS_CONFIG', `fields ${fields}`);
    this.mask = width - 1;
    this.seeds = sketchSeeds(depth, seed);
    this.cells = cells ?? new Uint32Array(fields * depth * width);
    if (this.cells.length !== fields * depth * width) throw new MpeError('MPE_ERR_STATS_CONFIG', 'cell array has the wrong length');
  }

  /** Adds `count` to (field, key) and returns the new estimate (the row minimum). */
  add(field: number, key: number, count: number): number {
    const { cells, seeds, mask, width, depth } = this;
    let base = field * depth * width;
    let min = 0xffffffff;
    for (let r = 0; r < depth; r++, base += width) {
      const i = base + (rowHash(key, seeds[r]!) & mask);
      const v = cells[i]! + count;
      cells[i] = v;
      if (v < min) min = v;
    }
    return min;
  }

  /** Estimated count of (field, key): never below the true count. */
  estimate(field: number, key: number): number {
    const { cells, seeds, mask, width, depth } = this;
    let base = field * depth * width;
    let min = 0xffffffff;
    for (let r = 0; r < depth; r++, base += width) {
      const v = cells[base + (rowHash(key, seeds[r]!) & mask)]!;
      if (v < min) min = v;
    }
    return min;
  }
}
