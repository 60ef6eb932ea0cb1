/** The grouped table spec an MPE or uniform stage exports (see codec/layout.ts). */
import type { GroupedTableSpec } from '../codec/layout.js';
import { LSQ_MAX_BITS, lsqStep } from './lsq.js';

/**
 * A grouped TableSpec with the EFFECTIVE steps the forward pass used (`lsqStep(alpha_b)` for
 * b = 1..8), so the packed table dequantizes to exactly what the trainer evaluated.
 */
export function groupedSpec(d: number, featureCount: number, groupSize: number, bitsPerGroup: Uint8Array, alpha: Float32Array, beta: Float32Array, groupPad = 0): GroupedTableSpec {
  const a = new Float32Array(LSQ_MAX_BITS + 1);
  for (let b = 1; b <= LSQ_MAX_BITS; b++) a[b] = lsqStep(alpha[b]!);
  return { kind: 'grouped', d, featureCount, groupSize, ...(groupPad > 0 ? { groupPad } : {}), bitsPerGroup: bitsPerGroup.slice(), alpha: a, beta: beta.slice() };
}
