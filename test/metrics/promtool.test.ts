/**
 * /metrics of a live server, after traffic on both transports, passes a real Prometheus parser
 * and linter: `promtool check metrics` (Debian package `prometheus`). Skips with a message when
 * promtool is not installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { createFixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';
import { grpcClient, httpJson } from '../server/clients.js';

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const skip = promtool.error ? 'promtool not installed (apt-get install prometheus): /metrics lint skipped' : false;

let server: RunningServer;
before(async () => {
  if (skip) return;
  const fx = createFixture({ seed: 41 });
  server = await createServer(testConfig({ workers: 2 }), { model: fixtureModel(fx), registry: new Registry() });
  const { call, close } = grpcClient(server.grpcPort);
  const { ids, raw } = randomRows(fx, 5, 1);
  assert.ok((await call('Score', { ids: Array.from(ids) })).ok);
  assert.ok((await call('Lookup', { ids: [1, 2, 3] })).ok);
  assert.equal((await call('Lookup', { ids: [-1] })).ok, false);
  assert.equal((await httpJson(server.httpPort, 'POST', '/v1/score', { rows: raw })).status, 200);
  assert.equal((await httpJson(server.httpPort, 'POST', '/v1/score', { rows: [] })).status, 400);
  close();
});
after(async () => {
  await server?.close();
});

test('GET /metrics passes `promtool check metrics`', { skip }, async () => {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  assert.match(text, /mpe_requests_total\{method="score",transport="http",code="MPE_ERR_REQ_EMPTY"\} 1/);
  assert.match(text, /mpe_batch_rows_count [1-9]/);
});
