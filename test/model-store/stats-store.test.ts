/** The Redis half of the live statistics: replicas' sampler flushes merge; a failed flush keeps its counts. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { keyLayout } from '../../src/model-store/keys.js';
import { createRedisClient } from '../../src/model-store/redis-client.js';
import { flushSampler, readLiveCounts } from '../../src/model-store/stats-store.js';
import { computeDrift } from '../../src/stats/drift.js';
import { createFrequencySampler } from '../../src/stats/sampler.js';
import { createRng } from '../../src/util/random.js';
import { cleanupPrefix, freePort, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix();
after(() => cleanupPrefix(prefix));

test('flushes of two replicas merge in Redis; a failed flush keeps its counts', async () => {
  const keys = keyLayout('stats', prefix);
  const redis = createRedisClient(SHARED_REDIS_URL, { role: 'cli' });
  const opts = { rate: 1, width: 256, depth: 3, topK: 4, groupSize: 10, featureCount: 100, oovIds: [9, 19] };
  const a = createFrequencySampler(opts);
  const b = createFrequencySampler(opts);
  const rng = createRng(5);
  for (let i = 0; i < 3000; i++) {
    a.observe(i & 1, (rng.int(50) * rng.int(2)) | 0);
    b.observe(i & 1, rng.int(100));
  }
  const sa = a.snapshot();
  const sb = b.snapshot();
  const down = createRedisClient(`redis://127.0.0.1:${await freePort()}`, { role: 'replica' });
  try {
    assert.equal(await flushSampler(down, keys, 'v1', a), 0);
    assert.equal(a.pending(), 3000);
    assert.equal(await flushSampler(redis, keys, 'v1', a), 3000);
    assert.equal(a.pending(), 0);
    assert.equal(await flushSampler(redis, keys, 'v1', b), 3000);
    const merged = (await readLiveCounts(redis, keys, 'v1'))!;
    assert.equal(merged.total, 6000);
    for (let i = 0; i < merged.sketch.cells.length; i++) assert.equal(merged.sketch.cells[i], sa.sketch.cells[i]! + sb.sketch.cells[i]!);
    for (let g = 0; g < 10; g++) assert.equal(merged.groupCounts[g] ?? 0, sa.groupCounts[g]! + sb.groupCounts[g]!);
    // Two bundle fields plus the by-id slot (empty here: every observation named its field).
    assert.deepEqual(Array.from(merged.oovCounts), [sa.oovCounts[0]! + sb.oovCounts[0]!, sa.oovCounts[1]! + sb.oovCounts[1]!, 0]);
    assert.equal(merged.candidates.length, 16); // <= 2 replicas x 4 per field, union
    assert.ok(merged.candidates.some((c) => c.id === 0), 'id 0 (half of replica a) is a candidate');
    assert.equal(await readLiveCounts(redis, keys, 'nothing'), null);
  } finally {
    down.disconnect();
    redis.disconnect();
  }
});

test('the metadata records groupSize and groupPad, so the merged group counts are read with the grouping they were binned by', async () => {
  const keys = keyLayout('stats-pad', prefix);
  const redis = createRedisClient(SHARED_REDIS_URL, { role: 'cli' });
  // 95 features in groups of 10 with the partial group first (pad 5): group 0 = ids 0..4, group g = ids 10g-5 .. 10g+4.
  const opts = { rate: 1, width: 256, depth: 3, topK: 4, groupSize: 10, groupPad: 5, featureCount: 95, oovIds: [94] };
  const a = createFrequencySampler(opts);
  const ids = [0, 4, 5, 14, 15, 94, 94, 3];
  for (const id of ids) a.observe(0, id);
  try {
    assert.equal(await flushSampler(redis, keys, 'v1', a), ids.length);
    const live = (await readLiveCounts(redis, keys, 'v1'))!;
    assert.equal(live.groupSize, 10);
    assert.equal(live.groupPad, 5);
    // By hand: 0, 4, 3 -> group 0; 5, 14 -> group 1; 15 -> group 2; 94, 94 -> group 9.
    assert.deepEqual(Array.from(live.groupCounts), [3, 2, 1, 0, 0, 0, 0, 0, 0, 2]);
    const model = { featureCount: 95, groupSize: 10, groupPad: 5, bitsPerGroup: [0, 6, 6, 6, 6, 6, 6, 6, 6, 0], fields: [{ name: 'a', oovId: 94 }] };
    assert.equal(computeDrift(model, live).prunedShare, 5 / 8);
    // A bundle grouped otherwise cannot use these counts.
    assert.throws(() => computeDrift({ ...model, groupPad: 0 }, live), { code: 'MPE_ERR_STATS_GROUPING' });
    assert.throws(() => computeDrift({ ...model, groupSize: 5 }, live), { code: 'MPE_ERR_STATS_GROUPING' });
    // Statistics flushed before the pad was recorded read as "not recorded"; drift then takes the bundle's.
    await redis.hdel(keys.statsMeta('v1'), 'groupPad');
    const old = (await readLiveCounts(redis, keys, 'v1'))!;
    assert.equal(old.groupPad, null);
    assert.equal(computeDrift(model, old).prunedShare, 5 / 8);
  } finally {
    redis.disconnect();
  }
});
