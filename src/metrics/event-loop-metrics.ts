/**
 * prom-client's event-loop delay gauges (nodejs_eventloop_lag_{min,max,mean,p50,p90,p99}_seconds)
 * report what Node's `monitorEventLoopDelay` records: the time between two ticks of its sampling
 * timer, so an idle loop reads the sampling interval itself. With the 100 ms interval mpe serve
 * uses (serve-metrics.ts), an idle demo server read p99 0.1019 s, min 0.0993 s, and the
 * MpeServeEventLoopLag alert (p99 > 0.05 s for 5 m, deploy/) would fire on every idle replica.
 * This makes those gauges report the delay BEYOND the interval (clamped at 0), as their help text
 * ("event loop delays") and the alert mean it; the stddev and the setImmediate-based
 * nodejs_eventloop_lag_seconds are left as they are.
 */
import type { Gauge, Registry } from 'prom-client';

const SHIFTED = ['min', 'max', 'mean', 'p50', 'p90', 'p99'] as const;

/**
 * Shifts the registry's nodejs_eventloop_lag_* gauges (registered by `collectDefaultMetrics` with
 * `eventLoopMonitoringPrecision: intervalMs`) down by the sampling interval. prom-client sets them
 * all from one collect through `Gauge.set(labels, value)`; the wrap is on those instances only.
 */
export function shiftEventLoopLag(registry: Registry, intervalMs: number): void {
  const offset = intervalMs / 1000;
  for (const stat of SHIFTED) {
    const g = registry.getSingleMetric(`nodejs_eventloop_lag_${stat}_seconds`) as Gauge | undefined;
    if (g === undefined) continue;
    const set = g.set.bind(g) as (a: unknown, b?: number) => void;
    (g as unknown as { set: (a: unknown, b?: number) => void }).set = (a, b) => {
      if (typeof a === 'number') set(Math.max(0, a - offset));
      else set(a, Math.max(0, (b ?? 0) - offset));
    };
  }
}
