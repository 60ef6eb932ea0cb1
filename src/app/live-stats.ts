/**
 * The live-statistics loop of a replica: every `flushMs` it flushes the served model's sampler to
 * Redis (one pipeline, merged with the other replicas' flushes) and recomputes the drift report
 * from the merged counts; without Redis it recomputes from the local sampler. The report is cached,
 * so a metrics scrape costs nothing: the drift gauges ({@link registerDriftMetrics}) read it.
 * After a model swap, the previous model's sampler gets one last flush under its own version.
 */
import type { Redis } from 'ioredis';
import type { Registry as PromRegistry } from 'prom-client';
import type { KeyLayout } from '../model-store/keys.js';
import { type Logger, silentLogger } from '../util/log.js';
import { computeDrift, type DriftReport, registerDriftMetrics } from '../stats/drift.js';
import { flushSampler, readLiveCounts } from '../model-store/stats-store.js';
import type { LiveSource } from '../service/embedding-service.js';
import type { LiveCounts } from '../stats/sampler.js';


export interface LiveStatsOptions {
  /** The currently served model's source, null when none or sampling is off. */
  current(): LiveSource | null;
  /** Where to flush; null = local statistics only. */
  readonly redis: { readonly redis: Redis; readonly keys: KeyLayout } | null;
  /** Flush / recompute interval (milliseconds); 0 = only on {@link LiveStats.refresh}. */
  readonly flushMs: number;
  /** Registry the drift gauges are registered on (the server's injected one). */
  readonly metrics: PromRegistry;
  readonly log?: Logger;
}

export interface LiveStats {
  /** Flushes now and recomputes the report (serialised with the periodic ticks); resolves to the new report. */
  refresh(): Promise<DriftReport | null>;
  /** The last computed report (null before the first one). */
  report(): DriftReport | null;
  /** Stops the loop after a last flush. */
  close(): Promise<void>;
}

/** Starts the loop and registers the drift gauges on `opts.metrics`. */
export function startLiveStats(opts: LiveStatsOptions): LiveStats {
  const log = opts.log ?? silentLogger;
  const link = opts.redis;
  let report: DriftReport | null = null;
  let previous: LiveSource | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  let failing = false;

  const flush = async (src: LiveSource): Promise<boolean> => {
    if (link === null || src.sampler.pending() === 0) return true;
    const n = await flushSampler(link.redis, link.keys, src.version, src.sampler);
    const ok = n > 0;
    if (!ok && !failing) log.warn({ version: src.version, pending: src.sampler.pending() }, 'live statistics: Redis unreachable, counts kept for the next flush');
    else if (ok && failing) log.info({ version: src.version }, 'live statistics: flushing again');
    failing = !ok;
    return ok;
  };

  async function tick(): Promise<DriftReport | null> {
    const src = opts.current();
    if (previous !== null && previous !== src) await flush(previous);
    previous = src;
    if (src === null) return report;
    let live: LiveCounts | null;
    if (link === null) {
      live = src.sampler.snapshot();
    } else {
      if (!(await flush(src))) return report;
      try {
        live = await readLiveCounts(link.redis, link.keys, src.version);
      } catch {
        return report; // Redis went away between the flush and the read: keep the last report
      }
    }
    report = live === null || live.total === 0 ? null : computeDrift(src.model, live);
    return report;
  }

  const refresh = (): Promise<DriftReport | null> => {
    const next = chain.then(tick, tick);
    chain = next.catch(() => {});
    return next;
  };
  registerDriftMetrics(opts.metrics, () => report);
  const timer = opts.flushMs > 0 ? setInterval(() => void refresh().catch(() => {}), opts.flushMs) : null;
  timer?.unref();
  let closed: Promise<void> | null = null;
  return {
    refresh,
    report: () => report,
    close() {
      closed ??= (async () => {
        if (timer) clearInterval(timer);
        await refresh().catch(() => {});
      })();
      return closed;
    },
  };
}
