/**
 * Quantizes fp32 weights into a table's data section (see `layout.ts` and docs/format.md).
 * Runs once at export time; clarity over speed, but no per-row allocation either.
 */
import { MpeError } from '../errors.js';
import { packRow } from './bitpack.js';
import { computeLayout, type GroupedTableSpec, groupFirstId, groupRows, type RowwiseTableSpec, rowBytes, type TableSpec } from './layout.js';
import { qMin, quantizeValue, roundHalfEven, toFloat16Bits, fromFloat16Bits } from './quantize.js';

/**
 * Packs `weights` (featureCount * d float32, row-major, row = feature id) into a new data
 * section laid out by `computeLayout(spec)`. Grouped: codes quantized with the spec's alpha/beta
 * (0-bit groups store nothing, 32-bit groups store the raw floats). Row-wise: per row, FBGEMM
 * style min/max scale and bias in fp16.
 * Throws MPE_ERR_CODEC_LAYOUT (bad spec or weights length), MPE_ERR_CODEC_VALUE (non-finite weight).
 */
export function packTable(spec: TableSpec, weights: Float32Array): Uint8Array {
  const layout = computeLayout(spec);
  if (weights.length !== spec.featureCount * spec.d) {
    throw new MpeError('MPE_ERR_CODEC_LAYOUT', `weights has ${weights.length} values, expected featureCount*d = ${spec.featureCount * spec.d}`);
  }
  const out = new Uint8Array(layout.dataBytes);
  if (spec.kind === 'rowwise') packRowwise(spec, weights, out);
  else packGrouped(spec, weights, out, layout.groupOffsets);
  return out;
}

function checkFinite(w: number, id: number): void {
  if (!Number.isFinite(w)) throw new MpeError('MPE_ERR_CODEC_VALUE', `weight of feature ${id} is ${w}`);
}

function packGrouped(spec: GroupedTableSpec, weights: Float32Array, out: Uint8Array, groupOffsets: Float64Array): void {
  const { d, featureCount, groupSize, bitsPerGroup, alpha, beta } = spec;
  const codes = new Float64Array(d);
  for (let g = 0; g < bitsPerGroup.length; g++) {
    const b = bitsPerGroup[g]!;
    if (b === 0) continue;
    const first = groupFirstId(g, groupSize, spec.groupPad);
    const end = first + groupRows(g, featureCount, groupSize, spec.groupPad);
    const rb = rowBytes(b, d);
    const a = alpha[b]!;
    if (b !== 32 && !(a > 0 && Number.isFinite(a))) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `alpha[${b}] must be a positive finite step, got ${a}`);
    const qn = b === 32 ? 0 : qMin(b);
    let p = groupOffsets[g]!;
    for (let id = first; id < end; id++, p += rb) {
      for (let j = 0; j < d; j++) {
        const w = weights[id * d + j]!;
        checkFinite(w, id);
        codes[j] = b === 32 ? w : quantizeValue(w, a, beta[j]!, b) - qn;
      }
      packRow(codes, b, d, out, p);
    }
  }
}

/**
 * FBGEMM `FloatToFusedNBitRowwiseQuantizedSBHalf`: bias = fp16(min), scale = fp16((max - bias) / (2^b - 1)),
 * scale 0 (constant row) becomes 1, u = clamp(round_half_even((x - bias) / scale), 0, 2^b - 1).
 * Row = codes, then scale and bias as little-endian fp16.
 */
function packRowwise(spec: RowwiseTableSpec, weights: Float32Array, out: Uint8Array): void {
  const { d, featureCount, bits } = spec;
  const cb = rowBytes(bits, d);
  const rb = cb + 4;
  const qmax = (1 << bits) - 1;
  const codes = new Float64Array(d);
  for (let id = 0; id < featureCount; id++) {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < d; j++) {
      const w = weights[id * d + j]!;
      checkFinite(w, id);
      if (w < min) min = w;
      if (w > max) max = w;
    }
    const biasBits = toFloat16Bits(min);
    const bias = fromFloat16Bits(biasBits);
    let scaleBits = toFloat16Bits((max - bias) / qmax);
    let scale = fromFloat16Bits(scaleBits);
    if (scale === 0) {
      scaleBits = 0x3c00; // 1.0
      scale = 1;
    }
    if (!Number.isFinite(scale) || !Number.isFinite(bias)) throw new MpeError('MPE_ERR_CODEC_VALUE', `row ${id} range [${min}, ${max}] overflows fp16`);
    for (let j = 0; j < d; j++) {
      const u = roundHalfEven((weights[id * d + j]! - bias) / scale);
      codes[j] = Math.min(Math.max(u, 0), qmax);
    }
    const p = id * rb;
    packRow(codes, bits, d, out, p);
    out[p + cb] = scaleBits & 0xff;
    out[p + cb + 1] = scaleBits >>> 8;
    out[p + cb + 2] = biasBits & 0xff;
    out[p + cb + 3] = biasBits >>> 8;
  }
}
