/**
 * Replica heartbeats: every `intervalMs` a replica writes its state to the fleet HASH and
 * refreshes an expiring `alive` key (TTL = 3 intervals), in one pipeline. A beat while Redis is
 * unreachable is skipped (the client has no offline queue), so an outage costs nothing but a log
 * line.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { KeyLayout } from './keys.js';
import { type Logger, silentLogger } from '../util/log.js';

/** What the replica reports about itself at each beat. */
export interface ReplicaState {
  /** Loaded model version, null before the first load. */
  readonly version: string | null;
  /** Active execution provider (cpu, cuda...). */
  readonly provider: string;
  /** Requests served since start (cumulative); the heartbeat derives the rate. */
  readonly requests: number;
  /** Last reload outcome, e.g. `failure: MPE_ERR_BUNDLE_CHECKSUM (v3)`; null if none. */
  readonly lastReload: string | null;
}

/** One replica's entry in the fleet HASH. */
export interface HeartbeatRecord {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly version: string | null;
  readonly provider: string;
  readonly startedAt: string;
  readonly uptimeS: number;
  /** Requests per second over the last interval. */
  readonly requestRate: number;
  readonly lastReload: string | null;
  /** Time of this beat (ms since epoch). */
  readonly at: number;
  readonly intervalMs: number;
}

export interface HeartbeatOptions {
  readonly redis: Redis;
  readonly keys: KeyLayout;
  readonly replicaId: string;
  /** Milliseconds between beats (default 5000). */
  readonly intervalMs?: number;
  readonly state: () => ReplicaState | Promise<ReplicaState>;
  readonly log?: Logger;
}

export interface Heartbeat {
  /** Writes one beat now; resolves false when Redis was unreachable. */
  beat(): Promise<boolean>;
  /** Stops beating; with `deregister` also removes this replica from the fleet (graceful shutdown). */
  stop(opts?: { deregister?: boolean }): Promise<void>;
}

/** Starts heartbeating immediately and then every `intervalMs`. */
export function createHeartbeat(opts: HeartbeatOptions): Heartbeat {
  const { redis, keys, replicaId } = opts;
  const intervalMs = opts.intervalMs ?? 5000;
  const log = opts.log ?? silentLogger;
  const host = hostname();
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const ttlS = Math.max(1, Math.ceil((3 * intervalMs) / 1000));
  let lastCount = -1;
  let lastAt = started;
  let failing = false;

  async function beat(): Promise<boolean> {
    const s = await opts.state();
    const now = Date.now();
    const dt = (now - lastAt) / 1000;
    const rate = dt > 0 && lastCount >= 0 ? (s.requests - lastCount) / dt : 0;
    lastCount = s.requests;
    lastAt = now;
    const rec: HeartbeatRecord = {
      id: replicaId,
      host,
      pid: process.pid,
      version: s.version,
      provider: s.provider,
      startedAt,
      uptimeS: Math.round((now - started) / 1000),
      requestRate: Math.round(rate * 10) / 10,
      lastReload: s.lastReload,
      at: now,
      intervalMs,
    };
    try {
      await redis.pipeline().set(keys.alive(replicaId), '1', 'EX', ttlS).hset(keys.fleet, replicaId, JSON.stringify(rec)).exec();
      if (failing) log.info({ replica: replicaId }, 'heartbeat: Redis reachable again');
      failing = false;
      return true;
    } catch (e) {
      if (!failing) log.warn({ replica: replicaId, error: (e as Error).message }, 'heartbeat: Redis unreachable, beats skipped until it returns');
      failing = true;
      return false;
    }
  }

  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();
  void beat();
  return {
    beat,
    async stop(o) {
      clearInterval(timer);
      if (o?.deregister) {
        try {
          await redis.pipeline().del(keys.alive(replicaId)).hdel(keys.fleet, replicaId).exec();
        } catch {
          // Redis down at shutdown: the alive key expires on its own and status shows the replica silent.
        }
      }
    },
  };
}
