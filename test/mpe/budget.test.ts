import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bitsPerWeightSize, distortionCost, enforceBudget, groupSizes, probabilityCost } from '../../src/mpe/budget.js';
import { createRng } from '../../src/util/random.js';

const CANDS = [0, 1, 2, 3, 4, 5, 6];

test('a selection within the target is returned as it is', () => {
  const bits = Uint8Array.of(6, 4, 2, 0);
  const r = enforceBudget({ bits, candidates: CANDS, target: 3, size: bitsPerWeightSize([1, 1, 1, 1]), cost: () => 1 });
  assert.deepEqual([...r.bits], [6, 4, 2, 0]);
  assert.equal(r.sizeBefore, 3);
  assert.equal(r.sizeAfter, 3);
  assert.equal(r.groupsLowered, 0);
  assert.equal(r.stepsLowered, 0);
  assert.notEqual(r.bits, bits, 'a copy, never the caller array');
});

test('over the target: the cheapest step per unit saved goes first, one candidate step at a time', () => {
  // 4 equal groups at 6 bits = 6 bits/weight; target 5 needs 4 steps of 1 bit; group 2 is free, group 0 dear.
  const cost = (g: number) => [100, 10, 0, 5][g]!;
  const r = enforceBudget({ bits: Uint8Array.of(6, 6, 6, 6), candidates: CANDS, target: 5, size: bitsPerWeightSize([1, 1, 1, 1]), cost });
  assert.deepEqual([...r.bits], [6, 6, 2, 6], 'group 2 is lowered 6 -> 2 step by step, the others untouched');
  assert.equal(r.sizeAfter, 5);
  assert.equal(r.groupsLowered, 1);
  assert.equal(r.stepsLowered, 4);
  assert.deepEqual(
    r.moves.map((m) => [m.group, m.from, m.to]),
    [
      [2, 6, 5],
      [2, 5, 4],
      [2, 4, 3],
      [2, 3, 2],
    ],
  );
});

test('steps skip widths that are not candidates, and cost is divided by the size saved', () => {
  // Candidates 0,2,4,8: group 0 (big) 8 -> 4 saves 4 * 3 rows = 12 bit-rows at cost 6 (0.5 per unit);
  // group 1 (small) 8 -> 4 saves 4 * 1 = 4 at cost 4 (1 per unit): group 0 first although dearer in total.
  const sizes = [3, 1];
  const cost = (g: number) => (g === 0 ? 6 : 4);
  const r = enforceBudget({ bits: Uint8Array.of(8, 8), candidates: [0, 2, 4, 8], target: 5, size: bitsPerWeightSize(sizes), cost });
  assert.deepEqual(r.moves[0], { group: 0, from: 8, to: 4, cost: 6 });
  assert.ok(r.sizeAfter <= 5);
  assert.deepEqual([...r.bits], [4, 8]);
});

test('the give-back pass undoes steps the target no longer needs', () => {
  // Group 0 has 10 rows, group 1 one row, both at 4 bits (4 bits/weight); target 3.5.
  // Group 1's steps are the cheapest per unit saved, so the greedy takes all four (4 -> 0 bits: 40/11 = 3.64,
  // still over), then one step of group 0 (30/11). Group 1's steps are then no longer needed: given back.
  const cost = (g: number) => (g === 1 ? 0.01 : 1);
  const r = enforceBudget({ bits: Uint8Array.of(4, 4), candidates: CANDS, target: 3.5, size: bitsPerWeightSize([10, 1]), cost });
  assert.deepEqual([...r.bits], [3, 4]);
  assert.equal(r.groupsLowered, 1);
  assert.equal(r.stepsLowered, 1);
  assert.deepEqual(r.moves, [{ group: 0, from: 4, to: 3, cost: 1 }]);
  assert.ok(Math.abs(r.sizeAfter - 34 / 11) < 1e-12);
});

test('random problems: always at or under the target, and no kept step can be undone within it', () => {
  const r0 = createRng(7);
  const rng = () => r0.next();
  for (let trial = 0; trial < 200; trial++) {
    const G = 1 + Math.floor(rng() * 40);
    const sizes = Array.from({ length: G }, () => 1 + Math.floor(rng() * 50));
    const bits = Uint8Array.from({ length: G }, () => Math.floor(rng() * 7));
    const costs = Array.from({ length: G }, () => rng());
    const size = bitsPerWeightSize(sizes);
    const target = rng() * 6;
    const r = enforceBudget({ bits, candidates: CANDS, target, size, cost: (g, from, to) => costs[g]! * (from - to) });
    assert.ok(r.sizeAfter <= target + 1e-12, `trial ${trial}: ${r.sizeAfter} > ${target}`);
    assert.ok(Math.abs(size(r.bits) - r.sizeAfter) < 1e-12);
    if (r.sizeBefore <= target) assert.equal(r.stepsLowered, 0);
    let steps = 0;
    for (let g = 0; g < G; g++) {
      assert.ok(r.bits[g]! <= bits[g]!, 'never raised');
      steps += bits[g]! - r.bits[g]!;
      if (r.bits[g]! < bits[g]!) {
        const up = r.bits.slice();
        up[g] = up[g]! + 1;
        assert.ok(size(up) > target, `trial ${trial}: group ${g} could have kept one more bit`);
      }
    }
    assert.equal(steps, r.stepsLowered);
  }
});

test('a bytes-like size with rounding (steps that save nothing alone) still reaches the target', () => {
  // Each group is stored in whole bytes: ceil(rows * bits / 8) + a 4-byte header per group.
  const rows = [3, 3, 3];
  const size = (b: Uint8Array) => {
    let s = 0;
    for (let g = 0; g < rows.length; g++) s += Math.ceil((rows[g]! * b[g]!) / 8) + 4;
    return s;
  };
  const r = enforceBudget({ bits: Uint8Array.of(6, 6, 6), candidates: CANDS, target: 16, size, cost: () => 1 });
  assert.ok(r.sizeAfter <= 16, `${r.sizeAfter}`);
  assert.equal(size(r.bits), r.sizeAfter);
});

test('a target below what the smallest candidates reach is MPE_ERR_MPE_BUDGET', () => {
  assert.throws(() => enforceBudget({ bits: Uint8Array.of(4, 4), candidates: [1, 2, 4], target: 0.5, size: bitsPerWeightSize([1, 1]), cost: () => 1 }), {
    code: 'MPE_ERR_MPE_BUDGET',
  });
});

test('groupSizes counts the ids of each group', () => {
  assert.deepEqual([...groupSizes(Int32Array.of(0, 0, 1, 2, 2, 2), 3)], [2, 1, 3]);
});

test('distortionCost: count-weighted squared quantization error, pruning costs c * |w|^2', () => {
  // Two features in group 0 (counts 3 and 1), d = 2, step 0.5 for every width, beta 0.
  const w = Float32Array.of(0.3, -0.8, 1.2, 0.1);
  const step = [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
  const cost = distortionCost({ weights: w, d: 2, counts: [3, 1], groupOf: Int32Array.of(0, 0), groups: 1, step, beta: new Float32Array(2), candidates: [0, 1, 2] });
  // 2 bits: codes -2..1, Q = 0.5 * clamp(round(w / 0.5)): 0.3 -> 0.5, -0.8 -> -1, 1.2 -> 0.5, 0.1 -> 0
  const e2 = 3 * ((0.3 - 0.5) ** 2 + (-0.8 + 1) ** 2) + 1 * ((1.2 - 0.5) ** 2 + 0.1 ** 2);
  // 1 bit: codes -1..0: 0.3 -> 0, -0.8 -> -0.5, 1.2 -> 0, 0.1 -> 0
  const e1 = 3 * (0.3 ** 2 + (-0.8 + 0.5) ** 2) + 1 * (1.2 ** 2 + 0.1 ** 2);
  const e0 = 3 * (0.3 ** 2 + 0.8 ** 2) + 1 * (1.2 ** 2 + 0.1 ** 2);
  assert.ok(Math.abs(cost(0, 2, 1) - (e1 - e2)) < 1e-6, `${cost(0, 2, 1)} vs ${e1 - e2}`);
  assert.ok(Math.abs(cost(0, 1, 0) - (e0 - e1)) < 1e-6);
  assert.ok(Math.abs(cost(0, 2, 0) - (e0 - e2)) < 1e-6);
});

test('probabilityCost: the mass on the widths a step gives up', () => {
  const p = [0.1, 0.2, 0.3, 0.4, /* group 1 */ 0.7, 0.1, 0.1, 0.1];
  const cost = probabilityCost(p, [0, 1, 2, 4]);
  assert.ok(Math.abs(cost(0, 4, 2) - 0.4) < 1e-12);
  assert.ok(Math.abs(cost(0, 4, 0) - 0.9) < 1e-12);
  assert.ok(Math.abs(cost(1, 2, 1) - 0.1) < 1e-12);
});
