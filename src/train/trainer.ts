/**
 * `trainModel(options)`: ingest -> train with a method (fp32 built in, others from the `methods` map
 * the caller passes) -> evaluate on test at the best validation epoch -> write a bundle (table, vocabulary,
 * ONNX scorer, manifest with metrics and data statistics). The CLI (`cli/train.ts`), the MPE
 * experiments and the server's demo-bundle builder all call this.
 */
import { writeBundle } from '../bundle/write.js';
import type { Manifest } from '../bundle/manifest.js';
import { packTable } from '../codec/pack-table.js';
import { type Dataset, type IngestOptions, ingest, type RankBy, SPLIT_TEST, type SplitFiles } from '../data/ingest.js';
import type { DelimitedOptions } from '../data/schema.js';
import { MpeError } from '../errors.js';
import { buildMlpScorer } from '../scorer/mlp.js';
import { buildBundleVocabulary } from './bundle-vocabulary.js';
import { DenseNet } from './dense-net.js';
import { predictRows, type SplitMetrics, splitRows } from './evaluate.js';
import { emptyTimes, fitPhase, type PhaseResult, type StageTimes, type TrainEvent } from './loop.js';
import { FP32_ONLY, type MethodContext, type MethodOptions, type MethodsMap, pickMethod } from './methods.js';
import { TRAIN_DEFAULTS } from './options.js';

export interface TrainOptions {
  /** Data file (Criteo text, plain or .gz, or delimited text with a header); or `files`, or `dataset`. */
  readonly data?: string;
  /** One file per split instead of `data`. */
  readonly files?: SplitFiles;
  /** Seed of the random split (default TRAIN_DEFAULTS.splitSeed, independent of `seed`). */
  readonly splitSeed?: number;
  /** An already ingested data set (skips ingestion; e.g. several methods on the same data). */
  readonly dataset?: Dataset;
  /** Default 'criteo'. */
  readonly format?: 'criteo' | 'csv';
  readonly csv?: DelimitedOptions;
  /** Output bundle directory. */
  readonly out: string;
  /** 'fp32' (default) or a registered method ('mpe', 'uniform'). */
  readonly method?: string;
  /** The methods `method` is looked up in (default: fp32 only; `TRAINING_METHODS` of mpe/methods.ts adds mpe and uniform). */
  readonly methods?: MethodsMap;
  readonly modelName?: string;
  readonly modelVersion?: string;
  /** Max epochs (default 8, docs/mpe.md "Defaults"). */
  readonly epochs?: number;
  /** Early-stopping patience in epochs (default 3). */
  readonly patience?: number;
  /** Default 2048. */
  readonly batchSize?: number;
  /** Hidden layer widths (default 1024,512,256). */
  readonly hidden?: readonly number[];
  /** Embedding dimension (default 16). */
  readonly d?: number;
  /** Adam learning rate for all parameters (default 1e-3). */
  readonly lr?: number;
  /** L2 weight decay of the dense part (default 3e-6, the authors' Criteo value). */
  readonly weightDecay?: number;
  /** BatchNorm after each hidden layer (default true). */
  readonly batchNorm?: boolean;
  /** Embedding init std (default 0.003). */
  readonly initStd?: number;
  /** Seed of initialisation and shuffles (default 2022; the split has `splitSeed`). */
  readonly seed?: number;
  readonly minCount?: number;
  readonly skipBadLines?: boolean;
  /** onnxruntime intra-op threads (default: one per core). */
  readonly intraOpThreads?: number;
  /** Method-specific options (MPE: lambda, tau...). */
  readonly methodOptions?: Readonly<Record<string, unknown>>;
  /**
   * Ranks features by another key than the train count (ingestion's `rankBy`, e.g. live counts
   * from `train/live-counts.ts`); `info` is recorded as the manifest's `data.ranking`. Ignored with `dataset`.
   */
  readonly ranking?: { readonly rankBy: RankBy; readonly info: Readonly<Record<string, unknown>> };
  readonly onEvent?: (e: TrainEvent) => void;
}

export interface TrainMetrics {
  readonly valid: SplitMetrics;
  readonly test: SplitMetrics;
  /** Best validation epoch of the last phase (its checkpoint was exported). */
  readonly bestEpoch: number;
}

export interface TrainResult {
  readonly bundleDir: string;
  readonly manifest: Manifest;
  readonly metrics: TrainMetrics;
  readonly phases: readonly PhaseResult[];
  /** Stage seconds over all phases, plus ingestion ('parse'). */
  readonly times: StageTimes & { parse: number };
  /** Training samples / training seconds over all phases (evaluation excluded). */
  readonly samplesPerSecond: number;
  readonly dataset: Dataset;
  /** Test-split predictions of the exported model (dataset row index, probability). */
  readonly testPredictions: { readonly rowIndex: Int32Array; readonly probabilities: Float32Array };
}

function resolveOptions(o: TrainOptions): MethodOptions & { hidden: number[]; weightDecay: number; batchNorm: boolean } {
  const D = TRAIN_DEFAULTS;
  const r = {
    d: o.d ?? D.d,
    batchSize: o.batchSize ?? D.batchSize,
    epochs: o.epochs ?? D.epochs,
    patience: o.patience ?? D.patience,
    lr: o.lr ?? D.lr,
    seed: o.seed ?? D.seed,
    initStd: o.initStd ?? D.initStd,
    hidden: (o.hidden ?? D.hidden).slice(),
    weightDecay: o.weightDecay ?? D.weightDecay,
    batchNorm: o.batchNorm ?? D.batchNorm,
    extra: o.methodOptions ?? {},
  };
  const posInt = (v: number, name: string) => {
    if (!Number.isInteger(v) || v < 1) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `${name} must be a positive integer, got ${v}`);
  };
  posInt(r.d, 'd');
  posInt(r.batchSize, 'batch size');
  posInt(r.epochs, 'epochs');
  posInt(r.patience, 'patience');
  for (const h of r.hidden) posInt(h, 'hidden size');
  if (!(r.lr > 0 && Number.isFinite(r.lr))) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `lr must be > 0, got ${r.lr}`);
  if (!(r.weightDecay >= 0)) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `weight decay must be >= 0, got ${r.weightDecay}`);
  if (!(r.initStd >= 0)) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `init std must be >= 0, got ${r.initStd}`);
  if (!o.out) throw new MpeError('MPE_ERR_TRAIN_CONFIG', 'an output directory is required');
  return r;
}

/** Trains a model and writes its bundle. See {@link TrainOptions} for defaults. */
export async function trainModel(o: TrainOptions): Promise<TrainResult> {
  const opts = resolveOptions(o);
  const method = pickMethod(o.methods ?? FP32_ONLY, o.method ?? 'fp32');
  method.validate?.(opts.extra);
  const emit = o.onEvent ?? (() => {});
  let ds = o.dataset;
  let parseSeconds = 0;
  if (!ds) {
    if (!o.data && !o.files) throw new MpeError('MPE_ERR_TRAIN_CONFIG', 'pass a data file (--data) or one file per split (--train, --valid, --test)');
    if (o.data && o.files) throw new MpeError('MPE_ERR_TRAIN_CONFIG', 'pass --data or --train/--valid/--test, not both');
    const io: IngestOptions = {
      ...(o.files ? { files: o.files } : { path: o.data! }),
      format: o.format ?? 'criteo',
      ...(o.csv ? { csv: o.csv } : {}),
      ...(o.minCount !== undefined ? { minCount: o.minCount } : {}),
      seed: o.splitSeed ?? TRAIN_DEFAULTS.splitSeed,
      skipBadLines: o.skipBadLines ?? false,
      ...(o.ranking ? { rankBy: o.ranking.rankBy } : {}),
      onProgress: (lines) => emit({ type: 'log', message: `read ${lines} lines` }),
    };
    ds = await ingest(io);
    parseSeconds = ds.stats.seconds;
    const sk = Object.entries(ds.stats.skipped);
    emit({
      type: 'log',
      message: `ingested ${ds.rows} rows, ${ds.featureCount} features in ${parseSeconds.toFixed(1)} s${sk.length ? `; skipped ${sk.map(([k, v]) => `${v} (${k})`).join(', ')}` : ''}`,
    });
  }
  const dataset = ds;
  const net = await DenseNet.create({
    inputDim: dataset.fieldCount * opts.d,
    hidden: opts.hidden,
    batchNorm: opts.batchNorm,
    lr: opts.lr,
    weightDecay: opts.weightDecay,
    seed: opts.seed,
    ...(o.intraOpThreads !== undefined ? { intraOpThreads: o.intraOpThreads } : {}),
  });
  const phases: PhaseResult[] = [];
  try {
    const ctx: MethodContext = {
      dataset,
      options: opts,
      net,
      emit,
      async fit(stage, phase) {
        const r = await fitPhase(dataset, stage, net, {
          epochs: opts.epochs,
          patience: opts.patience,
          batchSize: opts.batchSize,
          seed: opts.seed + phases.length + 1,
          onEvent: emit,
          ...(o.intraOpThreads !== undefined ? { intraOpThreads: o.intraOpThreads } : {}),
          ...phase,
        });
        phases.push(r);
        return r;
      },
    };
    const outcome = await method.run(ctx);
    const last = phases[phases.length - 1];
    if (!last) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `method ${method.name} ran no training phase`);
    const t0 = performance.now();
    const test = await predictRows(dataset, splitRows(dataset, SPLIT_TEST), outcome.stage, net, o.intraOpThreads);
    const evalTest = (performance.now() - t0) / 1000;
    const metrics: TrainMetrics = { valid: last.bestValid, test: { auc: test.auc, logLoss: test.logLoss, rows: test.rows }, bestEpoch: last.bestEpoch };
    emit({ type: 'log', message: `test AUC ${test.auc.toFixed(5)}, LogLoss ${test.logLoss.toFixed(5)} (best valid epoch ${last.bestEpoch})` });

    const times = { ...emptyTimes(), parse: parseSeconds };
    let samples = 0;
    let trainSeconds = 0;
    for (const p of phases) {
      for (const k of Object.keys(p.times) as (keyof StageTimes)[]) times[k] += p.times[k];
      samples += p.samples;
      trainSeconds += p.trainSeconds;
    }
    times.evaluation += evalTest;
    const samplesPerSecond = samples / Math.max(trainSeconds, 1e-9);

    const { spec, weights, prunedToOov } = outcome.stage.exportTable();
    // Format v2: compact vocabulary (pruned keys out when they resolve to OOV), rows reordered to match.
    const bv = buildBundleVocabulary(dataset, spec, weights, prunedToOov === true);
    emit({ type: 'log', message: `vocabulary: ${bv.keys} of ${bv.allKeys} keys kept, ${bv.vocabBytes.byteLength} bytes (${(bv.vocabBytes.byteLength / Math.max(1, bv.keys)).toFixed(2)} per key, ${bv.runs} runs)` });
    const manifest = await writeBundle(o.out, {
      manifest: {
        model: { name: o.modelName ?? 'ctr', version: o.modelVersion ?? '1', method: method.name },
        fields: bv.fields,
        metrics: {
          validAuc: metrics.valid.auc,
          validLogLoss: metrics.valid.logLoss,
          testAuc: metrics.test.auc,
          testLogLoss: metrics.test.logLoss,
          bestEpoch: metrics.bestEpoch,
          samplesPerSecond,
          phases: phases.map((p) => ({ name: p.name, bestEpoch: p.bestEpoch, epochs: p.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, validAuc: h.valid.auc, validLogLoss: h.valid.logLoss })) })),
        },
        data: {
          source: o.data ?? o.files ?? null,
          split: o.dataset
            ? 'given data set'
            : o.files
              ? 'files'
              : o.csv?.splitColumn !== undefined
                ? { column: o.csv.splitColumn }
                : { random: [0.8, 0.1, 0.1], seed: o.splitSeed ?? TRAIN_DEFAULTS.splitSeed },
          rows: dataset.rows,
          rowsPerSplit: dataset.stats.rowsPerSplit,
          positivesPerSplit: dataset.stats.positivesPerSplit,
          featureCount: dataset.featureCount,
          featuresPerField: dataset.stats.featuresPerField,
          distinctPerField: dataset.stats.distinctPerField,
          minCount: dataset.stats.minCount,
          skippedLines: dataset.stats.skipped,
          ...(o.ranking && !o.dataset ? { ranking: o.ranking.info } : {}),
          vocabulary: { keys: bv.keys, allKeys: bv.allKeys, indexRuns: bv.runs, prunedToOov: prunedToOov === true },
        },
        training: {
          method: method.name,
          d: opts.d,
          hidden: opts.hidden,
          batchNorm: opts.batchNorm,
          batchSize: opts.batchSize,
          epochs: opts.epochs,
          patience: opts.patience,
          lr: opts.lr,
          weightDecay: opts.weightDecay,
          initStd: opts.initStd,
          seed: opts.seed,
          ...(outcome.info ?? {}),
        },
      },
      tableSpec: spec,
      tableData: packTable(spec, bv.weights),
      vocabBytes: bv.vocabBytes,
      vocabAllKeys: bv.allKeys,
      scorerBytes: buildMlpScorer(net.toMlpWeights()),
    });
    return { bundleDir: o.out, manifest, metrics, phases, times, samplesPerSecond, dataset, testPredictions: { rowIndex: test.rowIndex, probabilities: test.probabilities } };
  } finally {
    await net.close();
  }
}
