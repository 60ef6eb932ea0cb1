import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadBundle } from '../../src/bundle/load.js';
import { type Dataset, ingest, SPLIT_TEST } from '../../src/data/ingest.js';
import { synthesize } from '../../src/data/synth.js';
import { TRAINING_METHODS } from '../../src/mpe/methods.js';
import { quantizeBundleRowwise } from '../../src/mpe/rowwise.js';
import { scoreBundleOnSplit } from '../../src/mpe/score-bundle.js';
import { averageBitsPerFeature } from '../../src/mpe/selection.js';
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

test('budget mode: the lambda found meets the bit budget on its probes and is reported', async () => {
  const out = join(dir, 'budget');
  const r = await trainModel({
    dataset: ds,
    methods: TRAINING_METHODS,
    out,
    method: 'mpe',
    ...SMALL,
    epochs: 1,
    methodOptions: { groups: 16, targetBits: 1.5, budgetProbes: 4, probeEpochs: 1 },
  });
  const info = r.manifest.training as unknown as { mpe: { lambda: number; lambdaFromBudget: boolean; budgetProbes: { lambda: number; bits: number }[]; averageBits: number } };
  assert.equal(info.mpe.lambdaFromBudget, true);
  assert.equal(info.mpe.budgetProbes.length, 4);
  const used = info.mpe.budgetProbes.find((p) => p.lambda === info.mpe.lambda);
  assert.ok(used && used.bits <= 1.5, `probe of the chosen lambda meets the budget: ${JSON.stringify(info.mpe.budgetProbes)}`);
  // every probe with a smaller lambda missed the budget
  for (const p of info.mpe.budgetProbes) if (p.lambda < info.mpe.lambda) assert.ok(p.bits > 1.5);
});
