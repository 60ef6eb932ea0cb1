import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { isMpeError } from '../../src/errors.js';
import { buildMlpScorer, type MlpWeights, mlpForwardReference, randomMlpWeights, SCORER_INPUT, SCORER_OUTPUT } from '../../src/scorer/mlp.js';
import { createRng } from '../../src/util/random.js';

function randomInput(n: number, dim: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const x = new Float32Array(n * dim);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * 0.5;
  return x;
}

async function runScorer(bytes: Uint8Array, x: Float32Array, n: number, dim: number): Promise<ort.Tensor> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    assert.deepEqual(s.inputNames, [SCORER_INPUT]);
    assert.deepEqual(s.outputNames, [SCORER_OUTPUT]);
    const out = await s.run({ [SCORER_INPUT]: new ort.Tensor('float32', x, [n, dim]) });
    return out[SCORER_OUTPUT] as ort.Tensor;
  } finally {
    await s.release();
  }
}

const CASES: { name: string; inputDim: number; hidden: number[]; batchNorm: boolean; n: number; seed: number }[] = [
  { name: 'no BN, 2 hidden layers', inputDim: 48, hidden: [32, 16], batchNorm: false, n: 257, seed: 1 },
  { name: 'with BN, 3 hidden layers', inputDim: 39 * 4, hidden: [64, 32, 16], batchNorm: true, n: 100, seed: 2 },
  { name: 'with BN, batch of 1', inputDim: 16, hidden: [8], batchNorm: true, n: 1, seed: 3 },
  { name: 'logistic regression (no hidden layer)', inputDim: 10, hidden: [], batchNorm: false, n: 33, seed: 4 },
];

for (const c of CASES) {
  test(`buildMlpScorer matches mlpForwardReference within 1e-5: ${c.name}`, async () => {
    const w = randomMlpWeights(c.inputDim, c.hidden, c.seed, { batchNorm: c.batchNorm });
    assert.equal(w.hidden.every((l) => (l.bn !== undefined) === c.batchNorm), true);
    const x = randomInput(c.n, c.inputDim, c.seed + 100);
    const p = await runScorer(buildMlpScorer(w), x, c.n, c.inputDim);
    assert.deepEqual(p.dims, [c.n, 1]);
    const ref = mlpForwardReference(w, x, c.n);
    const data = p.data as Float32Array;
    let spread = 0;
    for (let i = 0; i < c.n; i++) {
      assert.ok(Math.abs((data[i] as number) - (ref[i] as number)) <= 1e-5, `row ${i}: ${data[i]} vs ${ref[i]}`);
      spread = Math.max(spread, Math.abs((ref[i] as number) - (ref[0] as number)));
    }
    if (c.n > 1) assert.ok(spread > 1e-3, 'fixture gives distinct probabilities');
  });
}

test('BatchNorm changes the output (the BN nodes are really in the graph)', async () => {
  const withBn = randomMlpWeights(12, [8], 9, { batchNorm: true });
  const noBn: MlpWeights = { ...withBn, hidden: withBn.hidden.map((l) => ({ W: l.W, b: l.b })) };
  const x = randomInput(20, 12, 10);
  const a = (await runScorer(buildMlpScorer(withBn), x, 20, 12)).data as Float32Array;
  const b = (await runScorer(buildMlpScorer(noBn), x, 20, 12)).data as Float32Array;
  let maxDiff = 0;
  for (let i = 0; i < 20; i++) maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
  assert.ok(maxDiff > 1e-3, `max diff ${maxDiff}`);
});

test('randomMlpWeights is deterministic per seed', () => {
  const a = randomMlpWeights(20, [10, 5], 123, { batchNorm: true });
  const b = randomMlpWeights(20, [10, 5], 123, { batchNorm: true });
  const c = randomMlpWeights(20, [10, 5], 124, { batchNorm: true });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.hidden[0]?.W, c.hidden[0]?.W);
  assert.equal(a.hidden[0]?.W.length, 200);
  assert.equal(a.out.W.length, 5);
  // Same weights, same model bytes (the export is deterministic too).
  assert.deepEqual(buildMlpScorer(a), buildMlpScorer(b));
});

test('inconsistent MLP weights are refused with MPE_ERR_ONNX_GRAPH', () => {
  const good = randomMlpWeights(8, [4], 5, { batchNorm: true });
  const bad: MlpWeights[] = [
    { ...good, inputDim: 0 },
    { ...good, inputDim: 9 },
    { ...good, hidden: [{ W: new Float32Array(32), b: new Float32Array(3) }] },
    { ...good, hidden: [{ ...(good.hidden[0] as MlpWeights['hidden'][0]), bn: { ...(good.hidden[0]?.bn as NonNullable<MlpWeights['hidden'][0]['bn']>), gamma: new Float32Array(3) } }] },
    { ...good, hidden: [{ ...(good.hidden[0] as MlpWeights['hidden'][0]), bn: { ...(good.hidden[0]?.bn as NonNullable<MlpWeights['hidden'][0]['bn']>), eps: 0 } }] },
    { ...good, out: { W: new Float32Array(5), b: new Float32Array(1) } },
    { ...good, out: { W: new Float32Array(4), b: new Float32Array(2) } },
  ];
  for (const w of bad) {
    assert.throws(
      () => buildMlpScorer(w),
      (e: unknown) => isMpeError(e) && e.code === 'MPE_ERR_ONNX_GRAPH' && e.message.includes('MLP weights'),
    );
  }
});
