/**
 * Live statistics end to end: a registry-mode server sampling every feature id (rate 1) serves a
 * known stream over both transports; its drift gauges and `mpe drift` (real Redis, unique prefix
 * and model name) report the stream's pruned, OOV and misplaced-frequent shares.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Registry as PromRegistry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { startHotReload } from '../../src/app/hot-reload.js';
import { silentLogger } from '../../src/util/log.js';
import { createModelStore } from '../../src/model-store/store.js';
import { createServer } from '../../src/app/create-server.js';
import { BY_ID_FIELD } from '../../src/stats/drift.js';
import { startLiveStats } from '../../src/app/live-stats.js';
import { createFixture, fixtureModel } from '../helpers/bundle-fixture.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix, until } from '../helpers/redis.js';
import { writeVersion } from '../helpers/registry-bundles.js';
import { grpcClient, httpJson } from '../server/clients.js';

const prefix = uniquePrefix();
const model = `drift-${randomBytes(3).toString('hex')}`;
let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-live-drift-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
  await cleanupPrefix(prefix);
});

/** Scrapes one unlabelled gauge from /metrics. */
async function gauge(port: number, name: string): Promise<number> {
  const text = (await httpJson(port, 'GET', '/metrics')).json as string;
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

function mpeDrift(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'drift', ...args], {
      // No --redis: the command must take MPE_REDIS_URL (through the config module).
      env: { ...process.env, MPE_REDIS_URL: SHARED_REDIS_URL },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

// The fixture (4 fields, groups of 32): group 0 has 8 bits, group 3 (ids 96..127) is pruned,
// group 6 (ids 192..223) has 3 bits; id i >= 4 belongs to field i % 4, ids 0..3 are the OOV ids.
// The stream (1200 feature ids):
//   HTTP Lookup by features: 400 x id 100 (field I1, pruned), 300 x id 4 (I1, 8 bits),
//                            100 x an unseen value of C1 (OOV id 2)
//   gRPC Lookup by ids:      200 x id 201 (3 bits)
//   gRPC Score:              50 rows of ids [4, 5, 6, 7] (8 bits)
// Live ranks (OOV excluded): 100, 4, 201, 5, 6, 7: all in group 0 (8 bits), so ids 100 (0 bits)
// and 201 (3 bits) are misplaced: (400 + 200) / 1200 of the lookups.
const EXPECTED = { sampled: 1200, pruned: 400 / 1200, oov: 100 / 1200, misplaced: 600 / 1200 };

async function serveStream(http: number, grpc: number): Promise<void> {
  const feats = [
    ...Array.from({ length: 400 }, () => ({ field: 'I1', value: 100 })),
    ...Array.from({ length: 300 }, () => ({ field: 'I1', value: 4 })),
    ...Array.from({ length: 100 }, () => ({ field: 'C1', value: 'never-seen' })),
  ];
  const lk = await httpJson(http, 'POST', '/v1/lookup', { features: feats });
  assert.equal(lk.status, 200);
  assert.equal(lk.json.ids[0], 100);
  assert.equal(lk.json.ids[799], 2);
  const client = grpcClient(grpc);
  try {
    const byId = await client.call<{ count: number }>('Lookup', { ids: Array.from({ length: 200 }, () => 201) });
    assert.equal(byId.ok, true);
    const sc = await client.call<{ probabilities: number[] }>('Score', { ids: Array.from({ length: 50 }, () => [4, 5, 6, 7]).flat() });
    assert.equal(sc.ok, true);
    assert.equal(sc.value!.probabilities.length, 50);
  } finally {
    client.close();
  }
}

test('registry mode: sampled lookups and scores flush to Redis; drift gauges and `mpe drift` report the stream', async () => {
  const v1 = await writeVersion(root, 'v1', 21);
  const admin = createModelStore({ url: SHARED_REDIS_URL, model, prefix });
  const prom = new PromRegistry();
  const server = await createServer(testConfig({ workers: 1, statsSampleRate: 1 }), { registry: prom });
  const hot = startHotReload({ server, metrics: prom, registry: { url: SHARED_REDIS_URL, model, prefix, pollMs: 0, heartbeatMs: 60_000 }, log: silentLogger });
  const stats = startLiveStats({ current: () => server.service.live, redis: hot.redis, flushMs: 0, metrics: prom });
  try {
    await admin.publish({ version: 'v1', location: v1.dir, checksums: { 'table.bin': 'x' }, createdAt: '2026-01-01T00:00:00.000Z', metrics: {} });
    await until(() => server.isReady(), 'first model loaded');
    await serveStream(server.httpPort, server.grpcPort);
    const report = await stats.refresh();
    assert.ok(report !== null);
    assert.equal(server.service.live!.sampler.pending(), 0, 'flushed');
    // Per-feature estimates are count-min: never under, over by > e/2048 of the lookups with p <= e^-4.
    const eps = report.sketchEpsilon;
    assert.equal(report.sampled, EXPECTED.sampled);
    assert.equal(report.prunedShare, EXPECTED.pruned);
    assert.equal(report.oovShare, EXPECTED.oov);
    assert.ok(report.misplacedShare >= EXPECTED.misplaced && report.misplacedShare <= EXPECTED.misplaced + 2 * eps, `misplaced ${report.misplacedShare}`);
    assert.deepEqual(report.misplaced.map((m) => [m.field, m.id, m.bits, m.liveRankBits]), [['I1', 100, 0, 8], [BY_ID_FIELD, 201, 3, 8]]);
    assert.equal(await gauge(server.httpPort, 'mpe_drift_sampled_lookups'), EXPECTED.sampled);
    assert.ok(Math.abs((await gauge(server.httpPort, 'mpe_drift_pruned_share')) - EXPECTED.pruned) < 1e-12);
    assert.ok(Math.abs((await gauge(server.httpPort, 'mpe_drift_oov_share')) - EXPECTED.oov) < 1e-12);
    assert.ok(Math.abs((await gauge(server.httpPort, 'mpe_drift_misplaced_share')) - report.misplacedShare) < 1e-12);
    // The CLI reads the same merged counts from Redis.
    const cli = await mpeDrift(['--model', model, '--prefix', prefix, '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    const j = JSON.parse(cli.stdout);
    assert.equal(j.sampled, EXPECTED.sampled);
    assert.equal(j.prunedShare, EXPECTED.pruned);
    assert.equal(j.oovShare, EXPECTED.oov);
    assert.equal(j.misplacedShare, report.misplacedShare);
    assert.equal(j.misplacedCount, 2);
  } finally {
    await stats.close();
    await hot.close();
    await server.close();
    await admin.close();
  }
});

test('without Redis the drift gauges come from the local sampler; sampling rate 0 turns statistics off', async () => {
  const fx = createFixture({ fields: 4, d: 8, featureCount: 400, groupSize: 32, hidden: [16], seed: 21 });
  const prom = new PromRegistry();
  const server = await createServer(testConfig({ workers: 1, statsSampleRate: 1 }), { model: fixtureModel(fx), registry: prom });
  const stats = startLiveStats({ current: () => server.service.live, redis: null, flushMs: 0, metrics: prom });
  try {
    await serveStream(server.httpPort, server.grpcPort);
    const r = await stats.refresh();
    assert.equal(r?.sampled, EXPECTED.sampled);
    assert.equal(await gauge(server.httpPort, 'mpe_drift_pruned_share'), EXPECTED.pruned);
    assert.equal(await gauge(server.httpPort, 'mpe_drift_oov_share'), EXPECTED.oov);
  } finally {
    await stats.close();
    await server.close();
  }
  const off = await createServer(testConfig({ workers: 1, statsSampleRate: 0 }), { model: fixtureModel(fx), registry: new PromRegistry() });
  try {
    assert.equal(off.service.live, null);
  } finally {
    await off.close();
  }
});
