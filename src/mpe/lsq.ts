/**
 * The LSQ+ quantizer of MPE (docs/mpe.md "Quantizer"): uniform, signed, one step alpha_b
 * per bit width shared by the whole table and one offset vector beta (length d) shared by every
 * feature and every bit width, so a stored row costs exactly b*d bits.
 *
 *     s = |alpha_b| + 1e-10     v = (w - beta_j) / s     q = clamp(round(v), Qn, Qp)
 *     Q_b(w) = fround(s * q + beta_j)
 *
 * Rounding is half to EVEN (`roundHalfEven` of the codec, as ONNX `Round`), and the step the
 * table stores is the effective step `fround(|alpha_b| + 1e-10)`, computed in double precision
 * exactly as `codec/quantize.ts` does, so that what the trainer evaluates is bit-for-bit what the
 * packed table dequantizes to.
 *
 * Gradients are the straight-through estimator of docs/mpe.md "Quantizer" with the LSQ+ gradient scale
 * g_b = 1 / sqrt(2^(b-1)) / sqrt(numel(W)), numel(W) = featureCount * d.
 *
 * Every function here works on typed arrays supplied by the caller and allocates nothing.
 */
import { qMax, qMin, roundHalfEven } from '../codec/quantize.js';
import { MpeError } from '../errors.js';

/** Largest bit width the quantizer (and the codec's grouped layout) supports. */
export const LSQ_MAX_BITS = 8;

/** Added to |alpha| in the forward pass so that the step never reaches 0 (docs/mpe.md "Quantizer"). */
export const ALPHA_EPS = 1e-10;

/** The step the forward pass (and the packed table) uses for a raw, trainable alpha: fround(|alpha| + 1e-10). */
export function lsqStep(alphaRaw: number): number {
  return Math.fround(Math.abs(alphaRaw) + ALPHA_EPS);
}

/** LSQ+ gradient scale g_b = 1 / sqrt(2^(b-1)) / sqrt(numel(W)). */
export function lsqGradScale(bits: number, numelW: number): number {
  return 1 / Math.sqrt(2 ** (bits - 1)) / Math.sqrt(numelW);
}

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > LSQ_MAX_BITS) {
    throw new MpeError('MPE_ERR_MPE_CONFIG', `bit width must be an integer in 1..${LSQ_MAX_BITS}, got ${bits}`);
  }
}

/**
 * Initial steps (docs/mpe.md "Quantizer"): alpha_b = 2 * mean(|W|) / sqrt(2^(b-1)) for b = 1..maxBits,
 * written into `alpha` (length >= maxBits + 1, index = bit width; index 0 and widths above
 * maxBits are left untouched). `weights` is the whole table (featureCount * d values).
 */
export function initLsqAlpha(weights: Float32Array, maxBits: number, alpha: Float32Array): void {
  checkBits(maxBits);
  if (alpha.length <= maxBits) throw new MpeError('MPE_ERR_MPE_CONFIG', `alpha needs ${maxBits + 1} entries, has ${alpha.length}`);
  let sum = 0;
  for (let i = 0; i < weights.length; i++) sum += Math.abs(weights[i]!);
  const meanAbs = weights.length > 0 ? sum / weights.length : 0;
  for (let b = 1; b <= maxBits; b++) alpha[b] = (2 * meanAbs) / Math.sqrt(2 ** (b - 1));
}

/**
 * Quantizes one row of d weights at `bits`: `out[outOff + j] = Q_b(w[wOff + j])`.
 * `step` is the effective step {@link lsqStep}(alpha_b).
 */
export function lsqQuantizeRow(
  w: Float32Array,
  wOff: number,
  d: number,
  bits: number,
  step: number,
  beta: Float32Array,
  out: Float32Array,
  outOff: number,
): void {
  const qn = qMin(bits);
  const qp = qMax(bits);
  for (let j = 0; j < d; j++) {
    const bj = beta[j]!;
    const v = (w[wOff + j]! - bj) / step;
    // clamp(round(v)) == round(clamp(v)) because Qn and Qp are integers.
    const q = v <= qn ? qn : v >= qp ? qp : roundHalfEven(v);
    out[outOff + j] = step * q + bj;
  }
}

/**
 * Straight-through backward of {@link lsqQuantizeRow} for one row, ACCUMULATING into the outputs:
 *   gradW[gwOff + j]  += gq[gqOff + j]                     where Qn <= v <= Qp
 *   returns              sum_j gq_j * (Qn | Qp | round(v) - v)   (dL/ds before the scale g_b)
 *   gradBeta[j]       += gScale * gq_j                     where v is clipped
 * The caller multiplies the returned alpha sum by g_b and by sign(alpha) (|alpha| in the forward).
 */
export function lsqBackwardRow(
  w: Float32Array,
  wOff: number,
  d: number,
  bits: number,
  step: number,
  beta: Float32Array,
  gq: Float32Array,
  gqOff: number,
  gScale: number,
  gradW: Float32Array,
  gwOff: number,
  gradBeta: Float64Array,
): number {
  const qn = qMin(bits);
  const qp = qMax(bits);
  let ga = 0;
  for (let j = 0; j < d; j++) {
    const g = gq[gqOff + j]!;
    const v = (w[wOff + j]! - beta[j]!) / step;
    if (v < qn) {
      ga += g * qn;
      gradBeta[j] = gradBeta[j]! + gScale * g;
    } else if (v > qp) {
      ga += g * qp;
      gradBeta[j] = gradBeta[j]! + gScale * g;
    } else {
      ga += g * (roundHalfEven(v) - v);
      gradW[gwOff + j] = gradW[gwOff + j]! + g;
    }
  }
  return ga;
}

/** Trainable LSQ+ parameters: raw steps (index = bit width, length LSQ_MAX_BITS + 1) and the shared offset vector. */
export interface LsqParams {
  readonly alpha: Float32Array;
  readonly beta: Float32Array;
}

/** Zeroed parameters for dimension d (alpha must then be initialised with {@link initLsqAlpha}). */
export function createLsqParams(d: number): LsqParams {
  return { alpha: new Float32Array(LSQ_MAX_BITS + 1), beta: new Float32Array(d) };
}

/**
 * Batched forward for every bit width 1..maxBits in one pass over `rows` rows of d weights:
 * `out[(b - 1) * rows * d + r * d + j] = Q_b(w[r * d + j])`. `out` has at least maxBits*rows*d entries.
 */
export function lsqForward(w: Float32Array, rows: number, d: number, params: LsqParams, maxBits: number, out: Float32Array): void {
  checkBits(maxBits);
  const n = rows * d;
  if (w.length < n || out.length < maxBits * n) throw new MpeError('MPE_ERR_MPE_CONFIG', 'lsqForward: buffers too small');
  const { alpha, beta } = params;
  for (let r = 0; r < rows; r++) {
    for (let b = 1; b <= maxBits; b++) lsqQuantizeRow(w, r * d, d, b, lsqStep(alpha[b]!), beta, out, (b - 1) * n + r * d);
  }
}

/**
 * Batched straight-through backward for every bit width 1..maxBits, given dL/dQ_b in the layout
 * of {@link lsqForward}'s output. Accumulates (+=) into gradW (rows*d), gradAlpha (index = bit
 * width; dL/d(raw alpha_b) = g_b * sign(alpha_b) * sum(...)) and gradBeta (d).
 * `numelW` is featureCount * d of the whole table (the gradient scale g_b).
 */
export function lsqBackward(
  w: Float32Array,
  rows: number,
  d: number,
  params: LsqParams,
  maxBits: number,
  gradQ: Float32Array,
  numelW: number,
  gradW: Float32Array,
  gradAlpha: Float64Array,
  gradBeta: Float64Array,
): void {
  checkBits(maxBits);
  const n = rows * d;
  if (w.length < n || gradQ.length < maxBits * n || gradW.length < n) throw new MpeError('MPE_ERR_MPE_CONFIG', 'lsqBackward: buffers too small');
  const { alpha, beta } = params;
  for (let b = 1; b <= maxBits; b++) {
    const step = lsqStep(alpha[b]!);
    const gs = lsqGradScale(b, numelW);
    let ga = 0;
    for (let r = 0; r < rows; r++) ga += lsqBackwardRow(w, r * d, d, b, step, beta, gradQ, (b - 1) * n + r * d, gs, gradW, r * d, gradBeta);
    gradAlpha[b] = gradAlpha[b]! + gs * (alpha[b]! < 0 ? -ga : ga);
  }
}
