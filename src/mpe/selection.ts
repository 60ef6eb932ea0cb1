/**
 * Selecting each group's precision after the search (docs/mpe.md "Selection", the "sampling strategy"),
 * and the memory accounting of section 8 (weights only).
 */
import { groupRows } from '../codec/layout.js';
import { MpeError } from '../errors.js';

/**
 * bits_g = the LARGEST candidate b whose probability p_{g,b} >= 1/(2K), K = bits.length.
 * Deterministic, and it errs toward more bits. A softmax always has some p >= 1/K > 1/(2K), so
 * every group gets a value. Writes `out[g]`.
 */
export function selectBits(p: Float64Array, groups: number, bits: Uint8Array, out: Uint8Array): void {
  const K = bits.length;
  if (p.length < groups * K || out.length < groups) throw new MpeError('MPE_ERR_MPE_CONFIG', 'selectBits: buffers too small');
  const t = 1 / (2 * K);
  for (let g = 0; g < groups; g++) {
    let best = -1;
    for (let k = 0; k < K; k++) if (p[g * K + k]! >= t && bits[k]! > best) best = bits[k]!;
    out[g] = Math.max(best, 0);
  }
}

/** Average stored bits per feature: sum_g |g| * bits_g / n (32 for fp32 groups); groups as codec/layout.ts. */
export function averageBitsPerFeature(bitsPerGroup: ArrayLike<number>, featureCount: number, groupSize: number, groupPad = 0): number {
  let s = 0;
  for (let g = 0; g < bitsPerGroup.length; g++) {
    s += groupRows(g, featureCount, groupSize, groupPad) * bitsPerGroup[g]!;
  }
  return featureCount > 0 ? s / featureCount : 0;
}

/** Expected bits per feature under the search probabilities: sum_g |g| * sum_k p_{g,k} b_k / n (what lambda trades against). */
export function expectedBitsPerFeature(p: Float64Array, bits: Uint8Array, featureCount: number, groupSize: number, groups: number, groupPad = 0): number {
  const K = bits.length;
  let s = 0;
  for (let g = 0; g < groups; g++) {
    const rows = groupRows(g, featureCount, groupSize, groupPad);
    let e = 0;
    for (let k = 0; k < K; k++) e += p[g * K + k]! * bits[k]!;
    s += rows * e;
  }
  return featureCount > 0 ? s / featureCount : 0;
}
