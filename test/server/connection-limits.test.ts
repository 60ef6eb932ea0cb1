/**
 * What one client connection may hold (issue 15, item 2), both transports: a request body never
 * finished (Content-Length, chunked, trickled gRPC message) is cut off after MPE_REQUEST_TIMEOUT_MS,
 * idle connections after MPE_IDLE_TIMEOUT_MS, and connections past MPE_MAX_CONNECTIONS are refused
 * (HTTP: 503 MPE_ERR_OVERLOADED, then closed; gRPC: closed on accept), while the server keeps
 * serving. A Health.Watch stream (its request is complete) is not cut off. Limits are small here (cap 50, timeouts of a second) so the test stays cheap.
 */
import assert from 'node:assert/strict';
import { connect as h2connect, constants as h2c } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { createFixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';

const fx = createFixture({ seed: 41 });
const okRows = randomRows(fx, 2, 4);
const CAP = 50;
let server: RunningServer;

before(async () => {
  server = await createServer(testConfig({ workers: 1, requestTimeoutMs: 600, idleTimeoutMs: 1200, maxConnections: CAP }), { model: fixtureModel(fx), registry: new Registry() });
});
after(async () => {
  await server.close();
});

/** Resolves with 'closed' (and what the server sent) when the server closes `s`, or 'open' after `ms` (a guard, not a timing assertion). */
function closedWithin(s: Socket, ms = 8000): Promise<{ state: 'closed' | 'open'; data: string }> {
  let data = '';
  s.on('data', (b: Buffer) => {
    data += b.toString();
  });
  s.on('error', () => {});
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve({ state: 'open', data }), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve({ state: 'closed', data });
    });
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

async function scoreOk(): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${server.httpPort}/v1/score`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ rows: okRows.raw }) });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
}

test('HTTP: a body never finished (Content-Length or chunked) is answered 408 and closed; a silent connection is closed', async () => {
  const cl = await open(server.httpPort);
  cl.write('POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"rows":[');
  const chunked = await open(server.httpPort);
  chunked.write('POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"row\r\n');
  const silent = await open(server.httpPort);
  const headersOnly = await open(server.httpPort);
  headersOnly.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  const [a, b, c, d] = await Promise.all([closedWithin(cl), closedWithin(chunked), closedWithin(silent), closedWithin(headersOnly)]);
  assert.equal(a.state, 'closed');
  assert.match(a.data, /^HTTP\/1\.1 408/);
  assert.equal(b.state, 'closed');
  assert.match(b.data, /^HTTP\/1\.1 408/);
  assert.equal(c.state, 'closed');
  assert.equal(d.state, 'closed');
  await scoreOk();
});

test('gRPC: a request message trickled and never finished is cancelled; an idle connection is closed', async () => {
  const session = h2connect(`http://127.0.0.1:${server.grpcPort}`);
  session.on('error', () => {});
  const stream = session.request({ ':method': 'POST', ':path': '/mpe.v1.EmbeddingService/Score', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => {});
  stream.on('response', () => {});
  stream.resume();
  // A 5-byte gRPC frame header announcing 100 bytes, then 3 of them, then nothing.
  stream.write(Buffer.from([0, 0, 0, 0, 100, 1, 2, 3]));
  const rst = await new Promise<number | 'open'>((resolve) => {
    const t = setTimeout(() => resolve('open'), 8000);
    stream.once('close', () => {
      clearTimeout(t);
      resolve(stream.rstCode ?? -1);
    });
  });
  assert.equal(rst, h2c.NGHTTP2_CANCEL);
  // The session, now without streams, is closed as idle (GOAWAY) by grpc-js.
  const sessionClosed = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 8000);
    session.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
  assert.equal(sessionClosed, true);
  session.destroy();
});

test('gRPC: a Health.Watch stream outlives the request timeout (its request is complete)', async () => {
  const Client = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { watch(r: object): grpc.ClientReadableStream<{ status: string }> };
  const call = client.watch({ service: '' });
  const statuses: string[] = [];
  let error: unknown = null;
  call.on('data', (m: { status: string }) => statuses.push(m.status));
  call.on('error', (e) => {
    error = e;
  });
  // Three request timeouts (600 ms each) later the stream is still open and unharmed.
  await new Promise((r) => setTimeout(r, 1800));
  assert.deepEqual(statuses, ['SERVING']);
  assert.equal(error, null);
  call.cancel();
  client.close();
});

test(`connections past the cap (${CAP}): HTTP answers 503 MPE_ERR_OVERLOADED and closes, gRPC closes on accept; none is left unanswered; the server keeps serving`, async () => {
  // HTTP: every socket's events are recorded from the moment it connects (a close that comes while
  // later sockets are still connecting is seen), then each asks for /healthz.
  const sockets: { s: Socket; data: string; closed: boolean }[] = [];
  for (let i = 0; i < CAP + 10; i++) {
    const rec = { s: await open(server.httpPort), data: '', closed: false };
    rec.s.on('error', () => {});
    rec.s.on('data', (b: Buffer) => {
      rec.data += b.toString();
    });
    rec.s.once('close', () => {
      rec.closed = true;
    });
    sockets.push(rec);
  }
  for (const r of sockets) if (!r.s.destroyed) r.s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  // Guard (not a timing assertion): every socket has an answer or is closed well within it.
  for (let i = 0; i < 160 && sockets.some((r) => !r.closed && !/\r\n\r\n\{/.test(r.data)); i++) await new Promise((r) => setTimeout(r, 50));
  const outcome = (r: (typeof sockets)[number]): string => (r.data.startsWith('HTTP/1.1 200') ? 'answered' : r.data.startsWith('HTTP/1.1 503') ? `503${r.closed ? ' closed' : ''}` : r.closed ? 'closed unanswered' : 'open');
  const outcomes = sockets.map(outcome);
  for (const r of sockets) r.s.destroy();
  const refusedBodies = sockets.filter((r) => r.data.startsWith('HTTP/1.1 503')).map((r) => r.data);
  assert.ok(outcomes.filter((o) => o === 'answered').length <= CAP, outcomes.join(','));
  // Before: sockets past the cap were closed on accept without a word ('closed unanswered').
  assert.equal(outcomes.filter((o) => o === 'answered' || o === '503 closed').length, CAP + 10, outcomes.join(','));
  assert.ok(refusedBodies.length >= 10, outcomes.join(','));
  for (const text of refusedBodies) {
    assert.match(text, /connection: close/i);
    assert.match(text, /retry-after: 1/i);
    assert.equal(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code, 'MPE_ERR_OVERLOADED');
  }
  // gRPC: accepted sessions receive the server's SETTINGS, capped ones are closed on accept.
  const sessions = Array.from({ length: CAP + 10 }, () => h2connect(`http://127.0.0.1:${server.grpcPort}`));
  const g = await Promise.all(
    sessions.map(
      (session) =>
        new Promise<'answered' | 'refused' | 'open'>((resolve) => {
          session.on('error', () => {});
          const t = setTimeout(() => resolve('open'), 8000);
          session.once('remoteSettings', () => {
            clearTimeout(t);
            resolve('answered');
          });
          session.once('close', () => {
            clearTimeout(t);
            resolve('refused');
          });
        }),
    ),
  );
  for (const s of sessions) s.destroy();
  assert.ok(g.filter((o) => o === 'answered').length <= CAP, g.join(','));
  assert.ok(g.filter((o) => o === 'refused').length >= 10, g.join(','));
  assert.equal(g.filter((o) => o === 'open').length, 0, g.join(','));
  // The cap frees up as soon as connections close.
  await new Promise((r) => setTimeout(r, 200));
  await scoreOk();
});
