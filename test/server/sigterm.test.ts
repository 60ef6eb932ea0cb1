/**
 * `mpe serve` as a child process: a real bundle written by writeBundle, 200 gRPC Score calls in
 * flight, SIGTERM after the first answer. Every accepted call must get its correct answer and
 * the process must exit 0.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createScorerSession, scoreBatch } from '../../src/scorer/session.js';
import { createFixture, randomRows, writeFixtureBundle } from '../helpers/bundle-fixture.js';
import { spawnServe } from '../helpers/spawn-serve.js';
import { grpcClient, httpJson } from './clients.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-sigterm-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('SIGTERM during load: every accepted request is answered correctly, exit code 0', async () => {
  const fx = createFixture({ seed: 31 });
  const dir = join(tmp, 'bundle');
  await writeFixtureBundle(fx, dir, 'sigterm-1');
  const ports = await spawnServe(['--model', dir, '--workers', '1', '--max-batch-rows', '8', '--queue-limit', '1000']);
  const { child, exited } = ports;
  const { call, close } = grpcClient(ports.grpc);
  try {
    const F = fx.fields.length;
    const reqs = Array.from({ length: 200 }, (_, k) => randomRows(fx, 4, 500 + k).ids);
    let first!: () => void;
    const firstAnswer = new Promise<void>((r) => (first = r));
    const calls = reqs.map((ids) =>
      call<{ probabilities: number[] }>('Score', { ids: Array.from(ids) }).then((r) => {
        first();
        return r;
      }),
    );
    await firstAnswer;
    child.kill('SIGTERM');
    const results = await Promise.all(calls);
    const { session } = await createScorerSession(fx.scorerBytes, { provider: 'cpu', intraOpThreads: 1 });
    for (let k = 0; k < reqs.length; k++) {
      const r = results[k]!;
      assert.ok(r.ok, `request ${k}: ${r.details}`);
      const x = new Float32Array(reqs[k]!.length * fx.spec.d);
      fx.table.dequantize(reqs[k]!, reqs[k]!.length, x, 0);
      const want = await scoreBatch(session, x, 4, F * fx.spec.d);
      for (let i = 0; i < 4; i++) assert.ok(Math.abs(r.value!.probabilities[i]! - want[i]!) <= 1e-6, `request ${k} row ${i}`);
    }
    await session.release();
    assert.equal(await exited, 0);
    assert.ok(ports.logs().some((l) => l.signal === 'SIGTERM' && l.level === 30), 'an info line with signal SIGTERM (draining)');
    // After shutdown nothing listens any more.
    await assert.rejects(httpJson(ports.http, 'GET', '/healthz'));
  } finally {
    close();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
