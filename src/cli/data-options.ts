/**
 * The data-source flags shared by `mpe train` and `mpe compare` (`--format`, and for delimited
 * text `--label`, `--categorical`, `--numeric`, `--sep`): declared and validated in one place so
 * the two commands read the same files the same way.
 */
import type { Command } from 'commander';
import type { DelimitedOptions } from '../data/schema.js';
import { MpeError } from '../errors.js';

/** The flags as commander hands them over. */
export interface DataFlags {
  format: string;
  label?: string;
  categorical?: string;
  numeric?: string;
  sep: string;
}

/** Declares the data-source flags on a command. */
export function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--format <f>', 'criteo | csv', 'criteo')
    .option('--label <col>', 'csv: label column (0/1)')
    .option('--categorical <cols>', 'csv: categorical columns, comma-separated')
    .option('--numeric <cols>', 'csv: numeric columns, comma-separated (bucketed)')
    .option('--sep <c>', "csv: separator (',', '\\t' or tab, '|')", ',');
}

/** Splits a comma-separated flag value, dropping empty entries. */
export function listFlag(v: string | undefined): string[] {
  return v ? v.split(',').map((x) => x.trim()).filter((x) => x.length > 0) : [];
}

/**
 * Validates the flags: the format, and for csv a label column and at least one feature column.
 * Returns the format and, for csv, the ingestion options.
 */
export function dataSourceOf(f: DataFlags): { format: 'criteo' | 'csv'; csv?: DelimitedOptions } {
  if (f.format === 'criteo') return { format: 'criteo' };
  if (f.format !== 'csv') throw new MpeError('MPE_ERR_TRAIN_CONFIG', `--format must be criteo or csv, got '${f.format}'`);
  const categorical = listFlag(f.categorical);
  const numeric = listFlag(f.numeric);
  if (!f.label || categorical.length + numeric.length === 0) throw new MpeError('MPE_ERR_DATA_SCHEMA', '--format csv needs --label and --categorical/--numeric');
  const sep = f.sep === '\\t' || f.sep === 'tab' ? '\t' : f.sep;
  return { format: 'csv', csv: { label: f.label, categorical, numeric, sep } };
}
