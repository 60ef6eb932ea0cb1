/**
 * `npm run bench:serve [-- --seconds S --workers N --intra-op-threads T --reps R --baseline DIR --forms F --transports T --result NAME]`:
 * Score of 100 candidates x 39 fields with the default DNN (1024-512-256, BatchNorm, d = 16)
 * served by `mpe serve` (a child process, 2 workers x 1 intra-op thread by default), over gRPC
 * and HTTP, in every request form side by side in ONE run:
 * - ids: feature ids (no vocabulary);
 * - flat: raw values, every field in every row;
 * - columns: raw values, one array per field;
 * - context: the 30 shared fields once (`context`), the 9 others per candidate (`candidates`).
 * The candidates are the SAME in every form (their first 30 fields hold one value per request,
 * like a ranking request's user/page fields), so only the wire form differs.
 *
 * For each transport x form:
 * - idle latency: one request at a time (back to back), p50/p99; variants interleaved in rounds;
 * - max throughput: closed loop, 8 requests in flight, interleaved with the raw loops, medians;
 * - p50/p99 at 50% of that rate: open loop, latency from the SCHEDULED send time;
 * - rows per server CPU-second over the throughput phases.
 * Next to a raw onnxruntime `run` loop on the same 100-row batches (1 and 2 intra-op threads).
 * `--baseline-forms F`: the forms the baseline serves (default: every form of --forms; a checkout
 *   from before issue 14 knows ids and flat only).
 * `--baseline DIR`: also serve from another checkout (e.g. /work/main) in the same run, in every
 * form measured (a checkout without a form shows it in the errors column), interleaved with this
 * checkout's server: before/after in one run.
 * The load generator shares the machine's cores with the server: that cost is part of the figures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createScorerSession } from '../src/scorer/session.js';
import { writeFixtureBundle } from '../test/helpers/bundle-fixture.js';
import { parseLogs, spawnServe } from '../test/helpers/spawn-serve.js';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';
import { backToBack, CONCURRENCY, cpuSecondsOf, createServeLoad, D, FIELDS, type Form, type Latency, maxThroughput, median, openLoop, ownCpuSeconds, pct, ROWS, type Send, SHARED, sender } from './serve-load.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const strArg = (name: string): string | null => (args.includes(name) ? args[args.indexOf(name) + 1]! : null);
const SECONDS = arg('--seconds', 6);
const WORKERS = arg('--workers', 2);
const INTRA = arg('--intra-op-threads', 1);
const REPS = arg('--reps', 5);
/** Requests per variant per round of the idle-latency phase, and rounds. */
const IDLE_N = arg('--idle-requests', 20);
const IDLE_ROUNDS = arg('--idle-rounds', 10);
/** `--dist DIR`: run the server compiled by `tsc --outDir DIR` (no tsx loader) instead of src/ via tsx. */
const DIST = strArg('--dist');
/** `--baseline DIR`: a second checkout whose server is measured in the same run (every form of `--forms`). */
const BASELINE = strArg('--baseline');
/** `--baseline-forms a,b`: only these forms on the baseline (a checkout from before the columns and context forms serves ids and flat only). */
const BASELINE_FORMS = strArg('--baseline-forms')?.split(',') ?? null;
/** `--result NAME`: the result file / docs section (default serve; a focused comparison run gets its own so the full run's stays). */
const RESULT = strArg('--result') ?? 'serve';
/** `--forms a,b`: a subset of the forms. */
const FORMS = (strArg('--forms') ?? 'ids,flat,columns,context').split(',') as Form[];
/** `--transports grpc,http`. */
const TRANSPORTS = (strArg('--transports') ?? 'grpc,http').split(',') as ('grpc' | 'http')[];

const load = createServeLoad();
const { fx, inputs } = load;
const tmp = mkdtempSync(join(tmpdir(), 'mpe-bench-serve-'));
const dir = join(tmp, 'bundle');
await writeFixtureBundle(fx, dir, 'bench-1');
/** The same model as a format v1 bundle for `--baseline`: checkouts from before format v2 read only v1. */
const dirV1 = join(tmp, 'bundle-v1');
if (BASELINE !== null) await writeFixtureBundle(fx, dirV1, 'bench-1', 1);

/** A raw onnxruntime session over the pre-dequantized batches. */
async function rawRunner(threads: number): Promise<{ run(seconds: number): Promise<number>; once(k: number): Promise<number>; release(): Promise<void> }> {
  const { session } = await createScorerSession(fx.scorerBytes, { provider: 'cpu', intraOpThreads: threads });
  const tensors = inputs.map((x) => new ort.Tensor('float32', x, [ROWS, FIELDS * D]));
  for (let i = 0; i < 5; i++) await session.run({ embeddings: tensors[i]! });
  let k = 0;
  return {
    async run(seconds) {
      const end = performance.now() + seconds * 1000;
      const t0 = performance.now();
      const c0 = ownCpuSeconds();
      let runs = 0;
      while (performance.now() < end) {
        await session.run({ embeddings: tensors[k++ % tensors.length]! });
        runs++;
      }
      cpu[`raw${threads}`]!.push({ rows: runs * ROWS, cpu: ownCpuSeconds() - c0 });
      return (runs * ROWS) / ((performance.now() - t0) / 1000);
    },
    async once(i) {
      const t = performance.now();
      await session.run({ embeddings: tensors[i % tensors.length]! });
      return performance.now() - t;
    },
    release: () => session.release(),
  };
}

interface Server {
  readonly label: string;
  readonly child: ChildProcess;
  readonly grpc: number;
  readonly http: number;
  readonly exited: Promise<number | null>;
}

/**
 * `mpe serve` from another checkout's src/ (its own tsx), for the before/after comparison, with
 * the same --max-queue-ms as spawnServe. Its ready line is either the JSON log line (grpcPort,
 * httpPort) or, in checkouts before the pino logger, the text line "gRPC host:port, HTTP host:port".
 */
function spawnFrom(root: string, serveArgs: readonly string[]): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--max-queue-ms', '3600000', ...serveArgs], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const json = parseLogs(err).find((l) => typeof l.grpcPort === 'number' && typeof l.httpPort === 'number');
      const m = /gRPC [^:\s]+:(\d+), HTTP [^:\s]+:(\d+)/.exec(err);
      const ports = json !== undefined ? [json.grpcPort as number, json.httpPort as number] : m !== null ? [Number(m[1]), Number(m[2])] : null;
      if (ports !== null) resolve({ label: 'baseline', child, grpc: ports[0]!, http: ports[1]!, exited });
    });
    void exited.then((code) => reject(new Error(`baseline mpe serve exited during start-up (${code}): ${err}`)));
  });
}

interface Variant {
  readonly name: string;
  readonly server: Server;
  readonly send: Send;
}

/** Rows and CPU seconds per phase: raw loops (this process), served (server process, and server + this process as the client). */
const cpu: Record<string, { rows: number; cpu: number; serverCpu?: number; mainCpu?: number }[]> = { raw1: [], raw2: [] };
const rowsPerCpuSecond = (name: string, which: 'cpu' | 'serverCpu' | 'mainCpu' = 'cpu'): number => {
  let rows = 0;
  let secs = 0;
  for (const x of cpu[name]!) {
    rows += x.rows;
    secs += which === 'cpu' ? x.cpu : (x[which] ?? 0);
  }
  return rows / secs;
};
/** Server main-thread CPU per request of 100 rows (ms), over the throughput phases. */
const mainMsPerRequest = (name: string): number => (1000 * ROWS) / rowsPerCpuSecond(name, 'mainCpu');

const serveArgs = ['--model', dir, '--workers', String(WORKERS), '--intra-op-threads', String(INTRA)];
const mine: Server = { label: 'this', ...(await spawnServe(serveArgs, DIST)) };
const baseline: Server | null = BASELINE === null ? null : await spawnFrom(BASELINE, ['--model', dirV1, ...serveArgs.slice(2)]);
const raw1Runner = await rawRunner(1);
const raw2Runner = await rawRunner(2);
const loads: number[] = [loadavg()[0]!];
interface VariantResult {
  idleP50Ms: number;
  idleP99Ms: number;
  idleErrors: number;
  max: number;
  maxErrors: number;
  at50: Latency;
}
const results: Record<string, VariantResult> = {};
let raw1 = 0;
let raw2 = 0;
let rawBest = 0;
let rawIdle1 = 0;
let rawIdle2 = 0;
const clients: { close(): void }[] = [];
try {
  const variants: Variant[] = [];
  for (const transport of TRANSPORTS) {
    for (const form of FORMS) {
      variants.push({ name: `${transport} ${form}`, server: mine, send: sender(load, mine, transport, form, clients) });
      if (baseline !== null && (BASELINE_FORMS === null || BASELINE_FORMS.includes(form))) variants.push({ name: `${transport} ${form} (baseline)`, server: baseline, send: sender(load, baseline, transport, form, clients) });
    }
  }
  for (const v of variants) {
    cpu[v.name] = [];
    await maxThroughput(v.send, 0.5); // warm-up (JIT, connections)
  }
  // Idle latency: one request at a time, variants interleaved round by round (and the raw run).
  const idle: Record<string, number[]> = {};
  const idleErrors: Record<string, number> = {};
  const rawLat: Record<string, number[]> = { raw1: [], raw2: [] };
  for (const v of variants) {
    idle[v.name] = [];
    idleErrors[v.name] = 0;
  }
  for (let round = 0; round < IDLE_ROUNDS; round++) {
    for (let i = 0; i < IDLE_N; i++) rawLat.raw1!.push(await raw1Runner.once(round * IDLE_N + i));
    for (let i = 0; i < IDLE_N; i++) rawLat.raw2!.push(await raw2Runner.once(round * IDLE_N + i));
    for (const v of variants) idleErrors[v.name]! += await backToBack(v.send, IDLE_N, round * IDLE_N, idle[v.name]!);
  }
  loads.push(loadavg()[0]!);
  rawIdle1 = median(rawLat.raw1!);
  rawIdle2 = median(rawLat.raw2!);
  // Throughput: raw and served phases INTERLEAVED, `REPS` times, medians reported.
  const samples: Record<string, number[]> = { raw1: [], raw2: [] };
  const errors: Record<string, number> = {};
  for (const v of variants) {
    samples[v.name] = [];
    errors[v.name] = 0;
  }
  const slice = SECONDS / REPS;
  for (let rep = 0; rep < REPS; rep++) {
    samples.raw1!.push(await raw1Runner.run(slice));
    samples.raw2!.push(await raw2Runner.run(slice));
    for (const v of variants) {
      const pid = v.server.child.pid!;
      const s0 = cpuSecondsOf(pid);
      const m0 = cpuSecondsOf(pid, pid);
      const c0 = ownCpuSeconds();
      const t0 = performance.now();
      const m = await maxThroughput(v.send, slice);
      const rows = (m.rowsPerSec * (performance.now() - t0)) / 1000;
      const serverCpu = cpuSecondsOf(pid) - s0;
      cpu[v.name]!.push({ rows, cpu: serverCpu + ownCpuSeconds() - c0, serverCpu, mainCpu: cpuSecondsOf(pid, pid) - m0 });
      samples[v.name]!.push(m.rowsPerSec);
      errors[v.name]! += m.errors;
    }
  }
  loads.push(loadavg()[0]!);
  raw1 = median(samples.raw1!);
  raw2 = median(samples.raw2!);
  // The baseline is the BETTER raw loop: on a busy or small machine one thread can beat two.
  rawBest = Math.max(raw1, raw2);
  console.log(`raw: ${raw2.toFixed(0)} rows/s (2 threads), ${raw1.toFixed(0)} rows/s (1 thread); one run of 100 rows p50 ${rawIdle1.toFixed(2)} ms (1 thread), ${rawIdle2.toFixed(2)} ms (2 threads); load ${loadavg()[0]!.toFixed(1)}`);
  for (const v of variants) {
    const max = median(samples[v.name]!);
    const at50 = await openLoop(v.send, (0.5 * max) / ROWS, SECONDS);
    const lat = idle[v.name]!.slice().sort((a, b) => a - b);
    results[v.name] = { idleP50Ms: pct(lat, 0.5), idleP99Ms: pct(lat, 0.99), idleErrors: idleErrors[v.name]!, max, maxErrors: errors[v.name]!, at50 };
    const r = results[v.name]!;
    console.log(
      `${v.name}: idle p50 ${r.idleP50Ms.toFixed(2)} ms p99 ${r.idleP99Ms.toFixed(2)} ms; max ${max.toFixed(0)} rows/s (${(max / rawBest).toFixed(2)}x best raw); 50%: p50 ${at50.p50Ms.toFixed(2)} ms p99 ${at50.p99Ms.toFixed(2)} ms; ${rowsPerCpuSecond(v.name, 'serverCpu').toFixed(0)} rows per server CPU-s, main thread ${mainMsPerRequest(v.name).toFixed(2)} ms CPU per request (load ${loadavg()[0]!.toFixed(1)})`,
    );
  }
  loads.push(loadavg()[0]!);
} finally {
  for (const c of clients) c.close();
  await raw1Runner.release();
  await raw2Runner.release();
  for (const s of [mine, baseline]) {
    if (s === null) continue;
    s.child.kill('SIGTERM');
    await s.exited;
  }
  rmSync(tmp, { recursive: true, force: true });
}

const f = (x: number, digits = 0): string => x.toFixed(digits);
const r1cpu = rowsPerCpuSecond('raw1');
let md = `Score requests of ${ROWS} candidates x ${FIELDS} fields, default DNN 1024-512-256 with BatchNorm, d = ${D}, every value in the vocabulary; the first ${SHARED} fields hold one value per request (user/page fields), the other ${FIELDS - SHARED} differ per candidate. `;
md += `\`mpe serve\` with ${WORKERS} worker(s) x ${INTRA} intra-op thread(s) on ${availableParallelism()} cores; the load generator runs on the same cores; server run ${DIST ? 'compiled (tsc output)' : 'from src/ via tsx'}. `;
md += 'Forms (same candidates, different wire shape): **ids** (feature ids), **flat** (raw values, every field in every row), **columns** (raw values, one array per field), ';
md += `**context** (the ${SHARED} shared fields once in \`context\`, ${FIELDS - SHARED} per candidate). `;
if (baseline !== null) md += `Rows marked (baseline) are served by another checkout (\`--baseline ${BASELINE}\`${BASELINE_FORMS === null ? '' : `, forms ${BASELINE_FORMS.join(', ')}`}) in the same run, interleaved. `;
md += `Idle: one request at a time, ${IDLE_N * IDLE_ROUNDS} per variant, variants interleaved in ${IDLE_ROUNDS} rounds. Max: closed loop, ${CONCURRENCY} in flight, interleaved with the raw loops ${REPS} times (${SECONDS} s each in total), medians. `;
md += `p50/p99 @50%: open loop at half that rate for ${SECONDS} s, measured from the scheduled send time. CPU columns: /proc of the server process (all threads) and of its main thread alone, over the throughput phases (robust to the shared box's load, unlike the latencies).\n\n`;
md += `Raw onnxruntime \`run\` on the same batches (no server): ${f(raw2)} rows/s with 2 intra-op threads, ${f(raw1)} rows/s with 1 (the better, **${f(rawBest)} rows/s**, is the baseline); one run of 100 rows p50 ${f(rawIdle1, 2)} ms (1 thread), ${f(rawIdle2, 2)} ms (2 threads); ${f(r1cpu)} rows per CPU-second (1 thread). `;
md += `Load average (1 min) at start / after idle / after max / at the end: ${loads.map((x) => x.toFixed(1)).join(' / ')} (the box is shared; figures move with it).\n\n`;
md += '| transport, form | idle p50 | idle p99 | max rows/s | vs best raw | p50 @50% | p99 @50% | rows per server CPU-s | vs raw 1 thread | server main thread CPU per request | main thread share of server CPU | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n';
for (const [name, r] of Object.entries(results)) {
  const sv = rowsPerCpuSecond(name, 'serverCpu');
  const share = rowsPerCpuSecond(name, 'serverCpu') / rowsPerCpuSecond(name, 'mainCpu');
  md += `| ${name} | ${f(r.idleP50Ms, 2)} ms | ${f(r.idleP99Ms, 2)} ms | ${f(r.max)} | ${f(r.max / rawBest, 2)}x | ${f(r.at50.p50Ms, 2)} ms | ${f(r.at50.p99Ms, 2)} ms | ${f(sv)} | ${f(sv / r1cpu, 2)}x | ${f(mainMsPerRequest(name), 2)} ms | ${f(100 * share)}% | ${r.idleErrors + r.maxErrors + r.at50.errors} |\n`;
}
md += '\nTargets (issue 14): idle p50 <= 4 ms flat, <= 3 ms context; max >= 0.8x raw; p99 @50% < 10 ms; rows per server CPU-s >= 0.8x raw 1 thread. In this run: ';
md += Object.entries(results)
  .filter(([name]) => !name.includes('baseline'))
  .map(([name, r]) => {
    const idleTarget = name.endsWith('context') ? 3 : 4;
    const sv = rowsPerCpuSecond(name, 'serverCpu') / r1cpu;
    const ok = (c: boolean): string => (c ? 'met' : 'NOT met');
    return `${name}: idle p50 ${ok(r.idleP50Ms <= idleTarget)} (${f(r.idleP50Ms, 2)} ms), max ${ok(r.max / rawBest >= 0.8)} (${f(r.max / rawBest, 2)}x), p99 @50% ${ok(r.at50.p99Ms < 10)} (${f(r.at50.p99Ms, 1)} ms), CPU ${ok(sv >= 0.8)} (${f(sv, 2)}x)`;
  })
  .join('; ');
md += '.\n';
writeResult({
  name: RESULT,
  title: `Serving: Score over ${TRANSPORTS.join(' and ')} in ${FORMS.length === 4 ? 'every request form' : `the ${FORMS.join(', ')} forms`} vs raw onnxruntime`,
  command: `npm run bench:serve${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
  date: new Date().toISOString(),
  machine: describeMachine(),
  markdown: md,
  data: { raw2, raw1, rawBest, rawIdle1, rawIdle2, loads, cpu, results, workers: WORKERS, intraOpThreads: INTRA, baseline: BASELINE },
});
console.log(`wrote ${writeBenchmarksDoc()}`);
