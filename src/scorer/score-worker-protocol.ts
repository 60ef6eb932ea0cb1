/**
 * Messages between the score pool (main thread) and its workers. Plain data only: errors cross as
 * `{ code, detail }` because structured clone drops an MpeError's own properties.
 */
import type { ErrorCode } from '../errors.js';
import type { ProviderName } from '../config/config.js';
import type { FieldSpec } from '../features/token.js';
import type { RawPart } from '../vocab/packed-values.js';
import type { ActiveProvider } from './session.js';

/** What every worker gets at start-up (`workerData`). The table bytes are shared, never copied. */
export interface ScoreWorkerInit {
  /** The bundle's whole table.bin: ONE SharedArrayBuffer for the process (`LoadedBundle.tableBuffer`). */
  readonly tableBuffer: SharedArrayBuffer;
  /** scorer.onnx bytes (each worker builds its own session from them). */
  readonly scorerBytes: Uint8Array;
  /** Fields per row. */
  readonly fields: number;
  /**
   * The bundle's whole vocab.bin in its SharedArrayBuffer and the fields in scorer order: with
   * both, workers resolve raw values themselves ({@link JobPart} `raw`); absent = ids only.
   */
  readonly vocabBuffer?: SharedArrayBuffer;
  readonly fieldSpecs?: readonly FieldSpec[];
  readonly provider: ProviderName;
  readonly intraOpThreads: number;
}

/** One request (or a slice of one) in a job: ids (range-checked), or raw values the worker resolves. */
export type JobPart = { readonly rows: number; readonly ids: Int32Array; readonly raw?: undefined } | { readonly rows: number; readonly raw: RawPart; readonly ids?: undefined };

/**
 * Main -> worker: score the parts' rows, `fields` ids each, in order, as one batch. Buffers of
 * ids and lengths are transferred.
 */
export interface ScoreJob {
  readonly seq: number;
  readonly rows: number;
  readonly parts: readonly JobPart[];
}

export interface WireError {
  readonly code: ErrorCode;
  readonly detail: string;
}

/** Worker -> main. */
export type WorkerMessage =
  | { readonly type: 'ready'; readonly provider: ActiveProvider }
  | { readonly type: 'init-error'; readonly error: WireError }
  | {
      readonly type: 'done';
      readonly seq: number;
      readonly probabilities: Float32Array;
      /** The batch's ids, rows x fields (raw parts resolved), when any part was raw; else null. */
      readonly ids: Int32Array | null;
      /** Per part: null, or why its values could not be resolved (its probabilities are then meaningless). */
      readonly errors: readonly (WireError | null)[];
      /**
       * The worker's stamps of this job (util/score-timing.ts `nowNs`): received, values resolved,
       * dequantized, onnxruntime done, posted back.
       */
      readonly times: readonly number[];
    }
  | { readonly type: 'failed'; readonly seq: number; readonly error: WireError };
