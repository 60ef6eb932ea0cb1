/**
 * The training flags of `mpe train` and `mpe compare`, declared ONCE (data source and split,
 * training protocol, MPE method), parsed and validated in one place, with the defaults of
 * `train/options.ts` (TRAIN_DEFAULTS) in their help and `--preset NAME` (TRAIN_PRESETS) under
 * the explicit flags. Both commands therefore read the same files the same way and accept every
 * training flag the other does.
 *
 * Data source rules:
 *  - exactly one of `--data FILE` or `--train FILE` (with optional `--valid`, `--test`);
 *  - `--label`, `--categorical`, `--numeric` or `--split-column` imply `--format csv`; naming one
 *    with an explicit `--format criteo` is an error that names the flag (never a silent Criteo parse);
 *  - `--split-column NAME`: each row's split from that column (train/valid/test or 0/1/2),
 *    otherwise a random 8:1:1 split seeded by `--split-seed` (independent of `--seed`).
 */
import type { Command } from 'commander';
import type { SplitFiles } from '../data/ingest.js';
import type { DelimitedOptions } from '../data/schema.js';
import { type ErrorCode, MpeError } from '../errors.js';
import { TRAIN_DEFAULTS, TRAIN_PRESETS } from '../train/options.js';
import { parseByteSize } from '../util/byte-size.js';
import type { TrainOptions } from '../train/trainer.js';

/** Every training flag as commander hands it over (camel-cased; undefined = not given). */
export interface TrainingFlags {
  data?: string;
  train?: string;
  valid?: string;
  test?: string;
  format?: string;
  label?: string;
  categorical?: string;
  numeric?: string;
  sep?: string;
  splitColumn?: string;
  splitSeed?: number;
  minCount?: number;
  skipBadLines?: boolean;
  preset?: string;
  epochs?: number;
  patience?: number;
  batchSize?: number;
  hidden?: number[];
  d?: number;
  lr?: number;
  weightDecay?: number;
  seed?: number;
  threads?: number;
  groups?: number;
  bits?: string;
  tau?: number;
  lambda?: number;
  targetBits?: number;
  targetRatio?: number;
  targetBytes?: number;
  searchEpochs?: number;
  probeEpochs?: number;
  budgetProbes?: number;
  budgetCost?: string;
  pruned?: string;
}

type Kind = 'string' | 'int' | 'number' | 'intList' | 'boolean' | 'bytes';

interface FlagSpec {
  readonly flag: string;
  readonly key: keyof TrainingFlags;
  readonly kind: Kind;
  readonly help: string;
}

const D = TRAIN_DEFAULTS;
const PRESET_NAMES = Object.keys(TRAIN_PRESETS);

/** The one definition: flag, key, value kind, help. */
export const TRAINING_FLAGS: readonly FlagSpec[] = Object.freeze([
  { flag: '--data <file>', key: 'data', kind: 'string', help: 'data file, split at random (Criteo text, plain or .gz; or delimited text with a header)' },
  { flag: '--train <file>', key: 'train', kind: 'string', help: 'train split file (instead of --data; with --valid and --test)' },
  { flag: '--valid <file>', key: 'valid', kind: 'string', help: 'validation split file (with --train)' },
  { flag: '--test <file>', key: 'test', kind: 'string', help: 'test split file (with --train)' },
  { flag: '--format <f>', key: 'format', kind: 'string', help: 'criteo | csv (default criteo; csv when --label/--categorical/--numeric/--split-column is given)' },
  { flag: '--label <col>', key: 'label', kind: 'string', help: 'csv: label column (0/1)' },
  { flag: '--categorical <cols>', key: 'categorical', kind: 'string', help: 'csv: categorical columns, comma-separated' },
  { flag: '--numeric <cols>', key: 'numeric', kind: 'string', help: 'csv: numeric columns, comma-separated (bucketed)' },
  { flag: '--sep <c>', key: 'sep', kind: 'string', help: "csv: separator (',' default, '\\t' or tab, '|')" },
  { flag: '--split-column <name>', key: 'splitColumn', kind: 'string', help: 'csv: column giving each row\'s split (train/valid/test or 0/1/2) instead of a random split' },
  { flag: '--split-seed <n>', key: 'splitSeed', kind: 'int', help: `seed of the random 8:1:1 split, independent of --seed (default ${D.splitSeed})` },
  { flag: '--min-count <n>', key: 'minCount', kind: 'int', help: `min train count of a value, rarer values share their field's OOV feature (default ${D.minCount})` },
  { flag: '--skip-bad-lines', key: 'skipBadLines', kind: 'boolean', help: 'skip and count malformed lines instead of failing' },
  { flag: '--preset <name>', key: 'preset', kind: 'string', help: `protocol preset under the explicit flags: ${PRESET_NAMES.map((n) => `${n} (${describePreset(n)})`).join('; ')}` },
  { flag: '--epochs <n>', key: 'epochs', kind: 'int', help: `max epochs per phase (default ${D.epochs})` },
  { flag: '--patience <n>', key: 'patience', kind: 'int', help: `early-stopping patience in epochs (default ${D.patience})` },
  { flag: '--batch-size <n>', key: 'batchSize', kind: 'int', help: `batch size (default ${D.batchSize})` },
  { flag: '--hidden <sizes>', key: 'hidden', kind: 'intList', help: `hidden layer widths (default ${D.hidden.join(',')})` },
  { flag: '--d <n>', key: 'd', kind: 'int', help: `embedding dimension (default ${D.d})` },
  { flag: '--lr <x>', key: 'lr', kind: 'number', help: `Adam learning rate (default ${D.lr})` },
  { flag: '--weight-decay <x>', key: 'weightDecay', kind: 'number', help: `dense weight decay (default ${D.weightDecay})` },
  { flag: '--seed <n>', key: 'seed', kind: 'int', help: `seed of initialisation and shuffles (default ${D.seed}; the split has --split-seed)` },
  { flag: '--threads <n>', key: 'threads', kind: 'int', help: 'onnxruntime intra-op threads (default: one per core)' },
  { flag: '--groups <n>', key: 'groups', kind: 'int', help: 'mpe: frequency groups (default 128)' },
  { flag: '--bits <list>', key: 'bits', kind: 'string', help: 'mpe: candidate bit widths (default 0,1,2,3,4,5,6); uniform: the one bit width' },
  { flag: '--tau <t>', key: 'tau', kind: 'number', help: 'mpe: softmax temperature (default 3e-3)' },
  { flag: '--lambda <l>', key: 'lambda', kind: 'number', help: 'mpe: weight of the expected-bits regulariser (default 3e-4)' },
  { flag: '--target-bits <b>', key: 'targetBits', kind: 'number', help: 'mpe budget mode: find lambda for at most b bits per weight' },
  { flag: '--target-ratio <r>', key: 'targetRatio', kind: 'number', help: 'mpe budget mode: find lambda for at least r x weights-only compression' },
  { flag: '--target-bytes <n>', key: 'targetBytes', kind: 'bytes', help: 'mpe budget mode: find lambda for at most n bytes all-in, table.bin + vocab.bin as written (50000000, 50MB, 50MiB, 1.5GB)' },
  { flag: '--search-epochs <n>', key: 'searchEpochs', kind: 'int', help: 'mpe: max epochs of the search phase (default: --epochs)' },
  { flag: '--probe-epochs <n>', key: 'probeEpochs', kind: 'int', help: 'mpe budget mode: epochs of each lambda probe (default: calibrated by a first full search)' },
  { flag: '--budget-probes <n>', key: 'budgetProbes', kind: 'int', help: 'mpe budget mode: lambda probes of the bisection (default 7)' },
  { flag: '--budget-cost <c>', key: 'budgetCost', kind: 'string', help: 'mpe budget mode: how to rank the precision cuts that hold the budget: distortion (default) | probability' },
  { flag: '--pruned <to>', key: 'pruned', kind: 'string', help: 'mpe: a pruned feature is its field\'s OOV row, as served ("oov", default: its key leaves the vocabulary) or the zero vector ("zero": the paper)' },
] satisfies FlagSpec[]);

/** The MPE method's keys (they become `TrainOptions.methodOptions`). */
const MPE_KEYS = ['groups', 'bits', 'tau', 'lambda', 'targetBits', 'targetRatio', 'targetBytes', 'searchEpochs', 'probeEpochs', 'budgetProbes', 'budgetCost', 'pruned'] as const;
const MPE_KEY_SET: ReadonlySet<string> = new Set(MPE_KEYS);

function describePreset(name: string): string {
  return Object.entries(TRAIN_PRESETS[name]!)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
}

/** A commander parser for a numeric flag: throws `code` naming the flag on anything but a (whole) number. */
export function numberFlag(name: string, integer: boolean, code: ErrorCode = 'MPE_ERR_TRAIN_CONFIG'): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new MpeError(code, `${name} must be ${integer ? 'an integer' : 'a number'}, got '${v}'`);
    return n;
  };
}

function parser(spec: FlagSpec): ((v: string) => unknown) | undefined {
  const name = spec.flag.split(' ')[0]!;
  const code: ErrorCode = MPE_KEY_SET.has(spec.key) ? 'MPE_ERR_MPE_CONFIG' : 'MPE_ERR_TRAIN_CONFIG';
  const num = (integer: boolean) => numberFlag(name, integer, code);
  switch (spec.kind) {
    case 'int':
      return num(true);
    case 'number':
      return num(false);
    case 'intList':
      return (v) => listFlag(v).map(num(true));
    case 'bytes':
      return (v) => {
        const n = parseByteSize(v);
        if (n === undefined) throw new MpeError(code, `${name} must be a size in bytes such as 50000000, 50MB, 50MiB or 1.5GB, got '${v}'`);
        return n;
      };
    default:
      return undefined;
  }
}

/** Declares every training flag on a command (no commander defaults: undefined means "not given", so presets can apply). */
export function addTrainingOptions(cmd: Command): Command {
  for (const spec of TRAINING_FLAGS) {
    const p = parser(spec);
    if (p) cmd.option(spec.flag, spec.help, p);
    else cmd.option(spec.flag, spec.help);
  }
  return cmd;
}

/** Splits a comma-separated flag value, dropping empty entries. */
export function listFlag(v: string | undefined): string[] {
  return v ? v.split(',').map((x) => x.trim()).filter((x) => x.length > 0) : [];
}

/** Where the data comes from and how it is split and encoded (the trainer's ingestion options). */
export interface DataSource {
  readonly data?: string;
  readonly files?: SplitFiles;
  readonly format: 'criteo' | 'csv';
  readonly csv?: DelimitedOptions;
  readonly splitSeed: number;
  readonly minCount: number;
  readonly skipBadLines: boolean;
}

/** Training options after the preset and the explicit flags (keys absent = trainer default): the trainer's own fields, not a copy. */
export type ProtocolOptions = Pick<TrainOptions, 'epochs' | 'patience' | 'batchSize' | 'hidden' | 'd' | 'lr' | 'weightDecay' | 'seed' | 'intraOpThreads'>;

export interface ResolvedTraining {
  readonly source: DataSource;
  readonly train: ProtocolOptions;
  /** MPE flags for `TrainOptions.methodOptions` (validated by the method). */
  readonly methodOptions: Readonly<Record<string, unknown>>;
  readonly preset: string | null;
}

const CSV_FLAGS = [
  ['label', '--label'],
  ['categorical', '--categorical'],
  ['numeric', '--numeric'],
  ['splitColumn', '--split-column'],
] as const;

/** The data source from the flags (see the file comment for the rules). */
export function dataSourceOf(f: TrainingFlags): DataSource {
  if (f.data !== undefined && f.train !== undefined) throw new MpeError('MPE_ERR_TRAIN_CONFIG', 'give --data FILE or --train FILE (with --valid, --test), not both');
  if (f.data === undefined && f.train === undefined) throw new MpeError('MPE_ERR_TRAIN_CONFIG', 'give --data FILE, or --train FILE with optional --valid FILE and --test FILE');
  if (f.train === undefined && (f.valid !== undefined || f.test !== undefined)) throw new MpeError('MPE_ERR_TRAIN_CONFIG', '--valid and --test need --train');
  const given = CSV_FLAGS.filter(([k]) => f[k] !== undefined).map(([, flag]) => flag);
  const format = f.format ?? (given.length > 0 ? 'csv' : 'criteo');
  if (format !== 'criteo' && format !== 'csv') throw new MpeError('MPE_ERR_TRAIN_CONFIG', `--format must be criteo or csv, got '${format}'`);
  if (format === 'criteo' && given.length > 0) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `${given.join(', ')} ${given.length > 1 ? 'are' : 'is a'} csv flag${given.length > 1 ? 's' : ''}: use --format csv (or leave --format out), Criteo text has no named columns`);
  if (f.splitColumn !== undefined && f.train !== undefined) throw new MpeError('MPE_ERR_TRAIN_CONFIG', '--split-column and --train/--valid/--test exclude each other');
  const files = f.train !== undefined ? { train: f.train, ...(f.valid !== undefined ? { valid: f.valid } : {}), ...(f.test !== undefined ? { test: f.test } : {}) } : undefined;
  const common = {
    ...(files ? { files } : { data: f.data! }),
    splitSeed: f.splitSeed ?? D.splitSeed,
    minCount: f.minCount ?? D.minCount,
    skipBadLines: f.skipBadLines === true,
  };
  if (format === 'criteo') return { ...common, format };
  const categorical = listFlag(f.categorical);
  const numeric = listFlag(f.numeric);
  if (!f.label || categorical.length + numeric.length === 0) throw new MpeError('MPE_ERR_DATA_SCHEMA', '--format csv needs --label and --categorical/--numeric');
  const raw = f.sep ?? ',';
  const sep = raw === '\\t' || raw === 'tab' ? '\t' : raw;
  return { ...common, format, csv: { label: f.label, categorical, numeric, sep, ...(f.splitColumn !== undefined ? { splitColumn: f.splitColumn } : {}) } };
}

/** Resolves every training flag: data source, protocol (preset under explicit flags), MPE options. */
export function resolveTraining(f: TrainingFlags): ResolvedTraining {
  let preset: Readonly<Record<string, unknown>> = {};
  if (f.preset !== undefined) {
    const p = TRAIN_PRESETS[f.preset];
    if (!p) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `--preset must be one of ${PRESET_NAMES.join(', ')}, got '${f.preset}'`);
    preset = p;
  }
  const train: Record<string, unknown> = {};
  for (const k of ['epochs', 'patience', 'batchSize', 'hidden', 'd', 'lr', 'weightDecay', 'seed'] as const) {
    const v = f[k] ?? preset[k];
    if (v !== undefined) train[k] = v;
  }
  if (f.threads !== undefined) train.intraOpThreads = f.threads;
  const methodOptions: Record<string, unknown> = {};
  for (const k of MPE_KEYS) if (f[k] !== undefined) methodOptions[k] = f[k];
  return { source: dataSourceOf(f), train: train as ProtocolOptions, methodOptions, preset: f.preset ?? null };
}
