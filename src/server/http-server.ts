/**
 * REST adapter (fastify): JSON schemas on every route, the same service functions as gRPC,
 * errors mapped in one place ({@link toHttpError}).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttp1Server } from 'node:http';
import { endianness } from 'node:os';
import type { Logger } from '../util/log.js';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { MpeError } from '../errors.js';
import type { Method, RequestMetrics } from '../metrics/request-metrics.js';
import type { StageMetrics } from '../metrics/stage-metrics.js';
import { nowNs, ScoreTiming } from '../util/score-timing.js';
import type { CallContext, EmbeddingService, LookupInput, LookupOutput, PackedScore, ScoreInput } from '../service/embedding-service.js';
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from './connection-limits.js';
import { capHttpConnections } from './http-connection-cap.js';
import { toHttpError } from './http-errors.js';
import { lookupSchema, modelSchema, scoreSchema, statusSchema } from './http-schemas.js';
import type { InFlight } from './in-flight.js';
import { BodyBudget } from './body-budget.js';
import { readJsonBody } from './json-body.js';
import { type JsonShapeLimits, MAX_JSON_DEPTH, maxJsonContainers } from './json-guard.js';
import { lookupJsonStream, STREAM_THRESHOLD } from './json-stream.js';
import { scanFlatJson } from './score-json.js';
import { currentWireFields, type WireFields } from './score-wire.js';
import { scanCandidatesJson } from './score-json-candidates.js';

/** Request header with a relative deadline in milliseconds (0 = already past). */
export const DEADLINE_HEADER = 'x-mpe-deadline-ms';

/** Request header asking for a Score's stage times (value `1`), answered in `Server-Timing` (docs/api.md). */
export const TIMING_HEADER = 'mpe-timing';

export interface HttpServerDeps {
  readonly service: EmbeddingService;
  readonly metrics: RequestMetrics;
  readonly registry: Registry;
  readonly inFlight: InFlight;
  readonly maxMessageBytes: number;
  /** Bytes of request bodies all connections may hold at once while they arrive (default: 16 x maxMessageBytes). */
  readonly maxBodyBufferBytes?: number;
  /** Deadline of a request without the x-mpe-deadline-ms header (ms). */
  readonly defaultDeadlineMs: number;
  /** Readiness: model loaded, warm-up score done, not draining. */
  readonly isReady: () => boolean;
  /** Token-protected admin routes; absent = not registered. */
  readonly admin?: AdminHooks;
  /** Shape limits checked before JSON.parse (default: depth 16, containers for the default request limits). */
  readonly jsonLimits?: JsonShapeLimits;
  /** Request timeout, idle timeout and connection cap (default: the config defaults). */
  readonly connections?: ConnectionLimits;
  /** The process logger (fastify's own logs go through it); absent = fastify's logger off. */
  readonly log?: Logger;
  /** The Score stage histogram (absent: stage times are still kept for `mpe-timing`, not recorded). */
  readonly stages?: StageMetrics;
}

/** Admin routes: `POST /admin/reload` and `GET /admin/status`, both requiring `authorization: Bearer <token>`. */
export interface AdminHooks {
  /** Compared in constant time; an empty token disables the routes (401). */
  readonly token: string;
  reload(body: { dir?: string }): Promise<unknown>;
  status(): unknown;
}

export interface HttpServer {
  readonly app: FastifyInstance;
  listen(host: string, port: number): Promise<number>;
  /**
   * Shutdown, step 1: from now on every response carries `Connection: close` and every request
   * but the probes (/healthz, /readyz, /metrics) is answered 503 MPE_ERR_SHUTTING_DOWN. Idle
   * keep-alive connections stay open, so that a client's next request on one gets that clean
   * answer instead of a reset.
   */
  drain(): void;
  /** Resolves once no connection has a request in progress (headers received, response not finished). */
  idle(): Promise<void>;
  /** Shutdown, last step: closes every connection left (idle ones, half-sent bodies) and the listener. */
  forceClose(): Promise<void>;
  /** Graceful close (the listener, then connections as they become idle). */
  close(): Promise<void>;
}

/** Routes still answered normally while draining: the probes and the metrics. */
/** Where the JSON parser leaves a Score body it read into packed form (a symbol: the schema does not see it). */
const PACKED_ROWS = Symbol('packedRows');

const PROBE_ROUTES: ReadonlySet<string | undefined> = new Set(['/healthz', '/readyz', '/metrics']);

function deadlineOf(req: FastifyRequest, defaultMs: number): number {
  const h = req.headers[DEADLINE_HEADER];
  if (h === undefined) return Date.now() + defaultMs;
  const ms = Number(Array.isArray(h) ? h[0] : h);
  if (!Number.isFinite(ms) || ms < 0) throw new MpeError('MPE_ERR_REQ_INVALID', `${DEADLINE_HEADER} must be a non-negative number of milliseconds`);
  // 0 means "no time left": make it strictly past so the service rejects it.
  return ms === 0 ? Date.now() - 1 : Date.now() + ms;
}

/** `Accept` of a Lookup that wants the packed body ({@link packLookup}) instead of JSON. */
export const OCTET_STREAM = 'application/octet-stream';

/** Chosen once: typed-array views write host order, which is the wire's little-endian on every supported host. */
const HOST_LE = endianness() === 'LE';

/**
 * The `application/octet-stream` body of `POST /v1/lookup` (docs/api.md): count x d float32 LE
 * embeddings (row-major, the bytes gRPC's `embeddings` carries), then count int32 LE ids, then
 * count uint8 bits (0 = pruned), then count uint8 OOV flags (1 = OOV). Every section starts
 * 4-byte aligned when read from offset 0, so clients can view it with typed arrays.
 */
export function packLookup(r: LookupOutput): Buffer {
  const n = r.count * r.d;
  const c = r.count;
  const ab = new ArrayBuffer(4 * n + 4 * c + 2 * c);
  if (HOST_LE) {
    new Float32Array(ab, 0, n).set(r.embeddings);
    new Int32Array(ab, 4 * n, c).set(r.ids);
  } else {
    const v = new DataView(ab);
    for (let i = 0; i < n; i++) v.setFloat32(4 * i, r.embeddings[i]!, true);
    for (let i = 0; i < c; i++) v.setInt32(4 * n + 4 * i, r.ids[i]!, true);
  }
  const bytes = new Uint8Array(ab, 4 * (n + c), 2 * c);
  bytes.set(r.bits);
  for (let i = 0; i < c; i++) bytes[c + i] = r.oov[i] ? 1 : 0;
  return Buffer.from(ab);
}

/** A Score body read by a JSON fast path, or null for the generic parser. */
function scanPackedJson(bytes: Uint8Array, fields: WireFields): PackedScore | null {
  const flat = scanFlatJson(bytes, fields);
  if (flat !== null) return { rows: flat.rows, values: flat.values, fields: fields.names };
  const part = scanCandidatesJson(bytes, fields);
  return part === null ? null : { ...part, fields: fields.names };
}

/** Creates the fastify app (not yet listening). */
export function createHttpServer(deps: HttpServerDeps): HttpServer {
  const { service, metrics, inFlight } = deps;
  const limits = deps.connections ?? DEFAULT_CONNECTION_LIMITS;
  const app = Fastify({
    // Node's own bounds, set at creation: a request (headers and body) must arrive within
    // requestTimeoutMs (else 408 and close; checked every quarter of it, not every 30 s as by
    // default), keep-alive connections idle for idleTimeoutMs are closed, and connections past
    // maxConnections are answered 503 MPE_ERR_OVERLOADED and closed (http-connection-cap.ts).
    serverFactory: (handler) => {
      const s = createHttp1Server({ requestTimeout: limits.requestTimeoutMs, headersTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(limits.requestTimeoutMs / 4))) }, handler);
      s.keepAliveTimeout = limits.idleTimeoutMs;
      capHttpConnections(s, limits.maxConnections);
      return s;
    },
    bodyLimit: deps.maxMessageBytes,
    // The process's pino instance; per-request lines off (the request metrics count every call).
    ...(deps.log ? { loggerInstance: deps.log as FastifyBaseLogger, disableRequestLogging: true } : { logger: false }),
    // Strict validation: no type coercion, no silent removal of unknown properties.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
    return503OnClosing: true,
  });

  // The default JSON parser (prototype-poisoning protection included), behind a shape scan that
  // runs while the body streams in (json-body.ts): a bad body is refused without being buffered.
  const jsonLimits = deps.jsonLimits ?? { maxDepth: MAX_JSON_DEPTH, maxContainers: maxJsonContainers(65536, 1024) };
  const bodyLimits = { maxBytes: deps.maxMessageBytes, shape: jsonLimits };
  const budget = new BodyBudget(deps.maxBodyBufferBytes ?? 16 * deps.maxMessageBytes);
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  // Requests refused while their body (of a declared length within the limit) was still arriving:
  // the rest is read and discarded on a kept-alive connection (RFC 9112 9.6), so the client reads
  // the 400 instead of a reset. Measured with 24 parallel 4 MB deep bodies (load 9): all 24
  // clients read the 400 and the server spent 90-200 ms CPU on them; closing at once (fastify's
  // default) cost 40-60 ms but 1-6 of the 24 uploads were reset (EPIPE) before their 400;
  // buffering whole bodies before the scan (before) cost 640-1010 ms.
  const lingering = new WeakSet<FastifyRequest>();
  // The raw-values Score bodies read straight into the workers' packed form: flat (score-json.ts),
  // columns and context + candidates (score-json-candidates.ts); any other body takes the default
  // parser, the schema and the service's checks.
  const fieldsNow = currentWireFields(() => service.getModel());
  app.addContentTypeParser('application/json', (req, payload, done) => {
    readJsonBody(payload, req.headers['content-length'], bodyLimits, budget).then(
      (bytes) => {
        const fields = req.routeOptions.url === '/v1/score' ? fieldsNow() : null;
        const packed = fields === null ? null : scanPackedJson(bytes, fields);
        if (packed !== null) done(null, { rows: [], [PACKED_ROWS]: packed });
        else parseJson(req, bytes.toString('utf8'), done);
      },
      (e: unknown) => {
        if (req.headers['content-length'] !== undefined && (e as { code?: string }).code === 'MPE_ERR_REQ_JSON') {
          lingering.add(req);
          payload.resume();
        }
        done(e as Error, undefined);
      },
    );
  });

  const methodOf = (req: FastifyRequest): Method | null => {
    const url = req.routeOptions.url;
    return url === '/v1/score' ? 'score' : url === '/v1/lookup' ? 'lookup' : url === '/v1/model' ? 'get_model' : null;
  };
  const startTimes = new WeakMap<FastifyRequest, bigint>();
  // Score stage times, from the complete request head (the decode stage includes reading the body).
  const timings = new WeakMap<FastifyRequest, ScoreTiming>();
  const stages = deps.stages ?? null;
  let draining = false;
  // Requests in progress (from complete headers to the end of the response), for idle().
  let active = 0;
  let idleWaiters: (() => void)[] = [];
  app.server.on('request', (_req, res) => {
    active++;
    res.once('close', () => {
      if (--active === 0) for (const w of idleWaiters.splice(0)) w();
    });
  });
  app.addHook('onSend', (req, reply, payload, done) => {
    // After serialisation, before the write: the encode stage ends here.
    const timing = timings.get(req);
    if (timing !== undefined && timing.finishedNs > 0 && reply.statusCode === 200) {
      timing.encoded(nowNs());
      stages?.observe(timing);
      if (req.headers[TIMING_HEADER] === '1') void reply.header('server-timing', timing.header());
    }
    if (draining) void reply.header('connection', 'close');
    else if (lingering.has(req)) {
      // Also when the request said Connection: close (node then closes as soon as the answer is written).
      reply.removeHeader('connection');
      reply.raw.shouldKeepAlive = true;
    }
    done(null, payload);
  });
  app.addHook('onRequest', (req, _reply, done) => {
    startTimes.set(req, process.hrtime.bigint());
    if (req.routeOptions.url === '/v1/score') timings.set(req, new ScoreTiming(nowNs()));
    if (draining && !PROBE_ROUTES.has(req.routeOptions.url)) {
      done(new MpeError('MPE_ERR_SHUTTING_DOWN'));
      return;
    }
    // Shed Score requests before their body is read and JSON-parsed: under overload a refusal
    // must be the cheapest answer the server gives (503 MPE_ERR_OVERLOADED).
    done(req.method === 'POST' && req.routeOptions.url === '/v1/score' ? (service.overloaded() ?? undefined) : undefined);
  });
  app.addHook('onResponse', (req, reply, done) => {
    const method = methodOf(req);
    const t0 = startTimes.get(req);
    if (method !== null && t0 !== undefined) {
      const code = reply.statusCode < 400 ? 'OK' : ((reply as FastifyReply & { mpeCode?: string }).mpeCode ?? 'MPE_ERR_INTERNAL');
      metrics.observe(method, 'http', code, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    done();
  });

  app.setErrorHandler((err, _req, reply) => {
    const m = toHttpError(err);
    (reply as FastifyReply & { mpeCode?: string }).mpeCode = m.code;
    void reply.code(m.status).send(m.body);
  });
  app.setNotFoundHandler((req, reply) => {
    const m = toHttpError(new MpeError('MPE_ERR_REQ_ROUTE', `${req.method} ${req.url}`));
    void reply.code(m.status).send(m.body);
  });

  /** Admits the request, runs `fn`, always leaves. */
  async function admitted<T>(req: FastifyRequest, fn: (ctx: CallContext) => T | Promise<T>): Promise<T> {
    inFlight.enter();
    try {
      const socket = req.raw.socket;
      const timing = timings.get(req);
      return await fn({ deadline: deadlineOf(req, deps.defaultDeadlineMs), cancelled: () => socket.destroyed, ...(timing !== undefined ? { timing } : {}) });
    } finally {
      inFlight.leave();
    }
  }

  app.post('/v1/lookup', { schema: lookupSchema }, (req, reply) =>
    admitted(req, (ctx) => {
      const r = service.lookup(req.body as LookupInput, ctx);
      if (req.headers.accept?.startsWith(OCTET_STREAM) === true) {
        return reply.type(OCTET_STREAM).header('x-mpe-d', r.d).header('x-mpe-count', r.count).send(packLookup(r));
      }
      // Large answers are written a slice per event-loop turn (json-stream.ts), not in one call.
      if (r.count * r.d > STREAM_THRESHOLD) return reply.type('application/json; charset=utf-8').send(lookupJsonStream(r));
      return { d: r.d, count: r.count, embeddings: Array.from(r.embeddings), ids: Array.from(r.ids), bits: Array.from(r.bits), pruned: r.pruned, oov: r.oov };
    }),
  );
  app.post('/v1/score', { schema: scoreSchema }, (req) =>
    admitted(req, async (ctx) => {
      const body = req.body as { rows?: ScoreInput['rows']; ids?: number[][]; context?: ScoreInput['context']; candidates?: ScoreInput['candidates']; columns?: ScoreInput['columns']; [PACKED_ROWS]?: ScoreInput['packedRows'] };
      const packedRows = body[PACKED_ROWS];
      const r = await service.score(packedRows !== undefined ? { packedRows } : { rows: body.rows, idRows: body.ids, context: body.context, candidates: body.candidates, columns: body.columns }, ctx);
      return { probabilities: Array.from(r.probabilities), modelVersion: r.modelVersion };
    }),
  );
  app.get('/v1/model', { schema: modelSchema }, () => service.getModel());
  app.get('/healthz', { schema: statusSchema }, () => ({ status: 'alive' }));
  app.get('/readyz', { schema: statusSchema }, () => {
    if (inFlight.isDraining) throw new MpeError('MPE_ERR_SHUTTING_DOWN');
    if (!deps.isReady()) throw new MpeError('MPE_ERR_NOT_READY', 'model loading or warming up');
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    const text = await deps.registry.metrics();
    return reply.header('content-type', deps.registry.contentType).send(text);
  });

  const admin = deps.admin;
  if (admin !== undefined) {
    // Digests of both sides are compared, so the time taken depends on neither the token's bytes
    // nor its length (a length check first would tell a prober the length).
    const digest = (t: string): Buffer => createHash('sha256').update(t).digest();
    const enabled = admin.token.length > 0;
    const expected = digest(admin.token);
    const authorize = (req: FastifyRequest): void => {
      const h = req.headers.authorization ?? '';
      const ok = timingSafeEqual(digest(h.startsWith('Bearer ') ? h.slice(7) : ''), expected);
      if (!enabled || !ok) throw new MpeError('MPE_ERR_UNAUTHORIZED');
    };
    app.post('/admin/reload', { schema: { body: { type: ['object', 'null'], properties: { dir: { type: 'string', minLength: 1 } }, additionalProperties: false } } }, async (req) => {
      authorize(req);
      return admin.reload((req.body as { dir?: string } | null) ?? {});
    });
    app.get('/admin/status', async (req) => {
      authorize(req);
      return admin.status();
    });
  }

  return {
    app,
    async listen(host, port) {
      await app.listen({ host, port });
      const addr = app.server.address();
      return typeof addr === 'object' && addr !== null ? addr.port : port;
    },
    drain() {
      draining = true;
    },
    idle() {
      return active === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r));
    },
    async forceClose() {
      draining = true;
      app.server.closeAllConnections();
      await app.close();
      idleWaiters = [];
    },
    close: () => app.close(),
  };
}
