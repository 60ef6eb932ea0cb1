import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMpeError } from '../../src/errors.js';
import { countMinBound, FieldSketches } from '../../src/stats/count-min.js';
import { computeDrift } from '../../src/stats/drift.js';
import { createFrequencySampler } from '../../src/stats/sampler.js';
import { createRng } from '../../src/util/random.js';

/** A Zipf(s) stream over ids 0..n-1 (id 0 most frequent), from a fixed seed. */
function zipfStream(n: number, s: number, length: number, seed: number): Int32Array {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) cdf[i] = acc += 1 / (i + 1) ** s;
  const rng = createRng(seed);
  const out = new Int32Array(length);
  for (let j = 0; j < length; j++) {
    const u = rng.next() * acc;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    out[j] = lo;
  }
  return out;
}

function exactCounts(stream: Int32Array, n: number): Float64Array {
  const c = new Float64Array(n);
  for (let i = 0; i < stream.length; i++) c[stream[i]!]!++;
  return c;
}

test('count-min estimates of a Zipf stream stay within the stated bound, and top-k finds the heavy hitters', () => {
  const n = 20_000;
  const stream = zipfStream(n, 1.1, 200_000, 7);
  const truth = exactCounts(stream, n);
  const width = 2048;
  const depth = 4;
  const sampler = createFrequencySampler({ rate: 1, width, depth, topK: 16, groupSize: 1000, featureCount: n, oovIds: [n - 1] });
  for (let i = 0; i < stream.length; i++) sampler.observe(0, stream[i]!);
  const live = sampler.snapshot();
  assert.equal(live.total, stream.length);
  const { epsilon, delta } = countMinBound(width, depth);
  const slack = epsilon * stream.length;
  let over = 0;
  for (let id = 0; id < n; id++) {
    const est = live.sketch.estimate(0, id);
    assert.ok(est >= truth[id]!, `id ${id} undercounted`);
    if (est - truth[id]! > slack) over++;
  }
  assert.ok(over / n <= delta, `${over} of ${n} estimates exceed epsilon*N (delta = ${delta})`);
  // Exact per-group counters.
  for (let g = 0; g < 20; g++) {
    let sum = 0;
    for (let id = g * 1000; id < (g + 1) * 1000; id++) sum += truth[id]!;
    assert.equal(live.groupCounts[g], sum);
  }
  // The 8 most frequent ids are among the 16 candidates.
  const trueTop = Array.from(truth.keys()).sort((a, b) => truth[b]! - truth[a]! || a - b).slice(0, 8);
  const cand = new Set(live.candidates.map((c) => c.id));
  for (const id of trueTop) assert.ok(cand.has(id), `heavy hitter ${id} missing`);
});

test('sampling at 5% estimates group frequencies within 5 standard deviations', () => {
  const n = 5000;
  const stream = zipfStream(n, 1.0, 200_000, 11);
  const truth = exactCounts(stream, n);
  const rate = 0.05;
  const sampler = createFrequencySampler({ rate, groupSize: 500, featureCount: n, oovIds: [0], samplingSeed: 3 });
  for (let i = 0; i < stream.length; i++) sampler.observe(0, stream[i]!);
  const live = sampler.snapshot();
  for (let g = 0; g < 10; g++) {
    let ng = 0;
    for (let id = g * 500; id < (g + 1) * 500; id++) ng += truth[id]!;
    const est = live.groupCounts[g]! / rate;
    const sd = Math.sqrt((ng * (1 - rate)) / rate);
    assert.ok(Math.abs(est - ng) <= 5 * sd + 1 / rate, `group ${g}: estimate ${est}, true ${ng}, sd ${sd}`);
  }
  const sd = Math.sqrt((stream.length * (1 - rate)) / rate);
  assert.ok(Math.abs(live.total / rate - stream.length) <= 5 * sd);
});

test('drift: pruned, OOV and misplaced shares of a known stream', () => {
  // 5 groups of 10: bits 8, 4, 2, 0, 0. Field 0 has OOV id 9, field 1 OOV id 19.
  const model = { featureCount: 50, groupSize: 10, bitsPerGroup: [8, 4, 2, 0, 0], fields: [{ name: 'a', oovId: 9 }, { name: 'b', oovId: 19 }] };
  const s = createFrequencySampler({ rate: 1, width: 1024, depth: 4, topK: 8, groupSize: 10, featureCount: 50, oovIds: [9, 19] });
  const feed = (field: number, id: number, times: number): void => {
    for (let i = 0; i < times; i++) s.observe(field, id);
  };
  feed(0, 45, 400); // pruned and the most frequent feature live: misplaced (0 bits, live rank 0 -> 8 bits)
  feed(0, 1, 300); // 8 bits: fine
  feed(0, 9, 100); // field a OOV
  feed(1, 19, 100); // field b OOV
  feed(1, 12, 100); // 4 bits; live rank 3 -> group 0 -> 8 bits: misplaced
  const r = computeDrift(model, s.snapshot());
  assert.equal(r.sampled, 1000);
  assert.equal(r.prunedShare, 0.4);
  assert.equal(r.oovShare, 0.2);
  assert.deepEqual(r.oovShareByField, { a: 100 / 800, b: 0.5 });
  assert.deepEqual(r.shareByBits, { '8': 0.4, '4': 0.2, '2': 0, '0': 0.4 });
  assert.deepEqual(r.misplaced.map((m) => [m.field, m.id, m.bits, m.liveRankBits]), [['a', 45, 0, 8], ['b', 12, 4, 8]]);
  assert.equal(r.misplacedShare, 0.5);
});

test('bad statistics options get MPE_ERR_STATS_CONFIG', () => {
  const base = { groupSize: 10, featureCount: 100, oovIds: [0] };
  for (const bad of [{ rate: 0 }, { rate: 1.5 }, { width: 1000 }, { depth: 0 }, { topK: 0 }, { groupSize: 0 }]) {
    assert.throws(() => createFrequencySampler({ ...base, ...bad }), (e) => isMpeError(e) && e.code === 'MPE_ERR_STATS_CONFIG', JSON.stringify(bad));
  }
  assert.throws(() => new FieldSketches(1, 64, 2, 1, new Uint32Array(3)), (e) => isMpeError(e) && e.code === 'MPE_ERR_STATS_CONFIG');
});
