/**
 * `mpe import DIR --out BUNDLE [--vocab FILE] [--id-map FILE]`: a PyTorch export
 * (tools/torch/export.py) becomes a bundle (docs/interop.md). The importer is loaded lazily.
 */
import type { Command } from 'commander';

/** Registers the `import` subcommand. */
export function register(program: Command): void {
  program
    .command('import')
    .description('build a bundle from a PyTorch export (tools/torch/export.py): re-rank, bit-pack, validate the ONNX scorer')
    .argument('<dir>', 'export directory (mpe-export.json, table.safetensors, scorer.onnx)')
    .requiredOption('--out <bundle>', 'bundle directory to write (replaced if it holds a bundle)')
    .option('--vocab <file>', 'raw-value -> feature-index TSV (field<TAB>value<TAB>index); without it the bundle is ids-only')
    .option('--id-map <file>', 'write torch feature index -> bundle id (TSV) here')
    .option('--name <name>', "model name (default: the export's name)")
    .option('--version <version>', 'model version', '1')
    .action(async (dir: string, o: { out: string; vocab?: string; idMap?: string; name?: string; version: string }) => {
      const { importTorchExport } = await import('../interop/import.js');
      const r = await importTorchExport(dir, o.out, { vocabFile: o.vocab, idMapFile: o.idMap, name: o.name, version: o.version });
      const t = r.manifest.table;
      const hist = Object.entries(r.bitsHistogram)
        .map(([b, n]) => `${b}:${n}`)
        .join(' ');
      process.stdout.write(
        `imported ${dir} -> ${o.out}: ${r.manifest.featureCount} features (bits:features ${hist}), d=${r.manifest.d}, ` +
          `${t.groupCount} groups of ${t.groupSize}, ${r.manifest.fields.length} fields, ${r.vocabEntries} vocabulary entries` +
          `${o.idMap ? `, id map ${o.idMap}` : ''}\n`,
      );
    });
}
