/**
 * Request bodies and answers that could hold the event loop (issue 15, item 1): JSON nested too
 * deep or holding too many containers is refused by a linear scan before JSON.parse; a large
 * Lookup answer is written a slice per event-loop turn and equals what the schema serializer wrote.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { checkJsonShape, JsonShapeScanner } from '../../src/server/json-guard.js';
import { JSON_SLICE, lookupJsonStream } from '../../src/server/json-stream.js';
import { createFixture, type Fixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';

const fx: Fixture = createFixture({ seed: 23, featureCount: 600 });
const okRows = randomRows(fx, 2, 3);
let server: RunningServer;

before(async () => {
  server = await createServer(testConfig({ workers: 1 }), { model: fixtureModel(fx), registry: new Registry() });
});
after(async () => {
  await server.close();
});

async function post(path: string, body: string): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

async function stillServing(): Promise<void> {
  const r = await post('/v1/score', JSON.stringify({ rows: okRows.raw }));
  assert.equal(r.status, 200, r.text);
}

test('JSON nested deeper than 16 levels is 400 MPE_ERR_REQ_JSON before JSON.parse, on every route', async () => {
  for (const path of ['/v1/score', '/v1/lookup']) {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const r = await post(path, deep);
    assert.equal(r.status, 400, r.text);
    const e = JSON.parse(r.text).error;
    assert.equal(e.code, 'MPE_ERR_REQ_JSON');
    assert.match(e.message, /nested deeper than 16 levels/);
    const objs = await post(path, `{"rows":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`);
    assert.equal(JSON.parse(objs.text).error.code, 'MPE_ERR_REQ_JSON');
  }
  await stillServing();
});

test('a body of more arrays/objects than any valid request holds is 400 MPE_ERR_REQ_JSON', async () => {
  // 200,000 empty arrays: well under the 4 MiB body limit, far more containers than 65,536 + 64.
  const wide = `{"ids":[${new Array(200_000).fill('[]').join(',')}]}`;
  const r = await post('/v1/score', wide);
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.text).error.message, /more than 65600 arrays and objects/);
  await stillServing();
});

test('the scan skips strings (brackets and escaped quotes inside values do not count), also fed a byte at a time', () => {
  const limits = { maxDepth: 3, maxContainers: 10 };
  const bytes = (s: string): Buffer => Buffer.from(s);
  const tricky = bytes(JSON.stringify({ rows: [{ C1: '[[[[{{{{"\\"[[[[\\\\', C2: 'é[[[[' }] }));
  checkJsonShape(tricky, limits);
  // Byte by byte: an escape or a multi-byte character split across chunks changes nothing.
  const scanner = new JsonShapeScanner(limits);
  for (let i = 0; i < tricky.length; i++) scanner.push(tricky.subarray(i, i + 1));
  assert.throws(() => checkJsonShape(bytes('{"a":[[[1]]]}'), limits), /nested deeper than 3/);
  assert.throws(() => checkJsonShape(bytes(`[${new Array(11).fill('{}').join(',')}]`), { maxDepth: 3, maxContainers: 11 }), /more than 11/);
  // A string ending in an escaped backslash closes: the bracket after it counts.
  assert.throws(() => checkJsonShape(bytes('["\\\\",[[[1]]]]'), limits), /nested deeper than 3/);
});

/** Sends `head` then `body` on a new socket and resolves with what the server sent, once a whole response (by its content-length) or the close has arrived. */
async function rawExchange(head: string, body: string): Promise<{ data: string; socket: Socket }> {
  const s = await new Promise<Socket>((resolve, reject) => {
    const c = connect(server.httpPort, '127.0.0.1', () => resolve(c));
    c.once('error', reject);
  });
  s.on('error', () => {});
  const data = await new Promise<string>((resolve) => {
    let text = '';
    s.on('data', (b: Buffer) => {
      text += b.toString();
      const split = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text);
      if (split >= 0 && length !== null && text.length >= split + 4 + Number(length[1])) resolve(text);
    });
    s.once('close', () => resolve(text));
    s.write(head);
    s.write(body);
  });
  return { data, socket: s };
}

test('a deep body is refused from its first bytes, without waiting for (or buffering) the rest', async () => {
  // Headers announce 4 MB; only the first 64 KiB of brackets are sent, and the body is never finished.
  // Fastify's own reader waited for the whole body, so this request got the request timeout's 408 instead.
  const { data, socket } = await rawExchange(`POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${4 * 1024 * 1024 - 16}\r\n\r\n`, '['.repeat(65_536));
  socket.destroy();
  assert.match(data, /^HTTP\/1\.1 400 /);
  assert.match(data, /MPE_ERR_REQ_JSON/);
  await stillServing();
});

test('after refusing a body of declared length, the server reads the rest and keeps the connection: the client sees the 400, then its next request is served', async () => {
  const bad = `[${'['.repeat(40)}${' '.repeat(200_000)}${']'.repeat(41)}`;
  const good = JSON.stringify({ rows: okRows.raw });
  const { data, socket } = await rawExchange(`POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bad.length}\r\n\r\n`, bad);
  assert.match(data, /^HTTP\/1\.1 400 /);
  assert.doesNotMatch(data, /connection: close/i);
  const next = await new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (b: Buffer) => {
      text += b.toString();
      if (/"probabilities"/.test(text) || /^HTTP\/1\.1 [45]/.test(text)) resolve(text);
    });
    socket.once('close', () => resolve(`closed: ${text}`));
    socket.write(`POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${good.length}\r\n\r\n${good}`);
  });
  socket.destroy();
  assert.match(next, /^HTTP\/1\.1 200 /);
});

test('a large Lookup answer streams in slices with event-loop turns between them, equal to the serializer output', async () => {
  const n = 65_536;
  const ids = Array.from({ length: n }, (_, i) => i % fx.spec.featureCount);
  const direct = server.service.lookup({ ids }, { deadline: Number.POSITIVE_INFINITY });
  const plain = { d: direct.d, count: direct.count, embeddings: Array.from(direct.embeddings), ids: Array.from(direct.ids), bits: Array.from(direct.bits), pruned: direct.pruned, oov: direct.oov };

  // Unit: same bytes as JSON.stringify, and the loop turned at least once per slice.
  let turns = 0;
  let ticking = true;
  const tick = (): void => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  let text = '';
  for await (const chunk of lookupJsonStream(direct)) text += chunk;
  ticking = false;
  assert.equal(text, JSON.stringify(plain));
  assert.ok(turns >= Math.floor((n * direct.d) / JSON_SLICE), `${turns} event-loop turns while streaming`);

  // Over HTTP: chunked, same JSON.
  const r = await post('/v1/lookup', JSON.stringify({ ids }));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('transfer-encoding'), 'chunked');
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(r.text, JSON.stringify(plain));
  // Small answers keep the schema serializer (and a content-length).
  const small = await post('/v1/lookup', JSON.stringify({ ids: [1, 2, 3] }));
  assert.equal(small.status, 200);
  assert.notEqual(small.headers.get('content-length'), null);
  await stillServing();
});
