/**
 * MPE_SPLIT_MIN_ROWS (--split-min-rows) reaches the score pool: a lone 40-row Score on 2 idle
 * workers runs as two 20-row micro-batches by default and as one with the knob at 0; the scores
 * are the same either way. Counted from mpe_batch_rows in /metrics (a real server, real HTTP).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createServer } from '../../src/app/create-server.js';
import { testConfig } from '../../src/config/config.js';
import { createFixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';
import { httpJson } from './clients.js';

const fx = createFixture({ seed: 21 });
const rows = randomRows(fx, 40, 2100).raw;

/** Probabilities of the one request and the micro-batch row counts the server recorded. */
async function scoreAlone(splitMinRows: number | undefined): Promise<{ probabilities: number[]; batches: number; rows: number }> {
  const config = testConfig({ workers: 2, maxWaitUs: 0, ...(splitMinRows !== undefined ? { splitMinRows } : {}) });
  const server = await createServer(config, { model: fixtureModel(fx), registry: new Registry() });
  try {
    const before = await batchRows(server.httpPort);
    const r = await httpJson(server.httpPort, 'POST', '/v1/score', { rows });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const after = await batchRows(server.httpPort);
    return { probabilities: (r.json as { probabilities: number[] }).probabilities, batches: after.count - before.count, rows: after.sum - before.sum };
  } finally {
    await server.close();
  }
}

async function batchRows(port: number): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const num = (name: string): number => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    assert.ok(m !== null, `${name} missing from /metrics`);
    return Number(m[1]);
  };
  return { count: num('mpe_batch_rows_count'), sum: num('mpe_batch_rows_sum') };
}

test('a lone request is split across idle workers by default, not with --split-min-rows 0; same scores', async () => {
  const split = await scoreAlone(undefined);
  assert.deepEqual({ batches: split.batches, rows: split.rows }, { batches: 2, rows: 40 });
  const whole = await scoreAlone(0);
  assert.deepEqual({ batches: whole.batches, rows: whole.rows }, { batches: 1, rows: 40 });
  const big = await scoreAlone(32); // 40 < 2 x 32: too small to split
  assert.equal(big.batches, 1);
  for (let i = 0; i < 40; i++) assert.ok(Math.abs(split.probabilities[i]! - whole.probabilities[i]!) <= 1e-6, `row ${i}`);
});
