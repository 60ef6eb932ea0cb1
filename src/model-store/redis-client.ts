/**
 * The one place that builds ioredis clients. Two roles:
 * - `replica`: reconnects forever with capped exponential backoff and jitter; commands fail fast
 *   while disconnected (no offline queue), so a heartbeat or a statistics flush is skipped rather
 *   than piled up, and serving never waits on Redis.
 * - `cli`: a few quick retries, then the command fails with MPE_ERR_REGISTRY_UNAVAILABLE.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { MpeError } from '../errors.js';

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
    throw new MpeError('MPE_ERR_REGISTRY_UNAVAILABLE', `bad Redis URL ${JSON.stringify(url)}`, { cause: e });
  }
  // Without a listener ioredis prints every connection error; callers watch 'ready'/'end' instead.
  client.on('error', () => {});
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
