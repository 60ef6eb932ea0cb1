/**
 * The embedding service over real transports: a server on port 0 with 2 score workers, a real
 * @grpc/grpc-js client and fetch. Answers are checked against the codec's reference
 * dequantization (bit for bit) and a direct onnxruntime run (within 1e-6).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type * as ort from 'onnxruntime-node';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { createScorerSession, scoreBatch } from '../../src/scorer/session.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { createFixture, type Fixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';
import { grpcClient, httpJson, type Json, type Rpc } from './clients.js';

let fx: Fixture;
let server: RunningServer;
let rpc: Rpc;
let closeClient: () => void;
let reference: ort.InferenceSession;

before(async () => {
  fx = createFixture();
  server = await createServer(testConfig({ workers: 2, requestRowLimit: 64, lookupFeatureLimit: 1024, maxMessageBytes: 64 * 1024 }), { model: fixtureModel(fx), registry: new Registry() });
  ({ call: rpc, close: closeClient } = grpcClient(server.grpcPort));
  reference = (await createScorerSession(fx.scorerBytes, { provider: 'cpu', intraOpThreads: 1 })).session;
});

after(async () => {
  closeClient();
  await server.close();
  await reference.release();
});

function refEmbeddings(ids: Int32Array): Float32Array {
  const out = new Float32Array(ids.length * fx.spec.d);
  fx.table.dequantize(ids, ids.length, out, 0);
  return out;
}

async function refScores(ids: Int32Array): Promise<Float32Array> {
  const F = fx.fields.length;
  const x = refEmbeddings(ids);
  return new Float32Array(await scoreBatch(reference, x, ids.length / F, F * fx.spec.d));
}

function assertClose(actual: ArrayLike<number>, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= 1e-6, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

function allIds(): Int32Array {
  return Int32Array.from({ length: fx.spec.featureCount }, (_, i) => i);
}

test('gRPC Lookup by ids equals the codec reference bit for bit, every bit width', async () => {
  const ids = allIds();
  const n = ids.length;
  const r = await rpc<{ d: number; count: number; embeddings: Buffer; ids: number[]; bits: number[]; pruned: boolean[]; oov: boolean[] }>('Lookup', { ids: Array.from(ids) });
  assert.ok(r.ok, r.details);
  const v = r.value!;
  assert.equal(v.d, fx.spec.d);
  assert.equal(v.count, n);
  const ref = refEmbeddings(ids);
  assert.deepEqual(new Uint8Array(v.embeddings), new Uint8Array(ref.buffer));
  const widths = new Set(v.bits);
  for (const b of [0, 1, 2, 3, 4, 5, 6, 7, 8, 32]) assert.ok(widths.has(b), `bit width ${b} covered`);
  for (let i = 0; i < n; i++) {
    assert.equal(v.bits[i], fx.table.bitsOf(i));
    assert.equal(v.pruned[i], fx.table.bitsOf(i) === 0);
  }
});

test('HTTP lookup by ids equals the codec reference bit for bit', async () => {
  const ids = allIds().subarray(200, 456);
  const r = await httpJson(server.httpPort, 'POST', '/v1/lookup', { ids: Array.from(ids) });
  assert.equal(r.status, 200);
  const got = Float32Array.from(r.json.embeddings as number[]);
  assert.deepEqual(new Uint8Array(got.buffer), new Uint8Array(refEmbeddings(ids).buffer));
});

test('Lookup by raw (field, value) pairs maps through the vocabulary and flags OOV and pruned features', async () => {
  const known = [7, 8, 13, 100, 101, 333];
  const features = known.map((id) => ({ field: fx.fields[fx.fieldOf(id)]!.name, value: String(fx.rawValue(id)) }));
  features.push({ field: 'C1', value: 'never-seen' }, { field: 'I1', value: '' });
  const g = await rpc<{ ids: number[]; oov: boolean[]; pruned: boolean[]; embeddings: Buffer }>('Lookup', { features });
  assert.ok(g.ok, g.details);
  const expectIds = [...known, fx.fields.findIndex((f) => f.name === 'C1'), 0];
  assert.deepEqual(g.value!.ids, expectIds);
  assert.deepEqual(g.value!.oov, [false, false, false, false, false, false, true, true]);
  assert.deepEqual(g.value!.pruned, expectIds.map((id) => fx.table.bitsOf(id) === 0));
  assert.deepEqual(new Uint8Array(g.value!.embeddings), new Uint8Array(refEmbeddings(Int32Array.from(expectIds)).buffer));
  const h = await httpJson(server.httpPort, 'POST', '/v1/lookup', { features: features.map((p) => (p.field.startsWith('I') && p.value !== '' ? { field: p.field, value: Number(p.value) } : p)) });
  assert.equal(h.status, 200);
  assert.deepEqual(h.json.ids, expectIds);
  assert.deepEqual(h.json.oov, g.value!.oov);
});

test('Score by ids and by raw rows equals a direct onnxruntime run within 1e-6, on both transports', async () => {
  const { ids, raw } = randomRows(fx, 40, 11);
  const expected = await refScores(ids);
  const F = fx.fields.length;
  const g1 = await rpc<{ probabilities: number[]; modelVersion: string }>('Score', { ids: Array.from(ids) });
  assert.ok(g1.ok, g1.details);
  assert.equal(g1.value!.modelVersion, 'fixture-1');
  assertClose(g1.value!.probabilities, expected, 'grpc ids');
  const rows = raw.map((row) => ({ features: Object.entries(row).map(([field, value]) => ({ field, value: String(value) })) }));
  const g2 = await rpc<{ probabilities: number[] }>('Score', { rows });
  assert.ok(g2.ok, g2.details);
  assertClose(g2.value!.probabilities, expected, 'grpc rows');
  const h1 = await httpJson(server.httpPort, 'POST', '/v1/score', { rows: raw });
  assert.equal(h1.status, 200);
  assertClose(h1.json.probabilities, expected, 'http rows');
  const idRows = Array.from({ length: 40 }, (_, r) => Array.from(ids.subarray(r * F, r * F + F)));
  const h2 = await httpJson(server.httpPort, 'POST', '/v1/score', { ids: idRows });
  assert.equal(h2.status, 200);
  assertClose(h2.json.probabilities, expected, 'http ids');
});

test('300 parallel Score and Lookup requests over both transports: every answer checked', async () => {
  const jobs: Promise<void>[] = [];
  for (let k = 0; k < 300; k++) {
    const { ids, raw } = randomRows(fx, 1 + (k % 17), 1000 + k);
    jobs.push(
      (async () => {
        const expected = await refScores(ids);
        if (k % 3 === 0) {
          const r = await httpJson(server.httpPort, 'POST', '/v1/score', { rows: raw });
          assert.equal(r.status, 200, JSON.stringify(r.json));
          assertClose(r.json.probabilities, expected, `http #${k}`);
        } else if (k % 3 === 1) {
          const r = await rpc<{ probabilities: number[] }>('Score', { ids: Array.from(ids) });
          assert.ok(r.ok, r.details);
          assertClose(r.value!.probabilities, expected, `grpc #${k}`);
        } else {
          const r = await rpc<{ embeddings: Buffer }>('Lookup', { ids: Array.from(ids) });
          assert.ok(r.ok, r.details);
          assert.deepEqual(new Uint8Array(r.value!.embeddings), new Uint8Array(refEmbeddings(ids).buffer), `lookup #${k}`);
        }
      })(),
    );
  }
  await Promise.all(jobs);
});

test('GetModel (gRPC) and GET /v1/model agree and describe the table', async () => {
  const g = await rpc<Json>('GetModel', {});
  assert.ok(g.ok, g.details);
  const h = await httpJson(server.httpPort, 'GET', '/v1/model');
  assert.equal(h.status, 200);
  for (const m of [g.value!, h.json]) {
    assert.equal(m.version, 'fixture-1');
    assert.equal(m.d, fx.spec.d);
    assert.equal(m.featureCount, fx.spec.featureCount);
    assert.equal(m.provider, 'cpu');
    assert.deepEqual(
      m.fields.map((f: { name: string }) => f.name),
      fx.fields.map((f) => f.name),
    );
    const byBits = new Map<number, number>(m.bitsHistogram.map((b: { bits: number; features: number }) => [b.bits, b.features]));
    for (const [b, n] of fx.table.featuresByBits()) assert.equal(byBits.get(b), n, `features at ${b} bits`);
    assert.equal(m.limits.maxRequestRows, 64);
    assert.ok(m.compressionRatioWeights > 1);
  }
});

test('health, readiness and metrics routes', async () => {
  assert.equal((await httpJson(server.httpPort, 'GET', '/healthz')).status, 200);
  const ready = await httpJson(server.httpPort, 'GET', '/readyz');
  assert.deepEqual(ready, { status: 200, json: { status: 'ready' } });
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  for (const name of [
    'mpe_table_bytes{bits="32"}',
    'mpe_table_features{bits="0"}',
    'mpe_model_section_bytes{section="table"}',
    'mpe_table_compression_ratio{measure="weights"}',
    'mpe_model_info{version="fixture-1",provider="cpu"',
    'mpe_scorer_provider{provider="cpu"} 1',
    'mpe_requests_total{method="score",transport="grpc",code="OK"}',
    'mpe_request_duration_seconds_bucket{le="0.00005",method="lookup",transport="grpc"}',
    'mpe_batch_rows_bucket',
    'mpe_queue_depth 0',
    'mpe_worker_utilization_ratio{worker="1"}',
    'process_resident_memory_bytes',
  ]) {
    assert.ok(text.includes(name), `metrics lack ${name}`);
  }
});
