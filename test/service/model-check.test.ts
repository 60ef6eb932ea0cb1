/**
 * Model validation (issue 15, item 6): a scorer with a fixed batch of 1, a scorer that answers
 * NaN and a table with a NaN row are refused at reload (MPE_ERR_RELOAD_FAILED naming the cause,
 * the old version serving on) and at start-up (MPE_ERR_MODEL_INVALID); a NaN that gets past
 * validation is never answered as a probability (gRPC INTERNAL, not OK).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { decodeTableHeader } from '../../src/bundle/table-file.js';
import { PackedTable } from '../../src/codec/packed-table.js';
import { isMpeError } from '../../src/errors.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { createEmbeddingService } from '../../src/service/embedding-service.js';
import { validationRows } from '../../src/service/model-check.js';
import type { ServingModel } from '../../src/service/model.js';
import { ScorePool } from '../../src/scorer/score-pool.js';
import { fixedBatchOneScorer, nanScorer } from '../helpers/bad-scorers.js';
import { createFixture, type Fixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';

const fx: Fixture = createFixture({ seed: 31 });
const inputDim = fx.fields.length * fx.spec.d;
const config = testConfig({ workers: 1, maxBatchRows: 64 });
let server: RunningServer;
const okRows = randomRows(fx, 4, 2);

before(async () => {
  server = await createServer(config, { model: fixtureModel(fx, 'good'), registry: new Registry() });
});
after(async () => {
  await server.close();
});

/** A copy of the fixture's table with a NaN in the first row of its first 32-bit group. */
function nanTableModel(version: string): ServingModel {
  const buf = new SharedArrayBuffer(fx.tableBuffer.byteLength);
  const bytes = new Uint8Array(buf);
  bytes.set(new Uint8Array(fx.tableBuffer));
  const h = decodeTableHeader(bytes);
  const g = h.bitsPerGroup.indexOf(32);
  assert.ok(g > 0, 'the fixture has a 32-bit group');
  new DataView(buf).setFloat32(h.sections.dataOffset + h.groupOffsets[g]!, Number.NaN, true);
  return { ...fixtureModel(fx, version), tableBuffer: buf, table: new PackedTable(h.spec, new Uint8Array(buf, h.sections.dataOffset, h.sections.dataBytes)) };
}

async function refusedWith(model: ServingModel, pattern: RegExp): Promise<void> {
  await assert.rejects(server.prepareModel(model), (e) => isMpeError(e) && e.code === 'MPE_ERR_RELOAD_FAILED' && pattern.test(e.message));
  // The old version keeps serving.
  assert.equal(server.service.getModel().version, 'good');
  const r = await server.service.score({ ids: okRows.ids }, { deadline: Number.POSITIVE_INFINITY });
  assert.equal(r.modelVersion, 'good');
  assert.ok(r.probabilities.every(Number.isFinite));
}

test('validation rows vary: OOV row first, then ids across the whole table', () => {
  const ids = validationRows(fixtureModel(fx), 64);
  assert.deepEqual(Array.from(ids.subarray(0, fx.fields.length)), fx.fields.map((f) => f.oovId));
  const distinct = new Set(ids);
  assert.ok(distinct.size > 200, `${distinct.size} distinct ids`);
  assert.ok(Math.max(...ids) > fx.spec.featureCount * 0.9);
});

test('reload: a scorer with a fixed batch of 1 is refused (it would fail every micro-batched Score)', async () => {
  await refusedWith({ ...fixtureModel(fx, 'fixed-1'), scorerBytes: fixedBatchOneScorer(inputDim) }, /micro-batch of 64 rows/);
});

test('reload: a scorer that answers NaN is refused', async () => {
  await refusedWith({ ...fixtureModel(fx, 'nan-scorer'), scorerBytes: nanScorer(fx.mlp) }, /scorer answered NaN/);
});

test('reload: a table with a NaN value is refused, naming the feature', async () => {
  await refusedWith(nanTableModel('nan-table'), /table value of feature \d+ \(dimension 0\) is NaN/);
});

test('start-up: the same models are MPE_ERR_MODEL_INVALID (nothing is served)', async () => {
  for (const m of [{ ...fixtureModel(fx, 'nan-scorer'), scorerBytes: nanScorer(fx.mlp) }, nanTableModel('nan-table')]) {
    await assert.rejects(createServer(config, { model: m, registry: new Registry() }), (e) => isMpeError(e) && e.code === 'MPE_ERR_MODEL_INVALID');
  }
});

test('a NaN probability that got past validation is MPE_ERR_SCORER_RUN, never an answer', async () => {
  const model = { ...fixtureModel(fx, 'nan-scorer'), scorerBytes: nanScorer(fx.mlp) };
  const pool = await ScorePool.create({ workers: 1, maxBatchRows: 64, maxWaitUs: 0, queueLimit: 8, maxQueueMs: 1000, init: { tableBuffer: model.tableBuffer, scorerBytes: model.scorerBytes, fields: model.fields.length, provider: 'cpu', intraOpThreads: 1 } });
  try {
    const service = createEmbeddingService({ model, pool, config });
    await assert.rejects(service.score({ ids: okRows.ids }, { deadline: Number.POSITIVE_INFINITY }), (e) => isMpeError(e) && e.code === 'MPE_ERR_SCORER_RUN' && /NaN/.test(e.message));
  } finally {
    await pool.close();
  }
});
