/**
 * Acceptance of hot reload across replicas: two real servers (gRPC + HTTP, worker pools, real
 * bundles on disk) follow a private redis-server through a TCP proxy while a load loop runs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Registry as PromRegistry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { loadBundle } from '../../src/bundle/load.js';
import { readFleet } from '../../src/model-store/fleet.js';
import { adminHooks, type HotReload, startHotReload, waitForCurrent } from '../../src/app/hot-reload.js';
import { createModelStore, type ModelStore } from '../../src/model-store/store.js';
import { silentLogger } from '../../src/util/log.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { servingModelFromBundle } from '../../src/service/model.js';
import { httpJson } from '../server/clients.js';
import { corrupt, SHAPE, type VersionFixture, writeVersion } from '../helpers/registry-bundles.js';
import { PrivateRedis, TcpProxy, until } from '../helpers/redis.js';

let root: string;
const versions = new Map<string, VersionFixture>();
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-hot-reload-'));
  for (const [v, seed] of [['v1', 11], ['v2', 12], ['v3', 13], ['v4', 14]] as const) versions.set(v, await writeVersion(root, v, seed));
  await corrupt(versions.get('v3')!.dir);
});
after(() => rm(root, { recursive: true, force: true }));

interface Replica {
  server: RunningServer;
  hot: HotReload;
  prom: PromRegistry;
}

async function startReplica(redisUrl: string, id: string, token = 'secret-token'): Promise<Replica> {
  const link = { url: redisUrl, model: 'ctr', replicaId: id, heartbeatMs: 200, pollMs: 0, maxBackoffMs: 200 };
  const rec = await waitForCurrent(link, silentLogger);
  const bundle = await loadBundle(rec.location, { verify: true });
  const prom = new PromRegistry();
  let hot: HotReload | null = null;
  const server = await createServer(testConfig({ workers: 1 }), { model: servingModelFromBundle(bundle), registry: prom, admin: adminHooks(token, () => hot) });
  hot = startHotReload({ server, initial: { version: rec.version, location: rec.location }, metrics: prom, registry: link, log: silentLogger });
  return { server, hot, prom };
}

const publish = (reg: ModelStore, v: string) => {
  const f = versions.get(v)!;
  return reg.publish({ version: v, location: f.dir, checksums: { 'table.bin': `${v}-sum` }, createdAt: '2026-01-01T00:00:00.000Z', metrics: {} });
};

async function metric(prom: PromRegistry, result: string): Promise<number> {
  return (await prom.getSingleMetric('mpe_reload_total')!.get()).values.find((x) => x.labels.result === result)?.value ?? 0;
}

test('two replicas under load: publish, refuse a corrupted bundle, survive Redis being killed, catch up', async () => {
  const redis = await PrivateRedis.start();
  const proxy = new TcpProxy(redis.port);
  await proxy.start();
  let admin = createModelStore({ url: redis.url, model: 'ctr' });
  await publish(admin, 'v1');
  const replicas = [await startReplica(proxy.url, 'r1'), await startReplica(proxy.url, 'r2')];
  const F = SHAPE.fields;
  // Load loop: 2 concurrent clients per replica, 8 rows per request, every answer checked against its version.
  const seen = new Map<string, number>();
  const failures: string[] = [];
  let running = true;
  let served = 0;
  const loops = replicas.flatMap((rep, ri) =>
    [0, 1].map(async (li) => {
      let k = 0;
      while (running) {
        const rows = 8;
        const ids: number[][] = [];
        for (let r = 0; r < rows; r++) ids.push(Array.from({ length: F }, (_, f) => f + F * (1 + ((k * 7 + r * 13 + f * 3 + li) % 90))));
        k++;
        const res = await httpJson(rep.server.httpPort, 'POST', '/v1/score', { ids }).catch((e: Error) => ({ status: 0, json: e.message }));
        if (res.status !== 200) {
          failures.push(`replica ${ri}: ${res.status} ${JSON.stringify(res.json)}`);
          continue;
        }
        const v = res.json.modelVersion as string;
        const ref = versions.get(v)?.reference(Int32Array.from(ids.flat()), rows);
        if (ref === undefined) failures.push(`unknown version ${v}`);
        else for (let r = 0; r < rows; r++) if (Math.abs(res.json.probabilities[r] - ref[r]!) > 1e-5) failures.push(`${v} row ${r}: ${res.json.probabilities[r]} vs ${ref[r]}`);
        seen.set(v, (seen.get(v) ?? 0) + 1);
        served++;
      }
    }),
  );
  const servedSince = async (n: number, what: string): Promise<void> => {
    const start = served;
    await until(() => served >= start + n, what);
  };
  try {
    await servedSince(20, 'load on v1');
    // 1. Publish v2 under load: both replicas swap, fleet shows it.
    await publish(admin, 'v2');
    await until(() => replicas.every((r) => r.hot.status().version === 'v2'), 'both on v2');
    await servedSince(20, 'load on v2');
    await until(async () => (await readFleet(admin.redis, admin.keys)).replicas.filter((m) => m.version === 'v2' && !m.stale && !m.silent).length === 2, 'fleet on v2');
    // 2. A corrupted v3 is refused by both; v2 keeps serving; refusal visible in metrics, status and fleet.
    await publish(admin, 'v3');
    await until(() => replicas.every((r) => r.hot.status().lastFailure?.version === 'v3'), 'both refused v3');
    for (const r of replicas) {
      const s = r.hot.status();
      assert.equal(s.version, 'v2');
      assert.equal(s.lastFailure?.error?.code, 'MPE_ERR_BUNDLE_CHECKSUM');
      assert.equal(await metric(r.prom, 'failure'), 1);
      assert.equal(await metric(r.prom, 'success'), 1);
      assert.match(await r.prom.metrics(), /mpe_reload_total\{result="failure"\} 1/);
    }
    await servedSince(20, 'load on v2 after the refusal');
    await until(async () => {
      const fleet = await readFleet(admin.redis, admin.keys);
      return fleet.current === 'v3' && fleet.replicas.filter((m) => m.version === 'v2' && m.stale && /MPE_ERR_BUNDLE_CHECKSUM \(v3\)/.test(m.lastReload ?? '')).length === 2;
    }, 'fleet shows the refusal');
    // 3. Kill Redis mid-load: serving goes on.
    proxy.block();
    await redis.kill();
    await servedSince(40, 'load while Redis is down');
    // Restart it (empty) and publish v4 while the replicas still cannot reach it; they catch up on reconnect.
    await redis.start();
    await admin.close();
    admin = createModelStore({ url: redis.url, model: 'ctr' });
    await publish(admin, 'v4');
    proxy.unblock();
    await until(() => replicas.every((r) => r.hot.status().version === 'v4'), 'both caught up to v4');
    await servedSince(20, 'load on v4');
    await until(async () => (await readFleet(admin.redis, admin.keys)).replicas.filter((m) => m.version === 'v4' && !m.stale).length === 2, 'fleet on v4');
  } finally {
    running = false;
    await Promise.all(loops);
    for (const r of replicas) {
      await r.hot.close();
      await r.server.close();
    }
    await admin.close();
    await proxy.close();
    await redis.kill();
  }
  assert.deepEqual(failures, []);
  for (const v of ['v1', 'v2', 'v4']) assert.ok((seen.get(v) ?? 0) > 0, `responses from ${v}`);
  assert.equal(seen.get('v3'), undefined);
});

test('without Redis: SIGHUP and the token-protected admin endpoint reload; a bad bundle is refused', async () => {
  const v1 = versions.get('v1')!;
  const prom = new PromRegistry();
  let hot: HotReload | null = null;
  const server = await createServer(testConfig({ workers: 1 }), { model: servingModelFromBundle(await loadBundle(v1.dir, { verify: true })), registry: prom, admin: adminHooks('tok-123', () => hot) });
  hot = startHotReload({ server, initial: { version: 'v1', location: v1.dir }, metrics: prom, sighup: true, log: silentLogger });
  try {
    const port = server.httpPort;
    const noAuth = await httpJson(port, 'POST', '/admin/reload', { dir: versions.get('v2')!.dir });
    assert.equal(noAuth.status, 401);
    assert.equal(noAuth.json.error.code, 'MPE_ERR_UNAUTHORIZED');
    const wrong = await httpJson(port, 'POST', '/admin/reload', {}, { authorization: 'Bearer tok-124' });
    assert.equal(wrong.status, 401);
    const bad = await httpJson(port, 'POST', '/admin/reload', { dir: versions.get('v3')!.dir }, { authorization: 'Bearer tok-123' });
    assert.equal(bad.status, 200);
    assert.equal(bad.json.result, 'failure');
    assert.equal(bad.json.error.code, 'MPE_ERR_BUNDLE_CHECKSUM');
    assert.equal((await httpJson(port, 'GET', '/v1/model')).json.version, 'v1');
    const ok = await httpJson(port, 'POST', '/admin/reload', { dir: versions.get('v2')!.dir }, { authorization: 'Bearer tok-123' });
    assert.equal(ok.json.result, 'success');
    assert.equal((await httpJson(port, 'GET', '/v1/model')).json.version, 'v2');
    const status = await httpJson(port, 'GET', '/admin/status', undefined, { authorization: 'Bearer tok-123' });
    assert.equal(status.json.version, 'v2');
    assert.deepEqual(status.json.counts, { success: 1, failure: 1 });
    // SIGHUP reloads the served directory (forced, same version).
    process.kill(process.pid, 'SIGHUP');
    await until(() => hot!.status().last?.source === 'sighup', 'SIGHUP reload');
    assert.equal(hot.status().last?.result, 'success');
    assert.equal(await metric(prom, 'success'), 2);
  } finally {
    await hot.close();
    await server.close();
  }
});
