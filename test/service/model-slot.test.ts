/** The model slot: one not-ready behaviour before the first swap; prepare/swap/discard with real workers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { isMpeError } from '../../src/errors.js';
import { createServeMetrics } from '../../src/metrics/serve-metrics.js';
import { createModelSlot, NOT_READY } from '../../src/service/model-slot.js';
import { createFixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';

const ctx = { deadline: Number.POSITIVE_INFINITY };

/** The error a call fails with, whether it throws or rejects. */
async function failure(call: () => unknown): Promise<{ code: string; message: string }> {
  try {
    await call();
  } catch (e) {
    assert.ok(isMpeError(e), String(e));
    return { code: e.code, message: e.message };
  }
  assert.fail('the call succeeded');
}

test('an empty slot: every call fails with MPE_ERR_NOT_READY and the same message; nothing is shed or sampled', async () => {
  const slot = createModelSlot({ config: testConfig(), metrics: createServeMetrics(new Registry()) });
  assert.equal(slot.hasModel(), false);
  assert.equal(slot.pool, null);
  const calls: (() => unknown)[] = [
    () => slot.service.lookup({ ids: [1] }, ctx),
    () => slot.service.score({ ids: [1] }, ctx),
    () => slot.service.getModel(),
    () => slot.service.warmUp(),
    () => slot.service.stats,
  ];
  const seen = await Promise.all(calls.map(failure));
  for (const f of seen) assert.deepEqual(f, seen[0]);
  assert.equal(seen[0]!.code, 'MPE_ERR_NOT_READY');
  // The same object serves an empty slot everywhere.
  assert.deepEqual(await failure(() => NOT_READY.getModel()), seen[0]);
  assert.equal(slot.service.overloaded(), null);
  assert.equal(slot.service.live, null);
  await slot.close();
});

test('prepare scores in every worker without serving; swap serves from the next call; discard stops a prepared pool', async () => {
  const metrics = createServeMetrics(new Registry());
  const slot = createModelSlot({ config: testConfig({ workers: 2, statsSampleRate: 1 }), metrics });
  const fx1 = createFixture({ seed: 3 });
  const fx2 = createFixture({ seed: 4 });
  const p1 = await slot.prepare(fixtureModel(fx1, 'v1'));
  assert.equal(slot.hasModel(), false, 'prepared is not served');
  assert.equal((await failure(() => slot.service.getModel())).code, 'MPE_ERR_NOT_READY');
  slot.swap(p1);
  assert.equal(slot.service.getModel().version, 'v1');
  assert.equal(slot.pool, p1.pool);
  assert.equal(slot.service.live?.version, 'v1');
  const { ids } = randomRows(fx1, 3, 7);
  const a = await slot.service.score({ ids }, ctx);
  assert.equal(a.modelVersion, 'v1');
  assert.equal(a.probabilities.length, 3);
  const p2 = await slot.prepare(fixtureModel(fx2, 'v2'));
  slot.swap(p2);
  assert.equal(slot.service.getModel().version, 'v2');
  await p1.pool.stopped; // the old pool stops once its admitted requests are done
  const p3 = await slot.prepare(fixtureModel(fx1, 'v3'));
  await slot.discard(p3);
  await p3.pool.stopped;
  assert.equal(slot.service.getModel().version, 'v2');
  assert.equal((await slot.service.score({ ids: randomRows(fx2, 1, 8).ids }, ctx)).modelVersion, 'v2');
  await slot.close();
  await p2.pool.stopped;
});

test('a model prepared before close() and swapped after it is stopped, not served (shutdown during a reload)', async () => {
  const slot = createModelSlot({ config: testConfig(), metrics: createServeMetrics(new Registry()) });
  const fx = createFixture({ seed: 5 });
  slot.swap(await slot.prepare(fixtureModel(fx, 'v1')));
  const late = await slot.prepare(fixtureModel(fx, 'v2'));
  await slot.close();
  slot.swap(late);
  assert.equal(slot.service.getModel().version, 'v1', 'the closed slot did not take the late model');
  await late.pool.stopped;
});
