/**
 * Hot reload of a running server: a {@link ModelReloader} whose `loadAndWarm` loads a bundle
 * with every checksum verified, starts it in a fresh worker pool and scores once in every worker,
 * and whose `swap` switches the server between requests. Triggers: the Redis registry
 * (announcements, reconnect catch-up, poll), SIGHUP, and the token-protected admin endpoint.
 * With a registry, the replica also heartbeats into the fleet.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Registry as PromRegistry } from 'prom-client';
import { MpeError } from '../errors.js';
import { loadBundle } from '../bundle/load.js';
import type { PreparedModel, RunningServer } from './create-server.js';
import type { AdminHooks } from '../server/http-server.js';
import { servingModelFromBundle } from '../service/model.js';
import { followRegistry } from './follower.js';
import { createHeartbeat, type Heartbeat } from '../model-store/heartbeat.js';
import type { KeyLayout } from '../model-store/keys.js';
import { type Logger, silentLogger } from '../util/log.js';
import { backoffDelay } from '../model-store/redis-client.js';
import { createModelStore, type ModelStore, type VersionRecord } from '../model-store/store.js';
import { redactUrl } from '../util/redact.js';
import { createModelReloader, type ModelReloader, type ReloadOutcome, type ReloaderStatus } from './reloader.js';

/** The server members hot reload uses. */
export type ReloadableServer = Pick<RunningServer, 'prepareModel' | 'swapModel' | 'discardModel' | 'service'>;

export interface RegistryLink {
  readonly url: string;
  /** Registry model name. */
  readonly model: string;
  readonly prefix?: string;
  /** Replica id in the fleet (default `<host>-<pid>-<random>`). */
  readonly replicaId?: string;
  /** Heartbeat interval (milliseconds, default 5000). */
  readonly heartbeatMs?: number;
  /** Re-read the current key this often besides pub/sub (milliseconds, default 30000). */
  readonly pollMs?: number;
  /** Longest reconnect backoff (milliseconds, default 5000). */
  readonly maxBackoffMs?: number;
}

export interface HotReloadOptions {
  readonly server: ReloadableServer;
  /** What the server serves at start; absent = no model yet (registry mode: the first catch-up loads it and makes the server ready). */
  readonly initial?: { readonly version: string; readonly location: string };
  readonly metrics: PromRegistry;
  readonly registry?: RegistryLink | null;
  /** Reload on SIGHUP (default false; `mpe serve` turns it on). */
  readonly sighup?: boolean;
  readonly log?: Logger;
}

export interface HotReloadStatus extends ReloaderStatus {
  readonly replicaId: string | null;
  readonly registry: { readonly url: string; readonly model: string; readonly connected: boolean } | null;
}

export interface HotReload {
  readonly reloader: ModelReloader;
  /** The replica's registry client and keys (live statistics flush through it); null without a registry. */
  readonly redis: { readonly redis: Redis; readonly keys: KeyLayout } | null;
  /** Reloads `dir` (default: the location being served, e.g. after the files were replaced). */
  reloadDir(dir?: string, source?: 'sighup' | 'admin'): Promise<ReloadOutcome>;
  status(): HotReloadStatus;
  close(): Promise<void>;
}

/** Loads a verified bundle into a prepared (warm, not yet served) model. */
async function loadAndWarm(server: ReloadableServer, dir: string): Promise<{ handle: PreparedModel; version: string }> {
  const bundle = await loadBundle(dir, { verify: true });
  const model = servingModelFromBundle(bundle);
  return { handle: await server.prepareModel(model), version: model.version };
}

/** Starts hot reload for `server`. */
export function startHotReload(opts: HotReloadOptions): HotReload {
  const log = opts.log ?? silentLogger;
  const { server } = opts;
  const reloader = createModelReloader<PreparedModel>({
    loadAndWarm: (dir) => loadAndWarm(server, dir),
    swap: (h) => server.swapModel(h),
    discard: (h) => server.discardModel(h),
    metrics: opts.metrics,
    log,
    ...(opts.initial ? { initial: opts.initial } : {}),
  });
  const link = opts.registry ?? null;
  const replicaId = link ? (link.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`) : null;
  let registry: ModelStore | null = null;
  let stopFollow: (() => Promise<void>) | null = null;
  let heartbeat: Heartbeat | null = null;
  if (link) {
    registry = createModelStore({
      url: link.url,
      model: link.model,
      ...(link.prefix ? { prefix: link.prefix } : {}),
      role: 'replica',
      pollMs: link.pollMs ?? 30_000,
      ...(link.maxBackoffMs ? { redisOptions: { retryStrategy: (t: number) => backoffDelay(t, link.maxBackoffMs) } } : {}),
      log,
    });
    stopFollow = followRegistry(registry, reloader);
    const reqMetric = opts.metrics.getSingleMetric('mpe_requests_total');
    heartbeat = createHeartbeat({
      redis: registry.redis,
      keys: registry.keys,
      replicaId: replicaId!,
      ...(link.heartbeatMs ? { intervalMs: link.heartbeatMs } : {}),
      log,
      state: async () => {
        const s = reloader.status();
        let requests = 0;
        if (reqMetric) for (const v of (await reqMetric.get()).values) requests += v.value;
        const f = s.lastFailure;
        return {
          version: s.version,
          provider: s.version === null ? '-' : server.service.getModel().provider,
          requests,
          lastReload: f === null ? (s.last ? `${s.last.result} (${s.last.version})` : null) : `failure: ${f.error?.code} (${f.version}) at ${f.at}`,
        };
      },
    });
  }
  const reloadDir = (dir?: string, source: 'sighup' | 'admin' = 'admin'): Promise<ReloadOutcome> => {
    const location = dir ?? reloader.status().location ?? opts.initial?.location;
    if (location === undefined) {
      const e = new MpeError('MPE_ERR_NOT_READY', 'no bundle directory is served yet: give {"dir": ...}');
      return Promise.resolve({ result: 'failure', source, version: null, location: '', error: { code: e.code, message: e.message }, durationMs: 0, at: new Date().toISOString() });
    }
    return reloader.reload({ location, version: null }, source, { force: true });
  };
  const onHup = (): void => {
    log.info('SIGHUP: reloading the served bundle directory');
    void reloadDir(undefined, 'sighup');
  };
  if (opts.sighup) process.on('SIGHUP', onHup);
  return {
    reloader,
    redis: registry ? { redis: registry.redis, keys: registry.keys } : null,
    reloadDir,
    status() {
      return {
        ...reloader.status(),
        replicaId,
        registry: link && registry ? { url: redactUrl(link.url), model: link.model, connected: registry.redis.status === 'ready' } : null,
      };
    },
    async close() {
      if (opts.sighup) process.off('SIGHUP', onHup);
      await heartbeat?.stop({ deregister: true });
      await stopFollow?.();
      await registry?.close();
    },
  };
}

/** Admin hooks bound late (the server is created before hot reload starts). */
export function adminHooks(token: string, hot: () => HotReload | null): AdminHooks {
  return {
    token,
    async reload(body) {
      const h = hot();
      if (h === null) return { result: 'failure', error: { code: 'MPE_ERR_NOT_READY', message: 'hot reload is not started' } };
      return h.reloadDir(body.dir, 'admin');
    },
    status: () => hot()?.status() ?? null,
  };
}

/**
 * Registry mode start-up: waits (retrying with backoff while Redis is down or nothing is
 * published) for the current version's record. The replica is not ready meanwhile.
 */
export async function waitForCurrent(link: RegistryLink, log: Logger = silentLogger, signal?: AbortSignal): Promise<VersionRecord> {
  const reg = createModelStore({ url: link.url, model: link.model, ...(link.prefix ? { prefix: link.prefix } : {}), role: 'replica', log });
  try {
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw signal.reason;
      try {
        if (reg.redis.status === 'ready') {
          const rec = await reg.current();
          if (rec !== null) return rec;
          log.warn({ model: link.model }, 'registry: no version published yet, waiting');
        }
      } catch (e) {
        log.warn({ error: (e as Error).message, attempt }, 'registry: cannot read the current version, retrying');
      }
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, link.maxBackoffMs)));
    }
  } finally {
    await reg.close();
  }
}
