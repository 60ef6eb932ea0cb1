/**
 * The search-time embedding of docs/mpe.md "Search" and its gradients, fused over the candidate bit
 * widths so that each weight is read once per pass:
 *
 *     p_g = softmax(gamma_g / tau)                   (K candidates per group, b = 0 included)
 *     e(x) = sum_{k: b_k > 0} p_{g,k} * Q_{b_k}(w_x)  (the 0-bit branch contributes nothing)
 *     R = lambda * sum_g sum_k p_{g,k} * b_k / f_g   (the expected-bits regulariser)
 *
 * All of it works per UNIQUE feature of a batch: every gradient below is linear in dL/de(x) for a
 * fixed x, so the trainer's merged per-row gradient (sum over the occurrences of x in the batch)
 * gives exactly the per-occurrence sum. The quantizer arithmetic is `lsq.ts`'s, inlined.
 */
import { qMax, qMin, roundHalfEven } from '../codec/quantize.js';
import { lsqGradScale, lsqStep } from './lsq.js';

/** Logits live in a Float32Array (the trainer's DenseAdam updates them); tests may pass float64. */
export type Floats = Float32Array | Float64Array;

/**
 * `p[g*K + k] = softmax_k(gamma[g*K + k] / tau)` for each of G groups (max-subtracted, double precision).
 */
export function softmaxTemperature(gamma: Floats, groups: number, K: number, tau: number, p: Float64Array): void {
  const inv = 1 / tau;
  for (let g = 0; g < groups; g++) {
    const o = g * K;
    let m = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < K; k++) {
      const z = gamma[o + k]! * inv;
      if (z > m) m = z;
    }
    let s = 0;
    for (let k = 0; k < K; k++) {
      const e = Math.exp(gamma[o + k]! * inv - m);
      p[o + k] = e;
      s += e;
    }
    for (let k = 0; k < K; k++) p[o + k] = p[o + k]! / s;
  }
}

/**
 * Gradient of a loss wrt the logits through the tempered softmax, ACCUMULATED into gradGamma:
 * dL/dgamma_{g,k} += p_{g,k} * (dL/dp_{g,k} - sum_m p_{g,m} dL/dp_{g,m}) / tau.
 */
export function softmaxBackward(p: Float64Array, gradP: Float64Array, groups: number, K: number, tau: number, gradGamma: Floats): void {
  const inv = 1 / tau;
  for (let g = 0; g < groups; g++) {
    const o = g * K;
    let s = 0;
    for (let k = 0; k < K; k++) s += p[o + k]! * gradP[o + k]!;
    for (let k = 0; k < K; k++) gradGamma[o + k] = gradGamma[o + k]! + p[o + k]! * (gradP[o + k]! - s) * inv;
  }
}

/**
 * The regulariser R = lambda * sum_g sum_k p_{g,k} * b_k / f_g; when gradP is given, ACCUMULATES
 * dR/dp_{g,k} = lambda * b_k / f_g into it. Returns R.
 */
export function bitsRegularizer(
  p: Float64Array,
  groups: number,
  bits: Uint8Array,
  groupWeight: Float64Array,
  lambda: number,
  gradP: Float64Array | null,
): number {
  const K = bits.length;
  let r = 0;
  for (let g = 0; g < groups; g++) {
    const inv = lambda / groupWeight[g]!;
    for (let k = 0; k < K; k++) {
      const c = bits[k]! * inv;
      r += p[g * K + k]! * c;
      if (gradP !== null) gradP[g * K + k] = gradP[g * K + k]! + c;
    }
  }
  return r;
}

/** Constants of the candidate set computed once: effective steps, code ranges and gradient scales per candidate. */
export interface MixtureConsts {
  /** Candidate bit widths (K entries; 0 = pruned). */
  readonly bits: Uint8Array;
  /** Effective step per candidate (0 for b = 0); refreshed by {@link refreshSteps} after alpha changes. */
  readonly step: Float64Array;
  readonly qn: Float64Array;
  readonly qp: Float64Array;
  /** LSQ+ gradient scale g_b per candidate. */
  readonly gScale: Float64Array;
}

/** Precomputes per-candidate constants; `numelW` = featureCount * d. */
export function createMixtureConsts(bits: Uint8Array, numelW: number): MixtureConsts {
  const K = bits.length;
  const c: MixtureConsts = { bits, step: new Float64Array(K), qn: new Float64Array(K), qp: new Float64Array(K), gScale: new Float64Array(K) };
  for (let k = 0; k < K; k++) {
    const b = bits[k]!;
    if (b === 0) continue;
    c.qn[k] = qMin(b);
    c.qp[k] = qMax(b);
    c.gScale[k] = lsqGradScale(b, numelW);
  }
  return c;
}

/** Sets `c.step[k] = lsqStep(alpha[b_k])` (call after every alpha update). */
export function refreshSteps(c: MixtureConsts, alpha: Float32Array): void {
  for (let k = 0; k < c.bits.length; k++) {
    const b = c.bits[k]!;
    c.step[k] = b === 0 ? 0 : lsqStep(alpha[b]!);
  }
}

/**
 * Mixture forward for `rows` gathered rows: `out[r*d + j] = sum_k p[group[r]*K + k] * Q_{b_k}(w[r*d + j])`.
 * Each Q is float32-rounded (as the quantizer stores it) before it is weighted.
 */
export function mixtureForward(
  w: Float32Array,
  rows: number,
  d: number,
  group: Int32Array,
  p: Float64Array,
  c: MixtureConsts,
  beta: Float32Array,
  out: Float32Array,
): void {
  const { bits, step, qn, qp } = c;
  const K = bits.length;
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    const po = group[r]! * K;
    for (let j = 0; j < d; j++) {
      const x = w[o + j]! - beta[j]!;
      const bj = beta[j]!;
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const s = step[k]!;
        if (s === 0) continue;
        const v = x / s;
        const lo = qn[k]!;
        const hi = qp[k]!;
        const q = v <= lo ? lo : v >= hi ? hi : roundHalfEven(v);
        acc += p[po + k]! * Math.fround(s * q + bj);
      }
      out[o + j] = acc;
    }
  }
}

/**
 * Mixture backward for `rows` gathered rows given G = dL/de per row (`gradE`, rows*d). WRITES
 * gradW (rows*d) and ACCUMULATES:
 *  - gradP[g*K + k]  += sum_j G_j * Q_{b_k}(w_j)                    (dL/dp through the mixture)
 *  - gradStep[k]     += g_b * sum_j p_k G_j * (Qn | Qp | round(v) - v)  (dL/d|alpha_b|)
 *  - gradBeta[j]     += sum_k g_b * p_k G_j  over clipped elements
 * gradW[r*d + j] = sum_k p_k G_j over the candidates where v is not clipped.
 */
export function mixtureBackward(
  w: Float32Array,
  rows: number,
  d: number,
  group: Int32Array,
  p: Float64Array,
  c: MixtureConsts,
  beta: Float32Array,
  gradE: Float32Array,
  gradW: Float32Array,
  gradP: Float64Array,
  gradStep: Float64Array,
  gradBeta: Float64Array,
): void {
  const { bits, step, qn, qp, gScale } = c;
  const K = bits.length;
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    const po = group[r]! * K;
    for (let j = 0; j < d; j++) {
      const G = gradE[o + j]!;
      const bj = beta[j]!;
      const x = w[o + j]! - bj;
      let gw = 0;
      let gb = 0;
      for (let k = 0; k < K; k++) {
        const s = step[k]!;
        if (s === 0) continue;
        const pk = p[po + k]!;
        const gq = pk * G;
        const v = x / s;
        const lo = qn[k]!;
        const hi = qp[k]!;
        let q: number;
        if (v < lo) {
          q = lo;
          gradStep[k] = gradStep[k]! + gScale[k]! * gq * lo;
          gb += gScale[k]! * gq;
        } else if (v > hi) {
          q = hi;
          gradStep[k] = gradStep[k]! + gScale[k]! * gq * hi;
          gb += gScale[k]! * gq;
        } else {
          q = roundHalfEven(v);
          gradStep[k] = gradStep[k]! + gScale[k]! * gq * (q - v);
          gw += gq;
        }
        gradP[po + k] = gradP[po + k]! + G * Math.fround(s * q + bj);
      }
      gradW[o + j] = gw;
      gradBeta[j] = gradBeta[j]! + gb;
    }
  }
}
