import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isMpeError } from '../../src/errors.js';
import { formatFleet, readFleet } from '../../src/model-store/fleet.js';
import { createHeartbeat } from '../../src/model-store/heartbeat.js';
import { keyLayout } from '../../src/model-store/keys.js';
import { createModelStore, type VersionReason, type VersionRecord } from '../../src/model-store/store.js';
import { cleanupPrefix, freePort, SHARED_REDIS_URL, uniquePrefix, until } from '../helpers/redis.js';

const prefix = uniquePrefix();
after(() => cleanupPrefix(prefix));

const input = (version: string, sum = 'aaaaaaaaaaaaaaaa') => ({
  version,
  location: `/bundles/${version}`,
  checksums: { 'table.bin': sum, 'vocab.bin': 'bbbbbbbbbbbbbbbb' },
  createdAt: '2025-01-01T00:00:00.000Z',
  metrics: { auc: 0.8 },
});

test('publish, current, list, history, rollback', async () => {
  const reg = createModelStore({ url: SHARED_REDIS_URL, model: 'ctr', prefix });
  try {
    assert.equal(await reg.current(), null);
    const v1 = await reg.publish(input('v1'));
    assert.equal(v1.model, 'ctr');
    assert.equal(v1.digest, 'table.bin=aaaaaaaaaaaaaaaa;vocab.bin=bbbbbbbbbbbbbbbb');
    await reg.publish(input('v2'));
    assert.equal((await reg.current())?.version, 'v2');
    assert.deepEqual((await reg.list()).map((r) => r.version), ['v1', 'v2']);
    // Re-publishing identical checksums is idempotent and keeps the first record.
    const again = await reg.publish(input('v1'));
    assert.equal(again.publishedAt, v1.publishedAt);
    assert.equal((await reg.current())?.version, 'v1');
    const rb = await reg.rollback('v2');
    assert.equal(rb.version, 'v2');
    assert.equal((await reg.current())?.version, 'v2');
    const h = await reg.history();
    assert.deepEqual(h.map((e) => [e.event, e.version, e.previous]), [['rollback', 'v2', 'v1'], ['publish', 'v1', 'v2'], ['publish', 'v2', 'v1'], ['publish', 'v1', null]]);
    assert.equal((await reg.get('v1'))?.location, '/bundles/v1');
  } finally {
    await reg.close();
  }
});

test('bad input gets stable codes: conflict, unknown version, bad names, unreachable Redis', async () => {
  const reg = createModelStore({ url: SHARED_REDIS_URL, model: 'codes', prefix });
  try {
    await reg.publish(input('v1'));
    await assert.rejects(reg.publish(input('v1', 'cccccccccccccccc')), (e) => isMpeError(e) && e.code === 'MPE_ERR_REGISTRY_CONFLICT');
    await assert.rejects(reg.rollback('v9'), (e) => isMpeError(e) && e.code === 'MPE_ERR_REGISTRY_NOT_FOUND');
    await assert.rejects(reg.publish(input('v 1')), (e) => isMpeError(e) && e.code === 'MPE_ERR_REGISTRY_NAME');
    await assert.rejects(reg.rollback('../x'), (e) => isMpeError(e) && e.code === 'MPE_ERR_REGISTRY_NAME');
  } finally {
    await reg.close();
  }
  assert.throws(() => createModelStore({ url: SHARED_REDIS_URL, model: 'a:b', prefix }), (e) => isMpeError(e) && e.code === 'MPE_ERR_REGISTRY_NAME');
  const down = createModelStore({ url: `redis://127.0.0.1:${await freePort()}`, model: 'ctr', prefix });
  try {
    await assert.rejects(down.current(), (e) => isMpeError(e) && e.code === 'MPE_ERR_REGISTRY_UNAVAILABLE');
  } finally {
    await down.close();
  }
});

test('watch delivers the current version at start, then every announcement', async () => {
  const pub = createModelStore({ url: SHARED_REDIS_URL, model: 'watch', prefix });
  const sub = createModelStore({ url: SHARED_REDIS_URL, model: 'watch', prefix, role: 'replica', pollMs: 0 });
  const seen: Array<[string, VersionReason]> = [];
  try {
    await pub.publish(input('v1'));
    const stop = sub.watch((r: VersionRecord, why) => seen.push([r.version, why]));
    await until(() => seen.length >= 1, 'catch-up');
    assert.deepEqual(seen[0], ['v1', 'catch-up']);
    // The subscription is set up asynchronously: a version published before it is active comes as
    // a catch-up (on the subscriber's 'ready'), not as an announcement. Publish new versions until
    // one is announced (under load average 20+ the first publish could beat the SUBSCRIBE).
    let n = 1;
    await until(async () => {
      if (!seen.some(([, why]) => why === 'publish')) await pub.publish(input(`v${++n}`));
      return seen.some(([v, why]) => v === `v${n}` && why === 'publish');
    }, 'an announcement');
    await pub.rollback('v1');
    await until(() => seen.some(([v, why]) => v === 'v1' && why === 'rollback'), 'rollback announcement');
    await stop();
  } finally {
    await pub.close();
    await sub.close();
  }
});

test('fleet status lists heartbeats and flags old versions and silent replicas', async () => {
  const reg = createModelStore({ url: SHARED_REDIS_URL, model: 'fleet', prefix });
  const keys = keyLayout('fleet', prefix);
  try {
    await reg.publish(input('v2'));
    let requests = 0;
    const a = createHeartbeat({ redis: reg.redis, keys, replicaId: 'a', intervalMs: 60_000, state: () => ({ version: 'v2', provider: 'cpu', requests, lastReload: null }) });
    const b = createHeartbeat({ redis: reg.redis, keys, replicaId: 'b', intervalMs: 60_000, state: () => ({ version: 'v1', provider: 'cpu', requests: 0, lastReload: 'failure: MPE_ERR_BUNDLE_CHECKSUM (v3)' }) });
    requests = 50;
    assert.equal(await a.beat(), true);
    assert.equal(await b.beat(), true);
    const s = await readFleet(reg.redis, keys);
    assert.equal(s.current, 'v2');
    assert.deepEqual(s.replicas.map((r) => [r.id, r.version, r.stale, r.silent]), [['a', 'v2', false, false], ['b', 'v1', true, false]]);
    assert.equal(s.replicas[1]!.lastReload, 'failure: MPE_ERR_BUNDLE_CHECKSUM (v3)');
    // Seen from four intervals later, both are silent; a day later they are pruned.
    const later = await readFleet(reg.redis, keys, { now: Date.now() + 240_000 });
    assert.deepEqual(later.replicas.map((r) => r.silent), [true, true]);
    const text = formatFleet(later, Date.now() + 240_000);
    assert.match(text, /^b .*SILENT,OLD-VERSION/m);
    await b.stop({ deregister: true });
    assert.deepEqual((await readFleet(reg.redis, keys)).replicas.map((r) => r.id), ['a']);
    const pruned = await readFleet(reg.redis, keys, { now: Date.now() + 2 * 86_400_000 });
    assert.equal(pruned.pruned, 1);
    assert.equal((await readFleet(reg.redis, keys)).replicas.length, 0);
    await a.stop();
  } finally {
    await reg.close();
  }
});
