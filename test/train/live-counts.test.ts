/**
 * `mpe train --counts-from`: live counts flushed by the real FrequencySampler (real Redis, unique
 * prefix and model) against a small bundle re-rank the features of the next training: tokens that
 * were rare in training but hot in the replayed stream get lower ids and more frequent MPE groups
 * than the same training without the counts. Without Redis the command fails and writes nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import { loadBundle } from '../../src/bundle/load.js';
import { register } from '../../src/cli/train.js';
import { type Dataset, ingest, SPLIT_TRAIN } from '../../src/data/ingest.js';
import { keyLayout } from '../../src/model-store/keys.js';
import { createRedisClient } from '../../src/model-store/redis-client.js';
import { createModelStore } from '../../src/model-store/store.js';
import { readStoredLiveCounts } from '../../src/model-store/live-counts.js';
import { flushSampler, readLiveCounts } from '../../src/model-store/stats-store.js';
import { createFrequencySampler } from '../../src/stats/sampler.js';
import { blendLiveCounts, readLiveRanking } from '../../src/train/live-counts.js';
import { trainModel } from '../../src/train/trainer.js';
import { createRng } from '../../src/util/random.js';
import { cleanupPrefix, freePort, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix();
const model = `regroup-${randomBytes(3).toString('hex')}`;
const ROWS = 3000;
/** c1 has tokens a0..a19 with Zipf weights 1/(k+1): a17..a19 are the rarest in training. */
const HOT = ['a17', 'a18', 'a19'];
/** Sampled live lookups of each hot token, and of every other token. */
const HOT_LOOKUPS = 2000;
const COLD_LOOKUPS = 10;
const CSV_ARGS = ['--format', 'csv', '--label', 'y', '--categorical', 'c1,c2'];
const SMALL_ARGS = ['--hidden', '4', '--d', '2', '--epochs', '1', '--batch-size', '512', '--threads', '1', '--method', 'mpe', '--groups', '4', '--search-epochs', '1'];

let root: string;
let data: string;
let v1: string;

function mpe(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Tiny CSV: label, c1 (Zipf over 20 tokens), c2 (uniform over 10). */
function syntheticCsv(rows: number, seed: number): string {
  const rng = createRng(seed);
  const w = Array.from({ length: 20 }, (_, k) => 1 / (k + 1));
  const sum = w.reduce((a, b) => a + b, 0);
  const lines = ['y,c1,c2'];
  for (let r = 0; r < rows; r++) {
    let u = rng.next() * sum;
    let k = 0;
    while (k < 19 && u >= w[k]!) u -= w[k++]!;
    const b = rng.int(10);
    const y = rng.next() < 0.2 + 0.02 * k + 0.03 * b ? 1 : 0;
    lines.push(`${y},a${k},b${b}`);
  }
  return `${lines.join('\n')}\n`;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-live-counts-'));
  data = join(root, 'data.csv');
  await writeFile(data, syntheticCsv(ROWS, 7));
  // Bundle v1: the one the replicas served.
  v1 = join(root, 'v1');
  await trainModel({ data, format: 'csv', csv: { label: 'y', categorical: ['c1', 'c2'], numeric: [], sep: ',' }, out: v1, modelVersion: '1', hidden: [4], d: 2, epochs: 1, batchSize: 512, intraOpThreads: 1 });
  // Replayed stream through the real sampler (rate 1), flushed to Redis under version 1.
  const b = await loadBundle(v1);
  const oovIds = b.fields.map((f) => f.oovId);
  const sampler = createFrequencySampler({ rate: 1, groupSize: b.manifest.table.groupSize, featureCount: b.manifest.featureCount, oovIds, samplingSeed: 1 });
  const c1 = b.fields.findIndex((f) => f.name === 'c1');
  const c2 = b.fields.findIndex((f) => f.name === 'c2');
  for (let k = 0; k < 20; k++) {
    const id = b.vocab.lookup(c1, `a${k}`);
    assert.ok(id >= 0, `a${k} in v1's vocabulary`);
    const n = HOT.includes(`a${k}`) ? HOT_LOOKUPS : COLD_LOOKUPS;
    for (let i = 0; i < n; i++) sampler.observe(c1, id);
  }
  for (let k = 0; k < 10; k++) {
    const id = b.vocab.lookup(c2, `b${k}`);
    for (let i = 0; i < COLD_LOOKUPS; i++) sampler.observe(c2, id);
  }
  const redis = createRedisClient(SHARED_REDIS_URL, { role: 'cli' });
  try {
    assert.equal(await flushSampler(redis, keyLayout(model, prefix), '1', sampler), 3 * HOT_LOOKUPS + 27 * COLD_LOOKUPS);
  } finally {
    redis.disconnect();
  }
  // v1 is the registry's current version: --counts-from resolves its bundle from the record.
  const reg = createModelStore({ url: SHARED_REDIS_URL, model, prefix });
  try {
    await reg.publish({ version: '1', location: v1, checksums: {}, createdAt: b.manifest.model.createdAt, metrics: {} });
  } finally {
    await reg.close();
  }
});

after(async () => {
  await rm(root, { recursive: true, force: true });
  await cleanupPrefix(prefix);
});

const csv = { label: 'y', categorical: ['c1', 'c2'], numeric: [], sep: ',' };

test('the blend ranks by (1 - w) * train + w * live rescaled to the train rows; vocabulary, train counts and OOV unchanged', async () => {
  const plain = await ingest({ path: data, format: 'csv', csv });
  const { rankBy, info } = await readLiveRanking({ url: SHARED_REDIS_URL, model, prefix, bundleDir: v1 }, readStoredLiveCounts);
  assert.equal(info.version, '1');
  assert.equal(info.sampledLookups, 3 * HOT_LOOKUPS + 27 * COLD_LOOKUPS);
  const live = await ingest({ path: data, format: 'csv', csv, rankBy });
  assert.equal(live.featureCount, plain.featureCount);
  assert.deepEqual(live.stats.featuresPerField, plain.stats.featuresPerField);
  const rc = live.rankCounts!;
  for (let i = 1; i < live.featureCount; i++) assert.ok(rc[i - 1]! >= rc[i]!, `rank key non-increasing at ${i}`);
  // trainCounts stays the train split's occurrences of each (renumbered) id.
  const recount = new Float64Array(live.featureCount);
  for (let r = 0; r < live.rows; r++) if (live.split[r] === SPLIT_TRAIN) for (let f = 0; f < live.fieldCount; f++) recount[live.ids[r * live.fieldCount + f]!]!++;
  assert.deepEqual(Array.from(live.trainCounts), Array.from(recount));

  const trainRows = live.stats.rowsPerSplit[SPLIT_TRAIN];
  const c1Total = 3 * HOT_LOOKUPS + 17 * COLD_LOOKUPS;
  const epsN = info.sketchEpsilon * c1Total; // count-min: estimate in [true, true + eps * N] (w.p. 1 - delta)
  const idOf = (ds: Dataset, field: number, token: string) => ds.vocab[field]!.ids[ds.vocab[field]!.tokens.indexOf(token)]!;
  for (const t of HOT) {
    const id = idOf(live, 0, t);
    const lo = 0.5 * live.trainCounts[id]! + (0.5 * HOT_LOOKUPS * trainRows) / c1Total;
    assert.ok(rc[id]! >= lo - 1e-9 && rc[id]! <= lo + (0.5 * epsN * trainRows) / c1Total + 1e-9, `${t}: key ${rc[id]} vs ${lo}`);
    assert.ok(id < 3, `${t} hot live: id ${id} is among the first three (was ${idOf(plain, 0, t)})`);
    assert.ok(idOf(plain, 0, t) > 20, `${t} rare in training: id ${idOf(plain, 0, t)}`);
  }
  // The OOV feature of c2 (no c2 token is below min-count here) keeps its zero train count and gets the field's OOV share (0).
  assert.equal(rc[live.fields[1]!.oovId], 0);

  // w = 0: the ranking of the plain ingestion exactly.
  const b = await loadBundle(v1);
  const reg = createRedisClient(SHARED_REDIS_URL, { role: 'cli' });
  try {
    const counts = (await readLiveCounts(reg, keyLayout(model, prefix), '1'))!;
    const zero = await ingest({ path: data, format: 'csv', csv, rankBy: blendLiveCounts(counts, b, 0) });
    assert.deepEqual(Array.from(zero.ids), Array.from(plain.ids));
    assert.throws(() => blendLiveCounts(counts, b, 1.5), { code: 'MPE_ERR_TRAIN_CONFIG' });
    assert.throws(() => blendLiveCounts(counts, { fields: b.fields.slice(1), vocab: b.vocab }), { code: 'MPE_ERR_BUNDLE_MISMATCH' });
  } finally {
    reg.disconnect();
  }
  await assert.rejects(readLiveRanking({ url: SHARED_REDIS_URL, model, prefix, bundleDir: v1, version: '2' }, readStoredLiveCounts), { code: 'MPE_ERR_REGISTRY_NOT_FOUND' });
  await assert.rejects(readLiveRanking({ url: SHARED_REDIS_URL, model: `${model}-none`, prefix }, readStoredLiveCounts), { code: 'MPE_ERR_REGISTRY_NOT_FOUND' });
});

test('mpe train --counts-from redis://... --model NAME: live-hot features get lower ids and more frequent groups; the manifest records the source', async () => {
  const plainDir = join(root, 'plain');
  const liveDir = join(root, 'live');
  const p = await mpe(['train', '--data', data, ...CSV_ARGS, '--out', plainDir, ...SMALL_ARGS, '--json']);
  assert.equal(p.code, 0, p.stderr);
  const l = await mpe(['train', '--data', data, ...CSV_ARGS, '--out', liveDir, ...SMALL_ARGS, '--model-version', '2', '--counts-from', SHARED_REDIS_URL, '--model', model, '--counts-prefix', prefix, '--json']);
  assert.equal(l.code, 0, l.stderr);
  assert.match(l.stderr, new RegExp(`ranking: train counts blended with ${3 * HOT_LOOKUPS + 27 * COLD_LOOKUPS} sampled live lookups of ${model} 1 \\(weight 0.5`));
  assert.equal(JSON.parse(l.stdout).ranking.version, '1');
  const [bp, bl] = await Promise.all([loadBundle(plainDir), loadBundle(liveDir)]);
  assert.equal(bl.manifest.featureCount, bp.manifest.featureCount);
  const gs = bl.manifest.table.groupSize;
  assert.equal(gs, bp.manifest.table.groupSize);
  for (const t of HOT) {
    const before = bp.vocab.lookup(0, t);
    const now = bl.vocab.lookup(0, t);
    assert.ok(now < before, `${t}: id ${now} < ${before}`);
    assert.equal(Math.floor(now / gs), 0, `${t} now in the most frequent group`);
    assert.ok(Math.floor(before / gs) >= 2, `${t} was in a rare group (${Math.floor(before / gs)})`);
  }
  const ranking = JSON.parse(await readFile(join(liveDir, 'manifest.json'), 'utf8')).data.ranking;
  assert.deepEqual([ranking.source, ranking.model, ranking.version, ranking.bundle, ranking.weight], ['live-counts', model, '1', v1, 0.5]);
  assert.equal(JSON.parse(await readFile(join(plainDir, 'manifest.json'), 'utf8')).data.ranking, undefined);
});

test('mpe train --counts-from: Redis unreachable -> MPE_ERR_REGISTRY_UNAVAILABLE and nothing written; bad flags -> MPE_ERR_TRAIN_CONFIG', async () => {
  const port = await freePort();
  const out = join(root, 'never');
  const r = await mpe(['train', '--data', data, ...CSV_ARGS, '--out', out, ...SMALL_ARGS, '--counts-from', `redis://127.0.0.1:${port}`, '--model', model]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /MPE_ERR_REGISTRY_UNAVAILABLE/);
  assert.equal(existsSync(out), false);
  // Flag checks in process (each spawn costs seconds of tsx start-up).
  const train = (...args: string[]) => {
    const program = new Command().exitOverride();
    register(program);
    return program.parseAsync(['node', 'mpe', 'train', '--data', data, ...CSV_ARGS, '--out', out, ...args]);
  };
  await assert.rejects(train('--counts-from', SHARED_REDIS_URL), { code: 'MPE_ERR_TRAIN_CONFIG', message: /--model/ });
  await assert.rejects(train('--model', model), { code: 'MPE_ERR_TRAIN_CONFIG', message: /--counts-from/ });
  await assert.rejects(train('--counts-from', SHARED_REDIS_URL, '--model', model, '--counts-prefix', prefix, '--counts-weight', '2'), { code: 'MPE_ERR_TRAIN_CONFIG', message: /counts-weight/ });
  await assert.rejects(train('--counts-from', SHARED_REDIS_URL, '--model', model, '--counts-prefix', prefix, '--counts-bundle', v1, '--counts-version', '9'), { code: 'MPE_ERR_REGISTRY_NOT_FOUND' });
  // A counts bundle of another version than the counts asked for.
  await assert.rejects(train('--counts-from', SHARED_REDIS_URL, '--model', model, '--counts-prefix', prefix, '--counts-bundle', join(root, 'live'), '--counts-version', '1'), { code: 'MPE_ERR_TRAIN_CONFIG', message: /version 1/ });
  assert.equal(existsSync(out), false);
});
