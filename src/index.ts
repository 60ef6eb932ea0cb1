/**
 * mpe-serve's public library API: the one barrel. Everything here is also reachable from the
 * `mpe` CLI; import from `mpe-serve` to embed the trainer, the bundle reader or the server.
 */
export { ERROR_CATALOGUE, type ErrorCode, type ErrorSpec, GrpcStatus, isMpeError, MpeError, toPublicError } from './errors.js';
export { type FieldSpec, type FieldTransform, fieldToken, MISSING_TOKEN } from './features/token.js';

// codec: bit packing and dequantizing lookups
export { computeLayout, type DataLayout, type GroupedTableSpec, type RowwiseTableSpec, rowBytes, rowwiseRowBytes, SUPPORTED_BITS, type TableSpec } from './codec/layout.js';
export { packTable } from './codec/pack-table.js';
export { PackedTable } from './codec/packed-table.js';
export { resolveIds, Vocabulary, VocabularyBuilder } from './vocab/vocabulary.js';

// bundle: the versioned model bundle
export { type LoadedBundle, type LoadOptions, loadBundle } from './bundle/load.js';
export { BUNDLE_FORMAT_VERSION, type Manifest, type ModelMethod, parseManifest } from './bundle/manifest.js';
export { type BundleSummary, summarizeBundle } from './bundle/summary.js';
export { type BundleParts, writeBundle } from './bundle/write.js';

// scorer: ONNX writer and onnxruntime sessions
export { OnnxGraphBuilder } from './onnx/builder.js';
export { buildMlpScorer, type MlpWeights, mlpForwardReference, randomMlpWeights } from './scorer/mlp.js';
export { createScorerSession, type ScorerSession, scoreBatch } from './scorer/session.js';

// training
export { type Dataset, type IngestOptions, ingest } from './data/ingest.js';
export { type SynthOptions, synthesize } from './data/synth.js';
export { exactAuc, logLoss } from './stats/auc.js';
export { type TrainOptions, type TrainResult, trainModel } from './train/trainer.js';
export { TRAINING_METHODS } from './mpe/methods.js';

// serving and operations
export { resolveConfig, type ServeConfig } from './config/config.js';
export { createServer, type RunningServer, type ServerDeps } from './app/create-server.js';
export { createModelStore, type ModelStore } from './model-store/store.js';
