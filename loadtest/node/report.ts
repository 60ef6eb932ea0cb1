/** Figures of a run (JSON) and the short human table. */
import type { CheckStats } from './check.js';
import type { RunResult } from './engine.js';

export interface LatencyMs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface RunSummary {
  readonly target: 'grpc' | 'http';
  readonly method: 'score' | 'lookup';
  readonly mode: 'open' | 'closed';
  /** Requests per second offered (open loop) or null. */
  readonly offeredRate: number | null;
  readonly concurrency: number | null;
  /** Candidates per Score request or ids per Lookup request. */
  readonly size: number;
  readonly elapsedS: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Successful requests per second over the whole run (first send to last answer). */
  readonly throughputRps: number;
  /** Candidate rows (Score) or features (Lookup) per second. */
  readonly itemsPerS: number;
  /** Successful requests, from scheduled start (open loop) or send (closed loop) to answer. */
  readonly latencyMs: LatencyMs | null;
  readonly maxOutstanding: number;
  readonly queuedClientSide: number;
  /** Driver CPU use over the run, in cores (1 = one core busy). */
  readonly clientCores: number;
  /** Server CPU use over the run, in cores, when the driver knows its pid (spawned server); else null. */
  readonly serverCores: number | null;
  readonly checks: CheckStats;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Turns a raw run into its figures. */
export function summarise(run: RunResult, meta: { target: 'grpc' | 'http'; method: 'score' | 'lookup'; size: number; checks: CheckStats }): RunSummary {
  const h = run.histogram;
  const errors = run.sent - run.ok;
  const latencyMs: LatencyMs | null =
    run.ok === 0
      ? null
      : {
          p50: r3(h.getValueAtPercentile(50) / 1000),
          p90: r3(h.getValueAtPercentile(90) / 1000),
          p99: r3(h.getValueAtPercentile(99) / 1000),
          p999: r3(h.getValueAtPercentile(99.9) / 1000),
          max: r3(h.maxValue / 1000),
          mean: r3(h.mean / 1000),
        };
  const throughput = run.ok / run.elapsedS;
  return {
    target: meta.target,
    method: meta.method,
    mode: run.mode,
    offeredRate: run.offeredRate,
    concurrency: run.concurrency,
    size: meta.size,
    elapsedS: r3(run.elapsedS),
    sent: run.sent,
    ok: run.ok,
    errors,
    errorsByCode: { ...run.errorsByCode },
    throughputRps: Math.round(throughput * 10) / 10,
    itemsPerS: Math.round(throughput * meta.size),
    latencyMs,
    maxOutstanding: run.maxOutstanding,
    queuedClientSide: run.queuedClientSide,
    clientCores: Math.round((run.clientCpuS / run.elapsedS) * 100) / 100,
    serverCores: null,
    checks: { ...meta.checks },
  };
}

/** Markdown table of one or more runs (one row each). */
export function table(runs: readonly RunSummary[]): string {
  const head = '| target | method | offered (req/s) | throughput (req/s) | items/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | driver / server CPU (cores) |';
  const lines = [head, '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|'];
  for (const s of runs) {
    const l = s.latencyMs;
    const offered = s.offeredRate !== null ? String(s.offeredRate) : `closed x${s.concurrency}`;
    const errs = s.errors === 0 ? '0' : `${s.errors} (${Object.entries(s.errorsByCode).map(([k, v]) => `${k}: ${v}`).join(', ')})`;
    const f = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(2));
    const cpu = `${s.clientCores.toFixed(2)} / ${s.serverCores === null ? '-' : s.serverCores.toFixed(2)}`;
    lines.push(`| ${s.target} | ${s.method} | ${offered} | ${s.throughputRps} | ${s.itemsPerS} | ${f(l?.p50)} | ${f(l?.p90)} | ${f(l?.p99)} | ${f(l?.p999)} | ${f(l?.max)} | ${errs} | ${cpu} |`);
  }
  return lines.join('\n');
}

/**
 * The knee of a saturation curve: the highest offered rate that the server still serves
 * (throughput >= 95% of offered, under 0.1% errors) with p50 at most 3x the p50 of the lowest
 * rate. Past it, queueing dominates latency. p50, not p99: on a shared box the tail moves with
 * other tenants' CPU bursts, while a growing median means the server's own queue is building.
 * Null when even the lowest rate fails that test.
 */
export function knee(runs: readonly RunSummary[]): { rate: number; p50Ms: number; p99Ms: number; throughputRps: number } | null {
  const open = runs.filter((s) => s.offeredRate !== null && s.latencyMs !== null).sort((a, b) => a.offeredRate! - b.offeredRate!);
  if (open.length === 0) return null;
  const base = open[0]!.latencyMs!.p50;
  let best: RunSummary | null = null;
  for (const s of open) {
    const served = s.throughputRps >= 0.95 * s.offeredRate! && s.errors <= 0.001 * s.sent;
    if (served && s.latencyMs!.p50 <= 3 * base) best = s;
    else break;
  }
  return best === null ? null : { rate: best.offeredRate!, p50Ms: best.latencyMs!.p50, p99Ms: best.latencyMs!.p99, throughputRps: best.throughputRps };
}
