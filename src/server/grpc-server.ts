/**
 * gRPC adapter: decodes nothing itself (proto-loader does, and for the raw-value Score forms the
 * wire readers score-wire*.ts), calls the service, maps errors in one place ({@link toGrpcError}).
 * Also serves grpc.health.v1 and server reflection.
 */
import { constants as h2constants, type Http2Server, type ServerOptions as Http2ServerOptions } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { MpeError } from '../errors.js';
import type { Method, RequestMetrics } from '../metrics/request-metrics.js';
import type { StageMetrics } from '../metrics/stage-metrics.js';
import { nowNs, ScoreTiming } from '../util/score-timing.js';
import { currentWireFields, scanFlatScore } from './score-wire.js';
import { scanCandidatesScore } from './score-wire-candidates.js';
import type { CallContext, EmbeddingService, LookupInput, LookupOutput, ModelInfo, RawColumn, RawFeature, ScoreInput, ScoreOutput } from '../service/embedding-service.js';
import { toGrpcError } from './grpc-errors.js';
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from './connection-limits.js';
import type { InFlight } from './in-flight.js';
import { embeddingProto, SERVICE_NAME } from './proto.js';

/** Metadata key for a relative deadline in ms (alternative to the gRPC deadline, same as the HTTP header). */
export const DEADLINE_METADATA = 'x-mpe-deadline-ms';

/** Request metadata asking for the Score's stage times (value `1`); they come back as trailing metadata {@link SERVER_TIMING_METADATA}. */
export const TIMING_METADATA = 'mpe-timing';
/** Trailing metadata with the stage times, in the `Server-Timing` header's syntax (docs/api.md). */
export const SERVER_TIMING_METADATA = 'server-timing';

export interface GrpcServerDeps {
  readonly service: EmbeddingService;
  readonly metrics: RequestMetrics;
  readonly inFlight: InFlight;
  readonly maxMessageBytes: number;
  /** Deadline of a call that brings none (ms). */
  readonly defaultDeadlineMs: number;
  /** HTTP/2 receive window per connection and per stream (bytes); see {@link openReceiveWindow}. */
  readonly windowBytes: number;
  /** Request timeout, idle timeout and connection cap (default: the config defaults). */
  readonly connections?: ConnectionLimits;
  /** The Score stage histogram (absent: stage times are still kept for `mpe-timing`, not recorded). */
  readonly stages?: StageMetrics;
}

export interface GrpcServer {
  readonly server: grpc.Server;
  /** Whether {@link openReceiveWindow} could enlarge the HTTP/2 receive window. */
  readonly receiveWindowOpen: boolean;
  readonly health: HealthImplementation;
  /** Binds and returns the port actually used. */
  listen(host: string, port: number): Promise<number>;
  /** Stops listening, sends GOAWAY and resolves once every call has ended (a Health.Watch stream never does by itself). */
  close(): Promise<void>;
  /** Cancels every call left and closes every connection (shutdown, after the grace). */
  forceClose(): void;
}

function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>, defaultMs: number): number {
  const d = call.getDeadline();
  let deadline = d instanceof Date ? d.getTime() : d;
  if (deadline === Number.POSITIVE_INFINITY) deadline = Date.now() + defaultMs;
  const rel = call.metadata.get(DEADLINE_METADATA)[0];
  if (rel !== undefined) {
    const ms = Number(String(rel));
    if (!Number.isFinite(ms) || ms < 0) throw new MpeError('MPE_ERR_REQ_INVALID', `${DEADLINE_METADATA} must be a non-negative number of milliseconds`);
    deadline = Math.min(deadline, Date.now() + ms);
  }
  return deadline;
}

/**
 * What the wrapped deserializer hands the handler instead of a message over MPE_MAX_MESSAGE_BYTES,
 * so the refusal goes through {@link toGrpcError} and carries `mpe-error-code`
 * (MPE_ERR_REQ_TOO_LARGE). grpc-js's own limit, which answers RESOURCE_EXHAUSTED without our
 * metadata, is set to {@link transportCap} above it as the memory guard.
 */
class OversizedRequest {
  constructor(readonly bytes: number) {}
}

/** grpc-js's receive limit: twice ours (at least 1 MiB more), so messages up to it get our error code. */
export function transportCap(maxMessageBytes: number): number {
  return Math.min(0x7fffffff, Math.max(2 * maxMessageBytes, maxMessageBytes + (1 << 20)));
}

/**
 * What the Score deserializer hands the handler instead of decoding, when the service is
 * overloaded: shedding then costs no protobuf decoding (12% of the main thread past saturation in
 * a cpu-prof) and no vocabulary hashing (24%).
 */
class ShedRequest {
  constructor(readonly error: MpeError) {}
}

/**
 * A decoded Score request: read by the wire fast path (score-wire.ts) or the generic decoder, and
 * its stage times, from the start of decoding.
 */
class ScoreMessage {
  constructor(
    readonly input: ScoreInput,
    readonly timing: ScoreTiming,
  ) {}
}

/**
 * The service definition with every request deserializer refusing messages over `max` bytes (see
 * OversizedRequest), and the deserializers of `shedding` methods not decoding at all while
 * `overloaded()` says so (see ShedRequest).
 */
function withAdmission(
  service: grpc.ServiceDefinition,
  max: number,
  shedding: ReadonlySet<string>,
  overloaded: () => MpeError | null,
  fast: Readonly<Record<string, (buf: Buffer, decode: (buf: Buffer) => unknown) => unknown>> = {},
): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(service)) {
    const decode = m.requestDeserialize;
    const sheds = shedding.has(name);
    const quick = fast[name];
    const serialize = m.responseSerialize;
    out[name] = {
      ...m,
      requestDeserialize: (buf: Buffer) => {
        if (buf.length > max) return new OversizedRequest(buf.length);
        const shed = sheds ? overloaded() : null;
        if (shed !== null) return new ShedRequest(shed);
        return quick !== undefined ? quick(buf, decode) : decode(buf);
      },
      // A handler may answer with the message already serialised (Score does, to time its encoding).
      responseSerialize: (value: unknown) => (value instanceof Buffer ? value : serialize(value)),
    };
  }
  return out as grpc.ServiceDefinition;
}

/**
 * Gives every HTTP/2 connection of `server` a receive window of `bytes`, per connection and per
 * stream. grpc-js has no server option for it (only its client has `grpc-node.flow_control_window`),
 * so this sets the `initialWindowSize` setting in the options its http2 servers are created with and
 * enlarges each session's connection window. Both members are private in grpc-js's typings: returns
 * false (window left at Node's 64 KiB default) if a grpc-js version lacks them; a test pins true.
 */
export function openReceiveWindow(server: grpc.Server, bytes: number, limits?: Pick<ConnectionLimits, 'maxConnections' | 'requestTimeoutMs'>): boolean {
  const inner = server as unknown as { commonServerOptions?: Http2ServerOptions; createHttp2Server?: (credentials: unknown) => Http2Server };
  const create = inner.createHttp2Server;
  if (typeof create !== 'function' || typeof inner.commonServerOptions !== 'object' || inner.commonServerOptions === null) return false;
  inner.commonServerOptions.settings = { ...inner.commonServerOptions.settings, initialWindowSize: bytes };
  inner.createHttp2Server = (credentials: unknown): Http2Server => {
    const h2 = create.call(server, credentials);
    h2.on('session', (session) => session.setLocalWindowSize(bytes));
    if (limits !== undefined) boundHttp2Server(h2, limits);
    return h2;
  };
  return true;
}

/**
 * The connection cap (net.Server's maxConnections: sockets past it are closed on accept) and the
 * request timeout of one HTTP/2 server: a stream whose request the client has not finished
 * sending (end of stream) within `requestTimeoutMs` is cancelled (RST_STREAM CANCEL; grpc-js
 * sees a cancelled call). Streams whose request is complete, such as Health.Watch, are not
 * limited. Idle sessions are closed by grpc-js (grpc.max_connection_idle_ms).
 */
function boundHttp2Server(h2: Http2Server, limits: Pick<ConnectionLimits, 'maxConnections' | 'requestTimeoutMs'>): void {
  h2.maxConnections = limits.maxConnections;
  h2.on('stream', (stream) => {
    const timer = setTimeout(() => {
      if (!stream.readableEnded && !stream.closed) stream.close(h2constants.NGHTTP2_CANCEL);
    }, limits.requestTimeoutMs);
    timer.unref();
    const clear = (): void => clearTimeout(timer);
    stream.once('end', clear);
    stream.once('close', clear);
  });
}

/** ScoreRequest as proto-loader decodes it: each row is a message wrapping its pairs; absent repeated fields are []. */
export interface GrpcScoreRequest {
  readonly rows: readonly { readonly features: readonly RawFeature[] }[];
  readonly ids: readonly number[];
  readonly context?: readonly RawFeature[];
  readonly candidates?: readonly { readonly features: readonly RawFeature[] }[];
  readonly columns?: readonly RawColumn[];
}

function unwrapRows(rows: readonly { readonly features: readonly RawFeature[] }[]): (readonly RawFeature[])[] {
  const n = rows.length;
  const out = new Array<readonly RawFeature[]>(n);
  for (let i = 0; i < n; i++) out[i] = rows[i]!.features;
  return out;
}

/** A ScoreRequest as proto-loader decodes it, as the service takes it (the generic path; exported for the fast paths' tests). */
export function decodeScore(req: GrpcScoreRequest): ScoreInput {
  const context = req.context !== undefined && req.context.length > 0 ? req.context : undefined;
  const candidates = req.candidates !== undefined && req.candidates.length > 0 ? unwrapRows(req.candidates) : undefined;
  const columns = req.columns !== undefined && req.columns.length > 0 ? req.columns : undefined;
  const shared = context !== undefined || candidates !== undefined || columns !== undefined ? { context, candidates, columns } : {};
  if (req.rows.length === 0) return { ids: req.ids, ...shared };
  return { rows: unwrapRows(req.rows), ids: req.ids, ...shared };
}

function encodeLookup(r: LookupOutput): object {
  return {
    d: r.d,
    count: r.count,
    embeddings: Buffer.from(r.embeddings.buffer, r.embeddings.byteOffset, r.embeddings.byteLength),
    // protobufjs only accepts plain arrays for repeated fields.
    ids: Array.from(r.ids),
    bits: Array.from(r.bits),
    pruned: r.pruned,
    oov: r.oov,
  };
}

function encodeScore(r: ScoreOutput): object {
  return { probabilities: Array.from(r.probabilities), modelVersion: r.modelVersion };
}

function encodeModel(m: ModelInfo): object {
  return {
    version: m.version,
    fields: m.fields.map((f) => ({ name: f.name, kind: f.kind, transform: f.transform, oovId: f.oovId })),
    d: m.d,
    featureCount: m.featureCount,
    bitsHistogram: m.bitsHistogram,
    sectionBytes: m.sectionBytes,
    compressionRatioWeights: m.compressionRatioWeights,
    compressionRatioAllIn: m.compressionRatioAllIn,
    provider: m.provider,
    limits: m.limits,
  };
}

/** Creates the gRPC server (not yet bound). */
export function createGrpcServer(deps: GrpcServerDeps): GrpcServer {
  const { service, metrics, inFlight } = deps;
  const stages = deps.stages ?? null;
  const limits = deps.connections ?? DEFAULT_CONNECTION_LIMITS;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': transportCap(deps.maxMessageBytes), 'grpc.max_connection_idle_ms': limits.idleTimeoutMs });
  const windowOpen = openReceiveWindow(server, deps.windowBytes, limits);
  const proto = embeddingProto();

  function unary<Req, Res>(method: Method, fn: (req: Req, ctx: CallContext) => Res | Promise<Res>, encode: (r: Res) => object): grpc.handleUnaryCall<Req, object> {
    const serialize = proto.service[method === 'score' ? 'Score' : method === 'lookup' ? 'Lookup' : 'GetModel']!.responseSerialize;
    return (call, callback) => {
      const t0 = process.hrtime.bigint();
      const timing = call.request instanceof ScoreMessage ? call.request.timing : undefined;
      const done = (err: unknown, res: object | null): void => {
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        if (err === null) {
          metrics.observe(method, 'grpc', 'OK', seconds);
          if (timing === undefined) {
            callback(null, res);
            return;
          }
          // Serialised here, not by grpc-js, so that the encode stage includes it.
          const bytes = serialize(res);
          timing.encoded(nowNs());
          stages?.observe(timing);
          if (String(call.metadata.get(TIMING_METADATA)[0] ?? '') !== '1') {
            callback(null, bytes as unknown as object);
            return;
          }
          const trailer = new grpc.Metadata();
          trailer.set(SERVER_TIMING_METADATA, timing.header());
          callback(null, bytes as unknown as object, trailer);
        } else {
          const ge = toGrpcError(err);
          metrics.observe(method, 'grpc', ge.mpeCode, seconds);
          callback(ge);
        }
      };
      if (call.request instanceof ShedRequest) {
        done(call.request.error, null);
        return;
      }
      if (call.request instanceof OversizedRequest) {
        done(new MpeError('MPE_ERR_REQ_TOO_LARGE', `${call.request.bytes} bytes, limit ${deps.maxMessageBytes} (MPE_MAX_MESSAGE_BYTES)`), null);
        return;
      }
      try {
        inFlight.enter();
      } catch (e) {
        done(e, null);
        return;
      }
      let pending: Res | Promise<Res>;
      try {
        const ctx: CallContext = { deadline: deadlineOf(call as grpc.ServerUnaryCall<unknown, unknown>, deps.defaultDeadlineMs), cancelled: () => call.cancelled, ...(timing !== undefined ? { timing } : {}) };
        pending = fn(call.request, ctx);
      } catch (e) {
        inFlight.leave();
        done(e, null);
        return;
      }
      Promise.resolve(pending).then(
        (r) => {
          inFlight.leave();
          done(null, encode(r));
        },
        (e: unknown) => {
          inFlight.leave();
          done(e, null);
        },
      );
    };
  }

  // The gRPC Score wire fast paths: the flat raw-values form (score-wire.ts), then the columnar and
  // context + candidates forms (score-wire-candidates.ts), without message objects; every other
  // form through proto-loader's decoder. Timed from here (the decode stage).
  const fieldsNow = currentWireFields(() => service.getModel());
  const scoreMessage = (buf: Buffer, decode: (buf: Buffer) => unknown): ScoreMessage => {
    const timing = new ScoreTiming(nowNs());
    const fields = fieldsNow();
    if (fields !== null) {
      const flat = scanFlatScore(buf, fields);
      if (flat !== null) return new ScoreMessage({ packedRows: { rows: flat.rows, values: flat.values, fields: fields.names } }, timing);
      const part = scanCandidatesScore(buf, fields);
      if (part !== null) return new ScoreMessage({ packedRows: { ...part, fields: fields.names } }, timing);
    }
    return new ScoreMessage(decodeScore(decode(buf) as GrpcScoreRequest), timing);
  };
  server.addService(withAdmission(proto.service, deps.maxMessageBytes, new Set(['Score']), () => service.overloaded(), { Score: scoreMessage }), {
    Lookup: unary<LookupInput, LookupOutput>('lookup', (req, ctx) => service.lookup(req, ctx), encodeLookup),
    Score: unary<ScoreMessage, ScoreOutput>('score', (req, ctx) => service.score(req.input, ctx), encodeScore),
    GetModel: unary<unknown, ModelInfo>('get_model', () => service.getModel(), encodeModel),
  });
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(proto.definition).addToServer(server);

  return {
    server,
    receiveWindowOpen: windowOpen,
    health,
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
      });
    },
    close() {
      return new Promise((resolve) => server.tryShutdown(() => resolve()));
    },
    forceClose() {
      server.forceShutdown();
    },
  };
}
