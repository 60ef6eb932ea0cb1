/**
 * Score stage times (util/score-timing.ts): a request with `mpe-timing: 1` gets them in
 * `Server-Timing` (HTTP) or the `server-timing` trailing metadata (gRPC), every stage present and
 * non-negative, the onnxruntime stage > 0, the total their sum; a request without it gets none;
 * every successful Score adds one sample per stage to `mpe_score_stage_seconds`, a failed one none.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { testConfig } from '../../src/config/config.js';
import { embeddingProto } from '../../src/server/proto.js';
import { parseServerTiming, SCORE_STAGES } from '../../src/util/score-timing.js';
import { createFixture, type Fixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';

const fx: Fixture = createFixture({ fields: 8, seed: 41 });
const names = fx.fields.map((f) => f.name);
const ROWS = 40;
const { raw, ids } = randomRows(fx, ROWS, 7);
const idRows = Array.from({ length: ROWS }, (_, r) => Array.from(ids.subarray(r * names.length, (r + 1) * names.length)));

let server: RunningServer;
let registry: Registry;
let client: grpc.Client;

before(async () => {
  registry = new Registry();
  // 2 workers and 40 rows (>= 2 x splitMinRows 16): a lone request is split, so the stages of a split request are checked too.
  server = await createServer(testConfig({ workers: 2 }), { model: fixtureModel(fx), registry });
  client = new (embeddingProto().client)(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
});

after(async () => {
  client.close();
  await server.close();
});

/** Checks one Server-Timing value: every stage, non-negative, onnx > 0, total = their sum (to the printed precision). */
function checkStages(value: string | null | undefined, where: string): void {
  assert.ok(typeof value === 'string' && value.length > 0, `${where}: no server-timing`);
  const t = parseServerTiming(value);
  let sum = 0;
  for (const stage of SCORE_STAGES) {
    assert.ok(stage in t, `${where}: stage ${stage} missing in ${value}`);
    assert.ok(t[stage]! >= 0, `${where}: stage ${stage} = ${t[stage]}`);
    sum += t[stage]!;
  }
  assert.ok(t.onnx! > 0, `${where}: onnx stage ${t.onnx}`);
  assert.ok(Math.abs(t.total! - sum) < 0.01, `${where}: total ${t.total} vs sum ${sum}`);
}

async function httpScore(body: unknown, timing: boolean): Promise<{ status: number; serverTiming: string | null }> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/v1/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(timing ? { 'mpe-timing': '1' } : {}) },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return { status: res.status, serverTiming: res.headers.get('server-timing') };
}

function grpcScore(req: object, timing: boolean): Promise<{ code: number; serverTiming: string | undefined }> {
  const method = embeddingProto().service.Score!;
  const md = new grpc.Metadata();
  if (timing) md.set('mpe-timing', '1');
  return new Promise((resolve) => {
    let code = -1;
    const call = client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, req, md, (err) => {
      code = err === null ? 0 : err.code;
    });
    call.on('status', (s: grpc.StatusObject) => {
      const v = s.metadata.get('server-timing')[0];
      setImmediate(() => resolve({ code: code === -1 ? s.code : code, serverTiming: v === undefined ? undefined : String(v) }));
    });
  });
}

async function stageCount(stage: string): Promise<number> {
  const text = await registry.metrics();
  const m = new RegExp(`^mpe_score_stage_seconds_count\\{stage="${stage}"\\} (\\S+)$`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

test('HTTP: mpe-timing: 1 answers every stage in Server-Timing (flat raw values and ids)', async () => {
  const flat = await httpScore({ rows: raw }, true);
  assert.equal(flat.status, 200);
  checkStages(flat.serverTiming, 'HTTP flat');
  const byIds = await httpScore({ ids: idRows }, true);
  assert.equal(byIds.status, 200);
  checkStages(byIds.serverTiming, 'HTTP ids');
  const ctx = Object.fromEntries(names.slice(0, 3).map((n) => [n, raw[0]![n]!]));
  const candidates = raw.map((r) => Object.fromEntries(names.slice(3).map((n) => [n, r[n]!])));
  const shared = await httpScore({ context: ctx, candidates }, true);
  assert.equal(shared.status, 200);
  checkStages(shared.serverTiming, 'HTTP context');
});

test('HTTP: without mpe-timing there is no Server-Timing header', async () => {
  const r = await httpScore({ rows: raw }, false);
  assert.equal(r.status, 200);
  assert.equal(r.serverTiming, null);
});

test('gRPC: mpe-timing metadata answers every stage in the server-timing trailer (wire fast path and generic decoder)', async () => {
  const flat = await grpcScore({ rows: raw.map((row) => ({ features: names.map((field) => ({ field, value: String(row[field]) })) })) }, true);
  assert.equal(flat.code, 0);
  checkStages(flat.serverTiming, 'gRPC flat');
  const byIds = await grpcScore({ ids: Array.from(ids) }, true);
  assert.equal(byIds.code, 0);
  checkStages(byIds.serverTiming, 'gRPC ids');
  const plain = await grpcScore({ ids: Array.from(ids) }, false);
  assert.equal(plain.code, 0);
  assert.equal(plain.serverTiming, undefined);
});

test('every successful Score adds one sample per stage to mpe_score_stage_seconds, a failed one none', async () => {
  const before = await Promise.all(SCORE_STAGES.map(stageCount));
  assert.ok(before[0]! > 0, 'the earlier tests scored');
  for (const s of before) assert.equal(s, before[0]);
  assert.equal((await httpScore({ rows: raw }, false)).status, 200);
  assert.equal((await grpcScore({ ids: Array.from(ids) }, false)).code, 0);
  const bad = await httpScore({ ids: [[1, 2]] }, true);
  assert.equal(bad.status, 400);
  assert.equal(bad.serverTiming, null);
  const now = await Promise.all(SCORE_STAGES.map(stageCount));
  for (let i = 0; i < now.length; i++) assert.equal(now[i], before[i]! + 2, SCORE_STAGES[i]);
  const text = await registry.metrics();
  const onnxSum = /mpe_score_stage_seconds_sum\{stage="onnx"\} (\S+)/.exec(text);
  assert.ok(onnxSum !== null && Number(onnxSum[1]) > 0, 'onnx stage time recorded');
});
