/**
 * `mpe inspect <bundle> [--json]`: groups, bits histogram, bytes per section, compression ratios
 * and checksum state of a bundle. Exits 1 (after printing the report) when a checksum is wrong.
 */
import type { Command } from 'commander';
import { loadBundle } from '../bundle/load.js';
import { type BundleSummary, summarizeBundle } from '../bundle/summary.js';
import { MpeError } from '../errors.js';

/** Left-aligned first column, right-aligned others. */
function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, r[i]!.length);
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function ratio(x: number | null): string {
  return x === null ? 'inf' : `${x.toFixed(2)}x`;
}

/** The human-readable report. */
export function formatSummary(dir: string, s: BundleSummary): string {
  const pct = (a: number, b: number): string => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);
  const out: string[] = [];
  out.push(`bundle   ${dir}`);
  out.push(`model    ${s.model.name} ${s.model.version} (${s.model.method}, created ${s.model.createdAt})`);
  out.push(`table    ${s.table.kind}, d=${s.d}, ${s.featureCount} features, ${s.fieldCount} fields, ${s.table.groupCount} groups of ${s.table.groupSize}${s.table.groupPad > 0 ? ` (the first, most frequent, of ${s.table.groupSize - s.table.groupPad})` : ''}`);
  out.push('');
  out.push(table([['bits', 'groups', 'features', 'share'], ...s.bitsHistogram.map((r) => [String(r.bits), String(r.groups), String(r.features), pct(r.features, s.featureCount)])]));
  out.push('');
  const b = s.bytes;
  out.push(
    table([
      ['section', 'bytes', 'share'],
      ['manifest.json', String(b.manifest), pct(b.manifest, b.total)],
      ['table.bin header+metadata', String(b.tableHeader), pct(b.tableHeader, b.total)],
      ['table.bin data', String(b.tableData), pct(b.tableData, b.total)],
      ['vocab.bin', String(b.vocab), pct(b.vocab, b.total)],
      ['scorer.onnx', String(b.scorer), pct(b.scorer, b.total)],
      ['total', String(b.total), '100.0%'],
    ]),
  );
  out.push('');
  out.push(
    table([
      ['average bits per feature', s.averageBits.toFixed(3)],
      ['weights-only ratio (32 / avg bits)', ratio(s.ratios.weightsOnly)],
      ['all-in bytes (table.bin + vocab.bin)', String(s.ratios.allInBytes)],
      ['fp32 all-in bytes (4*d*features + vocab.bin)', String(s.ratios.fp32AllInBytes)],
      ['all-in ratio', ratio(s.ratios.allIn)],
    ]),
  );
  out.push('');
  out.push(table([['file', 'checksum'], ...Object.entries(s.checksums).map(([f, st]) => [f, st])]));
  return `${out.join('\n')}\n`;
}

/** Registers the `inspect` subcommand. */
export function register(program: Command): void {
  program
    .command('inspect')
    .description('describe a model bundle: bit widths, bytes per section, compression ratios, checksums')
    .argument('<bundle>', 'bundle directory')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, o: { json?: boolean }) => {
      // Checksums are recomputed and reported per file rather than failing the load on the first bad one.
      const s = await summarizeBundle(await loadBundle(dir, { verify: false }));
      process.stdout.write(o.json ? `${JSON.stringify({ dir, ...s }, null, 2)}\n` : formatSummary(dir, s));
      const bad = Object.entries(s.checksums).filter(([, st]) => st !== 'ok');
      if (bad.length > 0) throw new MpeError('MPE_ERR_BUNDLE_CHECKSUM', bad.map(([f]) => f).join(', '));
    });
}
