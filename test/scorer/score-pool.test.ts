/** The score pool with real workers and sessions: micro-batching, shedding, deadlines, drain on close. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMpeError } from '../../src/errors.js';
import { createScorerSession, scoreBatch } from '../../src/scorer/session.js';
import { ScorePool, type ScorePoolOptions } from '../../src/scorer/score-pool.js';
import { createFixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';
import { type RawPart, ValuePacker } from '../../src/vocab/packed-values.js';

const fx = createFixture({ seed: 3 });
const F = fx.fields.length;

function options(o: Partial<ScorePoolOptions>): ScorePoolOptions {
  return {
    workers: 1,
    maxBatchRows: 64,
    maxWaitUs: 0,
    queueLimit: 16,
    maxQueueMs: Number.POSITIVE_INFINITY,
    init: { tableBuffer: fx.tableBuffer, scorerBytes: fx.scorerBytes, fields: F, provider: 'cpu', intraOpThreads: 1 },
    ...o,
  };
}

async function expected(ids: Int32Array): Promise<Float32Array> {
  const { session } = await createScorerSession(fx.scorerBytes, { provider: 'cpu', intraOpThreads: 1 });
  const x = new Float32Array(ids.length * fx.spec.d);
  fx.table.dequantize(ids, ids.length, x, 0);
  const p = new Float32Array(await scoreBatch(session, x, ids.length / F, F * fx.spec.d));
  await session.release();
  return p;
}

const code = (e: unknown): string => (isMpeError(e) ? e.code : String(e));

test('concurrent requests are micro-batched into one run and each gets its own rows back', async () => {
  const batches: number[] = [];
  const pool = await ScorePool.create(options({ maxWaitUs: 5000, onBatch: (n) => batches.push(n) }));
  try {
    const reqs = [1, 2, 3, 4, 5].map((n, k) => randomRows(fx, n, 50 + k).ids);
    const results = await Promise.all(reqs.map((ids) => pool.score(ids.slice(), ids.length / F, Number.POSITIVE_INFINITY)));
    assert.deepEqual(batches, [15]);
    for (let k = 0; k < reqs.length; k++) {
      const want = await expected(reqs[k]!);
      assert.equal(results[k]!.length, want.length);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(results[k]![i]! - want[i]!) <= 1e-6);
    }
  } finally {
    await pool.close();
  }
});

test('batches respect maxBatchRows', async () => {
  const batches: number[] = [];
  const pool = await ScorePool.create(options({ maxWaitUs: 5000, maxBatchRows: 6, onBatch: (n) => batches.push(n) }));
  try {
    const reqs = [4, 2, 3, 3, 5].map((n, k) => randomRows(fx, n, 80 + k).ids);
    await Promise.all(reqs.map((ids) => pool.score(ids, ids.length / F, Number.POSITIVE_INFINITY)));
    assert.deepEqual(batches, [6, 6, 5]);
  } finally {
    await pool.close();
  }
});

test('a full queue sheds with MPE_ERR_OVERLOADED; accepted requests still succeed', async () => {
  const pool = await ScorePool.create(options({ queueLimit: 2 }));
  try {
    const ids = randomRows(fx, 2, 9).ids;
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => pool.score(ids.slice(), 2, Number.POSITIVE_INFINITY)));
    // The first goes straight to the idle worker, two wait in the queue, seven are shed.
    assert.deepEqual(
      settled.map((s) => (s.status === 'fulfilled' ? 'ok' : code(s.reason))),
      ['ok', 'ok', 'ok', ...Array(7).fill('MPE_ERR_OVERLOADED')],
    );
    const want = await expected(ids);
    for (const s of settled.slice(0, 3)) assert.deepEqual(Array.from((s as PromiseFulfilledResult<Float32Array>).value), Array.from(want));
  } finally {
    await pool.close();
  }
});

test('a request whose deadline has passed is rejected with MPE_ERR_REQ_DEADLINE and not scored', async () => {
  const batches: number[] = [];
  const pool = await ScorePool.create(options({ onBatch: (n) => batches.push(n) }));
  try {
    await assert.rejects(pool.score(randomRows(fx, 1, 1).ids, 1, Date.now() - 1), (e) => code(e) === 'MPE_ERR_REQ_DEADLINE');
    assert.deepEqual(batches, []);
  } finally {
    await pool.close();
  }
});

test('close() lets queued requests finish, then refuses new ones with MPE_ERR_SHUTTING_DOWN', async () => {
  const pool = await ScorePool.create(options({ maxWaitUs: 2000 }));
  const ids = randomRows(fx, 3, 12).ids;
  const pending = [pool.score(ids.slice(), 3, Number.POSITIVE_INFINITY), pool.score(ids.slice(), 3, Number.POSITIVE_INFINITY)];
  const closed = pool.close();
  await assert.rejects(pool.score(ids.slice(), 3, Number.POSITIVE_INFINITY), (e) => code(e) === 'MPE_ERR_SHUTTING_DOWN');
  const results = await Promise.all(pending);
  await closed;
  const want = Array.from(await expected(ids));
  for (const r of results) assert.deepEqual(Array.from(r), want);
});

test('an unavailable explicit provider fails start-up with MPE_ERR_SCORER_PROVIDER', async () => {
  await assert.rejects(ScorePool.create(options({ init: { ...options({}).init, provider: 'cuda' } })), (e) => code(e) === 'MPE_ERR_SCORER_PROVIDER');
});

test('with two idle workers, concurrent requests are shared between them instead of one worker taking all', async () => {
  const batches: number[] = [];
  const pool = await ScorePool.create(options({ workers: 2, maxWaitUs: 5000, onBatch: (n) => batches.push(n) }));
  try {
    const reqs = [3, 3, 3, 3].map((n, k) => randomRows(fx, n, 120 + k).ids);
    const results = await Promise.all(reqs.map((ids) => pool.score(ids.slice(), ids.length / F, Number.POSITIVE_INFINITY)));
    assert.deepEqual(batches, [6, 6]);
    for (let k = 0; k < reqs.length; k++) {
      const want = await expected(reqs[k]!);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(results[k]![i]! - want[i]!) <= 1e-6);
    }
  } finally {
    await pool.close();
  }
});

/** Blocks the main thread for `ms` (the worker's answer cannot be handled meanwhile): queued requests age. */
function blockMainThread(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() <= until) {
    // spin
  }
}

test('queued work older than maxQueueMs is shed with MPE_ERR_OVERLOADED, never scored; the pool serves normally afterwards', async () => {
  const batches: number[] = [];
  const pool = await ScorePool.create(options({ maxQueueMs: 20, onBatch: (n) => batches.push(n) }));
  try {
    const a = randomRows(fx, 3, 200).ids;
    const first = pool.score(a.slice(), 3, Number.POSITIVE_INFINITY);
    const stale = [pool.score(randomRows(fx, 5, 201).ids, 5, Number.POSITIVE_INFINITY), pool.score(randomRows(fx, 7, 202).ids, 7, Number.POSITIVE_INFINITY)];
    blockMainThread(40);
    const shedNow = pool.overloaded();
    assert.equal(shedNow?.code, 'MPE_ERR_OVERLOADED');
    assert.match(shedNow.message, /MPE_MAX_QUEUE_MS=20/);
    await assert.rejects(pool.score(randomRows(fx, 2, 203).ids, 2, Number.POSITIVE_INFINITY), (e) => code(e) === 'MPE_ERR_OVERLOADED');
    const got = await first;
    const results = await Promise.allSettled(stale);
    assert.deepEqual(results.map((r) => (r.status === 'rejected' ? code(r.reason) : 'ok')), ['MPE_ERR_OVERLOADED', 'MPE_ERR_OVERLOADED']);
    assert.deepEqual(batches, [3], 'only the first request reached a worker');
    const want = await expected(a);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-6);
    assert.equal(pool.overloaded(), null);
    const b = randomRows(fx, 4, 204).ids;
    const after = await pool.score(b.slice(), 4, Number.POSITIVE_INFINITY);
    const wantB = await expected(b);
    for (let i = 0; i < wantB.length; i++) assert.ok(Math.abs(after[i]! - wantB[i]!) <= 1e-6);
    assert.deepEqual(batches, [3, 4]);
  } finally {
    await pool.close();
  }
});

test('a queued request whose client went away is dropped with MPE_ERR_REQ_DEADLINE, never scored', async () => {
  const batches: number[] = [];
  const pool = await ScorePool.create(options({ onBatch: (n) => batches.push(n) }));
  try {
    let gone = false;
    const first = pool.score(randomRows(fx, 2, 210).ids, 2, Number.POSITIVE_INFINITY);
    const queued = pool.score(randomRows(fx, 6, 211).ids, 6, Number.POSITIVE_INFINITY, () => gone);
    gone = true;
    await first;
    await assert.rejects(queued, (e) => code(e) === 'MPE_ERR_REQ_DEADLINE');
    assert.deepEqual(batches, [2]);
  } finally {
    await pool.close();
  }
  assert.equal(pool.aliveWorkers, 0);
});

/** The fixture's rows as a raw part (every value as text), the way the service packs them. */
function rawPart(raw: Record<string, string | number>[]): RawPart {
  const p = new ValuePacker(raw.length * F);
  for (let r = 0; r < raw.length; r++) for (let j = 0; j < F; j++) p.set(r * F + j, raw[r]![fx.fields[j]!.name]);
  return { rows: raw.length, values: p.pack(), context: null, label: 'rows', rowOffset: 0 };
}

function rawOptions(o: Partial<ScorePoolOptions>): ScorePoolOptions {
  const base = options(o);
  return { ...base, init: { ...base.init, vocabBuffer: fixtureModel(fx).vocabBuffer!, fieldSpecs: fx.fields } };
}

test('a lone request is split across the idle workers; the slices give the unsplit scores', async () => {
  const batches: number[] = [];
  const pool = await ScorePool.create(rawOptions({ workers: 2, maxWaitUs: 0, splitMinRows: 8, onBatch: (n) => batches.push(n) }));
  try {
    const { ids, raw } = randomRows(fx, 40, 300);
    const want = await expected(ids);
    const byIds = await pool.score(ids.slice(), 40, Number.POSITIVE_INFINITY);
    assert.deepEqual(batches, [20, 20], 'one slice per idle worker');
    const byRaw = await pool.scoreRaw(rawPart(raw), Number.POSITIVE_INFINITY);
    assert.deepEqual(batches, [20, 20, 20, 20]);
    assert.deepEqual(byRaw.ids, ids, 'the workers resolved the raw values to the same ids');
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(byIds[i]! - want[i]!) <= 1e-6);
      assert.ok(Math.abs(byRaw.probabilities[i]! - want[i]!) <= 1e-6);
    }
    // Too small to split (< 2 x splitMinRows): one batch.
    await pool.score(randomRows(fx, 15, 301).ids, 15, Number.POSITIVE_INFINITY);
    assert.deepEqual(batches.slice(4), [15]);
  } finally {
    await pool.close();
  }
  const never = await ScorePool.create(rawOptions({ workers: 2, splitMinRows: 0, onBatch: (n) => batches.push(n) }));
  try {
    await never.score(randomRows(fx, 40, 302).ids, 40, Number.POSITIVE_INFINITY);
    assert.deepEqual(batches.slice(5), [40], 'splitMinRows 0 never splits');
  } finally {
    await never.close();
  }
});

test('raw values resolved by the worker: a bad value fails its own request only (naming its row across slices), the batch mates succeed', async () => {
  const pool = await ScorePool.create(rawOptions({ workers: 2, maxWaitUs: 5000, splitMinRows: 8 }));
  try {
    const good = randomRows(fx, 5, 310);
    const badRows = randomRows(fx, 30, 311).raw;
    badRows[27]!.I2 = 'abc';
    const [a, b] = await Promise.allSettled([pool.scoreRaw(rawPart(good.raw), Number.POSITIVE_INFINITY), pool.scoreRaw(rawPart(badRows), Number.POSITIVE_INFINITY)]);
    assert.equal(b.status, 'rejected');
    assert.equal(code((b as PromiseRejectedResult).reason), 'MPE_ERR_REQ_NUMERIC');
    assert.match(String((b as PromiseRejectedResult).reason.message), /rows\[27\]: field I2 value "abc"/);
    assert.equal(a.status, 'fulfilled');
    const want = await expected(good.ids);
    const got = (a as PromiseFulfilledResult<{ probabilities: Float32Array }>).value.probabilities;
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-6);
    // A lone bad request split over both workers still names the row in the second slice.
    await assert.rejects(pool.scoreRaw(rawPart(badRows), Number.POSITIVE_INFINITY), /rows\[27\]: field I2 value "abc"/);
  } finally {
    await pool.close();
  }
});

test('the warm-up is never shed for its queue age (a busy start-up must not fail), other requests still are', async () => {
  const batches: number[] = [];
  const pool = await ScorePool.create(options({ maxQueueMs: 20, onBatch: (n) => batches.push(n) }));
  try {
    const busy = pool.score(randomRows(fx, 3, 400).ids, 3, Number.POSITIVE_INFINITY);
    const warm = pool.warm(randomRows(fx, 1, 401).ids, 1);
    const normal = pool.score(randomRows(fx, 2, 402).ids, 2, Number.POSITIVE_INFINITY).then(() => 'ok', code);
    blockMainThread(40);
    await busy;
    assert.equal((await warm).length, 1);
    assert.equal(await normal, 'MPE_ERR_OVERLOADED');
    assert.deepEqual(batches, [3, 1]);
  } finally {
    await pool.close();
  }
});
