/**
 * REST adapter (fastify): JSON schemas on every route, the same service functions as gRPC,
 * errors mapped in one place ({@link toHttpError}).
 */
import { timingSafeEqual } from 'node:crypto';
import { endianness } from 'node:os';
import type { Logger } from '../util/log.js';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { MpeError } from '../errors.js';
import type { Method, RequestMetrics } from '../metrics/request-metrics.js';
import type { CallContext, EmbeddingService, LookupInput, LookupOutput, ScoreInput } from '../service/embedding-service.js';
import { toHttpError } from './http-errors.js';
import { lookupSchema, modelSchema, scoreSchema, statusSchema } from './http-schemas.js';
import type { InFlight } from './in-flight.js';

/** Request header with a relative deadline in milliseconds (0 = already past). */
export const DEADLINE_HEADER = 'x-mpe-deadline-ms';

export interface HttpServerDeps {
  readonly service: EmbeddingService;
  readonly metrics: RequestMetrics;
  readonly registry: Registry;
  readonly inFlight: InFlight;
  readonly maxMessageBytes: number;
  /** Deadline of a request without the x-mpe-deadline-ms header (ms). */
  readonly defaultDeadlineMs: number;
  /** Readiness: model loaded, warm-up score done, not draining. */
  readonly isReady: () => boolean;
  /** Token-protected admin routes; absent = not registered. */
  readonly admin?: AdminHooks;
  /** The process logger (fastify's own logs go through it); absent = fastify's logger off. */
  readonly log?: Logger;
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
  close(): Promise<void>;
}

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

/** Creates the fastify app (not yet listening). */
export function createHttpServer(deps: HttpServerDeps): HttpServer {
  const { service, metrics, inFlight } = deps;
  const app = Fastify({
    bodyLimit: deps.maxMessageBytes,
    // The process's pino instance; per-request lines off (the request metrics count every call).
    ...(deps.log ? { loggerInstance: deps.log as FastifyBaseLogger, disableRequestLogging: true } : { logger: false }),
    // Strict validation: no type coercion, no silent removal of unknown properties.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
    return503OnClosing: true,
  });

  const methodOf = (req: FastifyRequest): Method | null => {
    const url = req.routeOptions.url;
    return url === '/v1/score' ? 'score' : url === '/v1/lookup' ? 'lookup' : url === '/v1/model' ? 'get_model' : null;
  };
  const startTimes = new WeakMap<FastifyRequest, bigint>();
  app.addHook('onRequest', (req, _reply, done) => {
    startTimes.set(req, process.hrtime.bigint());
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
      return await fn({ deadline: deadlineOf(req, deps.defaultDeadlineMs), cancelled: () => socket.destroyed });
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
      return { d: r.d, count: r.count, embeddings: Array.from(r.embeddings), ids: Array.from(r.ids), bits: Array.from(r.bits), pruned: r.pruned, oov: r.oov };
    }),
  );
  app.post('/v1/score', { schema: scoreSchema }, (req) =>
    admitted(req, async (ctx) => {
      const body = req.body as { rows?: ScoreInput['rows']; ids?: number[][]; context?: ScoreInput['context']; candidates?: ScoreInput['candidates']; columns?: ScoreInput['columns'] };
      const r = await service.score({ rows: body.rows, idRows: body.ids, context: body.context, candidates: body.candidates, columns: body.columns }, ctx);
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
    const expected = Buffer.from(admin.token);
    const authorize = (req: FastifyRequest): void => {
      const h = req.headers.authorization ?? '';
      const got = Buffer.from(h.startsWith('Bearer ') ? h.slice(7) : '');
      if (expected.length === 0 || got.length !== expected.length || !timingSafeEqual(got, expected)) throw new MpeError('MPE_ERR_UNAUTHORIZED');
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
    close: () => app.close(),
  };
}
