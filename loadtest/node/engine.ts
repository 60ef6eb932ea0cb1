/**
 * The load engine: open loop (requests start on a fixed schedule whatever the server does) or
 * closed loop (N callers, each sending its next request when the previous one answers).
 *
 * Open-loop latency is measured from each request's SCHEDULED start, not from when it was
 * actually sent, so time a request spends waiting behind a slow server (or a busy client) is
 * counted: no coordinated omission (Gil Tene's term; wrk2 does the same). When more than
 * `maxInFlight` requests are outstanding, new ones wait in a client-side queue; their latency
 * still starts at their scheduled time.
 */
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';

/** What one request came back with. `code` is 'OK' or a stable error name (gRPC status name, HTTP status, MPE error code, CHECK_*). */
export type Outcome = string;

/** Sends request number `i` (0-based) and resolves with its outcome (a rejection counts as CLIENT_EXCEPTION/<name>). */
export type SendFn = (i: number) => Promise<Outcome>;

export interface OpenLoopOptions {
  /** Requests per second. */
  readonly rate: number;
  /** Seconds of scheduled arrivals. */
  readonly durationS: number;
  /** Most outstanding requests before new arrivals queue client-side. */
  readonly maxInFlight: number;
}

export interface ClosedLoopOptions {
  readonly concurrency: number;
  readonly durationS: number;
}

/** Raw result of one run; {@link summarise} turns it into figures. */
export interface RunResult {
  readonly mode: 'open' | 'closed';
  /** Offered rate (open loop) or null (closed loop). */
  readonly offeredRate: number | null;
  readonly concurrency: number | null;
  /** Seconds from the first scheduled send to the last answer. */
  readonly elapsedS: number;
  readonly sent: number;
  readonly ok: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Latency of successful requests in microseconds. */
  readonly histogram: hdr.Histogram;
  /** Most requests outstanding at once. */
  readonly maxOutstanding: number;
  /** Requests that could not start on time because maxInFlight were outstanding. */
  readonly queuedClientSide: number;
  /** CPU seconds (user + system) this driver process used during the run: the load generator shares the machine. */
  readonly clientCpuS: number;
}

/** CPU seconds used by this process since `from` (a process.cpuUsage() reading). */
function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}

/** A send function that throws is a driver bug: count it under its own name rather than hang the run. */
const onThrow = (e: unknown): Outcome => `CLIENT_EXCEPTION/${e instanceof Error ? e.name : typeof e}`;

/** Microseconds from 1 us to 60 s with 3 significant digits (0.1% error). */
export function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

class Tally {
  readonly histogram = newHistogram();
  readonly errors: Record<string, number> = Object.create(null);
  ok = 0;

  record(outcome: Outcome, startMs: number): void {
    if (outcome === 'OK') {
      this.ok++;
      const us = Math.max(1, Math.round((performance.now() - startMs) * 1000));
      this.histogram.recordValue(Math.min(us, 60_000_000));
    } else {
      this.errors[outcome] = (this.errors[outcome] ?? 0) + 1;
    }
  }
}

/**
 * Open loop: request i is scheduled at t0 + i / rate. A 1 ms timer (the finest setTimeout gives)
 * starts every request whose time has come, so bursts of up to rate/1000 requests leave together.
 */
export function runOpenLoop(opts: OpenLoopOptions, send: SendFn): Promise<RunResult> {
  const { rate, durationS, maxInFlight } = opts;
  if (!(rate > 0) || !(durationS > 0) || !(maxInFlight >= 1)) throw new RangeError('rate, durationS must be > 0 and maxInFlight >= 1');
  const total = Math.max(1, Math.round(rate * durationS));
  const intervalMs = 1000 / rate;
  const tally = new Tally();
  // Requests waiting for a free slot (FIFO): their numbers and scheduled start times.
  const waitingIdx: number[] = [];
  const waiting: number[] = [];
  let waitHead = 0;
  let next = 0;
  let outstanding = 0;
  let maxOutstanding = 0;
  let queued = 0;
  let done = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return new Promise((resolve) => {
    const finish = (): void => {
      resolve({
        mode: 'open',
        offeredRate: rate,
        concurrency: null,
        elapsedS: (performance.now() - t0) / 1000,
        sent: total,
        ok: tally.ok,
        errorsByCode: tally.errors,
        histogram: tally.histogram,
        maxOutstanding,
        queuedClientSide: queued,
        clientCpuS: cpuSince(cpu0),
      });
    };
    const start = (i: number, scheduledMs: number): void => {
      outstanding++;
      if (outstanding > maxOutstanding) maxOutstanding = outstanding;
      send(i).catch(onThrow).then((outcome) => {
        tally.record(outcome, scheduledMs);
        outstanding--;
        done++;
        if (waitHead < waiting.length) {
          const at = waiting[waitHead]!;
          start(waitingIdx[waitHead++]!, at);
        }
        if (done === total) finish();
      });
    };
    const tick = (): void => {
      const now = performance.now();
      while (next < total) {
        const at = t0 + next * intervalMs;
        if (at > now) break;
        if (outstanding < maxInFlight) start(next, at);
        else {
          waitingIdx.push(next);
          waiting.push(at);
          queued++;
        }
        next++;
      }
      if (next < total) setTimeout(tick, Math.max(0, Math.min(1, t0 + next * intervalMs - performance.now())));
    };
    tick();
  });
}

/** Closed loop: `concurrency` callers, each sending back to back until `durationS` has passed. */
export async function runClosedLoop(opts: ClosedLoopOptions, send: SendFn): Promise<RunResult> {
  const { concurrency, durationS } = opts;
  if (!(concurrency >= 1) || !(durationS > 0)) throw new RangeError('concurrency must be >= 1 and durationS > 0');
  const tally = new Tally();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const endAt = t0 + durationS * 1000;
  let sent = 0;
  const caller = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const i = sent++;
      const startMs = performance.now();
      tally.record(await send(i).catch(onThrow), startMs);
    }
  };
  const callers: Promise<void>[] = [];
  for (let c = 0; c < concurrency; c++) callers.push(caller());
  await Promise.all(callers);
  return {
    mode: 'closed',
    offeredRate: null,
    concurrency,
    elapsedS: (performance.now() - t0) / 1000,
    sent,
    ok: tally.ok,
    errorsByCode: tally.errors,
    histogram: tally.histogram,
    maxOutstanding: concurrency,
    queuedClientSide: 0,
    clientCpuS: cpuSince(cpu0),
  };
}
