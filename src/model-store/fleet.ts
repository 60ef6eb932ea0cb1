/** Fleet status: every replica's last heartbeat, flagged when silent or on another version than `current`. */
import type { Redis } from 'ioredis';
import type { HeartbeatRecord } from './heartbeat.js';
import type { KeyLayout } from './keys.js';
import { redisCall } from './redis-client.js';

export interface FleetMember extends HeartbeatRecord {
  /** No beat for 3 intervals (its alive key expired). */
  readonly silent: boolean;
  /** Serving something other than the current version. */
  readonly stale: boolean;
}

export interface FleetStatus {
  readonly model: string;
  readonly current: string | null;
  readonly replicas: readonly FleetMember[];
  /** Entries dropped because they had been silent longer than `pruneAfterMs`. */
  readonly pruned: number;
}

/**
 * Reads the fleet of `keys.model`. Entries silent for longer than `pruneAfterMs` (default one
 * day) are removed from the fleet HASH. Throws MPE_ERR_REGISTRY_UNAVAILABLE.
 */
export async function readFleet(redis: Redis, keys: KeyLayout, opts: { now?: number; pruneAfterMs?: number } = {}): Promise<FleetStatus> {
  const now = opts.now ?? Date.now();
  const pruneAfterMs = opts.pruneAfterMs ?? 86_400_000;
  const [current, all] = await redisCall('read fleet', () => Promise.all([redis.get(keys.current), redis.hgetall(keys.fleet)]));
  const ids = Object.keys(all).sort();
  const alive = ids.length === 0 ? [] : await redisCall('read fleet', () => redis.mget(ids.map((id) => keys.alive(id))));
  const replicas: FleetMember[] = [];
  const prune: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const rec = JSON.parse(all[ids[i]!]!) as HeartbeatRecord;
    const silent = alive[i] === null || now - rec.at > 3 * rec.intervalMs;
    if (silent && now - rec.at > pruneAfterMs) {
      prune.push(ids[i]!);
      continue;
    }
    replicas.push({ ...rec, silent, stale: current !== null && rec.version !== current });
  }
  if (prune.length > 0) await redisCall('prune fleet', () => redis.hdel(keys.fleet, ...prune));
  return { model: keys.model, current, replicas, pruned: prune.length };
}

/** Human-readable table of a fleet status (for `mpe status`). */
export function formatFleet(s: FleetStatus, now: number = Date.now()): string {
  const lines = [`model ${s.model}  current ${s.current ?? '(none published)'}  replicas ${s.replicas.length}`];
  const head = ['REPLICA', 'HOST', 'VERSION', 'PROVIDER', 'UPTIME_S', 'REQ/S', 'LAST_BEAT_S', 'FLAGS', 'LAST_RELOAD'];
  const rows = s.replicas.map((r) => [
    r.id,
    r.host,
    r.version ?? '-',
    r.provider,
    String(r.uptimeS),
    String(r.requestRate),
    ((now - r.at) / 1000).toFixed(1),
    [r.silent ? 'SILENT' : '', r.stale ? 'OLD-VERSION' : ''].filter(Boolean).join(',') || 'ok',
    r.lastReload ?? '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cols: string[]): string => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  lines.push(fmt(head));
  for (const r of rows) lines.push(fmt(r));
  return lines.join('\n');
}
