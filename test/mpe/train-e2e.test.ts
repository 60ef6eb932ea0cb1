import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadBundle } from '../../src/bundle/load.js';
import { type Dataset, ingest, SPLIT_TEST } from '../../src/data/ingest.js';
import { synthesize } from '../../src/data/synth.js';
import { TRAINING_METHODS } from '../../src/mpe/methods.js';
import { quantizeBundleRowwise } from '../../src/mpe/rowwise.js';
import { scoreBundleOnSplit } from '../../src/mpe/score-bundle.js';
import { buildFrequencyGroups } from '../../src/mpe/groups.js';
import { averageBitsPerFeature } from '../../src/mpe/selection.js';
import { bundleSizeOf, keysPerGroup } from '../../src/train/bundle-size.js';
import type { TrainEvent } from '../../src/train/loop.js';
import { trainModel } from '../../src/train/trainer.js';

// Small and fast: 6k synthetic rows, a 32-wide net, 2 epochs per phase.
const SMALL = { hidden: [32], epochs: 2, patience: 2, batchSize: 256, d: 8, intraOpThreads: 1 } as const;

let dir = '';
let ds: Dataset;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpe-e2e-'));
  const file = join(dir, 'synth.txt');
  synthesize({ rows: 6000, out: file, seed: 11 });
  ds = await ingest({ path: file, format: 'criteo', seed: 11 });
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('mpe train end to end: frequent groups keep more bits than rare ones, 0-bit groups pruned, bundle reproduces the trainer', async () => {
  const out = join(dir, 'mpe');
  const r = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out, method: 'mpe', ...SMALL, methodOptions: { groups: 16, lambda: 3e-4 } });
  const info = r.manifest.training as unknown as { mpe: { bitsPerGroup: number[]; averageBits: number; groupSize: number; groupPad: number } };
  const bits = info.mpe.bitsPerGroup;
  assert.equal(bits.length, 16);
  const half = bits.length / 2;
  const frequent = bits.slice(0, half).reduce((a, b) => a + b, 0) / half;
  const rare = bits.slice(half).reduce((a, b) => a + b, 0) / half;
  assert.ok(frequent > rare, `frequent groups ${frequent} bits > rare groups ${rare} bits (${bits.join(',')})`);
  assert.ok(bits[bits.length - 1] === 0, `the rarest group is pruned (${bits.join(',')})`);
  assert.deepEqual(r.phases.map((p) => p.name), ['search', 'retrain']);
  assert.ok(r.metrics.test.auc > 0.55, `test AUC ${r.metrics.test.auc}`);
  // The bundle's table is the retrained one at the selected precisions.
  const b = await loadBundle(out, { verify: true });
  assert.equal(b.table.spec.kind, 'grouped');
  if (b.table.spec.kind === 'grouped') assert.deepEqual([...b.table.spec.bitsPerGroup], bits);
  assert.ok(Math.abs(info.mpe.averageBits - averageBitsPerFeature(Uint8Array.from(bits), ds.featureCount, info.mpe.groupSize, info.mpe.groupPad)) < 1e-12);
  // docs/mpe.md "Groups": the one partial group is the most frequent (group 0 here), and the bundle stores that grouping
  assert.equal(info.mpe.groupPad, 16 * info.mpe.groupSize - ds.featureCount);
  if (b.table.spec.kind === 'grouped') assert.equal(b.table.spec.groupPad ?? 0, info.mpe.groupPad);
  assert.equal(r.testPredictions.probabilities.length, ds.stats.rowsPerSplit[SPLIT_TEST]);
  await assertReproduces(out, r.testPredictions);
  // row-wise quantization starts from fp32 rows only
  await assert.rejects(quantizeBundleRowwise(out, join(dir, 'rw-bad'), 8), { code: 'MPE_ERR_MPE_CONFIG' });
});

/** The bundle, as served (packed table + ONNX scorer), scores the test split as the trainer evaluated it. */
async function assertReproduces(bundleDir: string, p: { rowIndex: Int32Array; probabilities: Float32Array }): Promise<void> {
  const s = await scoreBundleOnSplit(bundleDir, ds, SPLIT_TEST, 1);
  assert.deepEqual(s.rowIndex, p.rowIndex);
  let maxDiff = 0;
  for (let i = 0; i < s.rows; i++) maxDiff = Math.max(maxDiff, Math.abs(s.probabilities[i]! - p.probabilities[i]!));
  assert.ok(maxDiff <= 1e-5, `max |bundle - trainer| = ${maxDiff}`);
}

test('row-wise int8/int4 from an fp32 bundle: layout, metrics close to fp32 for int8', async () => {
  const fp = join(dir, 'fp32');
  const r = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out: fp, method: 'fp32', ...SMALL, epochs: 1 });
  for (const bits of [8, 4] as const) {
    const out = join(dir, `rw${bits}`);
    const m = await quantizeBundleRowwise(fp, out, bits);
    assert.equal(m.model.method, bits === 8 ? 'rowwise-int8' : 'rowwise-int4');
    const b = await loadBundle(out, { verify: true });
    assert.equal(b.table.spec.kind, 'rowwise');
    assert.equal(b.bytesBySection.tableData, ds.featureCount * ((bits * SMALL.d) / 8 + 4));
    const s = await scoreBundleOnSplit(out, ds, SPLIT_TEST, 1);
    if (bits === 8) assert.ok(Math.abs(s.auc - r.metrics.test.auc) < 0.01, `int8 AUC ${s.auc} vs fp32 ${r.metrics.test.auc}`);
  }
  await assertReproduces(fp, r.testPredictions);
});

test('uniform train end to end: every group at b bits; bad --bits is MPE_ERR_MPE_CONFIG', async () => {
  const out = join(dir, 'u4');
  const r = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out, method: 'uniform', ...SMALL, epochs: 1, methodOptions: { bits: 4 } });
  const b = await loadBundle(out, { verify: true });
  assert.equal(b.table.spec.kind, 'grouped');
  if (b.table.spec.kind === 'grouped') assert.ok(b.table.spec.bitsPerGroup.every((x) => x === 4));
  assert.ok(r.metrics.test.auc > 0.55);
  await assertReproduces(out, r.testPredictions);
  await assert.rejects(trainModel({ dataset: ds, methods: TRAINING_METHODS, out: join(dir, 'bad'), method: 'uniform', ...SMALL, methodOptions: { bits: 9 } }), { code: 'MPE_ERR_MPE_CONFIG' });
  await assert.rejects(trainModel({ dataset: ds, methods: TRAINING_METHODS, out: join(dir, 'bad'), method: 'mpe', ...SMALL, methodOptions: { bits: '0,x' } }), { code: 'MPE_ERR_MPE_CONFIG' });
});

test('budget mode: bisection probes are the first epochs of the full search, which is the run --lambda L does', async () => {
  const target = 1.5;
  const r = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out: join(dir, 'budget'), method: 'mpe', ...SMALL, epochs: 1, methodOptions: { groups: 16, targetBits: target, budgetProbes: 4 } });
  type Info = { mpe: { lambda: number; lambdaFromBudget: boolean; searchAverageBits: number; budget: { searchBits: number; probeEpochs: number; probeCalibrated: boolean; probes: { lambda: number; bits: number; epochs: number; bestEpoch: number }[] } } };
  const info = (r.manifest.training as unknown as Info).mpe;
  const probes = info.budget.probes;
  assert.equal(info.lambdaFromBudget, true);
  assert.equal(probes.length, 4);
  assert.equal(info.budget.probeCalibrated, true);
  assert.equal(info.budget.probeEpochs, probes[0]!.bestEpoch);
  // The chosen lambda is the smallest probe meeting the target, or the largest probed one if none did.
  const meeting = probes.filter((p) => p.bits <= target);
  const expected = meeting.length > 0 ? Math.min(...meeting.map((p) => p.lambda)) : Math.max(...probes.map((p) => p.lambda));
  assert.equal(info.lambda, expected);
  // Same init, same shuffles: with one epoch per phase the probe at the chosen lambda IS the full search.
  const used = probes.find((p) => p.lambda === info.lambda)!;
  assert.equal(used.bits, info.budget.searchBits, JSON.stringify(probes));
  assert.equal(info.searchAverageBits, info.budget.searchBits);
  // And the full search is what --lambda L runs.
  const plain = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out: join(dir, 'plain-lambda'), method: 'mpe', ...SMALL, epochs: 1, methodOptions: { groups: 16, lambda: info.lambda } });
  assert.equal((plain.manifest.training as unknown as Info).mpe.searchAverageBits, info.budget.searchBits);
});

test('budget mode holds a target the search overshoots: the written table is at or under it, and the report says how far it moved', async () => {
  // tau = 10 keeps the search's softmax near uniform for the few steps of this run, so every group
  // keeps p >= 1/(2K) on 6 bits and the search selects 6 bits everywhere, far over the 1.5-bit target.
  const out = join(dir, 'budget-held');
  const target = 1.5;
  const r = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out, method: 'mpe', ...SMALL, epochs: 1, methodOptions: { groups: 16, tau: 10, targetBits: target, budgetProbes: 2 } });
  const info = r.manifest.training as unknown as {
    mpe: { averageBits: number; bitsPerGroup: number[]; groupSize: number; lambda: number; budget: { targetBits: number; lambda: number; searchBits: number; bits: number; groupsLowered: number; stepsLowered: number; moves: { group: number; from: number; to: number }[] } };
  };
  const b = info.mpe.budget;
  assert.equal(b.targetBits, target);
  assert.equal(b.lambda, info.mpe.lambda);
  assert.ok(b.searchBits > target + 1, `the search overshoots: ${b.searchBits}`);
  assert.ok(b.bits <= target, `held: ${b.bits} <= ${target}`);
  assert.equal(b.bits, info.mpe.averageBits);
  assert.ok(b.groupsLowered > 0 && b.stepsLowered >= b.groupsLowered);
  assert.equal(b.moves.length, b.stepsLowered);
  // What the bundle stores is the enforced selection.
  const bundle = await loadBundle(out, { verify: true });
  assert.equal(bundle.table.spec.kind, 'grouped');
  if (bundle.table.spec.kind === 'grouped') {
    assert.deepEqual([...bundle.table.spec.bitsPerGroup], info.mpe.bitsPerGroup);
    assert.ok(averageBitsPerFeature(bundle.table.spec.bitsPerGroup, ds.featureCount, bundle.table.spec.groupSize, bundle.table.spec.groupPad ?? 0) <= target);
  }
  assert.ok(r.metrics.test.auc > 0.5, `test AUC ${r.metrics.test.auc}`);
  await assertReproduces(out, r.testPredictions);
});

test('budget flags are checked before anything is read or trained: range, conflicts, candidates', async () => {
  const none = join(dir, 'no-such-file.txt'); // a check after ingestion would fail with MPE_ERR_DATA_NOT_FOUND instead
  const reject = (methodOptions: Record<string, unknown>, code: string, message?: RegExp) =>
    assert.rejects(trainModel({ data: none, methods: TRAINING_METHODS, out: join(dir, 'never'), method: 'mpe', ...SMALL, methodOptions }), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, code, e.message);
      if (message) assert.match(e.message ?? '', message);
      return true;
    });
  await reject({ targetBits: -0.5 }, 'MPE_ERR_MPE_TARGET_RANGE', /--target-bits must be in 0\.\.32, got -0\.5/);
  await reject({ targetBits: 32.5 }, 'MPE_ERR_MPE_TARGET_RANGE');
  await reject({ targetRatio: 0.9 }, 'MPE_ERR_MPE_TARGET_RANGE', /--target-ratio must be >= 1/);
  await reject({ targetBits: 0.5, bits: '1,2,4' }, 'MPE_ERR_MPE_TARGET_RANGE', /below the smallest candidate width 1/);
  await reject({ targetBits: 2, lambda: 1e-3 }, 'MPE_ERR_MPE_TARGET_CONFLICT', /--target-bits and --lambda/);
  await reject({ targetRatio: 16, lambda: 1e-3 }, 'MPE_ERR_MPE_TARGET_CONFLICT', /--target-ratio and --lambda/);
  await reject({ targetBits: 2, targetRatio: 16 }, 'MPE_ERR_MPE_TARGET_CONFLICT');
  await reject({ targetBits: 2, probeEpochs: 0 }, 'MPE_ERR_MPE_CONFIG', /--probe-epochs/);
  await reject({ targetBits: 2, budgetCost: 'luck' }, 'MPE_ERR_MPE_CONFIG', /--budget-cost/);
  // In range, it reaches ingestion (which then fails on the missing file): 0 and 32 are valid targets.
  await reject({ targetBits: 0 }, 'MPE_ERR_DATA_NOT_FOUND');
  await reject({ targetBits: 32 }, 'MPE_ERR_DATA_NOT_FOUND');
  await reject({ targetRatio: 1 }, 'MPE_ERR_DATA_NOT_FOUND');
  // --target-bytes: a byte size (number or "50MB"-like string), alone, at least 1 byte.
  await reject({ targetBytes: '5MB', targetBits: 2 }, 'MPE_ERR_MPE_TARGET_CONFLICT', /--target-bits and --target-bytes/);
  await reject({ targetBytes: 5e6, targetRatio: 16 }, 'MPE_ERR_MPE_TARGET_CONFLICT', /--target-ratio and --target-bytes/);
  await reject({ targetBytes: '5MB', lambda: 1e-3 }, 'MPE_ERR_MPE_TARGET_CONFLICT', /--target-bytes and --lambda/);
  await reject({ targetBytes: 0 }, 'MPE_ERR_MPE_TARGET_RANGE', /--target-bytes must be a whole number of bytes from 1/);
  await reject({ targetBytes: 1.5 }, 'MPE_ERR_MPE_TARGET_RANGE');
  await reject({ targetBytes: '0.2B' }, 'MPE_ERR_MPE_TARGET_RANGE');
  await reject({ targetBytes: '5 parsecs' }, 'MPE_ERR_MPE_CONFIG', /--target-bytes must be a size in bytes/);
  await reject({ targetBytes: '5MB' }, 'MPE_ERR_DATA_NOT_FOUND');
  await reject({ targetBytes: 1 }, 'MPE_ERR_DATA_NOT_FOUND'); // reachability depends on the data: checked after ingestion
});

/** table.bin + vocab.bin of this data set at `bits` per group (G groups, d 8, --pruned oov). */
function allInBytes(G: number, bitsOf: (g: number) => number): { total: number; groups: number } {
  const g = buildFrequencyGroups(ds.trainCounts, G);
  const sizeOf = bundleSizeOf({ featureCount: ds.featureCount, d: SMALL.d, groupSize: g.groupSize, groupPad: g.groupPad, keysPerGroup: keysPerGroup(ds.vocab, g.groupOf, g.groups), dropPruned: true });
  return { total: sizeOf(Uint8Array.from({ length: g.groups }, (_, i) => bitsOf(i))).total, groups: g.groups };
}

test('budget mode --target-bytes: the bundle written (table.bin + vocab.bin, vocabulary included) is at or under the target, and the report says so exactly', async () => {
  // tau = 10: the search selects 6 bits everywhere (see above); the target sits between the
  // smallest bundle (everything pruned) and that selection, so the enforcement must act.
  const all6 = allInBytes(16, () => 6).total;
  const floor = allInBytes(16, () => 0).total;
  const target = Math.floor(floor + 0.4 * (all6 - floor));
  const out = join(dir, 'budget-bytes');
  const r = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out, method: 'mpe', ...SMALL, epochs: 1, methodOptions: { groups: 16, tau: 10, targetBytes: `${target}B`, budgetProbes: 2 } });
  type B = { targetBits: number | null; targetBytes: number; targetFrom: string; hit: boolean; searchBytes: number; bytes: number; tableBytes: number; vocabBytes: number; bits: number; groupsLowered: number; probes: { bytes: number }[] };
  const info = (r.manifest.training as unknown as { mpe: { budget: B; targetBytes: number; bitsPerGroup: number[]; averageBits: number } }).mpe;
  const b = info.budget;
  assert.equal(b.targetBytes, target);
  assert.equal(b.targetBits, null);
  assert.equal(b.targetFrom, '--target-bytes');
  assert.equal(info.targetBytes, target);
  assert.equal(b.searchBytes, all6, 'the search selected 6 bits everywhere');
  assert.ok(b.groupsLowered > 0);
  // Achieved = the files on disk, and within the target.
  const table = statSync(join(out, 'table.bin')).size;
  const vocab = statSync(join(out, 'vocab.bin')).size;
  assert.deepEqual({ tableBytes: b.tableBytes, vocabBytes: b.vocabBytes, bytes: b.bytes }, { tableBytes: table, vocabBytes: vocab, bytes: table + vocab });
  assert.ok(b.bytes <= target, `written ${b.bytes} <= target ${target}`);
  assert.equal(b.hit, true);
  assert.equal(b.bits, info.averageBits);
  assert.equal(b.probes.length, 2);
  assert.ok(b.probes.every((p) => p.bytes > 0));
  assert.ok(r.metrics.test.auc > 0.5, `test AUC ${r.metrics.test.auc}`);
  await assertReproduces(out, r.testPredictions);
});

test('budget mode --target-bytes below the smallest bundle the run can write: MPE_ERR_MPE_TARGET_RANGE naming that size, before any training', async () => {
  const floor = allInBytes(16, () => 0).total;
  const floor1 = allInBytes(16, () => 1).total; // without 0 in --bits every group keeps 1 bit and every key
  const events: TrainEvent[] = [];
  const run = (targetBytes: number, extra: Record<string, unknown> = {}) =>
    trainModel({ dataset: ds, methods: TRAINING_METHODS, out: join(dir, 'unreachable'), method: 'mpe', ...SMALL, epochs: 1, onEvent: (e) => events.push(e), methodOptions: { groups: 16, targetBytes, ...extra } });
  await assert.rejects(run(floor - 1), (e: { code?: string; message?: string }) => {
    assert.equal(e.code, 'MPE_ERR_MPE_TARGET_RANGE');
    assert.match(e.message ?? '', new RegExp(`--target-bytes ${floor - 1} is below the smallest bundle this run can write, ${floor} bytes .*every group pruned`));
    return true;
  });
  await assert.rejects(run(floor1 - 1, { bits: '1,2,4' }), (e: { code?: string; message?: string }) => {
    assert.equal(e.code, 'MPE_ERR_MPE_TARGET_RANGE');
    assert.match(e.message ?? '', new RegExp(`${floor1} bytes .*every group at 1 bits.*add 0 to --bits`));
    return true;
  });
  assert.equal(events.filter((e) => e.type === 'epoch-start').length, 0, 'nothing was trained');
  assert.equal(existsSync(join(dir, 'unreachable')), false);
});
