/**
 * `mpe train --data FILE --out DIR [--method fp32] [...]`: trains a CTR model and writes a bundle.
 * `--counts-from redis://HOST:PORT --model NAME` ranks features by train counts blended with the
 * replicas' live lookup counts (train/live-counts.ts), read before training starts.
 * Progress: a cli-progress bar (rows/s, loss, ETA) on a terminal, plain log lines otherwise;
 * `--json` prints the result as one JSON object on stdout.
 */
import type { Command } from 'commander';
import { MpeError } from '../errors.js';
import { type BudgetReport, budgetLine, TRAINING_METHODS } from '../mpe/methods.js';
import { DEFAULT_COUNTS_WEIGHT, readLiveRanking } from '../train/live-counts.js';
import { runSummary } from '../train/run-summary.js';
import { trainModel } from '../train/trainer.js';
import { createReporter } from './progress.js';
import { addTrainingOptions, numberFlag, resolveTraining, type TrainingFlags } from './train-options.js';

interface TrainFlags extends TrainingFlags {
  out: string;
  method: string;
  name?: string;
  modelVersion?: string;
  json?: boolean;
  countsFrom?: string;
  model?: string;
  countsVersion?: string;
  countsBundle?: string;
  countsWeight?: number;
  countsPrefix: string;
}

/** Registers the `train` subcommand. */
export function register(program: Command): void {
  const train = program.command('train');
  addTrainingOptions(train)
    .description('train a CTR model (fp32 embeddings, or a registered method such as mpe) and write a bundle')
    .requiredOption('--out <dir>', 'bundle directory to write')
    .option('--method <name>', 'fp32 | mpe | uniform', 'fp32')
    .option('--name <name>', 'model name (default ctr)')
    .option('--model-version <v>', 'model version (default 1)')
    .option('--json', 'print the run summary as JSON on stdout (everything the manifest records about the run)')
    .option('--counts-from <url>', 'rank features by train counts blended with live lookup counts from this Redis (redis://HOST:PORT; needs --model)')
    .option('--model <name>', 'registry model name whose live counts to use (with --counts-from)')
    .option('--counts-version <v>', 'version whose live counts to use (default: --counts-bundle\'s version, else the current one)')
    .option('--counts-bundle <dir>', 'bundle of that version, for its vocabulary (default: the registry record\'s location)')
    .option('--counts-weight <w>', `weight of the live counts in the ranking, 0..1 (default ${DEFAULT_COUNTS_WEIGHT})`, numberFlag('--counts-weight', false))
    .option('--counts-prefix <p>', 'registry key prefix', 'mpe');
  train.action(async (f: TrainFlags) => {
    const t0 = performance.now();
    const resolved = resolveTraining(f);
    const { source } = resolved;
    const countsFlags = f.model !== undefined || f.countsVersion !== undefined || f.countsBundle !== undefined || f.countsWeight !== undefined;
    if (f.countsFrom === undefined && countsFlags) throw new MpeError('MPE_ERR_TRAIN_CONFIG', '--model and --counts-* need --counts-from redis://HOST:PORT');
    if (f.countsFrom !== undefined && f.model === undefined) throw new MpeError('MPE_ERR_TRAIN_CONFIG', '--counts-from needs --model NAME (the registry model whose live counts to use)');
    // Read (and check) the live counts before any training, so a failure writes nothing.
    const ranking =
      f.countsFrom === undefined
        ? undefined
        : await readLiveRanking({
            url: f.countsFrom,
            model: f.model!,
            prefix: f.countsPrefix,
            ...(f.countsVersion !== undefined ? { version: f.countsVersion } : {}),
            ...(f.countsBundle !== undefined ? { bundleDir: f.countsBundle } : {}),
            ...(f.countsWeight !== undefined ? { weight: f.countsWeight } : {}),
          }, (await import('../model-store/live-counts.js')).readStoredLiveCounts); // ioredis only with --counts-from
    if (ranking) {
      const r = ranking.info;
      process.stderr.write(
        `ranking: train counts blended with ${r.sampledLookups} sampled live lookups of ${r.model} ${r.version} (weight ${r.weight}; sampled at ${r.sampleRate}, count-min estimates within ${(100 * r.sketchEpsilon).toFixed(2)}% of a field's lookups)\n`,
      );
    }
    const reporter = createReporter(f.json === true);
    try {
      const r = await trainModel({
        ...(source.files ? { files: source.files } : { data: source.data! }),
        format: source.format,
        ...(source.csv ? { csv: source.csv } : {}),
        splitSeed: source.splitSeed,
        minCount: source.minCount,
        skipBadLines: source.skipBadLines,
        out: f.out,
        method: f.method,
        methods: TRAINING_METHODS,
        methodOptions: resolved.methodOptions,
        ...resolved.train,
        ...(f.name !== undefined ? { modelName: f.name } : {}),
        ...(f.modelVersion !== undefined ? { modelVersion: f.modelVersion } : {}),
        ...(ranking ? { ranking } : {}),
        onEvent: reporter.onEvent,
      });
      const wallSeconds = (performance.now() - t0) / 1000;
      const budget = (r.manifest.training as { mpe?: { budget?: BudgetReport | null } }).mpe?.budget ?? null;
      if (budget) process.stderr.write(`${budgetLine(budget, r.metrics.test.auc)}\n`);
      if (f.json) {
        const summary = {
          ...runSummary(r, wallSeconds),
          preset: resolved.preset,
          ...(ranking ? { ranking: ranking.info } : {}),
          ...(budget ? { budget: { ...budget, testAuc: r.metrics.test.auc } } : {}),
        };
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } else {
        const t = r.times;
        process.stdout.write(
          `wrote ${r.bundleDir} (${r.manifest.model.method}, ${r.dataset.featureCount} features)\n` +
            `valid AUC ${r.metrics.valid.auc.toFixed(5)} LogLoss ${r.metrics.valid.logLoss.toFixed(5)} | test AUC ${r.metrics.test.auc.toFixed(5)} LogLoss ${r.metrics.test.logLoss.toFixed(5)} (best epoch ${r.metrics.bestEpoch})\n` +
            `${Math.round(r.samplesPerSecond)} samples/s; seconds: parse ${t.parse.toFixed(1)}, gather ${t.gather.toFixed(1)}, dense ${t.dense.toFixed(1)}, scatter ${t.scatter.toFixed(1)}, optimizer ${t.optimizer.toFixed(1)}, eval ${t.evaluation.toFixed(1)}\n`,
        );
      }
    } finally {
      reporter.stop();
    }
  });
}
