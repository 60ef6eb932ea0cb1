/**
 * `mpe synth --rows N --out FILE [--seed S] [--base-rate R]`: writes a synthetic Criteo-format
 * data set with a planted click model and prints the planted model's AUC (the ceiling).
 */
import type { Command } from 'commander';
import { MpeError } from '../errors.js';
import { synthesize } from '../data/synth.js';

function int(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `${name} must be an integer, got '${v}'`);
    return n;
  };
}

/** Registers the `synth` subcommand. */
export function register(program: Command): void {
  program
    .command('synth')
    .description('write a synthetic Criteo-like data set with a planted click model')
    .requiredOption('--rows <n>', 'rows to write', int('--rows'))
    .requiredOption('--out <file>', 'output file (tab-separated Criteo format)')
    .option('--seed <s>', 'seed', int('--seed'), 2022)
    .option('--base-rate <r>', 'mean click rate', Number, 0.22)
    .option('--json', 'print the result as JSON')
    .action((o: { rows: number; out: string; seed: number; baseRate: number; json?: boolean }) => {
      const r = synthesize({ rows: o.rows, out: o.out, seed: o.seed, baseRate: o.baseRate });
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ file: o.out, ...r })}\n`);
        return;
      }
      const ctr = ((100 * r.positives) / r.rows).toFixed(2);
      process.stdout.write(
        `wrote ${r.rows} rows (${(r.bytes / 1e6).toFixed(1)} MB, CTR ${ctr}%) to ${o.out} in ${r.seconds.toFixed(1)} s\n` +
          `planted model AUC (ceiling): ${r.ceilingAuc.toFixed(5)}\n`,
      );
    });
}
