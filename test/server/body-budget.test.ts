/**
 * All HTTP request bodies being received share one memory budget (MPE_MAX_BODY_BUFFER_BYTES,
 * issue 15): a body whose declared length does not fit is refused 503 MPE_ERR_OVERLOADED before
 * anything of it is read, the budget comes back when a body ends or its client goes away, and a
 * budget below the message limit is a config error.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { BodyBudget } from '../../src/server/body-budget.js';
import { createFixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';

const fx = createFixture({ seed: 43 });
const okRows = randomRows(fx, 2, 4);
const MESSAGE = 600_000;
const BUDGET = 1024 * 1024;
let server: RunningServer;

before(async () => {
  server = await createServer(testConfig({ workers: 1, maxMessageBytes: MESSAGE, maxBodyBufferBytes: BUDGET }), { model: fixtureModel(fx), registry: new Registry() });
});
after(async () => {
  await server.close();
});

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(server.httpPort, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** A valid Score body of exactly `bytes` bytes (JSON whitespace pads it). */
function scoreBody(bytes: number): string {
  const json = JSON.stringify({ rows: okRows.raw });
  return `${json.slice(0, -1)}${' '.repeat(bytes - json.length)}}`;
}

/** Sends a Score of `bytes` declared bytes, of which only `sent` are written; resolves with the first answer bytes, or '' at close. */
async function post(bytes: number, sent: number): Promise<{ socket: Socket; answer: Promise<string> }> {
  const socket = await open();
  socket.on('error', () => {});
  const answer = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (b: Buffer) => {
      text += b.toString();
      if (text.includes('\r\n\r\n{') && text.trimEnd().endsWith('}')) resolve(text);
    });
    socket.once('close', () => resolve(text));
  });
  socket.write(`POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n`);
  socket.write(scoreBody(bytes).slice(0, sent));
  return { socket, answer };
}

test('a body whose declared length does not fit the budget is 503 MPE_ERR_OVERLOADED at once; the budget comes back when a client goes away', async () => {
  // A holds 600,000 of the 1 MiB budget (declared, 100 bytes sent, never finished).
  const a = await post(MESSAGE, 100);
  await new Promise((r) => setTimeout(r, 100));
  // B would need 600,000 more: refused before its body is read (before: it waited for its body like A).
  const b = await post(MESSAGE, 100);
  const refused = await b.answer;
  b.socket.destroy();
  assert.match(refused, /^HTTP\/1\.1 503 /);
  assert.equal(JSON.parse(refused.slice(refused.indexOf('\r\n\r\n') + 4)).error.code, 'MPE_ERR_OVERLOADED');
  // A small body still fits beside A.
  const small = await post(scoreBody(2000).length, 2000);
  assert.match(await small.answer, /^HTTP\/1\.1 200 /);
  small.socket.destroy();
  // A goes away: its reservation is given back, and a whole 600,000-byte body is served.
  a.socket.destroy();
  let status = '';
  for (let i = 0; i < 100 && !status.startsWith('HTTP/1.1 200'); i++) {
    const c = await post(MESSAGE, MESSAGE);
    status = await c.answer;
    c.socket.destroy();
    if (!status.startsWith('HTTP/1.1 200')) await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(status, /^HTTP\/1\.1 200 /);
});

test('BodyBudget takes only what fits and gives it back', () => {
  const b = new BodyBudget(10);
  assert.equal(b.take(6), true);
  assert.equal(b.take(5), false);
  assert.equal(b.heldBytes, 6);
  b.give(6);
  assert.equal(b.take(10), true);
});

test('a budget below the message limit is MPE_ERR_CONFIG_INVALID', () => {
  assert.throws(() => testConfig({ maxMessageBytes: 2 * 1024 * 1024, maxBodyBufferBytes: 1024 * 1024 }), (e: Error & { code?: string }) => e.code === 'MPE_ERR_CONFIG_INVALID' && /MPE_MAX_BODY_BUFFER_BYTES/.test(e.message));
});
