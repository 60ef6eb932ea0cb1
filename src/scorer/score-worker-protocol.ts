/**
 * Messages between the score pool (main thread) and its workers. Plain data only: errors cross as
 * `{ code, detail }` because structured clone drops an MpeError's own properties.
 */
import type { ErrorCode } from '../errors.js';
import type { ProviderName } from '../config/config.js';
import type { ActiveProvider } from './session.js';

/** What every worker gets at start-up (`workerData`). The table bytes are shared, never copied. */
export interface ScoreWorkerInit {
  /** The bundle's whole table.bin: ONE SharedArrayBuffer for the process (`LoadedBundle.tableBuffer`). */
  readonly tableBuffer: SharedArrayBuffer;
  /** scorer.onnx bytes (each worker builds its own session from them). */
  readonly scorerBytes: Uint8Array;
  /** Fields per row. */
  readonly fields: number;
  readonly provider: ProviderName;
  readonly intraOpThreads: number;
}

/** Main -> worker: score `rows` rows of `fields` ids each. `ids.buffer` is transferred. */
export interface ScoreJob {
  readonly seq: number;
  readonly ids: Int32Array;
  readonly rows: number;
}

export interface WireError {
  readonly code: ErrorCode;
  readonly detail: string;
}

/** Worker -> main. */
export type WorkerMessage =
  | { readonly type: 'ready'; readonly provider: ActiveProvider }
  | { readonly type: 'init-error'; readonly error: WireError }
  | { readonly type: 'done'; readonly seq: number; readonly probabilities: Float32Array }
  | { readonly type: 'failed'; readonly seq: number; readonly error: WireError };
