/**
 * Serialised, verified model reloads. The server supplies two callbacks: `loadAndWarm(location)`
 * loads a bundle (verifying every checksum), builds its table and runs a real score in every
 * worker, without touching what is being served; `swap(handle)` then switches the served model
 * between batches. A reload that throws anywhere before `swap` is refused: the old version keeps
 * serving, and the refusal is counted (`mpe_reload_total{result="failure"}`), logged and kept in
 * {@link ReloaderStatus}. Requests arriving while a reload runs are coalesced: the latest wins.
 */
import { Counter, Gauge, Histogram, type Registry as PromRegistry } from 'prom-client';
import { isMpeError, MpeError, toPublicError } from '../errors.js';
import { type Logger, silentLogger } from '../util/log.js';

/** What to load: a bundle location and, when known, the version the registry says it holds. */
export interface ReloadTarget {
  readonly location: string;
  /** Expected model.version; null = accept whatever the bundle holds (SIGHUP, admin endpoint). */
  readonly version: string | null;
}

/** Who asked for the reload. */
export type ReloadSource = 'start' | 'publish' | 'rollback' | 'catch-up' | 'sighup' | 'admin';

export type ReloadResult = 'success' | 'failure' | 'unchanged' | 'superseded' | 'skipped';

export interface ReloadOutcome {
  readonly result: ReloadResult;
  readonly source: ReloadSource;
  /** Version loaded (success) or attempted. */
  readonly version: string | null;
  readonly location: string;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly durationMs: number;
  readonly at: string;
}

export interface ReloaderStatus {
  readonly state: 'idle' | 'loading';
  /** Version being served, null before the first successful load. */
  readonly version: string | null;
  readonly location: string | null;
  readonly loadedAt: string | null;
  readonly last: ReloadOutcome | null;
  /** Last failure, kept after later successes of other versions. */
  readonly lastFailure: ReloadOutcome | null;
  readonly counts: Readonly<Record<'success' | 'failure', number>>;
}

/** What `loadAndWarm` resolves to. */
export interface LoadedModel<H> {
  readonly handle: H;
  /** The bundle's manifest model.version. */
  readonly version: string;
}

export interface ReloaderOptions<H> {
  loadAndWarm(location: string): Promise<LoadedModel<H>>;
  /** Makes `handle` the served model; must not throw for a handle loadAndWarm produced. */
  swap(handle: H, version: string): void | Promise<void>;
  /** Disposes a loaded handle that will never be served (version mismatch). */
  discard?(handle: H): void | Promise<void>;
  /** Registry for mpe_reload_* metrics (injected, never the global one). */
  readonly metrics?: PromRegistry;
  readonly log?: Logger;
  /** The model already served at start (loaded outside the reloader), if any. */
  readonly initial?: { readonly version: string; readonly location: string };
  /**
   * Longest a loadAndWarm may take (milliseconds, default {@link RELOAD_TIMEOUT_MS}): past it the
   * reload is refused and the reloader takes the next request; a late result is discarded. A
   * read stuck on a hung volume then costs one refused reload, not every later reload, SIGHUP and
   * registry update queued behind it.
   */
  readonly timeoutMs?: number;
}

/** Default of {@link ReloaderOptions.timeoutMs}: minutes, far above any measured load + verify + warm-up. */
export const RELOAD_TIMEOUT_MS = 5 * 60_000;

export interface ModelReloader {
  /**
   * Loads `target` unless it is already served. `retryFailed: false` (registry catch-ups) skips a
   * version that failed before at the same location, so a poll does not retry a broken bundle
   * forever. Never throws: the outcome says what happened.
   */
  reload(target: ReloadTarget, source: ReloadSource, opts?: { retryFailed?: boolean; force?: boolean }): Promise<ReloadOutcome>;
  status(): ReloaderStatus;
  /** True once a model has been loaded (readiness). */
  hasModel(): boolean;
}

interface Job {
  target: ReloadTarget;
  source: ReloadSource;
  retryFailed: boolean;
  force: boolean;
  resolve: (o: ReloadOutcome) => void;
}

/** Resolves like `p`, or rejects with MPE_ERR_RELOAD_FAILED after `ms`; a value arriving later goes to `late`. */
function withTimeout<T>(p: Promise<T>, ms: number, late: (v: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new MpeError('MPE_ERR_RELOAD_FAILED', `loading did not finish within ${ms} ms (a hung volume?)`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        if (timedOut) late(v);
        else resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        if (!timedOut) reject(e);
      },
    );
  });
}

/** Creates a reloader; the first successful {@link ModelReloader.reload} makes the service ready. */
export function createModelReloader<H>(opts: ReloaderOptions<H>): ModelReloader {
  const timeoutMs = opts.timeoutMs ?? RELOAD_TIMEOUT_MS;
  const log = opts.log ?? silentLogger;
  const reg = opts.metrics ? [opts.metrics] : [];
  const total = new Counter({ name: 'mpe_reload_total', help: 'Model reloads by result (success, failure, unchanged, superseded, skipped)', labelNames: ['result'], registers: reg });
  for (const r of ['success', 'failure']) total.inc({ result: r }, 0);
  const duration = new Histogram({
    name: 'mpe_reload_duration_seconds',
    help: 'Load, verify and warm-up time of attempted reloads',
    labelNames: ['result'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: reg,
  });
  const inProgress = new Gauge({ name: 'mpe_reload_in_progress', help: '1 while a reload is loading and warming a bundle', registers: reg });

  let version: string | null = opts.initial?.version ?? null;
  let location: string | null = opts.initial?.location ?? null;
  let loadedAt: string | null = opts.initial ? new Date().toISOString() : null;
  let last: ReloadOutcome | null = null;
  let lastFailure: ReloadOutcome | null = null;
  const counts = { success: 0, failure: 0 };
  const failed = new Set<string>();
  let running = false;
  let pending: Job | null = null;

  const outcome = (job: Job, result: ReloadResult, v: string | null, started: number, error: unknown): ReloadOutcome => {
    const pub = error === null ? null : toPublicError(error);
    return Object.freeze({
      result,
      source: job.source,
      version: v,
      location: job.target.location,
      // The public message only (admin answers, heartbeats): never a raw Node error, which may name
      // arbitrary paths; the log line below carries the cause for the operator.
      error: pub === null ? null : { code: pub.code, message: pub.message },
      durationMs: Math.round(performance.now() - started),
      at: new Date().toISOString(),
    });
  };

  async function run(job: Job): Promise<ReloadOutcome> {
    const started = performance.now();
    const { target } = job;
    const failKey = `${target.version}\u0000${target.location}`;
    if (!job.force && target.version !== null && target.version === version && target.location === location) {
      return outcome(job, 'unchanged', version, started, null);
    }
    if (!job.retryFailed && target.version !== null && failed.has(failKey)) return outcome(job, 'skipped', target.version, started, null);
    inProgress.set(1);
    let loaded: LoadedModel<H> | null = null;
    try {
      loaded = await withTimeout(opts.loadAndWarm(target.location), timeoutMs, (late) => {
        void Promise.resolve(opts.discard?.(late.handle)).catch(() => {});
      });
      if (target.version !== null && loaded.version !== target.version) {
        throw new MpeError('MPE_ERR_RELOAD_FAILED', `bundle at ${target.location} holds version ${loaded.version}, the registry announced ${target.version}`);
      }
      await opts.swap(loaded.handle, loaded.version);
    } catch (e) {
      if (loaded !== null) {
        try {
          await opts.discard?.(loaded.handle);
        } catch {
          // best effort: the handle is unreachable anyway
        }
      }
      inProgress.set(0);
      if (target.version !== null) failed.add(failKey);
      const o = outcome(job, 'failure', target.version, started, e);
      counts.failure++;
      lastFailure = o;
      duration.observe({ result: 'failure' }, o.durationMs / 1000);
      const cause = isMpeError(e) ? undefined : e instanceof Error ? e.message : String(e);
      log.error({ source: job.source, version: target.version, location: target.location, serving: version, code: o.error?.code, error: o.error?.message, ...(cause === undefined ? {} : { cause }) }, 'reload refused: the old version keeps serving');
      return o;
    }
    inProgress.set(0);
    failed.delete(failKey);
    const previous = version;
    version = loaded.version;
    location = target.location;
    loadedAt = new Date().toISOString();
    counts.success++;
    const o = outcome(job, 'success', version, started, null);
    duration.observe({ result: 'success' }, o.durationMs / 1000);
    log.info({ source: job.source, version, previous, location, durationMs: o.durationMs }, 'reloaded model');
    return o;
  }

  async function drain(first: Job): Promise<void> {
    running = true;
    let job: Job | null = first;
    while (job !== null) {
      const o = await run(job);
      last = o;
      total.inc({ result: o.result });
      job.resolve(o);
      job = pending;
      pending = null;
    }
    running = false;
  }

  return {
    reload(target, source, o = {}) {
      return new Promise<ReloadOutcome>((resolve) => {
        const job: Job = { target, source, retryFailed: o.retryFailed ?? true, force: o.force ?? false, resolve };
        if (!running) {
          void drain(job);
          return;
        }
        if (pending !== null) {
          const p = pending;
          const so = outcome(p, 'superseded', p.target.version, performance.now(), null);
          total.inc({ result: 'superseded' });
          p.resolve(so);
        }
        pending = job;
      });
    },
    status() {
      return Object.freeze({ state: running ? 'loading' : 'idle', version, location, loadedAt, last, lastFailure, counts: { ...counts } });
    },
    hasModel() {
      return version !== null;
    },
  };
}
