/**
 * `npm run bench:serve [-- --seconds S] [-- --workers N]`: Score of 100 candidates x 39 fields with the default
 * DNN (1024-512-256, BatchNorm, d = 16) served by `mpe serve` (a child process, 2 workers x 1
 * intra-op thread by default), over gRPC and HTTP:
 * - max throughput: closed loop, 8 requests in flight;
 * - p50/p99 latency at 50% and 80% of that rate: open loop (requests sent on a fixed schedule,
 *   latency measured from the SCHEDULED send time, so queueing delay is not hidden);
 * next to a raw onnxruntime `run` loop on the same 100-row batches in the same run (one session,
 * 2 intra-op threads = every core, and one session with 1 thread).
 * The load generator shares the machine's cores with the server: that cost is part of the figures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { createScorerSession } from '../src/scorer/session.js';
import { embeddingProto } from '../src/server/proto.js';
import { createFixture, randomRows, writeFixtureBundle } from '../test/helpers/bundle-fixture.js';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SECONDS = arg('--seconds', 6);
const WORKERS = arg('--workers', 2);
const ROWS = 100;
const FIELDS = 39;
const D = 16;
const BATCHES = 64;
const CONCURRENCY = 8;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Latency {
  readonly rate: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly achievedRowsPerSec: number;
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

type Send = (k: number) => Promise<boolean>;

/** Closed loop: `CONCURRENCY` requests always in flight for `seconds`. Returns rows/s. */
async function maxThroughput(send: Send, seconds: number): Promise<{ rowsPerSec: number; errors: number }> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  let k = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        if (await send(k++)) done++;
        else errors++;
      }
    }),
  );
  return { rowsPerSec: (done * ROWS) / ((performance.now() - t0) / 1000), errors };
}

/** Open loop at `rate` requests/s for `seconds`; latency from each request's scheduled time. */
async function openLoop(send: Send, rate: number, seconds: number): Promise<Latency> {
  const n = Math.max(1, Math.floor(rate * seconds));
  const lat = new Float64Array(n);
  let ok = 0;
  let errors = 0;
  const t0 = performance.now() + 50;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const at = t0 + (i * 1000) / rate;
    const wait = at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      send(i).then((good) => {
        if (good) lat[ok++] = performance.now() - at;
        else errors++;
      }),
    );
  }
  await Promise.all(pending);
  const sorted = lat.subarray(0, ok).sort();
  return { rate, sent: n, ok, errors, p50Ms: pct(sorted, 0.5), p99Ms: pct(sorted, 0.99), achievedRowsPerSec: (ok * ROWS) / seconds };
}

async function rawLoop(inputs: Float32Array[], threads: number, seconds: number): Promise<number> {
  const { session } = await createScorerSession(fx.scorerBytes, { provider: 'cpu', intraOpThreads: threads });
  const tensors = inputs.map((x) => new ort.Tensor('float32', x, [ROWS, FIELDS * D]));
  for (let i = 0; i < 5; i++) await session.run({ embeddings: tensors[i]! });
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let runs = 0;
  while (performance.now() < end) await session.run({ embeddings: tensors[runs++ % tensors.length]! });
  const rps = (runs * ROWS) / ((performance.now() - t0) / 1000);
  await session.release();
  return rps;
}

function startServer(dir: string): Promise<{ child: ChildProcess; grpc: number; http: number }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--model', dir, '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--workers', String(WORKERS), '--intra-op-threads', '1'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const m = /gRPC [^:\s]+:(\d+), HTTP [^:\s]+:(\d+)/.exec(err);
      if (m) resolve({ child, grpc: Number(m[1]), http: Number(m[2]) });
    });
    child.on('exit', (code) => reject(new Error(`mpe serve exited (${code}): ${err}`)));
  });
}

console.log(`building the bench bundle: ${FIELDS} fields, d=${D}, DNN 1024-512-256 ...`);
const fx = createFixture({ fields: FIELDS, d: D, featureCount: 200_000, groupSize: 2048, hidden: [1024, 512, 256], seed: 2024 });
const tmp = mkdtempSync(join(tmpdir(), 'mpe-bench-serve-'));
const dir = join(tmp, 'bundle');
await writeFixtureBundle(fx, dir, 'bench-1');
const batches = Array.from({ length: BATCHES }, (_, k) => randomRows(fx, ROWS, 9000 + k).ids);
const inputs = batches.map((ids) => {
  const x = new Float32Array(ids.length * D);
  fx.table.dequantize(ids, ids.length, x, 0);
  return x;
});

console.log('raw onnxruntime run loop ...');
const raw2 = await rawLoop(inputs, 2, SECONDS);
const raw1 = await rawLoop(inputs, 1, SECONDS);
console.log(`raw: ${raw2.toFixed(0)} rows/s (2 threads), ${raw1.toFixed(0)} rows/s (1 thread)`);

const server = await startServer(dir);
const results: Record<string, { max: number; maxErrors: number; at50: Latency; at80: Latency }> = {};
try {
  const client = new (embeddingProto().client)(`127.0.0.1:${server.grpc}`, grpc.credentials.createInsecure());
  const grpcReqs = batches.map((ids) => ({ ids: Array.from(ids) }));
  const sendGrpc: Send = (k) =>
    new Promise((resolve) => {
      (client as unknown as Record<string, (r: object, cb: (e: unknown, v: { probabilities: number[] }) => void) => void>).Score!.call(client, grpcReqs[k % BATCHES]!, (e, v) => resolve(e === null && v.probabilities.length === ROWS));
    });
  const httpBodies = batches.map((ids) => JSON.stringify({ ids: Array.from({ length: ROWS }, (_, r) => Array.from(ids.subarray(r * FIELDS, (r + 1) * FIELDS))) }));
  const url = `http://127.0.0.1:${server.http}/v1/score`;
  const sendHttp: Send = async (k) => {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: httpBodies[k % BATCHES]! });
      const j = (await res.json()) as { probabilities?: number[] };
      return res.status === 200 && j.probabilities?.length === ROWS;
    } catch {
      return false;
    }
  };
  for (const [name, send] of [
    ['grpc', sendGrpc],
    ['http', sendHttp],
  ] as const) {
    await maxThroughput(send, 1); // warm-up
    const max = await maxThroughput(send, SECONDS);
    const rate = max.rowsPerSec / ROWS;
    const at50 = await openLoop(send, 0.5 * rate, SECONDS);
    const at80 = await openLoop(send, 0.8 * rate, SECONDS);
    results[name] = { max: max.rowsPerSec, maxErrors: max.errors, at50, at80 };
    console.log(`${name}: max ${max.rowsPerSec.toFixed(0)} rows/s (${(max.rowsPerSec / raw2).toFixed(2)}x raw); 50%: p50 ${at50.p50Ms.toFixed(2)} ms p99 ${at50.p99Ms.toFixed(2)} ms; 80%: p50 ${at80.p50Ms.toFixed(2)} ms p99 ${at80.p99Ms.toFixed(2)} ms`);
  }
  client.close();
} finally {
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.on('exit', r));
  rmSync(tmp, { recursive: true, force: true });
}

const f = (x: number, digits = 0): string => x.toFixed(digits);
let md = `Score requests of ${ROWS} candidates x ${FIELDS} fields (ids form), default DNN 1024-512-256 with BatchNorm, d = ${D}, `;
md += `\`mpe serve\` with ${WORKERS} workers x 1 intra-op thread on ${availableParallelism()} cores; the load generator runs on the same cores. `;
md += `Max: closed loop, ${CONCURRENCY} in flight, ${SECONDS} s. Latency: open loop at 50% / 80% of that rate, ${SECONDS} s each, measured from the scheduled send time.\n\n`;
md += `Raw onnxruntime \`run\` loop on the same batches (no server): **${f(raw2)} rows/s** with 2 intra-op threads, ${f(raw1)} rows/s with 1.\n\n`;
md += '| transport | max rows/s | vs raw (2 threads) | p50 @50% | p99 @50% | p50 @80% | p99 @80% | errors |\n|---|---|---|---|---|---|---|---|\n';
for (const [name, r] of Object.entries(results)) {
  md += `| ${name} | ${f(r.max)} | ${f(r.max / raw2, 2)}x | ${f(r.at50.p50Ms, 2)} ms | ${f(r.at50.p99Ms, 2)} ms | ${f(r.at80.p50Ms, 2)} ms | ${f(r.at80.p99Ms, 2)} ms | ${r.maxErrors + r.at50.errors + r.at80.errors} |\n`;
}
md += '\nTargets (issue 5): max throughput >= 0.77x raw, p99 < 10 ms at 50% load.\n';
writeResult({ name: 'serve', title: 'Serving: Score over gRPC and HTTP vs raw onnxruntime', command: 'npm run bench:serve', date: new Date().toISOString(), machine: describeMachine(), markdown: md, data: { raw2, raw1, results, workers: WORKERS } });
console.log(`wrote ${writeBenchmarksDoc()}`);
