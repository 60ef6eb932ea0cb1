/**
 * One load run end to end: connect, fetch the model, build payloads (and the local reference
 * when a bundle directory is given), drive the load, check answers, summarise. The CLI, the soak
 * and the tests all call {@link loadRun}.
 */
import { type Checker, createChecker } from './check.js';
import { runClosedLoop, runOpenLoop, type SendFn } from './engine.js';
import { buildPayloads, type Method, normaliseModel, type PayloadPool, type ScoreForm } from './payloads.js';
import { buildReference, type ReferenceModel, referenceFromModel } from './reference.js';
import { type RunSummary, summarise } from './report.js';
import { grpcTransport, httpTransport, type Transport } from './targets.js';

export interface Endpoints {
  /** host:port of the gRPC server. */
  readonly grpc: string;
  /** http://host:port of the HTTP server. */
  readonly http: string;
}

export interface LoadOptions {
  readonly target: 'grpc' | 'http';
  readonly method: Method;
  /** Open loop: requests per second. Exactly one of rate and concurrency. */
  readonly rate?: number;
  /** Closed loop: callers. */
  readonly concurrency?: number;
  readonly durationS: number;
  /** Candidates per Score request, ids per Lookup request. */
  readonly size: number;
  /** Distinct request bodies (default 32). */
  readonly pool?: number;
  /** Score request form (default flat; docs/api.md). */
  readonly form?: ScoreForm;
  /** Score: leading fields equal in every row of a request (default: all but 9 for the context forms, else 0). */
  readonly shared?: number;
  /** Deep-check every n-th answer (default 10). */
  readonly sampleEvery?: number;
  /** Per-request deadline, ms (default 5000). */
  readonly timeoutMs?: number;
  /** Open loop: most outstanding requests (default 1024). */
  readonly maxInFlight?: number;
  /** Bundle directory the server serves: enables the local reference check. */
  readonly bundle?: string;
  /** Or the served model itself, in memory (tests): the same reference check. */
  readonly referenceModel?: ReferenceModel;
  /** Score tolerance (default 1e-6). */
  readonly tolerance?: number;
  /** gRPC: HTTP/2 connections used round-robin (default 1). */
  readonly grpcChannels?: number;
  /** Seconds of unmeasured warm-up at the same rate first (default 0). */
  readonly warmupS?: number;
}

/** A prepared run: transport open, payloads and checker built; `go` may be called repeatedly (sweeps). */
export interface PreparedLoad {
  readonly pool: PayloadPool;
  readonly model: { version: string; d: number };
  go(shape: { rate?: number; concurrency?: number; durationS: number }): Promise<RunSummary>;
  close(): void;
}

/** Connects and prepares payloads, reference and checker for `opts`. */
export async function prepareLoad(endpoints: Endpoints, opts: LoadOptions): Promise<PreparedLoad> {
  const transport: Transport = opts.target === 'grpc' ? grpcTransport(endpoints.grpc, opts.grpcChannels ?? 1) : httpTransport(endpoints.http, opts.maxInFlight ?? 1024);
  try {
    const raw = (await transport.getModel()) as { d: number };
    const model = normaliseModel(raw);
    const d = Number(raw.d);
    const pool = buildPayloads(model, opts.method, opts.target, opts.size, opts.pool ?? 32, 42, opts.form ?? 'flat', opts.shared);
    const reference =
      opts.referenceModel !== undefined
        ? await referenceFromModel(opts.referenceModel, pool)
        : opts.bundle !== undefined
          ? await buildReference(opts.bundle, pool)
          : undefined;
    const timeoutMs = opts.timeoutMs ?? 5000;
    const n = pool.bodies.length;
    const makeSend = (checker: Checker): SendFn => {
      if (opts.method === 'score') {
        return async (i) => {
          const p = i % n;
          const r = await transport.score(pool.bodies[p], timeoutMs);
          return r.ok ? checker.score(p, i, r.value) : r.code;
        };
      }
      return async (i) => {
        const p = i % n;
        const r = await transport.lookup(pool.bodies[p], timeoutMs);
        return r.ok ? checker.lookup(p, i, r.value) : r.code;
      };
    };
    const checkerOpts = { sampleEvery: opts.sampleEvery ?? 10, tolerance: opts.tolerance ?? 1e-6, ...(reference ? { reference } : {}) };
    return {
      pool,
      model: { version: model.version, d },
      async go(shape) {
        const checker = createChecker(pool, d, checkerOpts);
        const send = makeSend(checker);
        const run =
          shape.concurrency !== undefined
            ? await runClosedLoop({ concurrency: shape.concurrency, durationS: shape.durationS }, send)
            : await runOpenLoop({ rate: shape.rate!, durationS: shape.durationS, maxInFlight: opts.maxInFlight ?? 1024 }, send);
        return summarise(run, { target: opts.target, method: opts.method, size: opts.size, checks: checker.stats });
      },
      close: () => transport.close(),
    };
  } catch (e) {
    transport.close();
    throw e;
  }
}

/** Prepares, optionally warms up, runs once and closes. */
export async function loadRun(endpoints: Endpoints, opts: LoadOptions): Promise<RunSummary> {
  if ((opts.rate === undefined) === (opts.concurrency === undefined)) throw new Error('give exactly one of rate and concurrency');
  const prepared = await prepareLoad(endpoints, opts);
  try {
    const shape = opts.concurrency !== undefined ? { concurrency: opts.concurrency } : { rate: opts.rate! };
    if ((opts.warmupS ?? 0) > 0) await prepared.go({ ...shape, durationS: opts.warmupS! });
    return await prepared.go({ ...shape, durationS: opts.durationS });
  } finally {
    prepared.close();
  }
}
