import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry as PromRegistry } from 'prom-client';
import { MpeError } from '../../src/errors.js';
import { followRegistry } from '../../src/app/follower.js';
import { createModelStore } from '../../src/model-store/store.js';
import { createModelReloader, type LoadedModel } from '../../src/app/reloader.js';
import { PrivateRedis, TcpProxy, until } from '../helpers/redis.js';

/** A fake model store: location `mem:<version>` loads, `bad:<version>` fails its checksum; load resolves when released. */
function fakeServer() {
  let served: string | null = null;
  const loads: string[] = [];
  const gates: Array<() => void> = [];
  let gated = false;
  return {
    get served() {
      return served;
    },
    loads,
    gate(on: boolean) {
      gated = on;
      if (!on) for (const g of gates.splice(0)) g();
    },
    async loadAndWarm(location: string): Promise<LoadedModel<string>> {
      loads.push(location);
      if (gated) await new Promise<void>((res) => gates.push(res));
      const [kind, version] = location.split(':') as [string, string];
      if (kind === 'bad') throw new MpeError('MPE_ERR_BUNDLE_CHECKSUM', `table.bin of ${version}`);
      return { handle: `model-${version}`, version };
    },
    swap(handle: string) {
      served = handle;
    },
  };
}

async function metricValue(reg: PromRegistry, result: string): Promise<number> {
  const m = await reg.getSingleMetric('mpe_reload_total')!.get();
  return m.values.find((v) => v.labels.result === result)?.value ?? 0;
}

test('reloader swaps on success, refuses a bad bundle and keeps the old one, records results', async () => {
  const prom = new PromRegistry();
  const srv = fakeServer();
  const r = createModelReloader({ loadAndWarm: srv.loadAndWarm, swap: srv.swap, metrics: prom });
  assert.equal(r.hasModel(), false);
  const o1 = await r.reload({ location: 'mem:v1', version: 'v1' }, 'start');
  assert.equal(o1.result, 'success');
  assert.equal(srv.served, 'model-v1');
  const o2 = await r.reload({ location: 'bad:v2', version: 'v2' }, 'publish');
  assert.equal(o2.result, 'failure');
  assert.equal(o2.error?.code, 'MPE_ERR_BUNDLE_CHECKSUM');
  assert.equal(srv.served, 'model-v1');
  assert.equal(r.status().version, 'v1');
  assert.equal(r.status().lastFailure?.version, 'v2');
  // A catch-up does not retry a known-bad version; an announcement does.
  assert.equal((await r.reload({ location: 'bad:v2', version: 'v2' }, 'catch-up', { retryFailed: false })).result, 'skipped');
  assert.equal((await r.reload({ location: 'bad:v2', version: 'v2' }, 'publish')).result, 'failure');
  assert.equal((await r.reload({ location: 'mem:v1', version: 'v1' }, 'catch-up')).result, 'unchanged');
  // The registry says v3 but the directory holds v1: refused.
  const mismatch = await r.reload({ location: 'mem:v1', version: 'v3' }, 'publish');
  assert.equal(mismatch.result, 'failure');
  assert.equal(mismatch.error?.code, 'MPE_ERR_RELOAD_FAILED');
  assert.equal(await metricValue(prom, 'success'), 1);
  assert.equal(await metricValue(prom, 'failure'), 3);
  assert.match(await prom.metrics(), /mpe_reload_total\{result="failure"\} 3/);
  assert.deepEqual(r.status().counts, { success: 1, failure: 3 });
});

test('reloads are serialised and coalesced: the latest request wins', async () => {
  const srv = fakeServer();
  const r = createModelReloader({ loadAndWarm: srv.loadAndWarm, swap: srv.swap });
  srv.gate(true);
  const p1 = r.reload({ location: 'mem:v1', version: 'v1' }, 'publish');
  const p2 = r.reload({ location: 'mem:v2', version: 'v2' }, 'publish');
  const p3 = r.reload({ location: 'mem:v3', version: 'v3' }, 'publish');
  assert.equal(r.status().state, 'loading');
  assert.equal((await p2).result, 'superseded');
  srv.gate(false);
  assert.equal((await p1).result, 'success');
  assert.equal((await p3).result, 'success');
  assert.deepEqual(srv.loads, ['mem:v1', 'mem:v3']);
  assert.equal(srv.served, 'model-v3');
  assert.equal(r.status().state, 'idle');
});

test('replicas follow the registry through Redis being down at start, killed, and restarted empty', async () => {
  const redis = await PrivateRedis.start();
  const proxy = new TcpProxy(redis.port);
  await proxy.start();
  proxy.block(); // Redis unreachable for the replicas at start
  const replicas = [0, 1].map(() => {
    const srv = fakeServer();
    const reloader = createModelReloader({ loadAndWarm: srv.loadAndWarm, swap: srv.swap });
    const registry = createModelStore({ url: proxy.url, model: 'm', role: 'replica', pollMs: 0, redisOptions: { retryStrategy: () => 50 } });
    return { srv, reloader, registry, stop: followRegistry(registry, reloader) };
  });
  const admin = createModelStore({ url: redis.url, model: 'm' });
  try {
    await admin.publish({ version: 'v1', location: 'mem:v1', checksums: { 'table.bin': '0000000000000001' }, createdAt: 'x', metrics: {} });
    assert.deepEqual(replicas.map((x) => x.reloader.hasModel()), [false, false]); // not ready: nothing loaded
    proxy.unblock();
    await until(() => replicas.every((x) => x.srv.served === 'model-v1'), 'catch-up to v1 once Redis is reachable');
    await until(async () => {
      if (replicas.some((x) => x.srv.served !== 'model-v2')) await admin.publish({ version: 'v2', location: 'mem:v2', checksums: { 'table.bin': '0000000000000002' }, createdAt: 'x', metrics: {} });
      return replicas.every((x) => x.srv.served === 'model-v2');
    }, 'v2 announcement');
    // Kill Redis: the replicas keep serving v2.
    proxy.block();
    await redis.kill();
    assert.deepEqual(replicas.map((x) => x.srv.served), ['model-v2', 'model-v2']);
    // Restart it (empty, nothing persisted) and publish v3 while the replicas still cannot reach it.
    // The publisher is a new client, as a new `mpe publish` process would be: the first one gives
    // up reconnecting after about 1.2 s (admin retry policy), and a restart on a loaded box can
    // take longer (the test failed with "Connection is closed" at load ~8 that way).
    await redis.start();
    const publisher = createModelStore({ url: redis.url, model: 'm' });
    try {
      await publisher.publish({ version: 'v3', location: 'mem:v3', checksums: { 'table.bin': '0000000000000003' }, createdAt: 'x', metrics: {} });
    } finally {
      await publisher.close();
    }
    proxy.unblock();
    await until(() => replicas.every((x) => x.srv.served === 'model-v3'), 'reconnect catch-up to v3');
    assert.deepEqual(replicas.map((x) => x.reloader.status().counts), [{ success: 3, failure: 0 }, { success: 3, failure: 0 }]);
  } finally {
    for (const x of replicas) {
      await x.stop();
      await x.registry.close();
    }
    await admin.close();
    await proxy.close();
    await redis.kill();
  }
});
