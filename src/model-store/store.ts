/**
 * The model store (the model registry on Redis): versions, the current version, history, and announcements
 * (pub/sub plus the `current` key, so that a replica that starts later or missed a message still
 * converges). Key layout in keys.ts and docs/redis.md.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { MpeError } from '../errors.js';
import { checkName, type KeyLayout, keyLayout } from './keys.js';
import { type Logger, silentLogger } from '../util/log.js';
import { backoffDelay, createRedisClient, type RedisRole, redisCall } from './redis-client.js';

/** One published version of a model. */
export interface VersionRecord {
  readonly model: string;
  readonly version: string;
  /** Bundle directory as the replicas see it (shared filesystem or identical deploy path). */
  readonly location: string;
  /** File name -> XXH64 from the manifest (plus `manifest.json` -> manifestXxh64). */
  readonly checksums: Readonly<Record<string, string>>;
  /** Canonical "name=xxh64;..." string of `checksums`: two publishes of one version must agree on it. */
  readonly digest: string;
  /** Manifest's model.createdAt. */
  readonly createdAt: string;
  /** When it was first published (ISO 8601). */
  readonly publishedAt: string;
  /** Training metrics from the manifest. */
  readonly metrics: Readonly<Record<string, unknown>>;
}

/** What `publish` needs; model, digest and publishedAt are filled in. */
export type PublishInput = Omit<VersionRecord, 'model' | 'digest' | 'publishedAt'>;

/** Why a watcher was told about a version. */
export type VersionReason = 'publish' | 'rollback' | 'catch-up';

/** A history entry (LIST `history`, newest first). */
export interface HistoryEvent {
  readonly event: 'publish' | 'rollback';
  readonly version: string;
  readonly previous: string | null;
  readonly at: string;
}

export interface ModelStoreOptions {
  readonly model: string;
  /** Redis URL; ignored when `redis` is given. */
  readonly url?: string;
  /** An existing client (not closed by `close()`). */
  readonly redis?: Redis;
  /** Key prefix (default `mpe`). */
  readonly prefix?: string;
  /** Retry policy of a client built from `url` (default `cli`). */
  readonly role?: RedisRole;
  readonly redisOptions?: RedisOptions;
  /** watch(): how often to re-read the current key besides pub/sub and reconnects (milliseconds, 0 = never). */
  readonly pollMs?: number;
  readonly log?: Logger;
}

export interface ModelStore {
  readonly keys: KeyLayout;
  readonly redis: Redis;
  /**
   * Records `input` as a version (idempotent for identical checksums and location), makes it
   * current and announces it. Throws MPE_ERR_REGISTRY_CONFLICT (other checksums) or
   * MPE_ERR_REGISTRY_LOCATION (same checksums, another location, without `force`; with it the
   * record is repointed).
   */
  publish(input: PublishInput, opts?: { readonly force?: boolean }): Promise<VersionRecord>;
  /** Makes an already published `version` current again and announces it. Throws MPE_ERR_REGISTRY_NOT_FOUND. */
  rollback(version: string): Promise<VersionRecord>;
  /** The current version's record, or null when nothing is published. */
  current(): Promise<VersionRecord | null>;
  get(version: string): Promise<VersionRecord | null>;
  /** All versions, oldest first. */
  list(): Promise<VersionRecord[]>;
  history(limit?: number): Promise<HistoryEvent[]>;
  /**
   * Calls `onVersion` on every announcement, and with reason `catch-up` at start, after every
   * reconnect and on each poll when the current key names a version not yet delivered. Never
   * throws; Redis outages are retried with backoff. Returns a function that stops watching.
   */
  watch(onVersion: (record: VersionRecord, reason: VersionReason) => void): () => Promise<void>;
  /** Stops every watcher still running and closes the client if the store created it. */
  close(): Promise<void>;
}

/** Canonical digest of a checksum map: sorted `name=value` pairs joined by `;`. */
export function checksumDigest(checksums: Readonly<Record<string, string>>): string {
  return Object.keys(checksums)
    .sort()
    .map((k) => `${k}=${checksums[k]}`)
    .join(';');
}

const HISTORY_CAP = 1000;

// KEYS: version, versions, current, history, channel. ARGV: record, digest, score (ms), version, at,
// location, force ('1' or '0'). Returns the stored record (the existing one on a re-publish from the
// same location; the new one when force repoints it), or an error reply CONFLICT / LOCATION.
const PUBLISH_LUA = `
local cur = redis.call('GET', KEYS[1])
local stored = ARGV[1]
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if (not ok) or old.digest ~= ARGV[2] then return redis.error_reply('MPE_CONFLICT') end
  if old.location == ARGV[6] then
    stored = cur
  elseif ARGV[7] == '1' then
    redis.call('SET', KEYS[1], ARGV[1])
  else
    return redis.error_reply('MPE_LOCATION ' .. tostring(old.location))
  end
else
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
end
local prev = redis.call('GET', KEYS[3])
redis.call('SET', KEYS[3], ARGV[4])
redis.call('LPUSH', KEYS[4], cjson.encode({event='publish', version=ARGV[4], previous=prev or cjson.null, at=ARGV[5]}))
redis.call('LTRIM', KEYS[4], 0, ${HISTORY_CAP - 1})
redis.call('PUBLISH', KEYS[5], cjson.encode({version=ARGV[4], reason='publish', at=ARGV[5]}))
return stored
`;

// KEYS: version, current, history, channel. ARGV: version, at.
const ROLLBACK_LUA = `
local rec = redis.call('GET', KEYS[1])
if not rec then return redis.error_reply('MPE_NOT_FOUND') end
local prev = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('LPUSH', KEYS[3], cjson.encode({event='rollback', version=ARGV[1], previous=prev or cjson.null, at=ARGV[2]}))
redis.call('LTRIM', KEYS[3], 0, ${HISTORY_CAP - 1})
redis.call('PUBLISH', KEYS[4], cjson.encode({version=ARGV[1], reason='rollback', at=ARGV[2]}))
return rec
`;

function parseRecord(text: string | null): VersionRecord | null {
  if (text === null) return null;
  return JSON.parse(text) as VersionRecord;
}

/** Creates a registry client for one model. Throws MPE_ERR_REGISTRY_NAME on a bad model name. */
export function createModelStore(opts: ModelStoreOptions): ModelStore {
  const keys = keyLayout(opts.model, opts.prefix);
  const log = opts.log ?? silentLogger;
  const owned = opts.redis === undefined;
  const watchers = new Set<() => Promise<void>>();
  const redis = opts.redis ?? createRedisClient(opts.url ?? 'redis://127.0.0.1:6379', { role: opts.role ?? 'cli', ...(opts.redisOptions ? { redisOptions: opts.redisOptions } : {}), ...(opts.log && opts.role === 'replica' ? { log: opts.log } : {}) });
  const pollMs = opts.pollMs ?? 30_000;

  async function get(version: string): Promise<VersionRecord | null> {
    checkName(version, 'version');
    return parseRecord(await redisCall('read version', () => redis.get(keys.version(version))));
  }

  async function current(): Promise<VersionRecord | null> {
    const v = await redisCall('read current version', () => redis.get(keys.current));
    return v === null ? null : get(v);
  }

  return {
    keys,
    redis,
    async publish(input, opts = {}) {
      checkName(input.version, 'version');
      if (typeof input.location !== 'string' || input.location === '') throw new MpeError('MPE_ERR_REQ_INVALID', 'publish needs the bundle location');
      const now = new Date();
      const record: VersionRecord = {
        model: keys.model,
        version: input.version,
        location: input.location,
        checksums: input.checksums,
        digest: checksumDigest(input.checksums),
        createdAt: input.createdAt,
        publishedAt: now.toISOString(),
        metrics: input.metrics,
      };
      let stored: string;
      try {
        stored = (await redis.eval(PUBLISH_LUA, 5, keys.version(record.version), keys.versions, keys.current, keys.history, keys.channel, JSON.stringify(record), record.digest, String(now.getTime()), record.version, now.toISOString(), record.location, opts.force === true ? '1' : '0')) as string;
      } catch (e) {
        const msg = (e as Error).message ?? '';
        if (msg.includes('MPE_CONFLICT')) throw new MpeError('MPE_ERR_REGISTRY_CONFLICT', `${keys.model} ${record.version}`);
        const loc = /MPE_LOCATION (.*)$/.exec(msg);
        if (loc !== null) throw new MpeError('MPE_ERR_REGISTRY_LOCATION', `${keys.model} ${record.version} is published from ${loc[1]}, not ${record.location}`);
        throw new MpeError('MPE_ERR_REGISTRY_UNAVAILABLE', `publish: ${(e as Error).message}`, { cause: e });
      }
      return parseRecord(stored)!;
    },
    async rollback(version) {
      checkName(version, 'version');
      let stored: string;
      try {
        stored = (await redis.eval(ROLLBACK_LUA, 4, keys.version(version), keys.current, keys.history, keys.channel, version, new Date().toISOString())) as string;
      } catch (e) {
        if ((e as Error).message?.includes('MPE_NOT_FOUND')) throw new MpeError('MPE_ERR_REGISTRY_NOT_FOUND', `${keys.model} ${version}`);
        throw new MpeError('MPE_ERR_REGISTRY_UNAVAILABLE', `rollback: ${(e as Error).message}`, { cause: e });
      }
      return parseRecord(stored)!;
    },
    current,
    get,
    async list() {
      const versions = await redisCall('list versions', () => redis.zrange(keys.versions, '0', '-1'));
      if (versions.length === 0) return [];
      const texts = await redisCall('list versions', () => redis.mget(versions.map((v) => keys.version(v))));
      const out: VersionRecord[] = [];
      for (const t of texts) if (t !== null) out.push(parseRecord(t)!);
      return out;
    },
    async history(limit = 20) {
      const items = await redisCall('read history', () => redis.lrange(keys.history, 0, limit - 1));
      return items.map((t) => JSON.parse(t) as HistoryEvent);
    },
    watch(onVersion) {
      let stopped = false;
      let delivered: string | null = null;
      let retryTimer: NodeJS.Timeout | null = null;
      let attempts = 0;
      const deliver = (rec: VersionRecord, reason: VersionReason): void => {
        delivered = rec.version;
        try {
          onVersion(rec, reason);
        } catch (e) {
          log.error({ error: (e as Error).message }, 'registry watcher callback threw');
        }
      };
      const catchUp = async (): Promise<void> => {
        if (stopped) return;
        if (retryTimer) {
          clearTimeout(retryTimer);
          retryTimer = null;
        }
        try {
          const rec = await current();
          attempts = 0;
          if (!stopped && rec !== null && rec.version !== delivered) deliver(rec, 'catch-up');
        } catch (e) {
          if (stopped) return;
          attempts++;
          log.warn({ error: (e as Error).message, attempt: attempts }, 'registry: cannot read the current version, retrying');
          retryTimer = setTimeout(() => void catchUp(), backoffDelay(attempts));
          retryTimer.unref();
        }
      };
      const sub = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
      sub.on('error', () => {});
      sub.on('message', (channel: string, message: string) => {
        if (stopped || channel !== keys.channel) return;
        let version: string;
        let reason: VersionReason;
        try {
          const m = JSON.parse(message) as { version: string; reason: VersionReason };
          version = checkName(m.version, 'version');
          reason = m.reason === 'rollback' ? 'rollback' : 'publish';
        } catch {
          log.warn({ message: message.slice(0, 200) }, 'registry: ignoring a malformed announcement');
          return;
        }
        get(version).then(
          (rec) => {
            if (!stopped && rec !== null) deliver(rec, reason);
          },
          () => void catchUp(),
        );
      });
      sub.subscribe(keys.channel).catch(() => {});
      const onReady = (): void => void catchUp();
      redis.on('ready', onReady);
      sub.on('ready', onReady);
      const poll = pollMs > 0 ? setInterval(onReady, pollMs) : null;
      poll?.unref();
      // Not connected yet: the 'ready' event runs the first catch-up.
      if (redis.status === 'ready') void catchUp();
      const stop = async (): Promise<void> => {
        stopped = true;
        watchers.delete(stop);
        if (retryTimer) clearTimeout(retryTimer);
        if (poll) clearInterval(poll);
        redis.off('ready', onReady);
        sub.disconnect();
      };
      watchers.add(stop);
      return stop;
    },
    async close() {
      // A watcher left running would keep its subscriber connection (and the process) alive.
      await Promise.all([...watchers].map((stop) => stop()));
      if (owned) redis.disconnect();
    },
  };
}
