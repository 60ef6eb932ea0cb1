import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DenseAdam } from '../../src/train/dense-adam.js';
import { RowGradientAccumulator, SparseAdamTable } from '../../src/train/embedding-table.js';
import { Fp32EmbeddingStage } from '../../src/train/fp32-stage.js';
import { createRng } from '../../src/util/random.js';

/** Float64 Adam on one vector (the reference). */
function adamRef(w: Float64Array, m: Float64Array, v: Float64Array, g: ArrayLike<number>, t: number, lr: number, wd = 0): void {
  for (let j = 0; j < w.length; j++) {
    const gj = g[j]! + wd * w[j]!;
    m[j] = 0.9 * m[j]! + 0.1 * gj;
    v[j] = 0.999 * v[j]! + 0.001 * gj * gj;
    const mh = m[j]! / (1 - 0.9 ** t);
    const vh = v[j]! / (1 - 0.999 ** t);
    w[j]! -= (lr * mh) / (Math.sqrt(vh) + 1e-8);
  }
}

test('RowGradientAccumulator merges duplicate ids and sums their gradients', () => {
  const acc = new RowGradientAccumulator(10, 6, 2);
  const ids = Int32Array.of(3, 7, 3, 0, 7, 3);
  const g = Float32Array.of(1, 2, 10, 20, 100, 200, 5, 6, 1000, 2000, 0.5, 0.25);
  const u = acc.accumulate(ids, 6, g);
  assert.equal(u.count, 3);
  assert.deepEqual(Array.from(u.uniqueIds.subarray(0, 3)), [3, 7, 0]);
  assert.deepEqual(Array.from(u.grads.subarray(0, 6)), [101.5, 202.25, 1010, 2020, 5, 6]);
  // The slot map is reset: a second call sees fresh ids.
  const u2 = acc.accumulate(Int32Array.of(7), 1, Float32Array.of(1, 1));
  assert.equal(u2.count, 1);
  assert.deepEqual(Array.from(u2.grads.subarray(0, 2)), [1, 1]);
});

test('SparseAdamTable matches a float64 dense Adam on touched rows and leaves the others alone', () => {
  const n = 20;
  const d = 4;
  const table = new SparseAdamTable(n, d, { lr: 0.01, seed: 3 });
  const init = table.readWeights();
  const rng = createRng(11);
  // Reference: per-row Adam state, step counter shared (lazy Adam).
  const w = Array.from({ length: n }, (_, i) => Float64Array.from(init.subarray(i * d, i * d + d)));
  const m = Array.from({ length: n }, () => new Float64Array(d));
  const v = Array.from({ length: n }, () => new Float64Array(d));
  const touched = new Set<number>();
  for (let t = 1; t <= 30; t++) {
    const ids = Int32Array.of(t % 5, 5 + (t % 3), 12);
    const grads = new Float32Array(ids.length * d);
    for (let k = 0; k < grads.length; k++) grads[k] = rng.normal();
    table.applyRowGradients(ids, ids.length, grads);
    for (let k = 0; k < ids.length; k++) {
      adamRef(w[ids[k]!]!, m[ids[k]!]!, v[ids[k]!]!, grads.subarray(k * d, k * d + d), t, 0.01);
      touched.add(ids[k]!);
    }
  }
  const got = table.readWeights();
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      if (touched.has(i)) assert.ok(Math.abs(got[i * d + j]! - w[i]![j]!) < 1e-5, `row ${i}`);
      else assert.equal(got[i * d + j], init[i * d + j]);
    }
  }
  // Init is normal(0, 0.003).
  const big = new SparseAdamTable(5000, 8, { seed: 1 }).readWeights();
  let ss = 0;
  for (const x of big) ss += x * x;
  assert.ok(Math.abs(Math.sqrt(ss / big.length) - 0.003) < 1e-4);
});

test('SparseAdamTable gather, snapshot and restore', () => {
  const t = new SparseAdamTable(6, 3, { seed: 5 });
  const all = t.readWeights();
  const out = new Float32Array(6);
  t.gatherRows(Int32Array.of(4, 1), 2, out);
  assert.deepEqual(Array.from(out), [...all.subarray(12, 15), ...all.subarray(3, 6)]);
  const snap = t.snapshot();
  t.applyRowGradients(Int32Array.of(4), 1, Float32Array.of(1, 1, 1));
  assert.notDeepEqual(Array.from(t.readWeights()), Array.from(all));
  t.restore(snap);
  assert.deepEqual(Array.from(t.readWeights()), Array.from(all));
  assert.equal(t.step, 0);
});

test('DenseAdam matches a float64 reference, weight decay only where flagged', () => {
  const a = Float32Array.of(0.5, -1, 2);
  const b = Float32Array.of(0.1, 0.2);
  const opt = new DenseAdam([a, b], { lr: 0.05, weightDecay: 0.1, decay: [true, false] });
  const ra = Float64Array.from(a);
  const rb = Float64Array.from(b);
  const st = [new Float64Array(3), new Float64Array(3), new Float64Array(2), new Float64Array(2)];
  const rng = createRng(2);
  for (let t = 1; t <= 25; t++) {
    const ga = Float32Array.from({ length: 3 }, () => rng.normal());
    const gb = Float32Array.from({ length: 2 }, () => rng.normal());
    opt.stepWith([ga, gb]);
    adamRef(ra, st[0]!, st[1]!, ga, t, 0.05, 0.1);
    adamRef(rb, st[2]!, st[3]!, gb, t, 0.05, 0);
  }
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(a[i]! - ra[i]!) < 1e-5);
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(b[i]! - rb[i]!) < 1e-5);
});

test('Fp32EmbeddingStage: forward gathers, backward merges and steps, export is an all-32-bit grouped table', () => {
  const st = new Fp32EmbeddingStage(300, 2, 8, { seed: 9, lr: 0.1 });
  const ids = Int32Array.of(1, 2, 1, 299);
  const out = new Float32Array(8);
  st.forward(ids, 2, 2, out, true);
  const before = st.table.readWeights();
  assert.deepEqual(Array.from(out.subarray(0, 2)), Array.from(before.subarray(2, 4)));
  st.backwardAndStep(ids, 2, 2, new Float32Array(8).fill(1));
  const after = st.table.readWeights();
  // First Adam step moves every touched weight by -lr (sign of the gradient), once per distinct id.
  assert.ok(Math.abs(after[2]! - (before[2]! - 0.1)) < 1e-6);
  assert.equal(after[0], before[0]);
  const { spec, weights } = st.exportTable();
  assert.equal(spec.kind, 'grouped');
  assert.equal(spec.groupSize, 3);
  assert.equal(spec.bitsPerGroup.length, 100);
  assert.ok(spec.bitsPerGroup.every((b) => b === 32));
  assert.deepEqual(Array.from(weights), Array.from(after));
});
