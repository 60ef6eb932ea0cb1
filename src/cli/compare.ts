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
import { bitsBars, bitsSvg, compareMarkdown, parseMethods, runComparison } from '../mpe/compare.js';
import { validateMpeMethodOptions } from '../mpe/methods.js';
import { createReporter } from './progress.js';
import { addTrainingOptions, resolveTraining, type TrainingFlags } from './train-options.js';

interface CompareFlags extends TrainingFlags {
  methods: string;
  out: string;
  name?: string;
  json?: boolean;
}

/** Registers the `compare` subcommand. */
export function register(program: Command): void {
  const cmd = program.command('compare');
  addTrainingOptions(cmd)
    .description('train several methods on the same data and split, and write a comparison report (takes every training flag of mpe train)')
    .requiredOption('--out <dir>', 'report directory (one bundle per method inside)')
    .option('--methods <list>', 'fp32, mpe, uniform<b>, rowwise-int8, rowwise-int4', 'fp32,uniform4,mpe')
    .option('--name <label>', 'data set label in the report')
    .option('--json', 'print the report as JSON')
    .action(async (o: CompareFlags) => {
      const { source, train, methodOptions } = resolveTraining(o);
      if (parseMethods(o.methods).some((m) => m.method.kind === 'mpe')) validateMpeMethodOptions(methodOptions); // before ingesting
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
