/**
 * The Node load driver against a real server (fixture bundle from random weights, real gRPC and
 * HTTP listeners on port 0): bounded low-rate runs report zero errors, sane percentiles and
 * answers equal to the local reference; a wrong reference, a rejected request and a stalled
 * server are reported as such. No timed assertions: counts, codes, orderings and lower bounds.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { testConfig } from '../../src/config/config.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { runOpenLoop } from '../../loadtest/node/engine.js';
import { processSample, promValue } from '../../loadtest/node/prom-text.js';
import { knee, type RunSummary, table } from '../../loadtest/node/report.js';
import { saturationSvg } from '../../loadtest/node/saturation.js';
import { type Endpoints, loadRun } from '../../loadtest/node/run.js';
import { createFixture, fixtureModel } from '../helpers/bundle-fixture.js';

const fx = createFixture();
const model = fixtureModel(fx);
let server: RunningServer;
let limited: RunningServer;
let ep: Endpoints;
let limitedEp: Endpoints;
const endpoints = (s: RunningServer): Endpoints => ({ grpc: `127.0.0.1:${s.grpcPort}`, http: `http://127.0.0.1:${s.httpPort}` });

before(async () => {
  server = await createServer(testConfig({ workers: 1 }), { model });
  limited = await createServer(testConfig({ workers: 1, requestRowLimit: 50 }), { model });
  ep = endpoints(server);
  limitedEp = endpoints(limited);
});
after(async () => {
  await server.close();
  await limited.close();
});

function assertClean(s: RunSummary, expectedSent: number): void {
  assert.deepEqual(s.errorsByCode, {}, `${s.target} ${s.method}`);
  assert.equal(s.errors, 0);
  assert.equal(s.sent, expectedSent);
  assert.equal(s.ok, expectedSent);
  const l = s.latencyMs!;
  assert.ok(l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max * 1.001, JSON.stringify(l));
  assert.ok(s.throughputRps > 0 && s.itemsPerS > 0);
  assert.ok(s.checks.referenceCompared > 0, 'answers were compared with the local reference');
  assert.equal(s.checks.sampled, Math.ceil(expectedSent / 3));
}

for (const target of ['grpc', 'http'] as const) {
  test(`${target} Score, open loop at 40 req/s x 100 candidates: zero errors, answers equal the local onnxruntime reference`, async () => {
    const s = await loadRun(ep, { target, method: 'score', rate: 40, durationS: 1.5, size: 100, pool: 8, sampleEvery: 3, referenceModel: model });
    assertClean(s, 60);
    assert.ok(s.checks.maxScoreDiff <= 1e-6, `max |served - reference| ${s.checks.maxScoreDiff}`);
    // items/s = candidates x requests/s (throughput is rounded to 0.1 req/s).
    assert.ok(Math.abs(s.itemsPerS - s.throughputRps * 100) <= 10, `${s.itemsPerS} vs ${s.throughputRps}`);
  });

  test(`${target} Lookup, open loop at 40 req/s x 200 ids: zero errors, rows equal the codec's dequantization bit for bit`, async () => {
    const s = await loadRun(ep, { target, method: 'lookup', rate: 40, durationS: 1.5, size: 200, pool: 8, sampleEvery: 3, referenceModel: model });
    assertClean(s, 60);
  });
}

for (const form of ['columns', 'context', 'context-columns'] as const) {
  for (const target of ['grpc', 'http'] as const) {
    test(`${target} Score in the ${form} form (4 shared fields): zero errors, answers equal the reference of the same rows sent flat`, async () => {
      const s = await loadRun(ep, { target, method: 'score', rate: 20, durationS: 0.5, size: 30, pool: 4, sampleEvery: 1, referenceModel: model, form, shared: 4 });
      assert.equal(s.errors, 0, JSON.stringify(s.errorsByCode));
      assert.ok(s.ok === s.sent && s.checks.referenceCompared > 0);
      assert.ok(s.checks.maxScoreDiff <= 1e-6, `max |served - reference| ${s.checks.maxScoreDiff}`);
    });
  }
}

test('the payload forms carry the same rows: shared fields sent once in the context forms', async () => {
  const { buildPayloads, normaliseModel } = await import('../../loadtest/node/payloads.js');
  const m = normaliseModel({ version: 'v', fields: fx.fields, featureCount: fx.spec.featureCount, limits: { maxRequestRows: 100 } });
  const flat = buildPayloads(m, 'score', 'http', 5, 2, 42, 'flat', 4);
  const ctx = buildPayloads(m, 'score', 'http', 5, 2, 42, 'context', 4);
  assert.deepEqual(ctx.rows, flat.rows);
  const body = JSON.parse(ctx.bodies[0] as string) as { context: Record<string, unknown>; candidates: Record<string, unknown>[] };
  assert.deepEqual(Object.keys(body.context), fx.fields.slice(0, 4).map((f) => f.name));
  assert.equal(body.candidates.length, 5);
  for (const c of body.candidates) assert.deepEqual(Object.keys(c), fx.fields.slice(4).map((f) => f.name));
  const rows = flat.rows![0]!;
  for (const r of rows) for (const f of fx.fields.slice(0, 4)) assert.equal(r[f.name], rows[0]![f.name]);
});

test('closed loop: 4 callers, every answer checked, no errors', async () => {
  const s = await loadRun(ep, { target: 'grpc', method: 'score', concurrency: 4, durationS: 1, size: 20, pool: 4, sampleEvery: 1 });
  assert.equal(s.mode, 'closed');
  assert.equal(s.errors, 0);
  assert.ok(s.sent >= 4 && s.ok === s.sent);
  assert.equal(s.checks.sampled, s.sent);
});

test('a reference from another model is reported as CHECK_SCORE_REFERENCE, not as success', async () => {
  const other = fixtureModel(createFixture({ seed: 99 }));
  const s = await loadRun(ep, { target: 'http', method: 'score', rate: 20, durationS: 0.5, size: 10, pool: 2, sampleEvery: 1, referenceModel: other });
  assert.equal(s.errorsByCode.CHECK_SCORE_REFERENCE, 10);
  assert.equal(s.ok, 0);
});

test('server rejections are counted by transport status and MPE error code', async () => {
  const g = await loadRun(limitedEp, { target: 'grpc', method: 'score', rate: 20, durationS: 0.5, size: 100, pool: 2 });
  assert.deepEqual(g.errorsByCode, { 'INVALID_ARGUMENT/MPE_ERR_REQ_TOO_MANY_ROWS': 10 });
  const h = await loadRun(limitedEp, { target: 'http', method: 'score', rate: 20, durationS: 0.5, size: 100, pool: 2 });
  assert.deepEqual(h.errorsByCode, { 'HTTP_413/MPE_ERR_REQ_TOO_MANY_ROWS': 10 });
  assert.equal(h.latencyMs, null);
  assert.match(table([g, h]), /INVALID_ARGUMENT\/MPE_ERR_REQ_TOO_MANY_ROWS: 10/);
});

test('open loop counts waiting time from the scheduled send (no coordinated omission)', async () => {
  // 100 requests scheduled over 0.5 s against a "server" that answers one at a time in >= 20 ms:
  // the last one cannot finish before ~2 s after its slot opened, minus its 0.5 s offset. A driver
  // that timed from the actual send would report ~20 ms for every request.
  const run = await runOpenLoop({ rate: 200, durationS: 0.5, maxInFlight: 1 }, () => new Promise((r) => setTimeout(() => r('OK'), 20)));
  assert.equal(run.sent, 100);
  assert.equal(run.ok, 100);
  assert.equal(run.maxOutstanding, 1);
  assert.ok(run.queuedClientSide >= 90, `queued ${run.queuedClientSide}`);
  assert.ok(run.histogram.maxValue >= 1_000_000, `max latency ${run.histogram.maxValue} us`);
  assert.ok(run.histogram.getValueAtPercentile(50) >= 500_000, `p50 ${run.histogram.getValueAtPercentile(50)} us`);
});

test('knee: the last rate served at >= 95% with p50 <= 3x the low-load p50', () => {
  const mk = (rate: number, thr: number, p50: number, p99 = 50): RunSummary =>
    ({ target: 'grpc', method: 'score', offeredRate: rate, throughputRps: thr, sent: rate * 10, errors: 0, latencyMs: { p50, p90: p99, p99, p999: p99, max: p99, mean: p50 } }) as unknown as RunSummary;
  // A noisy p99 at 200 does not end the curve; the growing median at 800 does.
  assert.deepEqual(knee([mk(100, 100, 2, 5), mk(200, 199, 3, 400), mk(400, 398, 5, 9), mk(800, 790, 900)]), { rate: 400, p50Ms: 5, p99Ms: 9, throughputRps: 398 });
  assert.deepEqual(knee([mk(100, 100, 2), mk(200, 150, 3)]), { rate: 100, p50Ms: 2, p99Ms: 50, throughputRps: 100 });
  assert.equal(knee([mk(100, 50, 2)]), null);
});

test('soak sampling: process gauges parse from the live /metrics text and from a crafted one', async () => {
  const text = await (await fetch(`${ep.http}/metrics`)).text();
  const s = processSample(text, 1);
  assert.equal(s.t, 1);
  for (const k of ['rss', 'heapUsed', 'heapTotal', 'external'] as const) assert.ok((s[k] ?? 0) > 0, `${k} = ${s[k]}`);
  assert.ok(s.eventLoopP99 !== null && s.eventLoopP99 >= 0);
  const crafted = ['# HELP x', 'process_resident_memory_bytes_total 5', 'xprocess_resident_memory_bytes 6', 'process_resident_memory_bytes{pid="1"} 123456', 'nodejs_eventloop_lag_p99_seconds 0.0125'].join('\n');
  assert.equal(promValue(crafted, 'process_resident_memory_bytes'), 123456);
  assert.equal(promValue(crafted, 'nodejs_eventloop_lag_p99_seconds'), 0.0125);
  assert.equal(promValue(crafted, 'nodejs_heap_size_used_bytes'), null);
});

test('saturation plot: an SVG with p50 and p99 lines for both transports', () => {
  const mk = (target: 'grpc' | 'http', rate: number, p50: number, p99: number): RunSummary =>
    ({ target, method: 'score', offeredRate: rate, size: 100, latencyMs: { p50, p90: p99, p99, p999: p99, max: p99, mean: p50 } }) as unknown as RunSummary;
  const svg = saturationSvg([mk('grpc', 100, 2, 5), mk('grpc', 200, 3, 9), mk('http', 100, 3, 7), mk('http', 200, 5, 30)], 'test plot');
  assert.match(svg, /^<svg[\s\S]*<\/svg>$/);
  for (const label of ['GRPC p50', 'GRPC p99', 'HTTP p50', 'HTTP p99', 'test plot', 'offered load']) assert.ok(svg.includes(label), label);
  assert.equal((svg.match(/<path d="M/g) ?? []).length >= 4, true);
});

test('a send function that throws is counted as CLIENT_EXCEPTION, and the run still ends', async () => {
  const run = await runOpenLoop({ rate: 100, durationS: 0.1, maxInFlight: 4 }, (i) => (i % 2 === 0 ? Promise.resolve('OK') : Promise.reject(new TypeError('boom'))));
  assert.equal(run.sent, 10);
  assert.equal(run.ok, 5);
  assert.deepEqual({ ...run.errorsByCode }, { 'CLIENT_EXCEPTION/TypeError': 5 });
});
