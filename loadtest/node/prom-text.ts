/** Reads the few process gauges the soak samples from a Prometheus text exposition (GET /metrics). */

/** Value of the first sample of `name` (any labels), or null when absent. */
export function promValue(text: string, name: string): number | null {
  let at = 0;
  for (;;) {
    const i = text.indexOf(name, at);
    if (i < 0) return null;
    at = i + name.length;
    const lineStart = i === 0 || text[i - 1] === '\n';
    const next = text[at];
    if (!lineStart || (next !== ' ' && next !== '{')) continue;
    const eol = text.indexOf('\n', at);
    const line = text.slice(at, eol < 0 ? text.length : eol);
    const valueText = line.slice(next === '{' ? line.indexOf('} ') + 2 : 1).split(' ')[0]!;
    const v = Number(valueText);
    return Number.isFinite(v) ? v : null;
  }
}

/** One sample of the server's process, from its /metrics. Bytes and seconds; null = not exported. */
export interface ProcessSample {
  /** Seconds since the soak started. */
  readonly t: number;
  readonly rss: number | null;
  readonly heapUsed: number | null;
  readonly heapTotal: number | null;
  readonly external: number | null;
  readonly arrayBuffers: number | null;
  /** p99 event-loop delay since the previous scrape (prom-client resets its histogram per collect). */
  readonly eventLoopP99: number | null;
}

/** Parses one /metrics text into a sample at time `t`. */
export function processSample(text: string, t: number): ProcessSample {
  return {
    t,
    rss: promValue(text, 'process_resident_memory_bytes'),
    heapUsed: promValue(text, 'nodejs_heap_size_used_bytes'),
    heapTotal: promValue(text, 'nodejs_heap_size_total_bytes'),
    external: promValue(text, 'nodejs_external_memory_bytes'),
    arrayBuffers: promValue(text, 'nodejs_array_buffers_bytes'),
    eventLoopP99: promValue(text, 'nodejs_eventloop_lag_p99_seconds'),
  };
}
