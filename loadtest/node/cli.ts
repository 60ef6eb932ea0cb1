/**
 * `npm run loadtest -- ...`: the Node load driver (k6 is not installable on every host; this
 * produces the same measurements). One run, a closed-loop run, or a saturation sweep.
 *
 *   npm run loadtest -- --target grpc --method score --rate 200 --duration 10
 *   npm run loadtest -- --target http --method score --concurrency 8 --duration 10
 *   npm run loadtest -- --target grpc --method score --form context --shared 30 --rate 100 --duration 10
 *   npm run loadtest -- --target grpc,http --method score --sweep 100,200,400 --duration 10 --spawn-model DIR
 *
 * Prints the human table on stderr and the JSON on stdout (or --json FILE). A single run exits 1
 * when any request failed or failed its check; a sweep exits 0 (overload errors are data there).
 */
import { loadavg } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { addServerOptions, emitJson, positiveInt, positiveNum } from './options.js';
import { type Endpoints, type LoadOptions, type PreparedLoad, prepareLoad } from './run.js';
import { knee, type RunSummary, table } from './report.js';
import { resolveModelDir, type SpawnedServer, spawnServer } from './spawn.js';
import { writeSaturationResults } from './saturation.js';

const rateList = (v: string): number[] => v.split(',').map((x) => positiveNum(x.trim()));
const targetList = (v: string): ('grpc' | 'http')[] => {
  const out = v.split(',').map((x) => x.trim());
  for (const t of out) if (t !== 'grpc' && t !== 'http') throw new InvalidArgumentError('targets are grpc and http');
  return out as ('grpc' | 'http')[];
};

const program = addServerOptions(new Command('loadtest'))
  .description('open-loop (or closed-loop) load driver for mpe serve: HDR latency percentiles, throughput, errors by code, checked answers')
  .option('--target <list>', 'grpc | http (comma list with --sweep)', targetList, ['grpc'] as ('grpc' | 'http')[])
  .addOption(new Option('--method <name>', 'RPC to drive').choices(['score', 'lookup']).default('score'))
  .option('--rate <n>', 'open loop: requests per second', positiveNum)
  .option('--concurrency <n>', 'closed loop: callers sending back to back', positiveInt)
  .option('--sweep <rates>', 'saturation curve: comma list of open-loop rates (req/s)', rateList)
  .option('--duration <s>', 'seconds per run', positiveNum, 10)
  .option('--warmup <s>', 'unmeasured seconds at the same load before each run', positiveNum)
  .option('--candidates <n>', 'Score: candidate rows per request', positiveInt, 100)
  .addOption(new Option('--form <form>', 'Score request form (docs/api.md)').choices(['flat', 'columns', 'context', 'context-columns']).default('flat'))
  .option('--shared <n>', 'Score: leading fields equal in every row of a request, sent once as the context by the context forms (default: all but the last 9 for the context forms, else 0)', (v: string) => (v === '0' ? 0 : positiveInt(v)))
  .option('--features <n>', 'Lookup: ids per request', positiveInt, 1000)
  .option('--pool <n>', 'distinct request bodies', positiveInt, 32)
  .option('--grpc-channels <n>', 'gRPC: HTTP/2 connections, round-robin (k6 opens one per VU)', positiveInt, 1)
  .option('--sample-every <n>', 'deep-check every n-th answer (determinism, reference)', positiveInt, 10)
  .option('--timeout-ms <n>', 'per-request deadline', positiveInt, 5000)
  .option('--max-in-flight <n>', 'open loop: outstanding requests before arrivals queue client-side (their latency still counts)', positiveInt, 1024)
  .option('--bundle <dir>', 'bundle the server serves: compare sampled answers with a local reference (Lookup bit-exact, Score onnxruntime)')
  .option('--pause <s>', 'seconds of idle between sweep steps (lets queues drain)', positiveNum, 2)
  .option('--results <name>', 'sweep: also write bench/results/<name>.json and docs/<name>.svg for bench/report.ts')
  .parse();

const o = program.opts<{
  target: ('grpc' | 'http')[];
  method: 'score' | 'lookup';
  rate?: number;
  concurrency?: number;
  sweep?: number[];
  duration: number;
  warmup?: number;
  candidates: number;
  form: 'flat' | 'columns' | 'context' | 'context-columns';
  shared?: number;
  features: number;
  pool: number;
  grpcChannels: number;
  sampleEvery: number;
  timeoutMs: number;
  maxInFlight: number;
  grpc: string;
  http: string;
  bundle?: string;
  spawnModel?: string;
  serveArg?: string[];
  pause: number;
  json?: string;
  results?: string;
}>();

const shapes = [o.rate, o.concurrency, o.sweep].filter((x) => x !== undefined).length;
if (shapes !== 1) program.error('give exactly one of --rate, --concurrency, --sweep');
if (o.sweep === undefined && o.target.length !== 1) program.error('several targets need --sweep');

let server: SpawnedServer | null = null;
let exitCode = 0;
try {
  let endpoints: Endpoints = { grpc: o.grpc, http: o.http };
  const spawnDir = o.spawnModel === undefined ? undefined : await resolveModelDir(o.spawnModel);
  const bundle = o.bundle ?? spawnDir;
  if (spawnDir !== undefined) {
    server = await spawnServer(spawnDir, o.serveArg ?? []);
    endpoints = server;
  }
  const runs: RunSummary[] = [];
  const loadStart = loadavg()[0]!;
  // All targets prepared up front; a sweep interleaves them rate by rate, so slow drifts in the
  // (shared) machine's load bias neither transport.
  const prepared: PreparedLoad[] = [];
  try {
    for (const target of o.target) {
      const opts: LoadOptions = {
        target,
        method: o.method,
        durationS: o.duration,
        size: o.method === 'score' ? o.candidates : o.features,
        pool: o.pool,
        form: o.form,
        ...(o.shared !== undefined ? { shared: o.shared } : {}),
        grpcChannels: o.grpcChannels,
        sampleEvery: o.sampleEvery,
        timeoutMs: o.timeoutMs,
        maxInFlight: o.maxInFlight,
        ...(bundle !== undefined ? { bundle } : {}),
      };
      prepared.push(await prepareLoad(endpoints, opts));
    }
    for (const rate of o.sweep ?? [undefined]) {
      for (const p of prepared) {
        const shape = o.concurrency !== undefined ? { concurrency: o.concurrency } : { rate: rate ?? o.rate! };
        if (o.warmup !== undefined) await p.go({ ...shape, durationS: o.warmup });
        const cpu0 = server?.cpuSeconds() ?? null;
        const run = await p.go({ ...shape, durationS: o.duration });
        const cpu1 = server?.cpuSeconds() ?? null;
        const s = cpu0 === null || cpu1 === null ? run : { ...run, serverCores: Math.round(((cpu1 - cpu0) / run.elapsedS) * 100) / 100 };
        runs.push(s);
        process.stderr.write(`${table([s]).split('\n')[2]}\n`);
        if (o.sweep !== undefined) await new Promise((r) => setTimeout(r, o.pause * 1000));
      }
    }
  } finally {
    for (const p of prepared) p.close();
  }
  runs.sort((a, b) => (a.target === b.target ? 0 : a.target < b.target ? -1 : 1));
  const knees: Record<string, ReturnType<typeof knee>> = {};
  for (const t of o.target) knees[t] = knee(runs.filter((r) => r.target === t));
  process.stderr.write(`\n${table(runs)}\n`);
  if (o.sweep !== undefined) for (const t of o.target) process.stderr.write(`knee ${t}: ${JSON.stringify(knees[t])}\n`);
  const out = { command: `npm run loadtest -- ${process.argv.slice(2).join(' ')}`, date: new Date().toISOString(), runs, ...(o.sweep !== undefined ? { knees } : {}) };
  // With --results the figures go to bench/results/; stdout stays for the table.
  if (o.json !== undefined || o.results === undefined) emitJson(out, o.json);
  if (o.results !== undefined && o.sweep !== undefined) writeSaturationResults(o.results, out.command, runs, knees, { start: loadStart, end: loadavg()[0]! });
  if (o.sweep === undefined && runs.some((r) => r.errors > 0)) exitCode = 1;
} catch (e) {
  process.stderr.write(`loadtest: ${e instanceof Error ? e.message : String(e)}\n`);
  exitCode = 1;
} finally {
  if (server !== null) await server.stop();
}
process.exitCode = exitCode;
