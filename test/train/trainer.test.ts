import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { loadBundle } from '../../src/bundle/load.js';
import { synthesize } from '../../src/data/synth.js';
import { fieldToken } from '../../src/features/token.js';
import { bundleIdsOf } from '../../src/mpe/score-bundle.js';
import { createScorerSession, scoreBatch } from '../../src/scorer/session.js';
import { type TrainOptions, trainModel } from '../../src/train/trainer.js';

const dir = mkdtempSync(join(tmpdir(), 'mpe-trainer-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const data = join(dir, 'synth.txt');
synthesize({ rows: 5000, out: data, seed: 12 });
const tiny: Omit<TrainOptions, 'out'> = { data, hidden: [16, 8], d: 4, epochs: 3, batchSize: 256, lr: 0.01, intraOpThreads: 1, seed: 5 };

test('trainModel writes a bundle whose scorer reproduces the trainer test predictions (1e-5); same seed -> same metrics', async () => {
  const r = await trainModel({ ...tiny, out: join(dir, 'b1') });
  assert.ok(r.metrics.test.auc > 0.6, `test AUC ${r.metrics.test.auc}`);
  assert.ok(r.metrics.valid.auc > 0.6);
  assert.equal(r.metrics.test.rows, r.dataset.stats.rowsPerSplit[2]);
  const b = await loadBundle(r.bundleDir);
  assert.equal(b.manifest.model.method, 'fp32');
  assert.equal(b.manifest.featureCount, r.dataset.featureCount);
  assert.equal(b.manifest.metrics.testAuc, r.metrics.test.auc);
  assert.ok(b.manifest.table.bitsPerGroup.every((x) => x === 32));
  // Map the raw test lines through the bundle's vocabulary (as the service does), look the rows up
  // in the bundle's table and score them with the bundle's scorer.
  const lines = readFileSync(data, 'latin1').split('\n');
  const F = b.fields.length;
  const n = r.testPredictions.rowIndex.length;
  const ids = new Int32Array(n * F);
  // Format v2 reorders rows (compact vocabulary): data-set ids map to bundle ids one to one (fp32: nothing pruned).
  const map = bundleIdsOf(r.dataset, b.vocab, b.fields);
  assert.equal(new Set(map).size, r.dataset.featureCount);
  assert.equal(b.manifest.formatVersion, 2);
  assert.equal(b.manifest.vocabulary?.index, 'compact');
  for (let i = 0; i < n; i++) {
    const row = r.testPredictions.rowIndex[i]!;
    const cols = lines[row]!.split('\t');
    for (let f = 0; f < F; f++) {
      const spec = b.fields[f]!;
      const id = b.vocab.lookup(f, fieldToken(spec, cols[1 + f])!);
      ids[i * F + f] = id >= 0 ? id : spec.oovId;
      assert.equal(ids[i * F + f], map[r.dataset.ids[row * F + f]!]);
    }
  }
  const x = new Float32Array(n * F * b.manifest.d);
  b.table.dequantize(ids, n * F, x);
  // Copied: loadBundle's bytes may live in a SharedArrayBuffer, which onnxruntime-node rejects.
  const { session } = await createScorerSession(new Uint8Array(b.scorerBytes), { provider: 'cpu', intraOpThreads: 1 });
  const p = await scoreBatch(session, x, n, F * b.manifest.d);
  let maxDiff = 0;
  for (let i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs(p[i]! - r.testPredictions.probabilities[i]!));
  assert.ok(maxDiff <= 1e-5, `max |diff| ${maxDiff}`);
  await session.release();

  const r2 = await trainModel({ ...tiny, out: join(dir, 'b2') });
  assert.deepEqual(r2.metrics, r.metrics);
  const r3 = await trainModel({ ...tiny, seed: 6, out: join(dir, 'b3') });
  assert.notEqual(r3.metrics.test.auc, r.metrics.test.auc);
});

test('trainModel: bad data fails with the data error and writes nothing; bad options are MPE_ERR_TRAIN_CONFIG', async () => {
  const bad = join(dir, 'bad.txt');
  writeFileSync(bad, `${readFileSync(data, 'latin1').split('\n').slice(0, 5).join('\n')}\n1\t2\n`);
  const out = join(dir, 'never');
  await assert.rejects(trainModel({ ...tiny, data: bad, out }), (e: Error & { code?: string }) => e.code === 'MPE_ERR_DATA_COLUMNS' && e.message.includes(`${bad}:6:`));
  assert.equal(existsSync(out), false);
  await assert.rejects(trainModel({ ...tiny, out, method: 'nope' }), { code: 'MPE_ERR_TRAIN_CONFIG' });
  await assert.rejects(trainModel({ ...tiny, out, batchSize: 0 }), { code: 'MPE_ERR_TRAIN_CONFIG' });
});

const criteo10k = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/data/criteo-10k/train.txt');
test('criteo-10k sanity: AUC well above 0.5', { skip: existsSync(criteo10k) ? false : `${criteo10k} absent` }, async () => {
  const r = await trainModel({ data: criteo10k, out: join(dir, 'criteo'), hidden: [32, 16], d: 8, epochs: 3, batchSize: 512, intraOpThreads: 1 });
  assert.ok(r.metrics.test.auc > 0.62, `test AUC ${r.metrics.test.auc}`);
  console.log(`criteo-10k: valid AUC ${r.metrics.valid.auc}, test AUC ${r.metrics.test.auc}`);
});
