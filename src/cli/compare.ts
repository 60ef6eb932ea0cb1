/**
 * `mpe compare --data FILE --methods fp32,uniform4,mpe[,rowwise-int8,...] --out DIR`: trains
 * every method on the same ingested data and split, prints the comparison table and the bits
 * chosen per group (text bars), and writes DIR/compare.json, DIR/compare.md and one SVG chart
 * per grouped mixed-precision method (DIR/bits-<method>.svg). Bundles stay in DIR/<method>/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ingest } from '../data/ingest.js';
import { MpeError } from '../errors.js';
import { addDataOptions, type DataFlags, dataSourceOf, listFlag as list } from './data-options.js';
import { bitsBars, bitsSvg, compareMarkdown, parseMethods, runComparison } from '../mpe/compare.js';
import { validateMpeMethodOptions } from '../mpe/methods.js';

interface CompareFlags extends DataFlags {
  data: string;
  methods: string;
  out: string;
  name?: string;
  epochs?: string;
  batchSize?: string;
  hidden?: string;
  d?: string;
  seed?: string;
  threads?: string;
  minCount?: string;
  groups?: string;
  bits?: string;
  tau?: string;
  lambda?: string;
  targetBits?: string;
  targetRatio?: string;
  probeEpochs?: string;
  budgetCost?: string;
  json?: boolean;
}

function n(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new MpeError('MPE_ERR_MPE_CONFIG', `${flag} must be a number, got '${v}'`);
  return x;
}


/** Registers the `compare` subcommand. */
export function register(program: Command): void {
  const cmd = program.command('compare');
  addDataOptions(cmd)
    .description('train several methods on the same data and split, and write a comparison report')
    .requiredOption('--data <file>', 'data file (Criteo text, plain or .gz, or delimited text with a header)')
    .requiredOption('--out <dir>', 'report directory (one bundle per method inside)')
    .option('--methods <list>', 'fp32, mpe, uniform<b>, rowwise-int8, rowwise-int4', 'fp32,uniform4,mpe')
    .option('--name <label>', 'data set label in the report')
    .option('--epochs <n>', 'max epochs per phase (default 8)')
    .option('--batch-size <n>', 'batch size (default 2048)')
    .option('--hidden <list>', 'hidden layer widths (default 1024,512,256)')
    .option('--d <n>', 'embedding dimension (default 16)')
    .option('--seed <n>', 'seed of split, init and shuffles (default 2022)')
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .option('--min-count <n>', 'min count on the train split (default 2)')
    .option('--groups <n>', 'mpe: frequency groups (default 128)')
    .option('--bits <list>', 'mpe: candidate bit widths (default 0,1,2,3,4,5,6)')
    .option('--tau <t>', 'mpe: softmax temperature (default 3e-3)')
    .option('--lambda <l>', 'mpe: regulariser weight (default 3e-4)')
    .option('--target-bits <b>', 'mpe: find lambda for at most b bits per weight')
    .option('--target-ratio <r>', 'mpe: find lambda for at least r x weights-only compression')
    .option('--probe-epochs <n>', 'mpe budget mode: epochs of each lambda probe (default 1)')
    .option('--budget-cost <c>', 'mpe budget mode: distortion (default) | probability')
    .option('--json', 'print the report as JSON')
    .action(async (o: CompareFlags) => {
      const seed = n(o.seed, '--seed');
      const minCount = n(o.minCount, '--min-count');
      const source = dataSourceOf(o);
      const log = (m: string) => process.stderr.write(`${m}\n`);
      const mpe: Record<string, unknown> = {};
      for (const [k, v] of [['groups', o.groups], ['tau', o.tau], ['lambda', o.lambda], ['targetBits', o.targetBits], ['targetRatio', o.targetRatio], ['probeEpochs', o.probeEpochs]] as const) {
        if (v !== undefined) mpe[k] = n(v, `--${k}`);
      }
      if (o.bits !== undefined) mpe.bits = o.bits;
      if (o.budgetCost !== undefined) mpe.budgetCost = o.budgetCost;
      if (parseMethods(o.methods).some((m) => m.method.kind === 'mpe')) validateMpeMethodOptions(mpe); // before ingesting
      const ds = await ingest({ path: o.data, ...source, ...(seed !== undefined ? { seed } : {}), ...(minCount !== undefined ? { minCount } : {}) });
      log(`ingested ${ds.rows} rows, ${ds.featureCount} features`);
      const train: Record<string, unknown> = {};
      const put = (k: string, v: unknown) => {
        if (v !== undefined) train[k] = v;
      };
      put('epochs', n(o.epochs, '--epochs'));
      put('batchSize', n(o.batchSize, '--batch-size'));
      put('hidden', o.hidden ? list(o.hidden).map(Number) : undefined);
      put('d', n(o.d, '--d'));
      put('seed', seed);
      put('intraOpThreads', n(o.threads, '--threads'));
      mkdirSync(o.out, { recursive: true });
      const rep = await runComparison({
        name: o.name ?? o.data,
        dataset: ds,
        outDir: o.out,
        methods: o.methods,
        train,
        mpe,
        onEvent: (e) => {
          if (e.type === 'log') log(e.message);
          else if (e.type === 'epoch-end') log(`${e.phase} epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(5)}, valid AUC ${e.valid.auc.toFixed(5)}, ${Math.round(e.samplesPerSecond)} samples/s`);
        },
      });
      let md = `${compareMarkdown(rep)}\n`;
      let bars = '';
      for (const r of rep.results) {
        const bpg = r.bitsPerGroup;
        if (!bpg?.some((b) => b !== bpg[0])) continue;
        const svgName = `bits-${r.method}.svg`;
        writeFileSync(join(o.out, svgName), bitsSvg(`${rep.dataset}: bits per group, ${r.method}`, bpg));
        md += `\n![bits per group, ${r.method}](${svgName})\n`;
        bars += `\nbits per group, ${r.method} (group 0 = most frequent):\n${bitsBars(bpg)}\n`;
      }
      writeFileSync(join(o.out, 'compare.json'), `${JSON.stringify(rep, null, 2)}\n`);
      writeFileSync(join(o.out, 'compare.md'), md);
      process.stdout.write(o.json ? `${JSON.stringify(rep)}\n` : `${compareMarkdown(rep)}\n${bars}`);
    });
}
