/**
 * `npm run bench:serve-stages [-- --seconds S --forms F --transports T --compare "FLAGS" --pin --result NAME]`:
 * where the time and the CPU of a served Score go (issue 14), from the stage times every Score
 * carries (`mpe-timing: 1`, util/score-timing.ts), on the load of bench:serve (100 candidates x
 * 39 fields, default DNN, 2 workers x 1 thread, served from src/ via tsx).
 *
 * - Raw onnxruntime (1 thread) at 50, 100 and 200 rows per run: ms per run and rows per CPU-second
 *   (what splitting a request or batching requests does to the GEMMs).
 * - Idle (one request at a time, variants interleaved in rounds): mean and p50 of every stage, and
 *   the rest the client saw (client latency - the server's stages: wire, HTTP/2 or HTTP framing
 *   before decoding, the client's own work).
 * - Max (closed loop, 8 in flight, interleaved): rows/s, rows per server CPU-second, CPU of the
 *   main thread and of the other threads per request, mean stages and the mean batch
 *   (mpe_batch_rows), the main thread's GC time (nodejs_gc_duration_seconds).
 * - 50% of that max (open loop, latency from the scheduled send): p50/p99, the mean stages of all
 *   requests and of the slowest 1% (what the p99 is made of), the server's event-loop delay
 *   (nodejs_eventloop_lag_*, sampled every 100 ms) and GC, the driver's own event-loop delay, and
 *   raw onnxruntime under the same schedule (two 1-thread sessions, one run at a time each, like
 *   the pool's two workers, in this process).
 * `--compare "FLAGS"`: a second server of this checkout with extra `mpe serve` flags (e.g.
 * "--split-min-rows 0"), measured interleaved in the same run: before/after in one run;
 * `--compare-node "FLAGS"`: the same with node flags (e.g. "--single-threaded-gc").
 * `--pin`: the server on CPU 1 and this driver on CPU 0 (taskset), so they cannot preempt each other.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { EVENT_LOOP_SAMPLE_MS } from '../src/metrics/serve-metrics.js';
import { createScorerSession } from '../src/scorer/session.js';
import { parseServerTiming, SCORE_STAGES } from '../src/util/score-timing.js';
import { writeFixtureBundle } from '../test/helpers/bundle-fixture.js';
import { type ServeChild, spawnServe } from '../test/helpers/spawn-serve.js';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';
import { CONCURRENCY, cpuSecondsOf, createServeLoad, D, FIELDS, type Form, maxThroughput, mean, median, openLoop, ownCpuSeconds, pct, ROWS, type Send, sender } from './serve-load.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const strArg = (name: string): string | null => (args.includes(name) ? args[args.indexOf(name) + 1]! : null);
const SECONDS = arg('--seconds', 6);
const REPS = 3;
const IDLE_N = arg('--idle-requests', 20);
const IDLE_ROUNDS = arg('--idle-rounds', 10);
const FORMS = (strArg('--forms') ?? 'ids,flat,columns,context').split(',') as Form[];
const TRANSPORTS = (strArg('--transports') ?? 'grpc,http').split(',') as ('grpc' | 'http')[];
const COMPARE = strArg('--compare');
/** `--compare-node "FLAGS"`: node flags of the second server (with or without --compare's serve flags). */
const COMPARE_NODE = strArg('--compare-node');
const PIN = args.includes('--pin');
const RESULT = strArg('--result') ?? 'serve-stages';
const STAGES = [...SCORE_STAGES, 'rest'] as const;
/** Resolution of the driver's event-loop delay monitor, ms. */
const DRIVER_LAG_MS = 10;

/** Per request: client ms, then each stage's ms (SCORE_STAGES order), then the rest. */
class Samples {
  readonly client: number[] = [];
  readonly stages: number[][] = STAGES.map(() => []);
  private readonly pending = new Map<number, Record<string, number>>();
  /** Records the Server-Timing of request k (arrives just before its send resolves). */
  timing = (k: number, value: string): void => {
    this.pending.set(k, parseServerTiming(value));
  };
  /** Request k answered after `ms` (client view). */
  add(k: number, ms: number): void {
    const t = this.pending.get(k);
    this.pending.delete(k);
    if (t === undefined) return;
    this.client.push(ms);
    for (let i = 0; i < SCORE_STAGES.length; i++) this.stages[i]!.push(t[SCORE_STAGES[i]!] ?? 0);
    this.stages[STAGES.length - 1]!.push(ms - (t.total ?? 0));
  }
  /** Mean of each stage over the requests whose client latency is >= `minMs`. */
  meansAbove(minMs: number): number[] {
    return this.stages.map((xs) => mean(xs.filter((_, i) => this.client[i]! >= minMs)));
  }
}

interface Variant {
  readonly name: string;
  readonly server: ServeChild;
  /** Every request asks for its stage times; they go to `sink.samples`, swapped per phase. */
  readonly send: Send;
  readonly sink: { samples: Samples };
}

/** Counters of a server's /metrics (summed over labels): batch rows, batches, main-thread GC seconds, event-loop lag. */
async function scrape(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sum = (name: string): number => {
    let t = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) t += Number(m[1]);
    return t;
  };
  return {
    batchRows: sum('mpe_batch_rows_sum'),
    batches: sum('mpe_batch_rows_count'),
    gcSeconds: sum('nodejs_gc_duration_seconds_sum'),
    gcCount: sum('nodejs_gc_duration_seconds_count'),
    lagMax: sum('nodejs_eventloop_lag_max_seconds'),
    lagP99: sum('nodejs_eventloop_lag_p99_seconds'),
  };
}

console.log('building the bench bundle ...');
const load = createServeLoad();
const tmp = mkdtempSync(join(tmpdir(), 'mpe-bench-stages-'));
const dir = join(tmp, 'bundle');
await writeFixtureBundle(load.fx, dir, 'bench-1');
const serveArgs = ['--model', dir, '--workers', '2', '--intra-op-threads', '1'];
const servers: { label: string; child: ServeChild }[] = [{ label: '', child: await spawnServe(serveArgs) }];
if (COMPARE !== null || COMPARE_NODE !== null) {
  const label = [COMPARE, COMPARE_NODE === null ? null : `node ${COMPARE_NODE}`].filter((x) => x !== null).join(', ');
  servers.push({ label: ` (${label})`, child: await spawnServe([...serveArgs, ...(COMPARE?.split(' ') ?? [])], null, COMPARE_NODE?.split(' ') ?? []) });
}
if (PIN) {
  for (const s of servers) execFileSync('taskset', ['-a', '-p', '-c', '1', String(s.child.child.pid)]);
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
}

/** A 1-thread onnxruntime session over `rows`-row inputs cut from the bench batches. */
async function rawSession(rows: number): Promise<{ run(k: number): Promise<unknown>; release(): Promise<void> }> {
  const { session } = await createScorerSession(load.fx.scorerBytes, { provider: 'cpu', intraOpThreads: 1 });
  const width = FIELDS * D;
  const tensors = load.inputs.map((_, k) => {
    const x = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++) x.set(load.inputs[(k + Math.floor(r / ROWS)) % load.inputs.length]!.subarray((r % ROWS) * width, ((r % ROWS) + 1) * width), r * width);
    return new ort.Tensor('float32', x, [rows, width]);
  });
  for (let i = 0; i < 5; i++) await session.run({ embeddings: tensors[i]! });
  return { run: (k) => session.run({ embeddings: tensors[k % tensors.length]! }), release: () => session.release() };
}

const loads: number[] = [loadavg()[0]!];
const clients: { close(): void }[] = [];
const rawRows: Record<number, { p50Ms: number; rowsPerCpuSecond: number }> = {};
const idle: Record<string, { clientP50: number; means: number[]; p50s: number[] }> = {};
const max: Record<string, { rowsPerSec: number; rowsPerServerCpuS: number; mainMsPerReq: number; otherMsPerReq: number; means: number[]; batchRows: number; gcMsPerS: number; gcMeanMs: number; errors: number }> = {};
const half: Record<string, { rate: number; p50: number; p99: number; means: number[]; tail: number[]; lagMaxMs: number; lagP99Ms: number; gcMsPerS: number; gcMeanMs: number; driverLagP99Ms: number; driverLagMaxMs: number; errors: number }> = {};
let rawHalf: { rate: number; p50: number; p99: number } | null = null;
try {
  // Raw onnxruntime, 1 thread, per run size: back to back (p50), then 2 s for rows per CPU-second.
  for (const rows of [50, 100, 200]) {
    const s = await rawSession(rows);
    const lat: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t = performance.now();
      await s.run(i);
      lat.push(performance.now() - t);
    }
    const c0 = ownCpuSeconds();
    const end = performance.now() + 2000;
    let runs = 0;
    while (performance.now() < end) await s.run(runs++);
    rawRows[rows] = { p50Ms: median(lat), rowsPerCpuSecond: (runs * rows) / (ownCpuSeconds() - c0) };
    await s.release();
    console.log(`raw onnxruntime ${rows} rows: p50 ${rawRows[rows]!.p50Ms.toFixed(2)} ms per run, ${rawRows[rows]!.rowsPerCpuSecond.toFixed(0)} rows per CPU-s`);
  }
  const variants: Variant[] = [];
  for (const s of servers) {
    for (const transport of TRANSPORTS) {
      for (const form of FORMS) {
        const sink = { samples: new Samples() };
        variants.push({ name: `${transport} ${form}${s.label}`, server: s.child, sink, send: sender(load, s.child, transport, form, clients, (k, value) => sink.samples.timing(k, value)) });
      }
    }
  }
  for (const v of variants) await maxThroughput(v.send, 0.5); // warm-up (JIT, connections)
  for (const v of variants) v.sink.samples = new Samples();
  // Idle: one request at a time, variants interleaved round by round.
  for (let round = 0; round < IDLE_ROUNDS; round++) {
    for (const v of variants) {
      for (let i = 0; i < IDLE_N; i++) {
        const k = round * IDLE_N + i;
        const t = performance.now();
        if (await v.send(k)) v.sink.samples.add(k, performance.now() - t);
      }
    }
  }
  loads.push(loadavg()[0]!);
  for (const v of variants) {
    const s = v.sink.samples;
    idle[v.name] = { clientP50: median(s.client), means: s.stages.map(mean), p50s: s.stages.map(median) };
  }
  // Max: closed loop, interleaved; stage times of every request, CPU from /proc, batches and GC from /metrics.
  const acc: Record<string, { rows: number; seconds: number; serverCpu: number; mainCpu: number; samples: Samples; batchRows: number; batches: number; gc: number; gcCount: number; rates: number[]; errors: number }> = {};
  for (const v of variants) acc[v.name] = { rows: 0, seconds: 0, serverCpu: 0, mainCpu: 0, samples: new Samples(), batchRows: 0, batches: 0, gc: 0, gcCount: 0, rates: [], errors: 0 };
  for (let rep = 0; rep < REPS; rep++) {
    for (const v of variants) {
      const a = acc[v.name]!;
      v.sink.samples = a.samples;
      const pid = v.server.child.pid!;
      const m0 = await scrape(v.server.http);
      const s0 = cpuSecondsOf(pid);
      const t0c = cpuSecondsOf(pid, pid);
      const t0 = performance.now();
      const sends = new Map<number, number>();
      const timedSend: Send = (k) => {
        sends.set(k, performance.now());
        return v.send(k).then((ok) => {
          if (ok) a.samples.add(k, performance.now() - sends.get(k)!);
          sends.delete(k);
          return ok;
        });
      };
      const m = await maxThroughput(timedSend, SECONDS / REPS);
      const secs = (performance.now() - t0) / 1000;
      a.serverCpu += cpuSecondsOf(pid) - s0;
      a.mainCpu += cpuSecondsOf(pid, pid) - t0c;
      const m1 = await scrape(v.server.http);
      a.rows += m.rowsPerSec * secs;
      a.seconds += secs;
      a.rates.push(m.rowsPerSec);
      a.errors += m.errors;
      a.batchRows += m1.batchRows! - m0.batchRows!;
      a.batches += m1.batches! - m0.batches!;
      a.gc += m1.gcSeconds! - m0.gcSeconds!;
      a.gcCount += m1.gcCount! - m0.gcCount!;
    }
  }
  loads.push(loadavg()[0]!);
  for (const v of variants) {
    const a = acc[v.name]!;
    const requests = a.rows / ROWS;
    max[v.name] = {
      rowsPerSec: median(a.rates),
      rowsPerServerCpuS: a.rows / a.serverCpu,
      mainMsPerReq: (1000 * a.mainCpu) / requests,
      otherMsPerReq: (1000 * (a.serverCpu - a.mainCpu)) / requests,
      means: a.samples.stages.map(mean),
      batchRows: a.batchRows / a.batches,
      gcMsPerS: (1000 * a.gc) / a.seconds,
      gcMeanMs: (1000 * a.gc) / a.gcCount,
      errors: a.errors,
    };
  }
  // 50% of max: open loop per variant, with the server's and the driver's event-loop delay. The
  // servers compared (--compare) get the SAME rate, half the lower of their maxima (a max moves
  // with the shared box's load; unequal rates would compare different loads).
  const formOf = (name: string): string => name.split(' ').slice(0, 2).join(' ');
  const lowestMax = (name: string): number => Math.min(...variants.filter((w) => formOf(w.name) === formOf(name)).map((w) => max[w.name]!.rowsPerSec));
  for (const v of variants) {
    const rate = (0.5 * lowestMax(v.name)) / ROWS;
    const samples = new Samples();
    v.sink.samples = samples;
    const m0 = await scrape(v.server.http);
    const driver = monitorEventLoopDelay({ resolution: DRIVER_LAG_MS });
    driver.enable();
    const t0 = performance.now();
    const lat = await openLoop(v.send, rate, SECONDS, (i, ms) => samples.add(i, ms));
    const secs = (performance.now() - t0) / 1000;
    driver.disable();
    const m1 = await scrape(v.server.http);
    const sorted = samples.client.slice().sort((a, b) => a - b);
    const p99 = pct(sorted, 0.99);
    half[v.name] = {
      rate,
      p50: lat.p50Ms,
      p99: lat.p99Ms,
      means: samples.stages.map(mean),
      tail: samples.meansAbove(p99),
      // monitorEventLoopDelay records the whole time between its ticks (measured: an idle loop at
      // resolution 10 reads min 10.1 ms): minus the resolution is the delay.
      lagMaxMs: m1.lagMax! * 1000, // already beyond the sampling interval (src/metrics/event-loop-metrics.ts)
      lagP99Ms: m1.lagP99! * 1000,
      gcMsPerS: (1000 * (m1.gcSeconds! - m0.gcSeconds!)) / secs,
      gcMeanMs: (1000 * (m1.gcSeconds! - m0.gcSeconds!)) / (m1.gcCount! - m0.gcCount!),
      driverLagP99Ms: driver.percentile(99) / 1e6 - DRIVER_LAG_MS,
      driverLagMaxMs: driver.max / 1e6 - DRIVER_LAG_MS,
      errors: lat.errors,
    };
    console.log(`${v.name} @50%: ${rate.toFixed(0)} req/s p50 ${lat.p50Ms.toFixed(2)} p99 ${lat.p99Ms.toFixed(2)} ms; tail ${STAGES.map((s, i) => `${s} ${half[v.name]!.tail[i]!.toFixed(2)}`).join(' ')}; server lag max ${half[v.name]!.lagMaxMs.toFixed(1)} ms, driver lag p99 ${half[v.name]!.driverLagP99Ms.toFixed(1)} max ${half[v.name]!.driverLagMaxMs.toFixed(1)} ms`);
  }
  // Raw onnxruntime under the same schedule as the first variant's 50% phase: two 1-thread sessions, one run in flight each.
  {
    const rate = half[variants[0]!.name]!.rate;
    const sessions = [await rawSession(ROWS), await rawSession(ROWS)];
    const idleSessions = [0, 1];
    const waiting: ((i: number) => void)[] = [];
    const runOn = (k: number): Promise<boolean> =>
      new Promise((resolve) => {
        const go = (i: number): void => {
          void sessions[i]!.run(k).then(() => {
            resolve(true);
            const next = waiting.shift();
            if (next !== undefined) next(i);
            else idleSessions.push(i);
          });
        };
        const i = idleSessions.pop();
        if (i !== undefined) go(i);
        else waiting.push(go);
      });
    const lat = await openLoop(runOn, rate, SECONDS);
    rawHalf = { rate, p50: lat.p50Ms, p99: lat.p99Ms };
    for (const s of sessions) await s.release();
    console.log(`raw onnxruntime open loop at ${rate.toFixed(0)} runs/s (2 sessions x 1 thread): p50 ${lat.p50Ms.toFixed(2)} p99 ${lat.p99Ms.toFixed(2)} ms`);
  }
  loads.push(loadavg()[0]!);
} finally {
  for (const c of clients) c.close();
  for (const s of servers) {
    s.child.child.kill('SIGTERM');
    await s.child.exited;
  }
  rmSync(tmp, { recursive: true, force: true });
}

const f = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const head = STAGES.join(' | ');
let md = `Where a served Score's time and CPU go: ${ROWS} candidates x ${FIELDS} fields, default DNN 1024-512-256, d = ${D}, \`mpe serve\` with 2 workers x 1 intra-op thread from src/ via tsx, on ${availableParallelism()} cores${PIN ? ', **the server pinned to CPU 1 and the driver to CPU 0** (taskset)' : ', the driver on the same cores'}. `;
md += 'Stages from the Server-Timing every request asked for (`mpe-timing: 1`; docs/api.md): decode (transport start to the pool queue: gRPC from the deserializer, HTTP from the request head, so it includes reading the body), queue (incl. the micro-batch wait), to_worker (postMessage to the worker handler), resolve, dequantize, onnx (the worker\'s onnxruntime run), to_main (the worker\'s postMessage to the main thread handler), encode (to the serialised answer); rest = client latency - the server\'s stages (wire, framing before decoding, the client). ';
if (servers.length > 1) md += `Rows marked${servers[1]!.label} are a second server of this checkout with those ${COMPARE !== null ? '`mpe serve` ' : ''}${COMPARE_NODE !== null ? 'node ' : ''}flags, interleaved in the same run. `;
md += `Load average (1 min) at start / after idle / after max / at the end: ${loads.map((x) => x.toFixed(1)).join(' / ')}.\n\n`;
md += 'Raw onnxruntime, 1 intra-op thread, per run size:\n\n| rows per run | p50 ms per run | rows per CPU-second |\n|---|---|---|\n';
for (const [rows, r] of Object.entries(rawRows)) md += `| ${rows} | ${f(r.p50Ms)} | ${f(r.rowsPerCpuSecond, 0)} |\n`;
md += `\nIdle (one request at a time, ${IDLE_N * IDLE_ROUNDS} per variant, interleaved in ${IDLE_ROUNDS} rounds), ms, mean / p50:\n\n| transport, form | client p50 | ${head} |\n|${'---|'.repeat(STAGES.length + 2)}\n`;
for (const [name, r] of Object.entries(idle)) md += `| ${name} | ${f(r.clientP50)} | ${r.means.map((m, i) => `${f(m)} / ${f(r.p50s[i]!)}`).join(' | ')} |\n`;
md += `\nMax (closed loop, ${CONCURRENCY} in flight, ${REPS} interleaved slices, ${SECONDS} s per variant in total): stage means in ms, CPU from /proc (main thread = the event loop; other = the workers, onnxruntime and V8's helper threads), GC of the main thread only (prom-client):\n\n| transport, form | rows/s | rows per server CPU-s | main CPU ms/req | other CPU ms/req | mean batch rows | main GC ms/s (mean pause ms) | ${head} | errors |\n|${'---|'.repeat(STAGES.length + 8)}\n`;
for (const [name, r] of Object.entries(max)) md += `| ${name} | ${f(r.rowsPerSec, 0)} | ${f(r.rowsPerServerCpuS, 0)} | ${f(r.mainMsPerReq)} | ${f(r.otherMsPerReq)} | ${f(r.batchRows, 1)} | ${f(r.gcMsPerS, 1)} (${f(r.gcMeanMs, 1)}) | ${r.means.map((m) => f(m)).join(' | ')} | ${r.errors} |\n`;
md += `\n50% of max (${servers.length > 1 ? 'both servers at half the lower of their two maxima, ' : ''}open loop for ${SECONDS} s, latency from the scheduled send): stage means (ms) of all requests and of the slowest 1% (latency >= p99); event-loop delay (beyond the monitor's interval) of the server (prom-client's monitor, one sample per ${EVENT_LOOP_SAMPLE_MS} ms, so it misses stalls between samples) and of the driver (${DRIVER_LAG_MS} ms resolution):\n\n| transport, form | req/s | p50 | p99 | server lag max | server GC ms/s (mean pause ms) | driver lag p99 / max | all: ${head} | slowest 1%: ${head} |\n|${'---|'.repeat(2 * STAGES.length + 7)}\n`;
for (const [name, r] of Object.entries(half)) md += `| ${name} | ${f(r.rate, 0)} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.lagMaxMs, 1)} | ${f(r.gcMsPerS, 1)} (${f(r.gcMeanMs, 1)}) | ${f(r.driverLagP99Ms, 1)} / ${f(r.driverLagMaxMs, 1)} | ${r.means.map((m) => f(m)).join(' | ')} | ${r.tail.map((m) => f(m)).join(' | ')} |\n`;
{
  // The anatomy of the p99, over every variant: shares of the slowest 1%'s latency.
  const ix = (st: string): number => STAGES.indexOf(st as (typeof STAGES)[number]);
  const rows = Object.values(half);
  const share = (pick: (r: (typeof rows)[number]) => number): number => (100 * rows.reduce((t, r) => t + pick(r) / r.tail.reduce((a, b) => a + b, 0), 0)) / rows.length;
  const outside = share((r) => r.tail[ix('rest')]!);
  const onnx = share((r) => r.tail[ix('onnx')]!);
  const waits = share((r) => r.tail[ix('queue')]! + r.tail[ix('to_worker')]! + r.tail[ix('to_main')]!);
  const stretch = rows.reduce((t, r) => t + r.tail[ix('onnx')]! / r.means[ix('onnx')]!, 0) / rows.length;
  md += `\nThe slowest 1% at 50% load, averaged over the variants: ${f(outside, 0)}% of their latency outside the server (rest), ${f(onnx, 0)}% in the onnxruntime run (${f(stretch, 1)}x the mean run of all requests: the same work, a worker waiting for a core), ${f(waits, 0)}% in the queue and the two hops between threads.\n`;
}
if (rawHalf !== null) md += `\nRaw onnxruntime under the same open-loop schedule (${f(rawHalf.rate, 0)} runs/s of ${ROWS} rows, two 1-thread sessions with one run in flight each, in the driver process): p50 ${f(rawHalf.p50)} ms, p99 ${f(rawHalf.p99)} ms.\n`;
writeResult({
  name: RESULT,
  title: 'Serving: where a Score\'s time and CPU go, stage by stage',
  command: `npm run bench:serve-stages${args.length > 0 ? ` -- ${args.map((x) => (x.includes(' ') ? JSON.stringify(x) : x)).join(' ')}` : ''}`,
  date: new Date().toISOString(),
  machine: describeMachine(),
  markdown: md,
  data: { rawRows, idle, max, half, rawHalf, loads, compare: COMPARE, compareNode: COMPARE_NODE, pin: PIN, stages: STAGES },
});
console.log(`wrote ${writeBenchmarksDoc()}`);
