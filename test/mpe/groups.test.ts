import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupCount, groupFirstId, groupOfId, groupRows } from '../../src/codec/layout.js';
import { buildFrequencyGroups } from '../../src/mpe/groups.js';
import { averageBitsPerFeature } from '../../src/mpe/selection.js';
import { createRng } from '../../src/util/random.js';

test('frequency groups (docs/mpe.md "Groups"): the partial group is the MOST frequent one; zero counts sit in the rarest', () => {
  // ids are frequency ranks (id 0 most frequent); 11 features, G = 4: s = ceil(11/4) = 3, 4 groups, pad 1.
  const counts = [50, 40, 30, 20, 10, 9, 8, 5, 3, 0, 0];
  const fg = buildFrequencyGroups(counts, 4);
  assert.equal(fg.groupSize, 3);
  assert.equal(fg.groups, 4);
  assert.equal(fg.groupPad, 1);
  assert.deepEqual([...fg.sizes], [2, 3, 3, 3]);
  assert.deepEqual([...fg.groupOf], [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
  // The authors' slices of the ascending counts [0,0,3 | 5,8,9 | 10,20,30 | 40,50]: sums 3, 22, 60, 90.
  assert.deepEqual([...fg.countSum], [90, 60, 22, 3]);
  assert.deepEqual([...fg.weight], [30, 20, 22 / 3, 1]);
  assert.equal(averageBitsPerFeature(Uint8Array.of(6, 4, 2, 0), 11, fg.groupSize, fg.groupPad), (2 * 6 + 3 * 4 + 3 * 2) / 11);
});

test('frequency groups: a group of zero counts only gets f = 1 (normaliser = smallest POSITIVE sum), never a zero normaliser', () => {
  const fg = buildFrequencyGroups([5, 4, 0, 0, 0, 0, 0], 3); // s = 3, pad 2: {0}, {1,2,3}, {4,5,6}
  assert.deepEqual([...fg.sizes], [1, 3, 3]);
  assert.deepEqual([...fg.countSum], [5, 4, 0]);
  assert.deepEqual([...fg.weight], [1.25, 1, 1]);
  const all0 = buildFrequencyGroups([0, 0, 0], 2);
  assert.deepEqual([...all0.weight], [1, 1]);
});

test('frequency groups: fewer groups when s * (G - 1) >= n would leave some empty; one feature per group when G >= n', () => {
  const fg = buildFrequencyGroups([9, 8, 7, 6, 5, 4, 3, 2, 1], 4); // s = 3: 3 full groups, no pad
  assert.equal(fg.groups, 3);
  assert.equal(fg.groupPad, 0);
  assert.equal(buildFrequencyGroups([3, 2, 1], 128).groups, 3);
  assert.equal(buildFrequencyGroups([3, 2, 1], 128).groupSize, 1);
});

test('frequency groups: bad input is refused with MPE_ERR_MPE_CONFIG', () => {
  assert.throws(() => buildFrequencyGroups([2, 1], 0), { code: 'MPE_ERR_MPE_CONFIG' });
  assert.throws(() => buildFrequencyGroups([], 4), { code: 'MPE_ERR_MPE_CONFIG' });
  assert.throws(() => buildFrequencyGroups([1, Number.NaN], 4), { code: 'MPE_ERR_MPE_CONFIG' });
  assert.throws(() => buildFrequencyGroups([2, -1], 4), { code: 'MPE_ERR_MPE_CONFIG' });
  // ids must be frequency ranks
  assert.throws(() => buildFrequencyGroups([1, 2], 1), { code: 'MPE_ERR_MPE_CONFIG' });
});

/** The authors' construction, written independently: sort ascending, cut slices of s, sums / min sum. */
function referenceGroups(counts: number[], G: number): { sizes: number[]; weights: number[] } {
  const n = counts.length;
  const s = Math.ceil(n / G);
  const asc = [...counts].sort((a, b) => a - b);
  const sizes: number[] = [];
  const sums: number[] = [];
  for (let k = 0; k * s < n; k++) {
    const slice = asc.slice(k * s, (k + 1) * s);
    sizes.push(slice.length);
    sums.push(slice.reduce((a, b) => a + b, 0));
  }
  const min = Math.min(...sums);
  return { sizes: sizes.reverse(), weights: sums.map((x) => x / min).reverse() };
}

test('frequency groups equal the authors\' construction (reversed to our most-frequent-first numbering) on random counts', () => {
  const rng = createRng(7);
  for (let trial = 0; trial < 50; trial++) {
    const n = 1 + rng.int(500);
    const G = 1 + rng.int(140);
    // Zipf-like positive counts (a zero-sum group would divide by zero in the reference)
    const counts = Array.from({ length: n }, () => 1 + Math.floor(1000 / (1 + rng.int(200)) ** 1.1)).sort((a, b) => b - a);
    const fg = buildFrequencyGroups(counts, G);
    const ref = referenceGroups(counts, G);
    assert.deepEqual([...fg.sizes], ref.sizes, `n ${n} G ${G}`);
    for (let g = 0; g < fg.groups; g++) assert.ok(Math.abs(fg.weight[g]! - ref.weights[g]!) <= 1e-12 * ref.weights[g]!, `n ${n} G ${G} group ${g}`);
    // the codec's arithmetic agrees with the grouping
    assert.equal(groupCount(n, fg.groupSize, fg.groupPad), fg.groups);
    for (let g = 0; g < fg.groups; g++) {
      assert.equal(groupRows(g, n, fg.groupSize, fg.groupPad), fg.sizes[g]);
      assert.equal(groupOfId(groupFirstId(g, fg.groupSize, fg.groupPad), fg.groupSize, fg.groupPad), g);
    }
  }
});
