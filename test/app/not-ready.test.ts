/**
 * Registry mode readiness: `mpe serve --redis URL --model NAME` listens at once even though Redis
 * is down and nothing is published; it is alive but not ready (and refuses Lookup/Score with
 * MPE_ERR_NOT_READY) until Redis comes up, a version is published, loaded and warmed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { createModelStore } from '../../src/model-store/store.js';
import { spawnServe } from '../helpers/spawn-serve.js';
import { grpcClient, httpJson } from '../server/clients.js';
import { SHAPE, writeVersion } from '../helpers/registry-bundles.js';
import { freePort, PrivateRedis, until } from '../helpers/redis.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-not-ready-'));
});
after(() => rm(root, { recursive: true, force: true }));

function healthCheck(port: number): Promise<string> {
  const Client = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (r: object, cb: (e: grpc.ServiceError | null, v: { status: string }) => void) => void>;
  return new Promise<string>((res, rej) => client.check!.call(client, { service: 'mpe.v1.EmbeddingService' }, (e, v) => (e ? rej(e) : res(v.status)))).finally(() => (client as unknown as grpc.Client).close());
}

test('mpe serve --redis (Redis down, nothing published) listens not ready, then becomes ready once a version is published', async () => {
  const v1 = await writeVersion(root, 'v1', 31);
  const redis = new PrivateRedis(await freePort()); // not started yet
  const child = await spawnServe(['--redis', redis.url, '--model', 'ctr', '--workers', '1']);
  const rpc = grpcClient(child.grpc);
  try {
    assert.ok(child.logs().some((l) => l.model === 'ctr' && l.ready === false && l.grpcPort === child.grpc), 'the start-up line says: model ctr, not ready, on these ports');
    assert.equal((await httpJson(child.http, 'GET', '/healthz')).status, 200);
    const ready = await httpJson(child.http, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.json.error.code, 'MPE_ERR_NOT_READY');
    assert.equal(await healthCheck(child.grpc), 'NOT_SERVING');
    const lookup = await rpc.call('Lookup', { ids: [4] });
    assert.equal(lookup.status, grpc.status.UNAVAILABLE);
    assert.equal(lookup.mpeCode, 'MPE_ERR_NOT_READY');
    const score = await httpJson(child.http, 'POST', '/v1/score', { ids: [[4, 5, 6, 7]] });
    assert.equal(score.status, 503);
    assert.equal(score.json.error.code, 'MPE_ERR_NOT_READY');
    assert.equal((await httpJson(child.http, 'GET', '/v1/model')).json.error.code, 'MPE_ERR_NOT_READY');

    // Redis comes up after the server; a version is published; the replica loads, warms, becomes ready.
    await redis.start();
    const admin = createModelStore({ url: redis.url, model: 'ctr' });
    try {
      await admin.publish({ version: 'v1', location: v1.dir, checksums: { 'table.bin': 'x' }, createdAt: '2026-01-01T00:00:00.000Z', metrics: {} });
    } finally {
      await admin.close();
    }
    await until(async () => (await httpJson(child.http, 'GET', '/readyz')).status === 200, 'ready after the publish', 60_000);
    assert.equal(await healthCheck(child.grpc), 'SERVING');
    const ids = [4, 5, 6, 7];
    const ok = await httpJson(child.http, 'POST', '/v1/score', { ids: [ids] });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.modelVersion, 'v1');
    assert.ok(Math.abs(ok.json.probabilities[0] - v1.reference(Int32Array.from(ids), 1)[0]!) < 1e-5);
    const lk = await rpc.call<{ count: number }>('Lookup', { ids: Array.from({ length: SHAPE.fields }, (_, f) => f) });
    assert.equal(lk.ok, true);
    assert.equal(lk.value!.count, SHAPE.fields);
  } finally {
    rpc.close();
    child.child.kill('SIGTERM');
    assert.equal(await child.exited, 0);
    await redis.kill();
  }
});
