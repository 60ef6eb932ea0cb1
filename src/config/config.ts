/**
 * The one typed configuration of `mpe serve`. Defaults live in {@link DEFAULTS} (units in the
 * comments); values come from command-line flags, then `MPE_*` environment variables, then the
 * defaults. Validated once by {@link resolveConfig}, returned frozen. This is the only module that
 * reads `process.env`.
 */
import { availableParallelism } from 'node:os';
import { MpeError } from '../errors.js';
import { redactUrl } from '../util/redact.js';

/** Execution providers `createScorerSession` understands. */
export const PROVIDERS = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export interface ServeConfig {
  /** Bundle directory to serve; null = build/serve the cached demo bundle (`npm start`). */
  readonly model: string | null;
  /** Interface both transports bind to. */
  readonly host: string;
  /** gRPC port (0 = any free port). */
  readonly grpcPort: number;
  /** HTTP port (0 = any free port). */
  readonly httpPort: number;
  readonly provider: ProviderName;
  /** Scoring worker threads, each with its own onnxruntime session. */
  readonly workers: number;
  /** onnxruntime intra-op threads per worker session. */
  readonly intraOpThreads: number;
  /** Redis URL for the model registry; null = no registry. With it, `model` is the registry model name. */
  readonly redisUrl: string | null;
  /** Bearer token of POST /admin/reload and GET /admin/status; null = admin routes off. */
  readonly adminToken: string | null;
  /** Most candidate rows one micro-batch sends to a worker (rows). */
  readonly maxBatchRows: number;
  /** Longest a request waits for others to join its micro-batch while a worker is idle (microseconds). */
  readonly maxWaitUs: number;
  /** A Score request alone in the queue with at least twice this many rows is split across the idle workers (rows); 0 = never split. */
  readonly splitMinRows: number;
  /** Most Score requests waiting for a worker; more are shed with MPE_ERR_OVERLOADED (requests). */
  readonly queueLimit: number;
  /** Longest a Score request may wait for a worker before it is shed with MPE_ERR_OVERLOADED (milliseconds). */
  readonly maxQueueMs: number;
  /** Deadline of a request that brings none (no gRPC deadline, no x-mpe-deadline-ms) (milliseconds). */
  readonly defaultDeadlineMs: number;
  /** HTTP/2 receive window of the gRPC server, per connection and per stream (bytes). */
  readonly grpcWindowBytes: number;
  /** Largest request message accepted by either transport (bytes). */
  readonly maxMessageBytes: number;
  /** Bytes of HTTP request bodies all connections together may hold while they arrive; past it, 503 MPE_ERR_OVERLOADED (bytes, at least maxMessageBytes). */
  readonly maxBodyBufferBytes: number;
  /** Most candidate rows in one Score request (rows). */
  readonly requestRowLimit: number;
  /** Most features in one Lookup request (features). */
  readonly lookupFeatureLimit: number;
  /** How long shutdown waits for in-flight requests before closing anyway (milliseconds). */
  readonly shutdownGraceMs: number;
  /** Where `npm start` caches its synthetic demo bundle (directory). */
  readonly demoDir: string;
  /** Fraction of looked-up/scored feature ids sampled for live frequency statistics, [0, 1]; 0 = off. */
  readonly statsSampleRate: number;
  /** How often sampled counts are flushed to Redis and the drift metrics recomputed (milliseconds). */
  readonly statsFlushMs: number;
  /** Longest time to receive one whole request, headers and body (HTTP: 408 and close; gRPC: the stream is cancelled) (milliseconds). */
  readonly requestTimeoutMs: number;
  /** A connection with no request in progress is closed after this (HTTP keep-alive, gRPC max_connection_idle) (milliseconds). */
  readonly idleTimeoutMs: number;
  /** Most open connections per transport (HTTP and gRPC each); more are closed on accept (connections). */
  readonly maxConnections: number;
}

/** Defaults, one object. */
export const DEFAULTS: ServeConfig = Object.freeze({
  model: null,
  host: '0.0.0.0',
  grpcPort: 50051, // port
  httpPort: 8080, // port
  provider: 'auto',
  workers: Math.max(1, Math.min(4, availableParallelism())), // threads
  intraOpThreads: 1, // threads per worker: parallelism comes from the pool, not from inside a run
  redisUrl: null,
  adminToken: null,
  maxBatchRows: 256, // rows
  maxWaitUs: 200, // microseconds
  // rows: a lone 100-row request on 2 workers x 1 thread runs as two 50-row slices (raw
  // onnxruntime, issue 14: 100 rows 1.92 ms on one thread, 50 rows 0.98 ms); below ~16 rows a
  // run's fixed cost dominates and splitting stops paying.
  splitMinRows: 16,
  queueLimit: 256, // requests
  maxQueueMs: 300, // milliseconds: past saturation, answers come back within ~this plus one batch, or are shed
  defaultDeadlineMs: 5_000, // milliseconds: a client that sent no deadline has given up long before
  // bytes: with Node's HTTP/2 default (64 KiB per connection, per stream) a 64 KB raw-values Score
  // request needs a window update per request; measured (loadtest, 200 req/s offered): requests
  // stalled half-uploaded, the pool queue stayed empty, workers 17% busy, clients timed out.
  grpcWindowBytes: 8 * 1024 * 1024,
  maxMessageBytes: 4 * 1024 * 1024, // bytes
  // bytes: 16 bodies of the largest size at once, thousands of ordinary Score bodies (10-100 KB);
  // without a bound every connection could hold MPE_MAX_MESSAGE_BYTES (server/body-budget.ts).
  maxBodyBufferBytes: 64 * 1024 * 1024,
  requestRowLimit: 1024, // rows
  lookupFeatureLimit: 65536, // features
  shutdownGraceMs: 10_000, // milliseconds
  demoDir: '.cache/demo-bundle',
  statsSampleRate: 0.01, // fraction of feature ids: one decrement per id, the sampled 1% update the sketch
  statsFlushMs: 10_000, // milliseconds
  // milliseconds: a Score body is at most MPE_MAX_MESSAGE_BYTES (4 MiB), seconds even on a slow
  // link; a client that has not sent it by then is holding a socket (issue 15: 20,000 such sockets
  // exhausted the fd limit).
  requestTimeoutMs: 10_000,
  // milliseconds: longer than the 60 s upstream keep-alive of common ingresses and load balancers
  // (nginx-ingress, AWS ALB), so they, not we, close idle pooled connections (no reuse race).
  idleTimeoutMs: 65_000,
  maxConnections: 10_000, // connections per transport: keep 2x this + 1,000 under the fd limit (ulimit -n)
} satisfies ServeConfig);

/** Redis of the `mpe publish/rollback/status/drift` commands when neither `--redis` nor MPE_REDIS_URL is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

type Parser = (raw: string) => unknown;

interface OptionDef {
  readonly key: keyof ServeConfig;
  readonly env: string;
  /** Long flag name without dashes (commander camel-cases it to `key`). */
  readonly flag: string;
  /** Other accepted flag names (kept for compatibility). */
  readonly aliases?: readonly string[];
  readonly description: string;
  readonly parse: Parser;
  /** How a bad value is shown in the error (default: as given); tokens and URL passwords are never echoed. */
  readonly show?: (raw: string) => string;
}

const int = (min: number, max: number): Parser => (raw) => {
  if (!/^\s*-?\d+\s*$/.test(raw)) throw new Error(`must be an integer ${min}..${max}`);
  const v = Number(raw);
  if (v < min || v > max) throw new Error(`must be an integer ${min}..${max}`);
  return v;
};
const str: Parser = (raw) => {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw;
};
const nullableStr: Parser = (raw) => (raw.trim() === '' ? null : raw);
const fraction: Parser = (raw) => {
  if (!/^\s*(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/.test(raw)) throw new Error('must be a number in [0, 1]');
  const v = Number(raw);
  if (v > 1) throw new Error('must be a number in [0, 1]');
  return v;
};
/**
 * Checks a Redis URL's syntax once, at start-up: a malformed one can never heal, so it is a
 * configuration error (exit 1), not something to retry forever while never ready.
 */
export function parseRedisUrl(raw: string): string {
  const shape = 'must be redis://[user:password@]host[:port][/db] or rediss://... (password characters such as @ : / # % percent-encoded)';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(shape);
  }
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || u.hostname === '' || !/^\/?(\d+)?$/.test(u.pathname) || u.search !== '' || u.hash !== '') throw new Error(shape);
  return raw;
}

/** Shortest admin token accepted (characters): 16 random characters are beyond guessing over HTTP. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;
const adminToken: Parser = (raw) => {
  if (raw.trim() === '') return null;
  if (raw.length < MIN_ADMIN_TOKEN_LENGTH) throw new Error(`must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 16)`);
  return raw;
};
const oneOf = (values: readonly string[]): Parser => (raw) => {
  if (!values.includes(raw)) throw new Error(`must be one of ${values.join('|')}`);
  return raw;
};

/** Every option: its environment variable, its flag and how to parse it. `mpe serve` builds its flags from this list. */
export const CONFIG_OPTIONS: readonly OptionDef[] = Object.freeze([
  { key: 'model', env: 'MPE_MODEL', flag: 'model', description: 'bundle directory to serve (default: cached demo bundle)', parse: nullableStr },
  { key: 'host', env: 'MPE_HOST', flag: 'host', description: 'interface to bind', parse: str },
  { key: 'grpcPort', env: 'MPE_GRPC_PORT', flag: 'grpc-port', description: 'gRPC port (0 = any)', parse: int(0, 65535) },
  { key: 'httpPort', env: 'MPE_HTTP_PORT', flag: 'http-port', description: 'HTTP port (0 = any)', parse: int(0, 65535) },
  { key: 'provider', env: 'MPE_PROVIDER', flag: 'provider', description: 'execution provider auto|cpu|cuda|webgpu', parse: oneOf(PROVIDERS) },
  { key: 'workers', env: 'MPE_WORKERS', flag: 'workers', description: 'scoring worker threads', parse: int(1, 256) },
  { key: 'intraOpThreads', env: 'MPE_INTRA_OP_THREADS', flag: 'intra-op-threads', description: 'onnxruntime threads per worker', parse: int(1, 256) },
  { key: 'redisUrl', env: 'MPE_REDIS_URL', flag: 'redis', aliases: ['redis-url'], description: 'Redis URL of the model registry (with --model NAME)', parse: (raw) => (raw.trim() === '' ? null : parseRedisUrl(raw)), show: redactUrl },
  { key: 'adminToken', env: 'MPE_ADMIN_TOKEN', flag: 'admin-token', description: `bearer token of the admin routes (POST /admin/reload), at least ${MIN_ADMIN_TOKEN_LENGTH} characters`, parse: adminToken, show: () => '***' },
  { key: 'maxBatchRows', env: 'MPE_MAX_BATCH_ROWS', flag: 'max-batch-rows', description: 'rows per micro-batch', parse: int(1, 1 << 20) },
  { key: 'maxWaitUs', env: 'MPE_MAX_WAIT_US', flag: 'max-wait-us', description: 'micro-batch wait (us)', parse: int(0, 1_000_000) },
  { key: 'splitMinRows', env: 'MPE_SPLIT_MIN_ROWS', flag: 'split-min-rows', description: 'a lone Score request of at least 2x this many rows is split across idle workers (0 = never)', parse: int(0, 1 << 20) },
  { key: 'queueLimit', env: 'MPE_QUEUE_LIMIT', flag: 'queue-limit', description: 'queued Score requests before shedding', parse: int(1, 1 << 20) },
  { key: 'maxQueueMs', env: 'MPE_MAX_QUEUE_MS', flag: 'max-queue-ms', description: 'longest wait for a worker before shedding (ms)', parse: int(1, 3_600_000) },
  { key: 'defaultDeadlineMs', env: 'MPE_DEFAULT_DEADLINE_MS', flag: 'default-deadline-ms', description: 'deadline of requests that bring none (ms)', parse: int(1, 3_600_000) },
  { key: 'grpcWindowBytes', env: 'MPE_GRPC_WINDOW_BYTES', flag: 'grpc-window-bytes', description: 'HTTP/2 receive window of the gRPC server (bytes)', parse: int(65_535, 0x7fffffff) },
  { key: 'maxMessageBytes', env: 'MPE_MAX_MESSAGE_BYTES', flag: 'max-message-bytes', description: 'largest request message (bytes)', parse: int(1024, 1 << 30) },
  { key: 'maxBodyBufferBytes', env: 'MPE_MAX_BODY_BUFFER_BYTES', flag: 'max-body-buffer-bytes', description: 'bytes of HTTP request bodies held at once while they arrive (at least --max-message-bytes)', parse: int(1024, 2 ** 40) },
  { key: 'requestRowLimit', env: 'MPE_REQUEST_ROW_LIMIT', flag: 'request-row-limit', description: 'rows per Score request', parse: int(1, 1 << 20) },
  { key: 'lookupFeatureLimit', env: 'MPE_LOOKUP_FEATURE_LIMIT', flag: 'lookup-feature-limit', description: 'features per Lookup request', parse: int(1, 1 << 24) },
  { key: 'shutdownGraceMs', env: 'MPE_SHUTDOWN_GRACE_MS', flag: 'shutdown-grace-ms', description: 'grace for in-flight requests on shutdown (ms)', parse: int(0, 3_600_000) },
  { key: 'demoDir', env: 'MPE_DEMO_DIR', flag: 'demo-dir', description: 'cache directory of the demo bundle', parse: str },
  { key: 'statsSampleRate', env: 'MPE_STATS_SAMPLE_RATE', flag: 'stats-sample-rate', description: 'fraction of feature ids sampled for live statistics (0 = off)', parse: fraction },
  { key: 'statsFlushMs', env: 'MPE_STATS_FLUSH_MS', flag: 'stats-flush-ms', description: 'statistics flush / drift recompute interval (ms)', parse: int(100, 3_600_000) },
  { key: 'requestTimeoutMs', env: 'MPE_REQUEST_TIMEOUT_MS', flag: 'request-timeout-ms', description: 'longest time to receive a whole request (ms)', parse: int(100, 3_600_000) },
  { key: 'idleTimeoutMs', env: 'MPE_IDLE_TIMEOUT_MS', flag: 'idle-timeout-ms', description: 'idle connections are closed after this (ms)', parse: int(100, 3_600_000) },
  { key: 'maxConnections', env: 'MPE_MAX_CONNECTIONS', flag: 'max-connections', description: 'most open connections per transport', parse: int(1, 1_000_000) },
] satisfies OptionDef[]);

/** commander's attribute name of `--some-flag`: `someFlag`. */
const attributeOf = (flag: string): string => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/**
 * Maps commander's parsed options (attribute names of every flag and alias in {@link CONFIG_OPTIONS})
 * to {@link ConfigFlags}; the primary flag wins over an alias.
 */
export function configFlagsFromCli(opts: Readonly<Record<string, unknown>>): ConfigFlags {
  const out: ConfigFlags = {};
  for (const o of CONFIG_OPTIONS) {
    for (const name of [...(o.aliases ?? []).slice().reverse(), o.flag]) {
      const v = opts[attributeOf(name)];
      if (v !== undefined) out[o.key] = v as string;
    }
  }
  return out;
}

/**
 * Redis URL of the registry commands (`mpe publish/rollback/status/drift`): the `--redis` flag, else
 * MPE_REDIS_URL, else {@link DEFAULT_REDIS_URL}.
 */
export function registryUrl(flag: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const [url, from] = flag !== undefined && flag.trim() !== '' ? [flag, '--redis'] : env.MPE_REDIS_URL !== undefined && env.MPE_REDIS_URL.trim() !== '' ? [env.MPE_REDIS_URL, 'MPE_REDIS_URL'] : [DEFAULT_REDIS_URL, 'default'];
  try {
    return parseRedisUrl(url);
  } catch (e) {
    throw new MpeError('MPE_ERR_CONFIG_INVALID', `${from} ${(e as Error).message}, got '${redactUrl(url)}'`);
  }
}

/** Raw values as they come from flags (commander: camelCase keys, string values). */
export type ConfigFlags = Partial<Record<keyof ServeConfig, string | number | null | undefined>>;

/**
 * Resolves flags > environment > defaults, validates every value once and returns a frozen config.
 * Programmatic callers (tests) may also pass typed `overrides`, which are validated the same way.
 * @throws MpeError MPE_ERR_CONFIG_INVALID naming the variable and flag.
 */
export function resolveConfig(flags: ConfigFlags = {}, env: Readonly<Record<string, string | undefined>> = process.env): ServeConfig {
  const out: Record<string, unknown> = { ...DEFAULTS };
  for (const opt of CONFIG_OPTIONS) {
    const fromFlag = flags[opt.key];
    const raw = fromFlag !== undefined ? fromFlag : env[opt.env];
    if (raw === undefined) continue;
    if (raw === null) {
      out[opt.key] = null;
      continue;
    }
    try {
      out[opt.key] = opt.parse(String(raw));
    } catch (e) {
      const shown = opt.show ? opt.show(String(raw)) : String(raw);
      throw new MpeError('MPE_ERR_CONFIG_INVALID', `${opt.env} (--${opt.flag}) ${(e as Error).message}, got '${shown}'`);
    }
  }
  const cfg = out as unknown as ServeConfig;
  if (cfg.maxBodyBufferBytes < cfg.maxMessageBytes) {
    throw new MpeError('MPE_ERR_CONFIG_INVALID', `MPE_MAX_BODY_BUFFER_BYTES (--max-body-buffer-bytes) ${cfg.maxBodyBufferBytes} is below MPE_MAX_MESSAGE_BYTES (--max-message-bytes) ${cfg.maxMessageBytes}: no body of the largest size could ever be received`);
  }
  return Object.freeze(cfg);
}

/**
 * Test helper: defaults with typed overrides, frozen (ports default to 0 here: tests never bind
 * fixed ports; no queue-time shedding unless asked: on a loaded CI box a 300 ms wait for a worker
 * is not overload, and a test must not fail on timing).
 */
export function testConfig(overrides: Partial<ServeConfig> = {}): ServeConfig {
  const flags: ConfigFlags = { grpcPort: 0, httpPort: 0, host: '127.0.0.1', workers: 1, maxQueueMs: 3_600_000 };
  for (const [k, v] of Object.entries(overrides)) flags[k as keyof ServeConfig] = v as string | number | null;
  return resolveConfig(flags, {});
}
