/**
 * The one place that builds ioredis clients. Two roles:
 * - `replica`: reconnects forever with capped exponential backoff and jitter; commands fail fast
 *   while disconnected (no offline queue), so a heartbeat or a statistics flush is skipped rather
 *   than piled up, and serving never waits on Redis.
 * - `cli`: a few quick retries, then the command fails with MPE_ERR_REGISTRY_UNAVAILABLE.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { MpeError } from '../errors.js';
import { redactUrl, redactUrlsIn } from '../util/redact.js';
import type { Logger } from '../util/log.js';

export type RedisRole = 'replica' | 'cli';

/** Backoff of the replica role: 100 ms doubling per attempt, capped (milliseconds), plus up to 20% jitter. */
export const BACKOFF = Object.freeze({ baseMs: 100, maxMs: 5000 });

/** Delay before reconnect attempt `times` (1-based): min(max, base * 2^(times-1)) * (1 + 0.2 * rand). */
export function backoffDelay(times: number, maxMs: number = BACKOFF.maxMs): number {
  const d = Math.min(maxMs, BACKOFF.baseMs * 2 ** Math.min(times - 1, 16));
  return Math.round(d * (1 + 0.2 * Math.random()));
}

export interface RedisClientOptions {
  readonly role: RedisRole;
  /** Longest reconnect delay of the replica role (milliseconds). */
  readonly maxBackoffMs?: number;
  /** Passed through to ioredis last (overrides the role's settings). */
  readonly redisOptions?: RedisOptions;
  /** Where connection trouble is reported (once per change of {@link RedisErrorClass}, and on recovery). */
  readonly log?: Logger;
}

/** Why Redis cannot be used: what an operator must fix differs (credentials, network, TLS). */
export type RedisErrorClass = 'auth' | 'unreachable' | 'tls' | 'other';

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

/** Classifies an ioredis connection error (WRONGPASS/NOAUTH replies, socket errno codes, TLS errors). */
export function redisErrorClass(e: unknown): RedisErrorClass {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown })?.code;
  if (/^(WRONGPASS|NOAUTH|NOPERM)\b|invalid password|AUTH failed/i.test(msg)) return 'auth';
  if ((typeof code === 'string' && UNREACHABLE.has(code)) || /connect ETIMEDOUT|Connection is closed/.test(msg)) return 'unreachable';
  if ((typeof code === 'string' && (code.startsWith('ERR_TLS') || code.includes('CERT'))) || /certificate|SSL|TLS/i.test(msg)) return 'tls';
  return 'other';
}

/** Creates an ioredis client for `url` (redis://[user:pass@]host:port[/db]) with the role's retry policy. */
export function createRedisClient(url: string, opts: RedisClientOptions): Redis {
  const maxMs = opts.maxBackoffMs ?? BACKOFF.maxMs;
  const base: RedisOptions =
    opts.role === 'replica'
      ? {
          retryStrategy: (times) => backoffDelay(times, maxMs),
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          connectTimeout: 2000,
        }
      : {
          retryStrategy: (times) => (times > 3 ? null : 200 * times),
          maxRetriesPerRequest: 1,
          connectTimeout: 2000,
        };
  let client: Redis;
  try {
    client = new Redis(url, { ...base, ...opts.redisOptions });
  } catch (e) {
    throw new MpeError('MPE_ERR_REGISTRY_UNAVAILABLE', `bad Redis URL '${redactUrl(url)}'`, { cause: e });
  }
  // Without a listener ioredis prints every connection error. With a log, each change of the error
  // class is reported once (a wrong password must not look like an outage), and so is recovery.
  const log = opts.log;
  let last: RedisErrorClass | null = null;
  client.on('error', (e: unknown) => {
    // Nothing to report once the client was closed on purpose (a late error of a pending command).
    if (log === undefined || client.status === 'end') return;
    const cls = redisErrorClass(e);
    if (cls === last) return;
    last = cls;
    const hint = cls === 'auth' ? 'check the user and password in MPE_REDIS_URL' : cls === 'unreachable' ? 'check the host, port and network' : cls === 'tls' ? 'check rediss:// and the certificates' : 'see the error';
    log.warn({ redis: redactUrl(url), class: cls, error: redactUrlsIn(e instanceof Error ? e.message : String(e)) }, `redis: ${cls === 'auth' ? 'authentication failed' : cls === 'unreachable' ? 'unreachable' : cls === 'tls' ? 'TLS failed' : 'error'}, retrying: ${hint}`);
  });
  client.on('ready', () => {
    if (last !== null && log !== undefined) log.info({ redis: redactUrl(url) }, 'redis: connected');
    last = null;
  });
  return client;
}

/** Runs a Redis call, mapping connection failures to MPE_ERR_REGISTRY_UNAVAILABLE (other MpeErrors pass through). */
export async function redisCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof MpeError) throw e;
    throw new MpeError('MPE_ERR_REGISTRY_UNAVAILABLE', `${what}: ${(e as Error).message}`, { cause: e });
  }
}
