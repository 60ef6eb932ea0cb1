/**
 * `POST /v1/lookup` with `Accept: application/octet-stream` over a real server and fetch: the
 * packed body (float32 LE embeddings, int32 ids, uint8 bits, uint8 OOV flags) equals the codec
 * reference and gRPC's Lookup bit for bit; errors stay JSON with their catalogue code.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { createFixture, type Fixture, fixtureModel } from '../helpers/bundle-fixture.js';
import { grpcClient, type Rpc } from './clients.js';

const fx: Fixture = createFixture({ seed: 31 });
let server: RunningServer;
let rpc: Rpc;
let closeClient: () => void;

before(async () => {
  server = await createServer(testConfig({ workers: 1, lookupFeatureLimit: 1024 }), { model: fixtureModel(fx), registry: new Registry() });
  ({ call: rpc, close: closeClient } = grpcClient(server.grpcPort));
});

after(async () => {
  closeClient();
  await server.close();
});

interface Packed {
  readonly status: number;
  readonly type: string | null;
  readonly d: number;
  readonly count: number;
  readonly body: Uint8Array;
}

async function lookupPacked(body: unknown): Promise<Packed> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/v1/lookup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/octet-stream' },
    body: JSON.stringify(body),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, type: res.headers.get('content-type'), d: Number(res.headers.get('x-mpe-d')), count: Number(res.headers.get('x-mpe-count')), body: bytes };
}

/** Splits the packed body into its four sections, reading little-endian explicitly. */
function unpack(p: Packed): { embeddings: Uint8Array; ids: number[]; bits: number[]; oov: boolean[] } {
  const n = p.count * p.d;
  const c = p.count;
  assert.equal(p.body.length, 4 * n + 4 * c + 2 * c, 'body length');
  const view = new DataView(p.body.buffer, p.body.byteOffset, p.body.length);
  const ids = Array.from({ length: c }, (_, i) => view.getInt32(4 * n + 4 * i, true));
  const bits = Array.from(p.body.subarray(4 * (n + c), 4 * (n + c) + c));
  const oov = Array.from(p.body.subarray(4 * (n + c) + c), (b) => b === 1);
  return { embeddings: p.body.subarray(0, 4 * n), ids, bits, oov };
}

test('octet-stream Lookup by ids: embeddings equal the codec reference and gRPC bytes; ids and bits match', async () => {
  const ids = Int32Array.from({ length: 300 }, (_, i) => (i * 7) % fx.spec.featureCount);
  const p = await lookupPacked({ ids: Array.from(ids) });
  assert.equal(p.status, 200);
  assert.equal(p.type, 'application/octet-stream');
  assert.equal(p.d, fx.spec.d);
  assert.equal(p.count, ids.length);
  const u = unpack(p);
  const ref = new Float32Array(ids.length * fx.spec.d);
  fx.table.dequantize(ids, ids.length, ref, 0);
  assert.deepEqual(u.embeddings, new Uint8Array(ref.buffer));
  const g = await rpc<{ embeddings: Buffer; bits: number[] }>('Lookup', { ids: Array.from(ids) });
  assert.ok(g.ok, g.details);
  assert.deepEqual(u.embeddings, new Uint8Array(g.value!.embeddings));
  assert.deepEqual(u.ids, Array.from(ids));
  assert.deepEqual(u.bits, g.value!.bits);
  assert.ok(u.bits.includes(0) && u.bits.includes(32), 'pruned and fp32 rows covered');
  assert.deepEqual(u.oov, new Array(ids.length).fill(false));
});

test('octet-stream Lookup by raw features carries the mapped ids and the OOV flags', async () => {
  const known = [7, 8, 13, 100];
  const features = known.map((id) => ({ field: fx.fields[fx.fieldOf(id)]!.name, value: String(fx.rawValue(id)) }));
  features.push({ field: 'C1', value: 'never-seen' });
  const g = await rpc<{ ids: number[]; oov: boolean[]; embeddings: Buffer }>('Lookup', { features });
  assert.ok(g.ok, g.details);
  const u = unpack(await lookupPacked({ features }));
  assert.deepEqual(u.ids, g.value!.ids);
  assert.deepEqual(u.oov, [false, false, false, false, true]);
  assert.deepEqual(u.embeddings, new Uint8Array(g.value!.embeddings));
});

test('octet-stream Lookup errors are JSON with the catalogue code', async () => {
  const p = await lookupPacked({ ids: [0, fx.spec.featureCount] });
  assert.equal(p.status, 400);
  assert.match(p.type ?? '', /^application\/json/);
  assert.equal(JSON.parse(Buffer.from(p.body).toString('utf8')).error.code, 'MPE_ERR_CODEC_ID_RANGE');
});

test('Accept: application/json (or none) still gets the JSON body', async () => {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/v1/lookup`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ ids: [1, 2] }) });
  assert.equal(res.status, 200);
  const j = (await res.json()) as { count: number; embeddings: number[] };
  assert.equal(j.count, 2);
  assert.equal(j.embeddings.length, 2 * fx.spec.d);
});
