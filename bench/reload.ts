/**
 * Reload pause and memory during a hot swap (issue 6). One server (2 score workers) under a
 * closed-loop HTTP Score load (4 clients, 8 rows each); after a steady phase, the model is swapped
 * between two real bundles (admin reload, checksums verified, warm-up in every worker) several
 * times. Latencies of requests that overlap a reload window (start of load to swap + 200 ms)
 * are compared with the steady ones; process memory is sampled every 10 ms.
 * Run: `npx tsx bench/reload.ts [--quick]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry as PromRegistry } from 'prom-client';
import { loadBundle } from '../src/bundle/load.js';
import { testConfig } from '../src/config/config.js';
import { startHotReload } from '../src/app/hot-reload.js';
import { silentLogger } from '../src/util/log.js';
import { createServer } from '../src/app/create-server.js';
import { servingModelFromBundle } from '../src/service/model.js';
import { writeVersion } from '../test/helpers/registry-bundles.js';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const quick = process.argv.includes('--quick');
const SHAPE = { fields: 8, d: 32, featureCount: quick ? 100_000 : 400_000, groupSize: 4096, hidden: [64, 32] };
const RELOADS = quick ? 3 : 6;

function pct(a: number[], p: number): number {
  const s = a.slice().sort((x, y) => x - y);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;

const root = await mkdtemp(join(tmpdir(), 'mpe-bench-reload-'));
try {
  const a = await writeVersion(root, 'v1', 21, SHAPE);
  const b = await writeVersion(root, 'v2', 22, SHAPE);
  const prom = new PromRegistry();
  const server = await createServer(testConfig({ workers: 2 }), { model: servingModelFromBundle(await loadBundle(a.dir, { verify: true })), registry: prom });
  const hot = startHotReload({ server, initial: { version: 'v1', location: a.dir }, metrics: prom, log: silentLogger });
  const url = `http://127.0.0.1:${server.httpPort}/v1/score`;
  const samples: Array<{ t0: number; t1: number; ok: boolean }> = [];
  let running = true;
  const F = SHAPE.fields;
  const client = async (c: number): Promise<void> => {
    let k = 0;
    while (running) {
      const ids: number[][] = [];
      for (let r = 0; r < 8; r++) ids.push(Array.from({ length: F }, (_, f) => f + F * (1 + ((k * 31 + r * 7 + c) % 5000))));
      k++;
      const t0 = performance.now();
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids }) });
      await res.arrayBuffer();
      samples.push({ t0, t1: performance.now(), ok: res.status === 200 });
    }
  };
  const mem: Array<{ t: number; rss: number; ab: number }> = [];
  const memTimer = setInterval(() => {
    const m = process.memoryUsage();
    mem.push({ t: performance.now(), rss: m.rss, ab: m.arrayBuffers });
  }, 10);
  const loops = [0, 1, 2, 3].map(client);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await sleep(quick ? 1500 : 3000);
  const windows: Array<[number, number]> = [];
  const durations: number[] = [];
  for (let i = 0; i < RELOADS; i++) {
    const t0 = performance.now();
    const o = await hot.reloadDir(i % 2 === 0 ? b.dir : a.dir, 'admin');
    if (o.result !== 'success') throw new Error(`reload ${i}: ${o.result} ${o.error?.message}`);
    const t1 = performance.now();
    durations.push(t1 - t0);
    windows.push([t0, t1 + 200]);
    await sleep(quick ? 1000 : 2000);
  }
  running = false;
  await Promise.all(loops);
  clearInterval(memTimer);
  await hot.close();
  await server.close();
  const inWindow = (s: { t0: number; t1: number }) => windows.some(([w0, w1]) => s.t1 >= w0 && s.t0 <= w1);
  const steadyEnd = windows[0]![0];
  const steady = samples.filter((s) => s.t1 < steadyEnd || !inWindow(s)).map((s) => s.t1 - s.t0);
  const during = samples.filter(inWindow).map((s) => s.t1 - s.t0);
  const failed = samples.filter((s) => !s.ok).length;
  const base = mem.filter((m) => m.t < steadyEnd);
  const baseRss = pct(base.map((m) => m.rss), 50);
  const baseAb = pct(base.map((m) => m.ab), 50);
  const inMem = mem.filter((m) => windows.some(([w0, w1]) => m.t >= w0 && m.t <= w1));
  const peakRss = Math.max(...inMem.map((m) => m.rss));
  const peakAb = Math.max(...inMem.map((m) => m.ab));
  const tableBytes = a.fx.tableBuffer.byteLength;
  const data = {
    shape: SHAPE,
    reloads: RELOADS,
    requests: samples.length,
    failed,
    tableMiB: mib(tableBytes),
    reloadMs: { p50: Math.round(pct(durations, 50)), max: Math.round(Math.max(...durations)) },
    steady: { n: steady.length, p50: +pct(steady, 50).toFixed(2), p99: +pct(steady, 99).toFixed(2) },
    duringReload: { n: during.length, p50: +pct(during, 50).toFixed(2), p99: +pct(during, 99).toFixed(2), max: +Math.max(...during).toFixed(2) },
    memoryMiB: { baselineRss: mib(baseRss), peakRssDuringReload: mib(peakRss), baselineArrayBuffers: mib(baseAb), peakArrayBuffersDuringReload: mib(peakAb) },
  };
  const markdown = [
    `Table.bin ${data.tableMiB} MiB (${SHAPE.featureCount} features x d=${SHAPE.d}, fixture bit mix), 2 score workers, 4 closed-loop HTTP clients x 8 rows, ${RELOADS} reloads (verify + new pool + warm-up in every worker + swap).`,
    '',
    '| | requests | p50 ms | p99 ms |',
    '|---|---:|---:|---:|',
    `| steady state | ${data.steady.n} | ${data.steady.p50} | ${data.steady.p99} |`,
    `| overlapping a reload | ${data.duringReload.n} | ${data.duringReload.p50} | ${data.duringReload.p99} |`,
    '',
    `Failed requests: ${failed} of ${samples.length}. Reload time (load, verify, warm, swap): p50 ${data.reloadMs.p50} ms, max ${data.reloadMs.max} ms.`,
    `Memory: RSS ${data.memoryMiB.baselineRss} MiB steady, peak ${data.memoryMiB.peakRssDuringReload} MiB during reloads; ArrayBuffers (incl. SharedArrayBuffer tables) ${data.memoryMiB.baselineArrayBuffers} MiB steady, peak ${data.memoryMiB.peakArrayBuffersDuringReload} MiB (two tables briefly resident).`,
  ].join('\n');
  console.log(JSON.stringify(data, null, 2));
  writeResult({ name: 'reload', title: 'Hot reload: pause and memory during a swap', command: `npx tsx bench/reload.ts${quick ? ' --quick' : ''}`, date: new Date().toISOString(), machine: describeMachine(), markdown, data });
  console.log(`wrote ${writeBenchmarksDoc()}`);
} finally {
  await rm(root, { recursive: true, force: true });
}
