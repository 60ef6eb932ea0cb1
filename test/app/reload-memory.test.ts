/**
 * Issue 6 (memory during a swap): after hot reloads complete and in-flight requests finish, the
 * previous model (table and vocabulary SharedArrayBuffers, pool, sampler, service) must be
 * unreachable. A real server (worker pool, onnxruntime, live statistics as `mpe serve` wires them)
 * reloads two ~30 MiB bundles alternately through the admin path, with scoring between reloads;
 * after a forced GC, process.memoryUsage().arrayBuffers above the pre-server baseline must stay
 * under 1.5 served models (one model retained would make it ~2). Measured: 53.5 MiB model, 54.3 MiB
 * above baseline after 6 reloads (109.1 MiB before the forced GC: V8 collects the old SABs lazily).
 * Keeping the first bundle in a local of this async test reproduced the `mpe serve` bug (108.4 MiB).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, test } from 'node:test';
import { Registry as PromRegistry } from 'prom-client';
import { loadBundle } from '../../src/bundle/load.js';
import { testConfig } from '../../src/config/config.js';
import { adminHooks, type HotReload, startHotReload } from '../../src/app/hot-reload.js';
import { silentLogger } from '../../src/util/log.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { servingModelFromBundle } from '../../src/service/model.js';
import { startLiveStats } from '../../src/app/live-stats.js';
import { grpcClient, httpJson } from '../server/clients.js';
import { writeVersion } from '../helpers/registry-bundles.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** d=64, 640k features, fixture bit widths (6 bits average): table.bin ~31 MiB. */
const BIG = { fields: 4, d: 64, featureCount: 640_000, groupSize: 32, hidden: [16] } as const;
const RELOADS = 6;

async function settledArrayBuffers(): Promise<number> {
  // Several rounds: worker exits and FinalizationRegistry-style cleanups land between turns.
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().arrayBuffers;
}

let root: string;
const dirs: string[] = [];
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-reload-memory-'));
  // Keep only the directories: the fixtures' fp32 weights must not count in the baseline.
  for (const [v, seed] of [['m1', 21], ['m2', 22]] as const) dirs.push((await writeVersion(root, v, seed, BIG)).dir);
});
after(() => rm(root, { recursive: true, force: true }));

async function startServer(prom: PromRegistry, admin: ReturnType<typeof adminHooks>): Promise<{ server: RunningServer; modelBytes: number }> {
  const bundle = await loadBundle(dirs[0]!, { verify: true });
  const server = await createServer(testConfig({ workers: 1, statsSampleRate: 1 }), { model: servingModelFromBundle(bundle), registry: prom, admin });
  return { server, modelBytes: bundle.tableBuffer.byteLength + bundle.vocabBuffer.byteLength };
}

test(`${RELOADS} admin reloads alternating two ~31 MiB bundles leave arrayBuffers at about one model`, async () => {
  const base = await settledArrayBuffers();
  const prom = new PromRegistry();
  let hot: HotReload | null = null;
  const admin = adminHooks('tok', () => hot);
  // The bundle is loaded in a helper so that no local of this test keeps the first model alive.
  const { server, modelBytes } = await startServer(prom, admin);
  hot = startHotReload({ server, initial: { version: 'm1', location: dirs[0]! }, metrics: prom, log: silentLogger });
  const stats = startLiveStats({ current: () => server.service.live, redis: null, flushMs: 0, metrics: prom });
  const one = (await settledArrayBuffers()) - base;
  const ids = [[4, 9, 14, 19], [8, 13, 18, 23]];
  // Requests in flight across every swap: one HTTP and one gRPC client in closed loops.
  const rpc = grpcClient(server.grpcPort);
  let running = true;
  const failures: string[] = [];
  let served = 0;
  const loops = [
    (async () => {
      while (running) {
        const r = await httpJson(server.httpPort, 'POST', '/v1/score', { ids });
        if (r.status === 200) served++;
        else failures.push(`http ${r.status}`);
      }
    })(),
    (async () => {
      while (running) {
        const r = await rpc.call('Score', { ids: ids.flat() });
        if (r.ok) served++;
        else failures.push(`grpc ${r.status} ${r.details}`);
      }
    })(),
  ];
  try {
    for (let i = 1; i <= RELOADS; i++) {
      const dir = dirs[i % 2]!;
      const res = await httpJson(server.httpPort, 'POST', '/admin/reload', { dir }, { authorization: 'Bearer tok' });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal((res.json as { result: string }).result, 'success');
      assert.equal(server.service.getModel().version, i % 2 === 0 ? 'm1' : 'm2');
      const score = await httpJson(server.httpPort, 'POST', '/v1/score', { ids });
      assert.equal(score.status, 200);
      await stats.refresh();
      // What a scrape reads (the collect callbacks must not pin the old model either).
      await prom.metrics();
    }
    running = false;
    await Promise.all(loops);
    assert.deepEqual(failures, []);
    assert.ok(served > 0);
    const beforeGc = process.memoryUsage().arrayBuffers - base;
    const afterReloads = (await settledArrayBuffers()) - base;
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    const msg = `model ${mib(modelBytes)} MiB; arrayBuffers above baseline: one model served ${mib(one)} MiB, after ${RELOADS} reloads ${mib(beforeGc)} MiB before a forced GC, ${mib(afterReloads)} MiB after`;
    process.stdout.write(`# ${msg}\n`);
    assert.ok(one >= modelBytes * 0.9, `the measurement sees the served model: ${msg}`);
    assert.ok(afterReloads < modelBytes * 1.5, `an old model is retained: ${msg}`);
  } finally {
    running = false;
    await Promise.all(loops);
    rpc.close();
    await stats.close();
    await hot.close();
    await server.close();
  }
});
