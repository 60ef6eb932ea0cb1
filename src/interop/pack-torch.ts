/**
 * Packs an imported table with torch's own arithmetic, so that the stored codes are the integer
 * codes torch's forward pass used. torch computes `v = (w - beta) / alpha_eff` in float32 (two
 * roundings), then `round` (half to even) and `clamp(Qn, Qp)`. The codec's `quantizeValue`
 * divides in double (one rounding), which can land on the other side of a .5 tie; hence this
 * packer. `Math.fround` of a double sum or quotient of two float32 values equals the float32
 * operation (double has more than 2*24+2 bits, so the double rounding is innocuous).
 */
import { packRow } from '../codec/bitpack.js';
import { computeLayout, type GroupedTableSpec, rowBytes } from '../codec/layout.js';
import { qMax, qMin, roundHalfEven } from '../codec/quantize.js';

/** torch's signed code of weight `w` (float32) for step `alpha` (float32, > 0) and offset `beta` (float32). */
export function torchCode(w: number, alpha: number, beta: number, bits: number): number {
  const v = Math.fround(Math.fround(w - beta) / alpha);
  return Math.min(Math.max(roundHalfEven(v), qMin(bits)), qMax(bits));
}

/** torch's effective step: float32(|alpha| + float32(eps)) (or alpha itself without abs). */
export function effectiveAlpha(alpha: number, abs: boolean, eps: number): number {
  return abs ? Math.fround(Math.abs(alpha) + Math.fround(eps)) : Math.fround(alpha);
}

/**
 * The data section of `spec` (grouped) for a table whose bundle id `id` holds the weights of
 * torch row `order[id]` of `weights` (torch index order, `d` floats per row).
 */
export function packTorchTable(spec: GroupedTableSpec, weights: Float32Array, order: Int32Array): Uint8Array {
  const layout = computeLayout(spec);
  const { d, featureCount, groupSize, bitsPerGroup, alpha, beta } = spec;
  const out = new Uint8Array(layout.dataBytes);
  const codes = new Float64Array(d);
  for (let g = 0; g < bitsPerGroup.length; g++) {
    const b = bitsPerGroup[g]!;
    if (b === 0) continue;
    const a = alpha[b] ?? 0;
    const qn = b === 32 ? 0 : qMin(b);
    const rb = rowBytes(b, d);
    let p = layout.groupOffsets[g]!;
    const end = Math.min(featureCount, (g + 1) * groupSize);
    for (let id = g * groupSize; id < end; id++, p += rb) {
      const base = order[id]! * d;
      for (let j = 0; j < d; j++) {
        const w = weights[base + j]!;
        codes[j] = b === 32 ? w : torchCode(w, a, beta[j]!, b) - qn;
      }
      packRow(codes, b, d, out, p);
    }
  }
  return out;
}
