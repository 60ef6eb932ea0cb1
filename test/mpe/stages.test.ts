import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeLayout } from '../../src/codec/layout.js';
import { packTable } from '../../src/codec/pack-table.js';
import { PackedTable } from '../../src/codec/packed-table.js';
import { SparseAdamTable } from '../../src/train/embedding-table.js';
import { FrozenLsqStage } from '../../src/mpe/frozen-stage.js';
import { resolveMpeOptions } from '../../src/mpe/options.js';
import { MpeSearchStage } from '../../src/mpe/search-stage.js';
import { createRng } from '../../src/util/random.js';

const D = 4;
const FEATURES = 64;

function zipfCounts(n: number): Float64Array {
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) c[i] = Math.floor(1000 / (i + 1)) + 2;
  return c;
}

function batch(rows: number, fields: number, seed: number): Int32Array {
  const rng = createRng(seed);
  const ids = new Int32Array(rows * fields);
  for (let i = 0; i < ids.length; i++) ids[i] = Math.min(FEATURES - 1, Math.floor(FEATURES * rng.next() ** 3));
  return ids;
}

test('search stage: the table starts as the trainer would initialise it, and a regulariser-only step moves mass toward fewer bits', () => {
  const opts = resolveMpeOptions({ groups: 8 });
  const s = new MpeSearchStage(zipfCounts(FEATURES), D, 64, opts, { seed: 7 });
  const fresh = new SparseAdamTable(FEATURES, D, { seed: 7 });
  assert.deepEqual(s.initialWeights, fresh.readWeights());
  for (const v of s.p) assert.ok(Math.abs(v - 1 / 7) < 1e-12);
  assert.ok(Math.abs(s.expectedBits() - 3) < 1e-12);
  const ids = batch(8, 3, 1);
  const out = new Float32Array(8 * 3 * D);
  s.forward(ids, 8, 3, out, true);
  // at gamma = 0: R = lambda * 3 * sum_g 1/f_g
  let inv = 0;
  for (const f of s.groups.weight) inv += 1 / f;
  assert.ok(Math.abs(s.regularizerLoss() - 3e-4 * 3 * inv) < 1e-12);
  s.backwardAndStep(ids, 8, 3, new Float32Array(out.length)); // zero BCE gradient: only R acts
  const K = 7;
  for (let g = 0; g < s.groups.groups; g++) {
    assert.ok(s.p[g * K]! > 1 / 7, `group ${g}: p(0 bits) grows`);
    assert.ok(s.p[g * K + 6]! < 1 / 7, `group ${g}: p(6 bits) shrinks`);
  }
  assert.ok(s.expectedBits() < 3);
});

test('search stage: snapshot/restore round trip, and forward is per-occurrence consistent', () => {
  const s = new MpeSearchStage(zipfCounts(FEATURES), D, 64, resolveMpeOptions({ groups: 4 }));
  const ids = batch(16, 2, 2);
  const out = new Float32Array(32 * D);
  s.forward(ids, 16, 2, out, true);
  // the same id gives the same embedding wherever it occurs
  for (let a = 0; a < 32; a++) {
    for (let b = a + 1; b < 32; b++) {
      if (ids[a] === ids[b]) assert.deepEqual(out.subarray(a * D, a * D + D), out.subarray(b * D, b * D + D));
    }
  }
  const snap = s.snapshot();
  const g = new Float32Array(out.length);
  const rng = createRng(3);
  for (let i = 0; i < g.length; i++) g[i] = rng.normal() * 0.01;
  s.backwardAndStep(ids, 16, 2, g);
  const moved = new Float32Array(out.length);
  s.forward(ids, 16, 2, moved, false);
  assert.notDeepEqual(moved, out);
  s.restore(snap);
  const back = new Float32Array(out.length);
  s.forward(ids, 16, 2, back, false);
  assert.deepEqual(back, out);
  assert.throws(() => s.backwardAndStep(ids, 4, 2, g), { code: 'MPE_ERR_TRAIN_CONFIG' });
});

test('rewinding: the retraining stage starts from exactly the start-of-search table, with the checkpoint alpha/beta', () => {
  const s = new MpeSearchStage(zipfCounts(FEATURES), D, 64, resolveMpeOptions({ groups: 4 }));
  const start = s.table.readWeights();
  const rng = createRng(4);
  for (let step = 0; step < 20; step++) {
    const ids = batch(16, 2, 10 + step);
    const out = new Float32Array(32 * D);
    s.forward(ids, 16, 2, out, true);
    const g = new Float32Array(out.length);
    for (let i = 0; i < g.length; i++) g[i] = rng.normal() * 0.01;
    s.backwardAndStep(ids, 16, 2, g);
  }
  assert.notDeepEqual(s.table.readWeights(), start, 'the search changed the table');
  assert.deepEqual(s.initialWeights, start);
  const bits = s.select();
  const r = new FrozenLsqStage({ weights: s.initialWeights, d: D, groupSize: s.groups.groupSize, bitsPerGroup: bits, alpha: s.alpha, beta: s.beta, maxBatchIds: 64 });
  assert.deepEqual(r.table.readWeights(), start);
  assert.deepEqual(r.alpha, s.alpha);
  assert.deepEqual(r.beta, s.beta);
  // the retraining stage owns copies: training it does not touch the search's start copy
  const ids = batch(16, 2, 99);
  const out = new Float32Array(32 * D);
  r.forward(ids, 16, 2, out, true);
  r.backwardAndStep(ids, 16, 2, out);
  assert.deepEqual(s.initialWeights, start);
});

test('frozen stage: forward equals what the packed table dequantizes (bit-exact), 0-bit groups are zero and take no bytes', () => {
  const rng = createRng(5);
  const w = new Float32Array(FEATURES * D);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * 0.05;
  const alpha = new Float32Array(9);
  for (let b = 1; b <= 8; b++) alpha[b] = 0.1 / 2 ** (b - 1);
  alpha[2] = -alpha[2]!;
  const beta = Float32Array.of(0.01, -0.02, 0, 0.003);
  const bitsPerGroup = Uint8Array.of(6, 4, 2, 0, 1, 3, 8, 0);
  const st = new FrozenLsqStage({ weights: w, d: D, groupSize: 8, bitsPerGroup, alpha, beta, maxBatchIds: 64 });
  const ids = new Int32Array(FEATURES);
  for (let i = 0; i < FEATURES; i++) ids[i] = FEATURES - 1 - i;
  const out = new Float32Array(FEATURES * D);
  st.forward(ids, FEATURES, 1, out, false);
  const { spec, weights } = st.exportTable();
  assert.deepEqual([...spec.bitsPerGroup], [...bitsPerGroup]);
  const data = packTable(spec, weights);
  const layout = computeLayout(spec);
  assert.equal(layout.groupOffsets[4], layout.groupOffsets[3], '0-bit group 3 takes no bytes');
  const packed = new PackedTable(spec, data);
  const deq = new Float32Array(FEATURES * D);
  packed.dequantize(ids, FEATURES, deq);
  assert.deepEqual(out, deq);
  for (let id = 24; id < 32; id++) for (let j = 0; j < D; j++) assert.equal(out[(FEATURES - 1 - id) * D + j], 0);
  assert.equal(st.averageBits(), (6 + 4 + 2 + 0 + 1 + 3 + 8 + 0) / 8);
  assert.throws(() => new FrozenLsqStage({ weights: w, d: D, groupSize: 8, bitsPerGroup: Uint8Array.of(1), alpha, beta, maxBatchIds: 4 }), { code: 'MPE_ERR_MPE_CONFIG' });
});
