import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLsqParams, initLsqAlpha, lsqBackward, lsqForward } from '../../src/mpe/lsq.js';
import {
  bitsRegularizer,
  createMixtureConsts,
  mixtureBackward,
  mixtureForward,
  refreshSteps,
  softmaxBackward,
  softmaxTemperature,
} from '../../src/mpe/mixture.js';
import { averageBitsPerFeature, expectedBitsPerFeature, selectBits } from '../../src/mpe/selection.js';
import { createRng } from '../../src/util/random.js';

const BITS = Uint8Array.of(0, 1, 2, 3, 4, 5, 6);
const K = BITS.length;

function fixture(rows: number, d: number, groups: number, seed: number) {
  const rng = createRng(seed);
  const w = new Float32Array(rows * d);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * 0.05;
  const params = createLsqParams(d);
  initLsqAlpha(w, 6, params.alpha);
  for (let j = 0; j < d; j++) params.beta[j] = 0.005 * (j - 1);
  const group = new Int32Array(rows);
  for (let r = 0; r < rows; r++) group[r] = r % groups;
  const gamma = new Float64Array(groups * K);
  for (let i = 0; i < gamma.length; i++) gamma[i] = rng.normal() * 0.003;
  const G = new Float32Array(rows * d);
  for (let i = 0; i < G.length; i++) G[i] = rng.normal();
  return { w, params, group, gamma, G };
}

test('softmax(gamma / tau): rows sum to 1, uniform at gamma = 0, and its backward matches finite differences', () => {
  const tau = 3e-3;
  const p = new Float64Array(2 * K);
  softmaxTemperature(new Float64Array(2 * K), 2, K, tau, p);
  for (const v of p) assert.ok(Math.abs(v - 1 / K) < 1e-15);
  const rng = createRng(3);
  const gamma = new Float64Array(2 * K);
  for (let i = 0; i < gamma.length; i++) gamma[i] = rng.normal() * tau;
  const c = Float64Array.from({ length: 2 * K }, () => rng.normal()); // L = sum c * p
  softmaxTemperature(gamma, 2, K, tau, p);
  const grad = new Float64Array(2 * K);
  softmaxBackward(p, c, 2, K, tau, grad);
  const L = (): number => {
    const q = new Float64Array(2 * K);
    softmaxTemperature(gamma, 2, K, tau, q);
    let s = 0;
    for (let i = 0; i < q.length; i++) s += c[i]! * q[i]!;
    return s;
  };
  const h = 1e-9;
  for (let i = 0; i < gamma.length; i++) {
    const x = gamma[i]!;
    gamma[i] = x + h;
    const up = L();
    gamma[i] = x - h;
    const dn = L();
    gamma[i] = x;
    const fd = (up - dn) / (2 * h);
    assert.ok(Math.abs(fd - grad[i]!) < 1e-4 * (1 + Math.abs(fd)), `gamma[${i}] fd ${fd} vs ${grad[i]}`);
  }
});

test('mixture forward = sum over b>0 of p_{g,b} * Q_b (bit-exact against the quantizer)', () => {
  const rows = 30;
  const d = 5;
  const groups = 4;
  const { w, params, group, gamma } = fixture(rows, d, groups, 1);
  const p = new Float64Array(groups * K);
  softmaxTemperature(gamma, groups, K, 3e-3, p);
  const c = createMixtureConsts(BITS, 100 * d);
  refreshSteps(c, params.alpha);
  const out = new Float32Array(rows * d);
  mixtureForward(w, rows, d, group, p, c, params.beta, out);
  const q = new Float32Array(6 * rows * d);
  lsqForward(w, rows, d, params, 6, q);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < d; j++) {
      let acc = 0;
      for (let k = 1; k < K; k++) acc += p[group[r]! * K + k]! * q[(BITS[k]! - 1) * rows * d + r * d + j]!;
      assert.equal(out[r * d + j], Math.fround(acc));
    }
  }
});

test('mixture backward: dL/dp by finite differences, dL/dw, dL/dalpha, dL/dbeta equal the quantizer backward with dL/dQ_b = p_b * G', () => {
  const rows = 24;
  const d = 4;
  const groups = 3;
  const numelW = 500 * d;
  const { w, params, group, gamma, G } = fixture(rows, d, groups, 2);
  const p = new Float64Array(groups * K);
  softmaxTemperature(gamma, groups, K, 3e-3, p);
  const c = createMixtureConsts(BITS, numelW);
  refreshSteps(c, params.alpha);
  const gradW = new Float32Array(rows * d);
  const gradP = new Float64Array(groups * K);
  const gradStep = new Float64Array(K);
  const gradBeta = new Float64Array(d);
  mixtureBackward(w, rows, d, group, p, c, params.beta, G, gradW, gradP, gradStep, gradBeta);

  // L = sum G * e is linear in p: finite differences are exact up to rounding.
  const loss = (pp: Float64Array): number => {
    const e = new Float32Array(rows * d);
    mixtureForward(w, rows, d, group, pp, c, params.beta, e);
    let s = 0;
    for (let i = 0; i < e.length; i++) s += G[i]! * e[i]!;
    return s;
  };
  for (let i = 0; i < p.length; i++) {
    const x = p[i]!;
    const h = 1e-3;
    p[i] = x + h;
    const up = loss(p);
    p[i] = x - h;
    const dn = loss(p);
    p[i] = x;
    const fd = (up - dn) / (2 * h);
    assert.ok(Math.abs(fd - gradP[i]!) < 1e-4 * (1 + Math.abs(fd)), `dL/dp[${i}] fd ${fd} vs ${gradP[i]}`);
    if (BITS[i % K] === 0) assert.equal(gradP[i], 0);
  }
  // Reference: the quantizer's backward with dL/dQ_b = p_{g,b} * G.
  const n = rows * d;
  const gq = new Float32Array(6 * n);
  for (let r = 0; r < rows; r++) {
    for (let k = 1; k < K; k++) {
      for (let j = 0; j < d; j++) gq[(BITS[k]! - 1) * n + r * d + j] = Math.fround(p[group[r]! * K + k]! * G[r * d + j]!);
    }
  }
  const refW = new Float32Array(n);
  const refA = new Float64Array(9);
  const refB = new Float64Array(d);
  lsqBackward(w, rows, d, params, 6, gq, numelW, refW, refA, refB);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(refW[i]! - gradW[i]!) < 1e-5, `dL/dw[${i}]`);
  for (let k = 1; k < K; k++) assert.ok(Math.abs(refA[BITS[k]!]! - gradStep[k]!) < 1e-6 * (1 + Math.abs(refA[BITS[k]!]!)), `dL/dalpha_${BITS[k]}`);
  for (let j = 0; j < d; j++) assert.ok(Math.abs(refB[j]! - gradBeta[j]!) < 1e-6, `dL/dbeta_${j}`);
});

test('regulariser value and its gradient wrt the logits through the softmax (finite differences, incl. 1/tau)', () => {
  const groups = 3;
  const tau = 3e-3;
  const lambda = 3e-4;
  const weight = Float64Array.of(1, 2.5, 10);
  const rng = createRng(9);
  const gamma = new Float64Array(groups * K);
  for (let i = 0; i < gamma.length; i++) gamma[i] = rng.normal() * tau;
  const p = new Float64Array(groups * K);
  softmaxTemperature(gamma, groups, K, tau, p);
  const gradP = new Float64Array(groups * K);
  const R = bitsRegularizer(p, groups, BITS, weight, lambda, gradP);
  let expected = 0;
  for (let g = 0; g < groups; g++) for (let k = 0; k < K; k++) expected += (lambda * p[g * K + k]! * BITS[k]!) / weight[g]!;
  assert.ok(Math.abs(R - expected) < 1e-15);
  for (let g = 0; g < groups; g++) for (let k = 0; k < K; k++) assert.equal(gradP[g * K + k], (BITS[k]! * lambda) / weight[g]!);
  // At gamma = 0 (uniform p): R = lambda * mean(b) * sum_g 1/f_g.
  const pu = new Float64Array(groups * K).fill(1 / K);
  assert.ok(Math.abs(bitsRegularizer(pu, groups, BITS, weight, lambda, null) - lambda * 3 * (1 + 1 / 2.5 + 1 / 10)) < 1e-15);
  const gradGamma = new Float64Array(groups * K);
  softmaxBackward(p, gradP, groups, K, tau, gradGamma);
  const h = 1e-9;
  for (let i = 0; i < gamma.length; i++) {
    const x = gamma[i]!;
    const at = (v: number): number => {
      gamma[i] = v;
      const q = new Float64Array(groups * K);
      softmaxTemperature(gamma, groups, K, tau, q);
      return bitsRegularizer(q, groups, BITS, weight, lambda, null);
    };
    const fd = (at(x + h) - at(x - h)) / (2 * h);
    gamma[i] = x;
    assert.ok(Math.abs(fd - gradGamma[i]!) < 1e-6 * (1 + Math.abs(fd)), `dR/dgamma[${i}] fd ${fd} vs ${gradGamma[i]}`);
  }
});

test('selection: the largest b with p >= 1/(2K), on hand-made probabilities', () => {
  const t = 1 / 14;
  const p = Float64Array.from([
    // g0: 6 bits just at the threshold -> 6
    0.5, 0.1, 0.1, 0.1, 0.1, 0.1 - t, t,
    // g1: mass on 0 bits, 3 bits above threshold, 4..6 below -> 3
    0.8, 0, 0, 0.08, 0.07, 0.05, 0,
    // g2: everything on 0 -> 0
    1, 0, 0, 0, 0, 0, 0,
    // g3: 6 bits just below the threshold, 5 above -> 5
    0.2, 0.1, 0.1, 0.1, 0.1, 0.4 - (t - 1e-9), t - 1e-9,
  ]);
  const out = new Uint8Array(4);
  selectBits(p, 4, BITS, out);
  assert.deepEqual([...out], [6, 3, 0, 5]);
  // Uniform p (1/7 >= 1/14) selects the largest candidate.
  selectBits(new Float64Array(K).fill(1 / K), 1, BITS, out);
  assert.equal(out[0], 6);
  // A candidate set without 6 and in another order.
  selectBits(Float64Array.of(0.3, 0.3, 0.4), 1, Uint8Array.of(4, 0, 2), out);
  assert.equal(out[0], 4);
  // Memory accounting: groups of 3 over 8 features (last group has 2).
  assert.equal(averageBitsPerFeature(Uint8Array.of(6, 2, 0), 8, 3), (3 * 6 + 3 * 2) / 8);
  assert.ok(Math.abs(expectedBitsPerFeature(new Float64Array(K).fill(1 / K), BITS, 5, 5, 1) - 3) < 1e-12);
});

