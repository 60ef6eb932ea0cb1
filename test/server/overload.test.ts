/**
 * Past saturation: a burst over capacity gets some MPE_ERR_OVERLOADED answers (gRPC
 * RESOURCE_EXHAUSTED, HTTP 503), every accepted answer is correct, and the server serves normally
 * afterwards. Counts and codes only, no latency assertions. Also: the gRPC server's HTTP/2 receive
 * window is opened, and a hot swap terminates the previous model's workers.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type * as ort from 'onnxruntime-node';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { GrpcStatus } from '../../src/errors.js';
import { createScorerSession, scoreBatch } from '../../src/scorer/session.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { openReceiveWindow } from '../../src/server/grpc-server.js';
import { createFixture, type Fixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';
import { grpcClient, httpJson, type Rpc } from './clients.js';

const fx: Fixture = createFixture({ seed: 11 });
let server: RunningServer;
let rpc: Rpc;
let closeClient: () => void;
let reference: ort.InferenceSession;

before(async () => {
  // One worker and a queue of one request: a burst of 40 cannot all be admitted.
  server = await createServer(testConfig({ workers: 1, queueLimit: 1, maxWaitUs: 0 }), { model: fixtureModel(fx), registry: new Registry() });
  ({ call: rpc, close: closeClient } = grpcClient(server.grpcPort));
  reference = (await createScorerSession(fx.scorerBytes, { provider: 'cpu', intraOpThreads: 1 })).session;
});

after(async () => {
  closeClient();
  await server.close();
  await reference.release();
});

async function refScores(ids: Int32Array): Promise<Float32Array> {
  const F = fx.fields.length;
  const x = new Float32Array(ids.length * fx.spec.d);
  fx.table.dequantize(ids, ids.length, x, 0);
  return new Float32Array(await scoreBatch(reference, x, ids.length / F, F * fx.spec.d));
}

function assertClose(actual: ArrayLike<number>, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= 1e-6, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

const BURST = 40;
const bodies = Array.from({ length: BURST }, (_, k) => randomRows(fx, 8, 300 + k));

test('gRPC: a burst over capacity is partly shed with RESOURCE_EXHAUSTED / MPE_ERR_OVERLOADED, accepted answers are correct, then the server serves normally', async () => {
  const rows = bodies.map((b) => b.raw.map((r) => ({ features: Object.entries(r).map(([field, value]) => ({ field, value: String(value) })) })));
  const results = await Promise.all(rows.map((r) => rpc<{ probabilities: number[] }>('Score', { rows: r })));
  let ok = 0;
  let shed = 0;
  for (let k = 0; k < BURST; k++) {
    const r = results[k]!;
    if (r.ok) {
      ok++;
      assertClose(r.value!.probabilities, await refScores(bodies[k]!.ids), `burst answer ${k}`);
    } else {
      assert.equal(r.status, GrpcStatus.RESOURCE_EXHAUSTED, r.details);
      assert.equal(r.mpeCode, 'MPE_ERR_OVERLOADED');
      shed++;
    }
  }
  assert.equal(ok + shed, BURST);
  assert.ok(shed > 0, 'some requests shed');
  assert.ok(ok > 0, 'some requests served');
  for (let k = 0; k < 3; k++) {
    const r = await rpc<{ probabilities: number[] }>('Score', { ids: Array.from(bodies[k]!.ids) });
    assert.ok(r.ok, r.details);
    assertClose(r.value!.probabilities, await refScores(bodies[k]!.ids), `after the burst ${k}`);
  }
});

test('HTTP: a burst over capacity is partly shed with 503 MPE_ERR_OVERLOADED, accepted answers are correct, then the server serves normally', async () => {
  const results = await Promise.all(bodies.map((b) => httpJson(server.httpPort, 'POST', '/v1/score', { rows: b.raw })));
  let ok = 0;
  let shed = 0;
  for (let k = 0; k < BURST; k++) {
    const r = results[k]!;
    if (r.status === 200) {
      ok++;
      assertClose(r.json.probabilities, await refScores(bodies[k]!.ids), `burst answer ${k}`);
    } else {
      assert.equal(r.status, 503);
      assert.equal(r.json.error.code, 'MPE_ERR_OVERLOADED');
      shed++;
    }
  }
  assert.ok(shed > 0, 'some requests shed');
  assert.ok(ok > 0, 'some requests served');
  const r = await httpJson(server.httpPort, 'POST', '/v1/score', { rows: bodies[0]!.raw });
  assert.equal(r.status, 200);
  assertClose(r.json.probabilities, await refScores(bodies[0]!.ids), 'after the burst');
});

test('the gRPC server advertises the configured HTTP/2 receive window, per stream and per connection', async () => {
  const bytes = 3 * 1024 * 1024;
  const s = new grpc.Server();
  assert.equal(openReceiveWindow(s, bytes), true);
  const port = await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    await once(session, 'remoteSettings');
    assert.equal(session.remoteSettings.initialWindowSize, bytes);
    // The connection window arrives as a WINDOW_UPDATE right after the settings: a ping round trip orders after it.
    await new Promise<void>((resolve, reject) => session.ping((e) => (e ? reject(e) : resolve())));
    assert.equal(session.state.remoteWindowSize, bytes);
  } finally {
    session.close();
    s.forceShutdown();
  }
});

test('a hot swap terminates the previous model\'s workers and serves the new model', async () => {
  const old = server.pool!;
  assert.equal(old.aliveWorkers, 1);
  const fx2 = createFixture({ seed: 12 });
  const prepared = await server.prepareModel(fixtureModel(fx2, 'fixture-2'));
  server.swapModel(prepared);
  await old.stopped;
  assert.equal(old.aliveWorkers, 0);
  assert.equal(server.pool!.aliveWorkers, 1);
  const r = await rpc<{ modelVersion: string }>('Score', { ids: Array.from(bodies[0]!.ids) });
  assert.ok(r.ok, r.details);
  assert.equal(r.value!.modelVersion, 'fixture-2');
});

test('/metrics reports nodejs_array_buffers_bytes and nodejs_external_memory_bytes (external includes array buffers)', async () => {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  const value = (name: string): number => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    assert.ok(m, `${name} present`);
    return Number(m[1]);
  };
  const ab = value('nodejs_array_buffers_bytes');
  assert.ok(ab >= fx.tableBuffer.byteLength, `array buffers ${ab} hold at least the served table (${fx.tableBuffer.byteLength} bytes)`);
  assert.ok(value('nodejs_external_memory_bytes') >= ab);
});
