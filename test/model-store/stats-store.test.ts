/** The Redis half of the live statistics: replicas' sampler flushes merge; a failed flush keeps its counts. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { keyLayout } from '../../src/model-store/keys.js';
import { createRedisClient } from '../../src/model-store/redis-client.js';
import { flushSampler, readLiveCounts } from '../../src/model-store/stats-store.js';
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
