/**
 * Redis key layout of the model registry, fleet status and live statistics (docs/redis.md).
 * Every key of one model carries the hash tag `{model}`, so on Redis Cluster all of a model's
 * keys live in one slot and the MULTI blocks of publish/rollback stay valid.
 */
import { MpeError } from '../errors.js';

const NAME = /^[A-Za-z0-9._-]{1,128}$/;

/** Throws MPE_ERR_REGISTRY_NAME unless `name` is 1-128 characters of `A-Za-z0-9._-`. */
export function checkName(name: string, what: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new MpeError('MPE_ERR_REGISTRY_NAME', `${what} ${JSON.stringify(name)}`);
  return name;
}

/** Names of every key and channel used for one model. */
export interface KeyLayout {
  readonly model: string;
  /** STRING, durable: the version replicas must serve. */
  readonly current: string;
  /** ZSET, durable: version -> publish time (ms since epoch). */
  readonly versions: string;
  /** STRING, durable: JSON {@link VersionRecord} of one version. */
  version(v: string): string;
  /** LIST, durable, capped: JSON events (publish, rollback), newest first. */
  readonly history: string;
  /** Pub/sub channel: JSON announcement of a new current version. */
  readonly channel: string;
  /** HASH, pruned by `mpe status`: replica id -> JSON of its last heartbeat. */
  readonly fleet: string;
  /** STRING with TTL: present while the replica heartbeats. */
  alive(replicaId: string): string;
  /** HASH, expiring: sketch geometry of one version's statistics. */
  statsMeta(v: string): string;
  /** STRING (u32 big-endian cells via BITFIELD), expiring: count-min sketch of one version. */
  statsCms(v: string): string;
  /** HASH, expiring: group index -> sampled lookups. */
  statsGroups(v: string): string;
  /** HASH, expiring: `total:<field>` and `oov:<field>` -> sampled lookups. */
  statsFields(v: string): string;
  /** ZSET, expiring: heavy-hitter candidates of one field, id -> best local estimate. */
  statsTop(v: string, field: number): string;
}

/**
 * Key layout for `model` under `prefix` (default `mpe`; tests use a unique prefix each).
 * Throws MPE_ERR_REGISTRY_NAME on a bad model name.
 */
export function keyLayout(model: string, prefix = 'mpe'): KeyLayout {
  checkName(model, 'model');
  const base = `${prefix}:{${model}}`;
  return Object.freeze({
    model,
    current: `${base}:current`,
    versions: `${base}:versions`,
    version: (v: string) => `${base}:version:${v}`,
    history: `${base}:history`,
    channel: `${base}:announce`,
    fleet: `${base}:fleet`,
    alive: (id: string) => `${base}:alive:${id}`,
    statsMeta: (v: string) => `${base}:stats:${v}:meta`,
    statsCms: (v: string) => `${base}:stats:${v}:cms`,
    statsGroups: (v: string) => `${base}:stats:${v}:groups`,
    statsFields: (v: string) => `${base}:stats:${v}:fields`,
    statsTop: (v: string, field: number) => `${base}:stats:${v}:top:${field}`,
  });
}
