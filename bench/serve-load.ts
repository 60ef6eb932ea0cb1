/**
 * The Score load of bench:serve and bench:serve-stages: the bench model (default DNN 1024-512-256,
 * 39 fields, d = 16), 64 batches of 100 candidates whose first 30 fields are shared, their request
 * bodies in every form, the senders (gRPC and node:http clients) and the load loops (back to back,
 * closed loop, open loop), plus /proc CPU readers.
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { embeddingProto } from '../src/server/proto.js';
import { createFixture, type Fixture, randomRows } from '../test/helpers/bundle-fixture.js';

export const ROWS = 100;
export const FIELDS = 39;
export const SHARED = 30;
export const D = 16;
export const BATCHES = 64;
export const CONCURRENCY = 8;

export type Form = 'ids' | 'flat' | 'columns' | 'context';
export type Send = (k: number) => Promise<boolean>;

export interface Latency {
  readonly rate: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export function pct(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export const mean = (xs: ArrayLike<number>): number => {
  let t = 0;
  for (let i = 0; i < xs.length; i++) t += xs[i]!;
  return xs.length === 0 ? Number.NaN : t / xs.length;
};

/** Closed loop: `CONCURRENCY` requests always in flight for `seconds`. Returns rows/s. */
export async function maxThroughput(send: Send, seconds: number): Promise<{ rowsPerSec: number; errors: number }> {
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

/**
 * Open loop at `rate` requests/s for `seconds`; latency from each request's scheduled time.
 * `each(i, ms)`: called with every answered request's index and latency.
 */
export async function openLoop(send: Send, rate: number, seconds: number, each?: (i: number, ms: number) => void): Promise<Latency> {
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
        if (good) {
          const ms = performance.now() - at;
          lat[ok++] = ms;
          each?.(i, ms);
        } else errors++;
      }),
    );
  }
  await Promise.all(pending);
  const sorted = lat.subarray(0, ok).sort();
  return { rate, sent: n, ok, errors, p50Ms: pct(sorted, 0.5), p99Ms: pct(sorted, 0.99) };
}

/** One request at a time, `n` of them: appends each latency (ms) to `out`; returns errors. */
export async function backToBack(send: Send, n: number, k0: number, out: number[]): Promise<number> {
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    if (await send(k0 + i)) out.push(performance.now() - t);
    else errors++;
  }
  return errors;
}

const CLK_TCK = 100;

/** CPU seconds (user + system, all threads) of a process, from /proc (Linux); `tid` = one thread (the main thread's tid is the pid). */
export function cpuSecondsOf(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

export const ownCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export interface Batch {
  readonly ids: Int32Array;
  readonly raw: Record<string, string | number>[];
}

export interface ServeLoad {
  readonly fx: Fixture;
  readonly names: readonly string[];
  readonly batches: readonly Batch[];
  /** Each batch dequantized: the raw onnxruntime input. */
  readonly inputs: readonly Float32Array[];
}

/** The bench model and its batches (deterministic: seed 2024). */
export function createServeLoad(): ServeLoad {
  const fx = createFixture({ fields: FIELDS, d: D, featureCount: 200_000, groupSize: 2048, hidden: [1024, 512, 256], seed: 2024 });
  const names = fx.fields.map((f) => f.name);
  /** Each batch: 100 candidates whose first SHARED fields hold row 0's values (ids and raw agree). */
  const batches = Array.from({ length: BATCHES }, (_, k) => {
    const { ids, raw } = randomRows(fx, ROWS, 9000 + k);
    for (let r = 1; r < ROWS; r++) {
      for (let f = 0; f < SHARED; f++) {
        ids[r * FIELDS + f] = ids[f]!;
        raw[r]![names[f]!] = raw[0]![names[f]!]!;
      }
    }
    return { ids, raw };
  });
  const inputs = batches.map(({ ids }) => {
    const x = new Float32Array(ids.length * D);
    fx.table.dequantize(ids, ids.length, x, 0);
    return x;
  });
  return { fx, names, batches, inputs };
}

/** Request bodies of batch `b` in `form`: gRPC objects (encoded once by the sender) and JSON strings. */
export function bodies(names: readonly string[], b: Batch, form: Form): { grpc: object; http: string } {
  const { ids, raw } = b;
  const str = (v: string | number): string => String(v);
  switch (form) {
    case 'ids':
      return { grpc: { ids: Array.from(ids) }, http: JSON.stringify({ ids: Array.from({ length: ROWS }, (_, r) => Array.from(ids.subarray(r * FIELDS, (r + 1) * FIELDS))) }) };
    case 'flat':
      return { grpc: { rows: raw.map((row) => ({ features: names.map((field) => ({ field, value: str(row[field]!) })) })) }, http: JSON.stringify({ rows: raw }) };
    case 'columns':
      return {
        grpc: { columns: names.map((field) => ({ field, values: raw.map((row) => str(row[field]!)) })) },
        http: JSON.stringify({ columns: Object.fromEntries(names.map((field) => [field, raw.map((row) => row[field]!)])) }),
      };
    case 'context': {
      const ctx = names.slice(0, SHARED);
      const rest = names.slice(SHARED);
      return {
        grpc: { context: ctx.map((field) => ({ field, value: str(raw[0]![field]!) })), candidates: raw.map((row) => ({ features: rest.map((field) => ({ field, value: str(row[field]!) })) })) },
        http: JSON.stringify({ context: Object.fromEntries(ctx.map((f) => [f, raw[0]![f]!])), candidates: raw.map((row) => Object.fromEntries(rest.map((f) => [f, row[f]!]))) }),
      };
    }
  }
}

/**
 * Senders for the server at `ports` over `transport` in `form`: gRPC requests encoded once, HTTP
 * bodies stringified once. With `onTiming`, every request asks for its stage times (`mpe-timing:
 * 1`) and `onTiming(k, value)` gets the answer's Server-Timing value before the send resolves.
 */
export function sender(
  load: ServeLoad,
  ports: { readonly grpc: number; readonly http: number },
  transport: 'grpc' | 'http',
  form: Form,
  clients: { close(): void }[],
  onTiming?: (k: number, serverTiming: string) => void,
): Send {
  const proto = embeddingProto();
  const score = proto.service.Score!;
  if (transport === 'grpc') {
    const client = new proto.client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
    clients.push(client);
    const reqs = load.batches.map((b) => score.requestSerialize(bodies(load.names, b, form).grpc));
    const md = new grpc.Metadata();
    if (onTiming !== undefined) md.set('mpe-timing', '1');
    return (k) =>
      new Promise((resolve) => {
        let good = false;
        const call = client.makeUnaryRequest(score.path, (b: Buffer) => b, score.responseDeserialize as (b: Buffer) => { probabilities: number[] }, reqs[k % BATCHES]!, md, (e, v) => {
          good = e === null && v!.probabilities.length === ROWS;
          if (onTiming === undefined) resolve(good);
        });
        // grpc-js emits 'status' (with the trailers) right after the callback.
        if (onTiming !== undefined) {
          call.on('status', (s: grpc.StatusObject) => {
            const v = s.metadata.get('server-timing')[0];
            if (good && v !== undefined) onTiming(k, String(v));
            resolve(good);
          });
        }
      });
  }
  // node:http with a keep-alive Agent, not fetch: fetch spent 1.2-1.7 ms of client CPU per request
  // vs 0.41 ms for node:http on this box; the generator should cost as little as it can.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  clients.push({ close: () => agent.destroy() });
  const texts = load.batches.map((b) => bodies(load.names, b, form).http);
  return (k) =>
    new Promise((resolve) => {
      const body = texts[k % BATCHES]!;
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      if (onTiming !== undefined) headers['mpe-timing'] = '1';
      const req = http.request({ host: '127.0.0.1', port: ports.http, path: '/v1/score', method: 'POST', agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            const j = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { probabilities?: number[] };
            const good = res.statusCode === 200 && j.probabilities?.length === ROWS;
            const st = res.headers['server-timing'];
            if (good && onTiming !== undefined && typeof st === 'string') onTiming(k, st);
            resolve(good);
          } catch {
            resolve(false);
          }
        });
        res.on('error', () => resolve(false));
      });
      req.on('error', () => resolve(false));
      req.end(body);
    });
}
