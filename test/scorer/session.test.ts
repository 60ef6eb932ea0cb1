import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMpeError } from '../../src/errors.js';
import { buildMlpScorer, mlpForwardReference, randomMlpWeights } from '../../src/scorer/mlp.js';
import { createScorerSession, cudaProviderInstalled, listOrtBackends, scoreBatch } from '../../src/scorer/session.js';
import { createRng } from '../../src/util/random.js';

const DIM = 24;
const weights = randomMlpWeights(DIM, [16, 8], 77, { batchNorm: true });
const model = buildMlpScorer(weights);

function input(n: number): Float32Array {
  const rng = createRng(5);
  const x = new Float32Array(n * DIM);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return x;
}

function assertProviderError(e: unknown, pattern: RegExp): true {
  assert.ok(isMpeError(e), `expected MpeError, got ${String(e)}`);
  assert.equal(e.code, 'MPE_ERR_SCORER_PROVIDER');
  assert.equal(e.httpStatus, 503);
  assert.match(e.message, pattern);
  return true;
}

test('this onnxruntime-node build lists cpu, webgpu and cuda backends', () => {
  const names = listOrtBackends().map((b) => b.name);
  assert.ok(names.includes('cpu'));
  assert.ok(names.includes('webgpu'));
  assert.ok(names.includes('cuda'));
});

test('cpu session (1 thread, no spinning) scores like the reference; SharedArrayBuffer input is accepted', async () => {
  const { session, provider, fallbackReason } = await createScorerSession(model, { provider: 'cpu', intraOpThreads: 1, allowSpinning: false });
  try {
    assert.equal(provider, 'cpu');
    assert.equal(fallbackReason, undefined);
    const n = 50;
    const x = input(n);
    const ref = mlpForwardReference(weights, x, n);
    const p = await scoreBatch(session, x, n, DIM);
    assert.equal(p.length, n);
    for (let i = 0; i < n; i++) assert.ok(Math.abs((p[i] as number) - (ref[i] as number)) <= 1e-5, `row ${i}`);

    const shared = new Float32Array(new SharedArrayBuffer((n * DIM + 10) * 4));
    shared.set(x);
    const ps = await scoreBatch(session, shared, n, DIM); // longer buffer: only rows*inputDim are read
    assert.deepEqual(Array.from(ps), Array.from(p));

    // A prefix of the batch scores the same rows.
    const p3 = await scoreBatch(session, x, 3, DIM);
    assert.deepEqual(Array.from(p3), Array.from(p.subarray(0, 3)));
  } finally {
    await session.release();
  }
});

test('scoreBatch refuses a short input with MPE_ERR_SCORER_RUN', async () => {
  const { session } = await createScorerSession(model, { provider: 'cpu', intraOpThreads: 1 });
  try {
    for (const [rows, dim] of [
      [10, DIM],
      [0, DIM],
      [2, DIM + 1],
    ] as const) {
      await assert.rejects(scoreBatch(session, input(2), rows, dim), (e: unknown) => isMpeError(e) && e.code === 'MPE_ERR_SCORER_RUN');
    }
  } finally {
    await session.release();
  }
});

test('auto uses CUDA when installed, otherwise falls back to CPU and says why', async () => {
  const reasons: string[] = [];
  const { session, provider, fallbackReason } = await createScorerSession(model, { provider: 'auto', intraOpThreads: 1, onFallback: (r) => reasons.push(r) });
  try {
    if (cudaProviderInstalled() && provider === 'cuda') {
      assert.deepEqual(reasons, []);
    } else {
      assert.equal(provider, 'cpu');
      assert.equal(reasons.length, 1);
      assert.equal(fallbackReason, reasons[0]);
      assert.match(reasons[0] as string, /CUDA/);
      const p = await scoreBatch(session, input(4), 4, DIM);
      assert.equal(p.length, 4);
    }
  } finally {
    await session.release();
  }
});

test('explicit cuda without its libraries -> MPE_ERR_SCORER_PROVIDER with install instructions', async (t) => {
  if (cudaProviderInstalled()) {
    t.skip('CUDA provider library is installed on this host');
    return;
  }
  await assert.rejects(createScorerSession(model, { provider: 'cuda' }), (e) => assertProviderError(e, /CUDA 12 \+ cuDNN 9 runtime: `npm ci --onnxruntime-node-install=cuda12`/));
});

test('explicit webgpu starts, or fails with MPE_ERR_SCORER_PROVIDER naming libvulkan1', async () => {
  let started: Awaited<ReturnType<typeof createScorerSession>> | undefined;
  try {
    started = await createScorerSession(model, { provider: 'webgpu' });
  } catch (e) {
    assertProviderError(e, /webgpu: .*libvulkan1/);
    return;
  }
  // A host with a Vulkan-capable GPU: the session must really score.
  try {
    assert.equal(started.provider, 'webgpu');
    const x = input(8);
    const ref = mlpForwardReference(weights, x, 8);
    const p = await scoreBatch(started.session, x, 8, DIM);
    for (let i = 0; i < 8; i++) assert.ok(Math.abs((p[i] as number) - (ref[i] as number)) <= 1e-4);
  } finally {
    await started.session.release();
  }
});

test('unknown provider and bad thread count -> MPE_ERR_SCORER_PROVIDER; an undecodable model -> MPE_ERR_SCORER_RUN', async () => {
  await assert.rejects(createScorerSession(model, { provider: 'tpu' as never }), (e) => assertProviderError(e, /unknown provider "tpu"/));
  await assert.rejects(createScorerSession(model, { provider: 'cpu', intraOpThreads: -1 }), (e) => assertProviderError(e, /intraOpThreads/));
  await assert.rejects(createScorerSession(new Uint8Array([1, 2, 3, 4]), { provider: 'cpu' }), (e: unknown) => isMpeError(e) && e.code === 'MPE_ERR_SCORER_RUN');
});
