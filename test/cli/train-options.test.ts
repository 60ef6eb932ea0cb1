import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addTrainingOptions, dataSourceOf, resolveTraining, TRAINING_FLAGS, type TrainingFlags } from '../../src/cli/train-options.js';
import { TRAIN_DEFAULTS, TRAIN_PRESETS } from '../../src/train/options.js';

const parse = (...argv: string[]): TrainingFlags => {
  const c = addTrainingOptions(new Command('x').exitOverride());
  c.parse(argv, { from: 'user' });
  return c.opts<TrainingFlags>();
};

test('data source: criteo by default; --label/--categorical/--numeric/--split-column imply csv; an explicit --format criteo with them names the flag', () => {
  assert.deepEqual(dataSourceOf({ data: 'f' }), { data: 'f', format: 'criteo', splitSeed: 2022, minCount: 2, skipBadLines: false });
  const csv = dataSourceOf({ data: 'f', label: 'y', categorical: 'a, b,', numeric: 'c', sep: '\\t' });
  assert.equal(csv.format, 'csv');
  assert.deepEqual(csv.csv, { label: 'y', categorical: ['a', 'b'], numeric: ['c'], sep: '\t' });
  assert.equal(dataSourceOf({ data: 'f', label: 'y', numeric: 'c', sep: 'tab' }).csv?.sep, '\t');
  assert.equal(dataSourceOf({ data: 'f', label: 'y', numeric: 'c', splitColumn: 's' }).csv?.splitColumn, 's');
  assert.throws(() => dataSourceOf({ data: 'f', format: 'criteo', label: 'y', categorical: 'a' }), (e: { code: string; message: string }) => e.code === 'MPE_ERR_TRAIN_CONFIG' && /--label, --categorical are csv flags/.test(e.message));
  assert.throws(() => dataSourceOf({ data: 'f', format: 'parquet' }), { code: 'MPE_ERR_TRAIN_CONFIG' });
  assert.throws(() => dataSourceOf({ data: 'f', format: 'csv', categorical: 'a' }), { code: 'MPE_ERR_DATA_SCHEMA' });
  assert.throws(() => dataSourceOf({ data: 'f', label: 'y' }), { code: 'MPE_ERR_DATA_SCHEMA' });
});

test('data source: --data or --train (+ --valid/--test), never both; --split-column excludes split files; --split-seed apart from --seed', () => {
  assert.deepEqual(dataSourceOf({ train: 'a', test: 'c' }).files, { train: 'a', test: 'c' });
  assert.throws(() => dataSourceOf({ data: 'x', train: 'a' }), { code: 'MPE_ERR_TRAIN_CONFIG' });
  assert.throws(() => dataSourceOf({}), { code: 'MPE_ERR_TRAIN_CONFIG' });
  assert.throws(() => dataSourceOf({ data: 'x', valid: 'b' }), { code: 'MPE_ERR_TRAIN_CONFIG' });
  assert.throws(() => dataSourceOf({ train: 'a', label: 'y', categorical: 'c', splitColumn: 's' }), { code: 'MPE_ERR_TRAIN_CONFIG' });
  const r = resolveTraining(parse('--data', 'f', '--seed', '7', '--split-seed', '9'));
  assert.equal(r.train.seed, 7);
  assert.equal(r.source.splitSeed, 9);
});

test('--preset paper sets the reference protocol under explicit flags; unknown presets are refused', () => {
  assert.deepEqual(TRAIN_PRESETS.paper, { epochs: 15, patience: 2, weightDecay: 0, batchSize: 2048 });
  assert.deepEqual(resolveTraining(parse('--data', 'f', '--preset', 'paper')).train, { epochs: 15, patience: 2, weightDecay: 0, batchSize: 2048 });
  const r = resolveTraining(parse('--data', 'f', '--preset', 'paper', '--epochs', '3', '--threads', '1'));
  assert.deepEqual(r.train, { epochs: 3, patience: 2, weightDecay: 0, batchSize: 2048, intraOpThreads: 1 });
  assert.equal(r.preset, 'paper');
  assert.throws(() => resolveTraining(parse('--data', 'f', '--preset', 'nope')), { code: 'MPE_ERR_TRAIN_CONFIG' });
  // no preset, no flags: the trainer's defaults apply (nothing set here)
  assert.deepEqual(resolveTraining(parse('--data', 'f')).train, {});
});

test('one definition: numeric flags parsed with codes naming the flag; MPE flags become method options', () => {
  const r = resolveTraining(parse('--data', 'f', '--hidden', '8,4', '--lambda', '1e-4', '--bits', '0,4', '--target-bits', '2', '--lr', '0.01'));
  assert.deepEqual(r.train, { hidden: [8, 4], lr: 0.01 });
  assert.deepEqual(r.methodOptions, { lambda: 1e-4, bits: '0,4', targetBits: 2 });
  assert.throws(() => parse('--data', 'f', '--epochs', 'two'), (e: { code: string; message: string }) => e.code === 'MPE_ERR_TRAIN_CONFIG' && e.message.includes('--epochs'));
  assert.throws(() => parse('--data', 'f', '--lambda', 'x'), (e: { code: string }) => e.code === 'MPE_ERR_MPE_CONFIG');
  // every flag's help names its default where the trainer has one
  for (const k of ['epochs', 'patience', 'batchSize', 'd', 'lr', 'weightDecay', 'seed', 'splitSeed', 'minCount'] as const) {
    const spec = TRAINING_FLAGS.find((s) => s.key === k)!;
    assert.ok(spec.help.includes(`default ${TRAIN_DEFAULTS[k]}`), `${spec.flag}: ${spec.help}`);
  }
});
