/**
 * Where the time of one Score request goes, stage by stage (issue 14): filled in by the transport
 * (decode, encode), the score pool (queue, the hops to and from the worker) and the worker itself
 * (resolve, dequantize, onnxruntime run). Kept for every request: a few `process.hrtime` reads
 * per request and per batch, and one small object per request. Read by the stage histogram
 * (metrics/stage-metrics.ts) and, when a request asks, by the `Server-Timing` header / gRPC
 * trailing metadata (docs/api.md).
 */

/** The stages, in the order a request passes them. */
export const SCORE_STAGES = Object.freeze(['decode', 'queue', 'to_worker', 'resolve', 'dequantize', 'onnx', 'to_main', 'encode'] as const);
export type ScoreStage = (typeof SCORE_STAGES)[number];

/** Index of each stage in {@link ScoreTiming.seconds}. */
export const STAGE = Object.freeze({ decode: 0, queue: 1, to_worker: 2, resolve: 3, dequantize: 4, onnx: 5, to_main: 6, encode: 7 } as const satisfies Record<ScoreStage, number>);

/**
 * Monotonic nanoseconds as a number (exact to the nanosecond for 104 days of uptime, then to a
 * few ns). `process.hrtime` is CLOCK_MONOTONIC, one clock for every thread of the process, so a
 * worker's stamps and the main thread's can be subtracted.
 */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** One request's stage durations. */
export class ScoreTiming {
  /** Seconds per stage, indexed by {@link STAGE}; a stage the request did not pass stays 0. */
  readonly seconds = new Float64Array(SCORE_STAGES.length);
  /** When the pool queued the request (ns, {@link nowNs}); 0 until then. */
  enqueuedNs = 0;
  /** When the main thread received the worker's answer (ns); 0 until then. */
  finishedNs = 0;

  /** @param startNs when the transport started on the request (ns, {@link nowNs}) */
  constructor(readonly startNs: number) {}

  /** The pool queued the request now: the decode stage ends. */
  enqueued(ns: number): void {
    this.enqueuedNs = ns;
    this.seconds[STAGE.decode] = (ns - this.startNs) / 1e9;
  }

  /**
   * The worker's answer arrived at `finishedNs`. `dispatchedNs`: when the pool posted the batch;
   * `worker`: the worker's stamps [received, resolved, dequantized, ran, posted] (ns).
   * A request split across workers is written by each slice: the last to finish, the critical
   * path, is what stays.
   */
  scored(dispatchedNs: number, worker: ArrayLike<number>, finishedNs: number): void {
    const s = this.seconds;
    s[STAGE.queue] = (dispatchedNs - this.enqueuedNs) / 1e9;
    s[STAGE.to_worker] = (worker[0]! - dispatchedNs) / 1e9;
    s[STAGE.resolve] = (worker[1]! - worker[0]!) / 1e9;
    s[STAGE.dequantize] = (worker[2]! - worker[1]!) / 1e9;
    s[STAGE.onnx] = (worker[3]! - worker[2]!) / 1e9;
    s[STAGE.to_main] = (finishedNs - worker[4]!) / 1e9;
    this.finishedNs = finishedNs;
  }

  /** The answer is encoded and handed to the transport now: the encode stage ends. */
  encoded(ns: number): void {
    this.seconds[STAGE.encode] = (ns - (this.finishedNs || ns)) / 1e9;
  }

  /** Server time from start to the end of encode, seconds. */
  get totalSeconds(): number {
    let t = 0;
    for (let i = 0; i < this.seconds.length; i++) t += this.seconds[i]!;
    return t;
  }

  /**
   * The `Server-Timing` value (W3C Server Timing): `decode;dur=0.412, queue;dur=0.020, ...` in
   * milliseconds, every stage in order, then `total`.
   */
  header(): string {
    let out = '';
    for (let i = 0; i < SCORE_STAGES.length; i++) out += `${SCORE_STAGES[i]};dur=${(this.seconds[i]! * 1e3).toFixed(3)}, `;
    return `${out}total;dur=${(this.totalSeconds * 1e3).toFixed(3)}`;
  }
}

/** Parses a `Server-Timing` value into stage -> milliseconds (clients, tests and the bench). */
export function parseServerTiming(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of value.split(',')) {
    const parts = entry.trim().split(';');
    const name = parts[0]!.trim();
    if (name === '') continue;
    for (let i = 1; i < parts.length; i++) {
      const [k, v] = parts[i]!.trim().split('=');
      if (k === 'dur' && v !== undefined) out[name] = Number(v);
    }
  }
  return out;
}
