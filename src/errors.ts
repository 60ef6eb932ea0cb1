/**
 * The one error catalogue. Every error the product raises on purpose has a stable code
 * (`MPE_ERR_<AREA>_<WHAT>`), a message that says what to do, an HTTP status and a gRPC status.
 * Transports map errors in exactly one place each (see `src/server/`); anything that is not an
 * {@link MpeError} becomes INTERNAL / 500 without leaking its message.
 *
 * gRPC status numbers are kept as data here so that `codec/` and `bundle/` need not import grpc-js.
 */

/** gRPC status codes (values of `@grpc/grpc-js`'s `status` enum). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export interface ErrorSpec {
  /** HTTP status code. */
  readonly http: number;
  /** gRPC status code. */
  readonly grpc: number;
  /** What went wrong and what to do; `detail` is appended. */
  readonly message: string;
}

const G = GrpcStatus;

/**
 * Catalogue, grouped by area. Add entries to your area's block; never rename or reuse a code
 * (clients match on them).
 */
export const ERROR_CATALOGUE = {
  // --- codec ---
  MPE_ERR_CODEC_BITS: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'unsupported bit width: use 0..8 or 32' },
  MPE_ERR_CODEC_ID_RANGE: { http: 400, grpc: G.OUT_OF_RANGE, message: 'feature id out of range: ids are 0 <= id < featureCount' },
  MPE_ERR_CODEC_BUFFER: { http: 500, grpc: G.INTERNAL, message: 'output buffer too small for the requested rows' },
  MPE_ERR_CODEC_LAYOUT: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'invalid table layout' },
  MPE_ERR_CODEC_VALUE: { http: 500, grpc: G.INTERNAL, message: 'cannot pack: a weight is not finite or a code does not fit its bit width' },

  // --- bundle ---
  MPE_ERR_BUNDLE_NOT_FOUND: { http: 404, grpc: G.NOT_FOUND, message: 'bundle directory or file not found: check the path' },
  MPE_ERR_BUNDLE_MANIFEST: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'manifest.json is missing, not JSON, or lacks a required field' },
  MPE_ERR_BUNDLE_VERSION: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'unsupported bundle format version: upgrade mpe-serve or re-export the bundle' },
  MPE_ERR_BUNDLE_MAGIC: { http: 422, grpc: G.DATA_LOSS, message: 'bad magic number: this file is not an mpe-serve section' },
  MPE_ERR_BUNDLE_TRUNCATED: { http: 422, grpc: G.DATA_LOSS, message: 'file is shorter than its header and manifest say: the copy is truncated' },
  MPE_ERR_BUNDLE_CHECKSUM: { http: 422, grpc: G.DATA_LOSS, message: 'checksum mismatch: the file is corrupted; copy the bundle again' },
  MPE_ERR_BUNDLE_MISMATCH: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'manifest and binary sections disagree: the bundle was assembled from different exports' },
  MPE_ERR_BUNDLE_UNREADABLE: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'a bundle file is not a regular file or did not open in time (FIFO, device, directory, hung volume): copy the bundle onto a regular filesystem' },
  MPE_ERR_BUNDLE_WRITE: { http: 500, grpc: G.INTERNAL, message: 'could not write the bundle' },

  // --- vocabulary ---
  MPE_ERR_VOCAB_FIELD: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'unknown field: use a field name listed by GET /v1/model' },
  MPE_ERR_VOCAB_FULL: { http: 500, grpc: G.INTERNAL, message: 'vocabulary hash table is full' },
  MPE_ERR_VOCAB_DUPLICATE: { http: 500, grpc: G.INTERNAL, message: 'duplicate (field, value) key in vocabulary' },

  // --- onnx / scorer ---
  MPE_ERR_ONNX_GRAPH: { http: 500, grpc: G.INTERNAL, message: 'invalid ONNX graph description' },
  MPE_ERR_SCORER_PROVIDER: { http: 503, grpc: G.UNAVAILABLE, message: 'requested execution provider cannot start' },
  MPE_ERR_SCORER_RUN: { http: 500, grpc: G.INTERNAL, message: 'scorer failed to run' },
  MPE_ERR_MODEL_INVALID: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'the model failed validation (a non-finite table value or score, or a scorer that cannot score a micro-batch): retrain or re-export it' },

  // --- data / training ---
  MPE_ERR_DATA_NOT_FOUND: { http: 404, grpc: G.NOT_FOUND, message: 'data file not found' },
  MPE_ERR_DATA_EMPTY: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'data file has no rows' },
  MPE_ERR_DATA_COLUMNS: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'wrong number of columns: pass --skip-bad-lines to skip such lines' },
  MPE_ERR_DATA_LABEL: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'label is not 0 or 1: pass --skip-bad-lines to skip such lines' },
  MPE_ERR_DATA_NUMERIC: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'numeric column is not a number: pass --skip-bad-lines to skip such lines' },
  MPE_ERR_DATA_MALFORMED: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'malformed line (unterminated quote, NUL byte or invalid UTF-8): pass --skip-bad-lines to skip such lines' },
  MPE_ERR_DATA_SCHEMA: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'invalid data schema' },
  MPE_ERR_DATA_SPLIT: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'split column value is not train/valid/test or 0/1/2: pass --skip-bad-lines to skip such lines' },
  MPE_ERR_TRAIN_CONFIG: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'invalid training option' },
  MPE_ERR_TRAIN_DIVERGED: { http: 500, grpc: G.INTERNAL, message: 'training diverged (non-finite loss): lower the learning rate' },

  // --- mpe (precision search, selection, retraining, budget mode, compare) ---
  MPE_ERR_MPE_CONFIG: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'invalid MPE option: check --groups, --bits, --tau, --lambda, --target-bits/--target-ratio/--target-bytes' },
  MPE_ERR_MPE_BUDGET: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'the budget cannot be met: even every group at its smallest candidate width is over it; relax the target or add 0 to --bits' },
  MPE_ERR_MPE_METHOD: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'unknown method: use fp32, uniform<b> (e.g. uniform4), mpe, rowwise-int8 or rowwise-int4' },
  MPE_ERR_MPE_TARGET_RANGE: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'budget target out of range: --target-bits must be in 0..32 and not below the smallest --bits width, --target-ratio at least 1, --target-bytes at least the smallest bundle the run can write' },
  MPE_ERR_MPE_TARGET_CONFLICT: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'conflicting budget flags: give one of --target-bits, --target-ratio, --target-bytes or --lambda (budget mode chooses lambda itself)' },

  // --- config ---
  MPE_ERR_CONFIG_INVALID: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'invalid configuration' },

  // --- request (transports and service) ---
  MPE_ERR_REQ_INVALID: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'invalid request' },
  MPE_ERR_REQ_JSON: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'request body is not valid JSON' },
  MPE_ERR_REQ_EMPTY: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'empty batch: send at least one row' },
  MPE_ERR_REQ_TOO_MANY_ROWS: { http: 413, grpc: G.INVALID_ARGUMENT, message: 'batch has more rows than the server allows (see GET /v1/model limits)' },
  MPE_ERR_REQ_TOO_LARGE: { http: 413, grpc: G.RESOURCE_EXHAUSTED, message: 'request message exceeds the size limit' },
  MPE_ERR_REQ_MISSING_FIELD: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'a row lacks a field the model needs' },
  MPE_ERR_REQ_NUMERIC: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'numeric field value is NaN, infinite or not a number' },
  MPE_ERR_REQ_ROUTE: { http: 404, grpc: G.UNIMPLEMENTED, message: 'no such route: see docs/api.md' },
  MPE_ERR_REQ_DEADLINE: { http: 504, grpc: G.DEADLINE_EXCEEDED, message: 'deadline exceeded before the request could be served' },
  MPE_ERR_REQ_DUPLICATE_FIELD: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'a field is given both in context and per candidate (or twice): send each field once' },
  MPE_ERR_REQ_COLUMN_LENGTH: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'columns of unequal length: every column needs one value per candidate' },
  MPE_ERR_REQ_NO_CANDIDATES: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'no candidates: a context needs at least one candidate (candidates or columns)' },
  MPE_ERR_OVERLOADED: { http: 503, grpc: G.RESOURCE_EXHAUSTED, message: 'server overloaded: queue full or queue wait over MPE_MAX_QUEUE_MS; retry with backoff' },
  MPE_ERR_NOT_READY: { http: 503, grpc: G.UNAVAILABLE, message: 'no model loaded yet' },
  MPE_ERR_SHUTTING_DOWN: { http: 503, grpc: G.UNAVAILABLE, message: 'server is shutting down: retry on another replica' },
  MPE_ERR_UNAUTHORIZED: { http: 401, grpc: G.UNAUTHENTICATED, message: 'missing or wrong admin token' },

  // --- registry (redis) ---
  MPE_ERR_REGISTRY_UNAVAILABLE: { http: 503, grpc: G.UNAVAILABLE, message: 'Redis is unreachable' },
  MPE_ERR_REGISTRY_NOT_FOUND: { http: 404, grpc: G.NOT_FOUND, message: 'model or version not found in the registry' },
  MPE_ERR_RELOAD_FAILED: { http: 500, grpc: G.INTERNAL, message: 'reload failed: the old version keeps serving' },
  MPE_ERR_REGISTRY_NAME: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'invalid model name or version: use 1-128 characters from A-Z a-z 0-9 . _ -' },
  MPE_ERR_REGISTRY_CONFLICT: { http: 409, grpc: G.ALREADY_EXISTS, message: 'this version is already published with different checksums: publish under a new version' },
  MPE_ERR_REGISTRY_LOCATION: { http: 409, grpc: G.ALREADY_EXISTS, message: 'this version is already published from another location: pass --force to repoint it, or publish under a new version' },
  MPE_ERR_STATS_GROUPING: { http: 409, grpc: G.FAILED_PRECONDITION, message: "the live statistics bin their group counts with another groupSize or groupPad than this bundle's table: read the statistics of the bundle's own version" },
  MPE_ERR_STATS_CONFIG: { http: 400, grpc: G.INVALID_ARGUMENT, message: 'invalid frequency-statistics option: check --stats-rate, width, depth and top-k' },

  // --- interop (mpe import of a PyTorch export, docs/interop.md) ---
  MPE_ERR_IMPORT_NOT_FOUND: { http: 404, grpc: G.NOT_FOUND, message: 'export directory or one of its files not found: run tools/torch/export.py first' },
  MPE_ERR_IMPORT_JSON: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'mpe-export.json is not JSON, of another format or version, or lacks a required field' },
  MPE_ERR_IMPORT_SAFETENSORS: { http: 422, grpc: G.DATA_LOSS, message: 'table.safetensors is malformed (header length, header JSON, dtype, shape or data offsets)' },
  MPE_ERR_IMPORT_MISMATCH: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'the export disagrees with itself (JSON, tensors and scorer): re-export the model' },
  MPE_ERR_IMPORT_VALUE: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'the export holds a value the bundle cannot: a non-finite weight or step, or bits outside 0..8' },
  MPE_ERR_IMPORT_SCORER: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'scorer.onnx is not a scorer: input "embeddings" float32 [N, F*d] and output "probability" [N, 1], finite on a probe batch' },
  MPE_ERR_IMPORT_VOCAB: { http: 422, grpc: G.FAILED_PRECONDITION, message: 'the vocabulary file is malformed: lines are field<TAB>value<TAB>index' },

  // --- fallback ---
  MPE_ERR_INTERNAL: { http: 500, grpc: G.INTERNAL, message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** An error with a stable code from {@link ERROR_CATALOGUE}. */
export class MpeError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly grpcStatus: number;
  /** Extra, safe-to-show detail (a field name, a file and line...). */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message, options);
    this.name = 'MpeError';
    this.code = code;
    this.httpStatus = spec.http;
    this.grpcStatus = spec.grpc;
    this.detail = detail;
  }
}

/** Type guard for {@link MpeError}, also across worker-thread boundaries (structured clone drops the prototype). */
export function isMpeError(e: unknown): e is MpeError {
  return e instanceof MpeError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'MpeError' && typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code in ERROR_CATALOGUE);
}

/** Maps any thrown value to a public {code, message, http, grpc}; unknown errors become MPE_ERR_INTERNAL with a generic message. */
export function toPublicError(e: unknown): { code: ErrorCode; message: string; http: number; grpc: number } {
  if (isMpeError(e)) {
    const spec: ErrorSpec = ERROR_CATALOGUE[e.code];
    return { code: e.code, message: e.message, http: spec.http, grpc: spec.grpc };
  }
  const spec = ERROR_CATALOGUE.MPE_ERR_INTERNAL;
  return { code: 'MPE_ERR_INTERNAL', message: spec.message, http: spec.http, grpc: spec.grpc };
}
