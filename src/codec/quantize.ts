/**
 * Scalar quantization reference: LSQ+ codes (signed, one step per bit width, one offset vector)
 * and IEEE 754 binary16 (fp16) conversion for row-wise scale and bias. These are the formulas the
 * packer writes and the tests check the hot decoder against; they are not on the lookup path.
 */

/**
 * Rounds to the nearest integer, ties to EVEN (as ONNX `Round`, `torch.round` and C `lrintf`
 * in the default rounding mode): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2.
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties toward +Infinity
  // A tie rounded up to an odd integer goes back down to the even one.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Smallest signed code of a b-bit quantizer: Qn = -2^(b-1). */
export function qMin(bits: number): number {
  return -(1 << (bits - 1));
}

/** Largest signed code of a b-bit quantizer: Qp = 2^(b-1) - 1. */
export function qMax(bits: number): number {
  return (1 << (bits - 1)) - 1;
}

/**
 * LSQ+ code of weight w: `clamp(roundHalfEven((w - beta) / alpha), Qn, Qp)` (signed).
 * `alpha` is the step as stored in the table (the trainer exports the effective |alpha| + 1e-10).
 * The division is done in double precision.
 */
export function quantizeValue(w: number, alpha: number, beta: number, bits: number): number {
  const q = roundHalfEven((w - beta) / alpha);
  const lo = qMin(bits);
  const hi = qMax(bits);
  return Math.min(Math.max(q, lo), hi);
}

/** The reference dequantization: `Math.fround(alpha * q + beta)` (double arithmetic, one rounding to float32). */
export function dequantizeValue(q: number, alpha: number, beta: number): number {
  return Math.fround(alpha * q + beta);
}

const TWO_POW_24 = 2 ** 24;

/**
 * Encodes a number as IEEE 754 binary16 bits, rounding to nearest, ties to even, directly from the
 * double (no intermediate float32 rounding, so it agrees with `Math.f16round`). Overflow gives
 * +-Infinity, NaN gives 0x7e00.
 */
export function toFloat16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  // 65520 is half way between 65504 (largest finite half) and 65536: ties to even -> Infinity.
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal (or zero): units of 2^-24. m may reach 1024, which is exactly the smallest normal's encoding.
    return sign | roundHalfEven(a * TWO_POW_24);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven((a / 2 ** e) * 1024) - 1024; // exact scaling by a power of two
  if (m === 1024) {
    m = 0;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

/** Decodes IEEE 754 binary16 bits to a number (exact). */
export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/** Rounds a number to the nearest fp16 value (as `Math.f16round`, which Node 20 lacks). */
export function f16round(x: number): number {
  return fromFloat16Bits(toFloat16Bits(x));
}

let f16Table: Float32Array | undefined;

/** All 65536 fp16 values as float32, indexed by bits: the decoder reads scale/bias with one load. Built once (256 KiB). */
export function float16Table(): Float32Array {
  if (f16Table === undefined) {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = fromFloat16Bits(h);
    f16Table = t;
  }
  return f16Table;
}
