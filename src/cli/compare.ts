/**
 * `mpe compare --data FILE --methods fp32,uniform4,mpe[,mpe:2,rowwise-int8,...] --out DIR
 * [--reference FILE]`: trains every method on the same ingested data and split, prints the
 * comparison table and the bits chosen per group (text bars), and writes DIR/compare.json,
 * DIR/compare.md, one SVG chart per grouped mixed-precision method (DIR/bits-<method>.svg) and
 * DIR/pareto.svg (test AUC vs bits per weight, with the reference's points when given).
 * Bundles stay in DIR/<method>/.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ingest } from '../data/ingest.js';
import { MpeError } from '../errors.js';
import { compareMarkdown, compareReport, mpeRowOptions, type ParetoPoint, parseMethods, referencePointsFrom, runComparison } from '../mpe/compare.js';
import { validateMpeMethodOptions } from '../mpe/methods.js';
import { createReporter } from './progress.js';
import { addTrainingOptions, resolveTraining, type TrainingFlags } from './train-options.js';

interface CompareFlags extends TrainingFlags {
  methods: string;
  out: string;
  name?: string;
  json?: boolean;
  reference?: string;
}

function readReference(path: string): ParetoPoint[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MpeError('MPE_ERR_DATA_NOT_FOUND', `--reference ${path}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MpeError('MPE_ERR_TRAIN_CONFIG', `--reference ${path} is not JSON`, { cause: e });
  }
  return referencePointsFrom(json, path);
}

/** Registers the `compare` subcommand. */
export function register(program: Command): void {
  const cmd = program.command('compare');
  addTrainingOptions(cmd)
    .description('train several methods on the same data and split, and write a comparison report (takes every training flag of mpe train)')
    .requiredOption('--out <dir>', 'report directory (one bundle per method inside)')
    .option('--methods <list>', 'fp32, mpe, mpe:<b> (budget mode at b bits per weight), uniform<b>, rowwise-int8, rowwise-int4', 'fp32,uniform4,mpe')
    .option('--reference <file>', "reference points for the AUC-vs-bits chart: [{bits, auc}, ...] or a bench:fidelity result JSON (its reference runs)")
    .option('--name <label>', 'data set label in the report')
    .option('--json', 'print the report as JSON')
    .action(async (o: CompareFlags) => {
      const { source, train, methodOptions } = resolveTraining(o);
      for (const m of parseMethods(o.methods)) if (m.method.kind === 'mpe') validateMpeMethodOptions(mpeRowOptions(m.method, methodOptions)); // before ingesting
      const reference = o.reference !== undefined ? readReference(o.reference) : [];
      const log = (m: string) => process.stderr.write(`${m}\n`);
      const ds = await ingest({
        ...(source.files ? { files: source.files } : { path: source.data! }),
        format: source.format,
        ...(source.csv ? { csv: source.csv } : {}),
        seed: source.splitSeed,
        minCount: source.minCount,
        skipBadLines: source.skipBadLines,
      });
      log(`ingested ${ds.rows} rows, ${ds.featureCount} features`);
      mkdirSync(o.out, { recursive: true });
      const reporter = createReporter(o.json === true);
      const rep = await runComparison({
        name: o.name ?? source.data ?? source.files!.train,
        dataset: ds,
        outDir: o.out,
        methods: o.methods,
        train,
        mpe: methodOptions,
        onEvent: reporter.onEvent,
      }).finally(reporter.stop);
      const { files, bars } = compareReport(rep, reference);
      for (const [name, content] of Object.entries(files)) writeFileSync(join(o.out, name), content);
      process.stdout.write(o.json ? `${JSON.stringify(rep)}\n` : `${compareMarkdown(rep)}\n${bars}`);
    });
}
