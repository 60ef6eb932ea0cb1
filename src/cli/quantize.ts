/**
 * `mpe quantize --rowwise int8|int4 IN OUT`: post-training row-wise quantization of an fp32
 * bundle (FBGEMM/TorchRec layout: per row codes + fp16 scale + fp16 bias).
 */
import type { Command } from 'commander';
import { parseRowwiseBits, quantizeBundleRowwise } from '../mpe/rowwise.js';

/** Registers the `quantize` subcommand. */
export function register(program: Command): void {
  program
    .command('quantize')
    .description('row-wise int8/int4 quantization of an fp32 bundle')
    .requiredOption('--rowwise <kind>', 'int8 | int4')
    .argument('<in>', 'fp32 bundle directory')
    .argument('<out>', 'output bundle directory')
    .action(async (inDir: string, outDir: string, o: { rowwise: string }) => {
      const bits = parseRowwiseBits(o.rowwise);
      const m = await quantizeBundleRowwise(inDir, outDir, bits);
      process.stdout.write(`wrote ${outDir}: ${m.model.method}, table.bin ${m.files['table.bin'].bytes} bytes (${m.featureCount} rows, d = ${m.d})\n`);
    });
}
