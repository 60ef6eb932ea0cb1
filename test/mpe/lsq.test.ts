import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dequantizeValue, quantizeValue } from '../../src/codec/quantize.js';
import { createLsqParams, initLsqAlpha, LSQ_MAX_BITS, lsqBackward, lsqForward, lsqGradScale, lsqQuantizeRow, lsqStep } from '../../src/mpe/lsq.js';
import { createRng } from '../../src/util/random.js';

function randomTable(rows: number, d: number, seed: number, std: number): Float32Array {
  const rng = createRng(seed);
  const w = new Float32Array(rows * d);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
  return w;
}

test('initial alpha_b = 2*mean|W|/sqrt(2^(b-1)) and beta = 0', () => {
  const w = Float32Array.of(1, -3, 0.5, -0.5);
  const p = createLsqParams(2);
  initLsqAlpha(w, 6, p.alpha);
  for (let b = 1; b <= 6; b++) assert.equal(p.alpha[b], Math.fround((2 * 1.25) / Math.sqrt(2 ** (b - 1))));
  assert.equal(p.alpha[0], 0);
  assert.equal(p.alpha[7], 0);
  assert.deepEqual([...p.beta], [0, 0]);
});

test('forward equals the formula (and the codec reference) at every bit width 1..8, ties to even', () => {
  const rows = 40;
  const d = 8;
  const w = randomTable(rows, d, 7, 0.05);
  const params = createLsqParams(d);
  initLsqAlpha(w, LSQ_MAX_BITS, params.alpha);
  params.alpha[3] = -params.alpha[3]!; // |alpha| in the forward
  for (let j = 0; j < d; j++) params.beta[j] = 0.001 * (j - 4);
  const out = new Float32Array(LSQ_MAX_BITS * rows * d);
  lsqForward(w, rows, d, params, LSQ_MAX_BITS, out);
  let clipped = 0;
  for (let b = 1; b <= LSQ_MAX_BITS; b++) {
    const s = Math.fround(Math.abs(params.alpha[b]!) + 1e-10);
    const qn = -(2 ** (b - 1));
    const qp = 2 ** (b - 1) - 1;
    for (let i = 0; i < rows * d; i++) {
      const bj = params.beta[i % d]!;
      const v = (w[i]! - bj) / s;
      let q = Math.round(v);
      if (Math.abs(v - Math.trunc(v)) === 0.5) q = 2 * Math.round(v / 2); // tie: the even neighbour
      q = Math.min(qp, Math.max(qn, q));
      if (v < qn || v > qp) clipped++;
      const expected = Math.fround(s * q + bj);
      assert.equal(out[(b - 1) * rows * d + i], expected, `b=${b} i=${i}`);
      assert.equal(expected, dequantizeValue(quantizeValue(w[i]!, s, bj, b), s, bj));
    }
  }
  assert.ok(clipped > 0, 'the fixture exercises clipping');
  // Exact ties: step 0.25, beta 0: v = 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2, 3.5 -> clamp 3 (b = 3).
  const tie = Float32Array.of(0.375, 0.625, -0.125, -0.375, 0.875);
  const o = new Float32Array(5);
  lsqQuantizeRow(tie, 0, 5, 3, 0.25, new Float32Array(5), o, 0);
  assert.deepEqual([...o], [0.5, 0.5, 0, -0.5, 0.75]); // -0 * s + 0 = +0
  assert.equal(lsqStep(-0.25), 0.25);
  assert.equal(lsqStep(0), Math.fround(1e-10));
});

/**
 * The straight-through estimator is the exact derivative of a surrogate in which, at the point of
 * evaluation, each element's clip state and rounding residual c = round(v) - v are frozen:
 * in range Q = w + s*c (so dQ/dw = 1, dQ/ds = c, dQ/dbeta = 0); clipped Q = s*Qn|Qp + beta.
 * Finite differences of that surrogate (float64) must match the backward (divided by the LSQ+ scale g_b).
 */
test('straight-through gradients (weights, alpha, beta) match finite differences of the frozen surrogate', () => {
  const rows = 12;
  const d = 4;
  const maxBits = 6;
  const w = randomTable(rows, d, 11, 0.05);
  const params = createLsqParams(d);
  initLsqAlpha(w, maxBits, params.alpha);
  params.alpha[2] = -params.alpha[2]!;
  for (let j = 0; j < d; j++) params.beta[j] = 0.01 * (j - 1.5);
  const n = rows * d;
  const rng = createRng(5);
  const gq = new Float32Array(maxBits * n);
  for (let i = 0; i < gq.length; i++) gq[i] = rng.normal();
  const numelW = 1000 * d;
  const gradW = new Float32Array(n);
  const gradAlpha = new Float64Array(9);
  const gradBeta = new Float64Array(d);
  lsqBackward(w, rows, d, params, maxBits, gq, numelW, gradW, gradAlpha, gradBeta);

  // Frozen state at the evaluation point.
  const state: { clipped: boolean; clip: number; c: number }[][] = [];
  for (let b = 1; b <= maxBits; b++) {
    const s = lsqStep(params.alpha[b]!);
    const row: { clipped: boolean; clip: number; c: number }[] = [];
    for (let i = 0; i < n; i++) {
      const v = (w[i]! - params.beta[i % d]!) / s;
      const qn = -(2 ** (b - 1));
      const qp = 2 ** (b - 1) - 1;
      row.push(v < qn ? { clipped: true, clip: qn, c: 0 } : v > qp ? { clipped: true, clip: qp, c: 0 } : { clipped: false, clip: 0, c: Math.round(v) - v });
    }
    state.push(row);
  }
  const surrogate = (ww: Float64Array, alpha: Float64Array, beta: Float64Array): number => {
    let L = 0;
    for (let b = 1; b <= maxBits; b++) {
      const s = Math.abs(alpha[b]!) + 1e-10;
      for (let i = 0; i < n; i++) {
        const st = state[b - 1]![i]!;
        const q = st.clipped ? s * st.clip + beta[i % d]! : ww[i]! + s * st.c;
        L += gq[(b - 1) * n + i]! * q;
      }
    }
    return L;
  };
  const w64 = Float64Array.from(w);
  const a64 = Float64Array.from(params.alpha);
  const b64 = Float64Array.from(params.beta);
  const h = 1e-6;
  const fd = (arr: Float64Array, i: number): number => {
    const x = arr[i]!;
    arr[i] = x + h;
    const up = surrogate(w64, a64, b64);
    arr[i] = x - h;
    const dn = surrogate(w64, a64, b64);
    arr[i] = x;
    return (up - dn) / (2 * h);
  };
  for (let i = 0; i < n; i++) assert.ok(Math.abs(fd(w64, i) - gradW[i]!) < 1e-5, `dL/dw[${i}]: fd ${fd(w64, i)} vs ${gradW[i]}`);
  let anyClipCol = 0;
  for (let b = 1; b <= maxBits; b++) {
    const g = lsqGradScale(b, numelW);
    assert.equal(g, 1 / Math.sqrt(2 ** (b - 1)) / Math.sqrt(numelW));
    const expected = fd(a64, b);
    assert.ok(Math.abs(expected - gradAlpha[b]! / g) < 1e-5 * (1 + Math.abs(expected)), `dL/dalpha_${b}: fd ${expected} vs ${gradAlpha[b]! / g}`);
  }
  // beta is shared by all bit widths: dL/dbeta_j = sum_b g_b * (sum of clipped dL/dQ_b in column j).
  const fdBeta = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    for (let b = 1; b <= maxBits; b++) {
      const g = lsqGradScale(b, numelW);
      let s = 0;
      for (let r = 0; r < rows; r++) {
        if (state[b - 1]![r * d + j]!.clipped) {
          s += gq[(b - 1) * n + r * d + j]!;
          anyClipCol++;
        }
      }
      fdBeta[j] = fdBeta[j]! + g * s;
    }
    assert.ok(Math.abs(fdBeta[j]! - gradBeta[j]!) < 1e-9, `dL/dbeta_${j}`);
  }
  assert.ok(anyClipCol > 0);
  // And the unscaled beta derivative of the surrogate is the same sum without g_b: check with a single bit width.
  const one = new Float64Array(d);
  const gw1 = new Float32Array(n);
  const ga1 = new Float64Array(9);
  const gq1 = gq.subarray(0, n);
  lsqBackward(w, rows, d, params, 1, gq1, numelW, gw1, ga1, one);
  const g1 = lsqGradScale(1, numelW);
  const surrogate1 = (beta: Float64Array): number => {
    let L = 0;
    const s = Math.abs(params.alpha[1]!) + 1e-10;
    for (let i = 0; i < n; i++) {
      const st = state[0]![i]!;
      L += gq[i]! * (st.clipped ? s * st.clip + beta[i % d]! : w[i]! + s * st.c);
    }
    return L;
  };
  for (let j = 0; j < d; j++) {
    const x = b64[j]!;
    b64[j] = x + h;
    const up = surrogate1(b64);
    b64[j] = x - h;
    const dn = surrogate1(b64);
    b64[j] = x;
    assert.ok(Math.abs((up - dn) / (2 * h) - one[j]! / g1) < 1e-5);
  }
});

test('bad bit widths are rejected with MPE_ERR_MPE_CONFIG', () => {
  const p = createLsqParams(2);
  assert.throws(() => lsqForward(new Float32Array(2), 1, 2, p, 9, new Float32Array(18)), { code: 'MPE_ERR_MPE_CONFIG' });
  assert.throws(() => initLsqAlpha(new Float32Array(2), 0, p.alpha), { code: 'MPE_ERR_MPE_CONFIG' });
  assert.throws(() => lsqForward(new Float32Array(2), 1, 2, p, 6, new Float32Array(3)), { code: 'MPE_ERR_MPE_CONFIG' });
});
