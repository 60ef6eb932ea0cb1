import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DenseNet } from '../../src/train/dense-net.js';
import { createRng } from '../../src/util/random.js';

/** Float64 forward of the training-mode network: mean BCE loss. params in DenseNet.names order. */
function refLoss(params: Float64Array[], hidden: number[], bn: boolean, x: Float64Array, y: Float64Array, n: number, inputDim: number, eps: number): number {
  let h = x;
  let prev = inputDim;
  let i = 0;
  for (const out of hidden) {
    const W = params[i++]!;
    const b = params[i++]!;
    const z = new Float64Array(n * out);
    for (let r = 0; r < n; r++) {
      for (let o = 0; o < out; o++) {
        let s = b[o]!;
        for (let k = 0; k < prev; k++) s += W[o * prev + k]! * h[r * prev + k]!;
        z[r * out + o] = s;
      }
    }
    if (bn) {
      const gamma = params[i++]!;
      const beta = params[i++]!;
      for (let o = 0; o < out; o++) {
        let mu = 0;
        for (let r = 0; r < n; r++) mu += z[r * out + o]!;
        mu /= n;
        let v = 0;
        for (let r = 0; r < n; r++) v += (z[r * out + o]! - mu) ** 2;
        v /= n;
        for (let r = 0; r < n; r++) z[r * out + o] = ((z[r * out + o]! - mu) / Math.sqrt(v + Math.fround(eps))) * gamma[o]! + beta[o]!;
      }
    }
    for (let k = 0; k < z.length; k++) z[k] = Math.max(0, z[k]!);
    h = z;
    prev = out;
  }
  const Wo = params[i++]!;
  const bo = params[i++]!;
  let loss = 0;
  for (let r = 0; r < n; r++) {
    let s = bo[0]!;
    for (let k = 0; k < prev; k++) s += Wo[k]! * h[r * prev + k]!;
    const p = 1 / (1 + Math.exp(-s));
    loss -= y[r]! * Math.log(p) + (1 - y[r]!) * Math.log(1 - p);
  }
  return loss / n;
}

for (const bn of [true, false]) {
  test(`train-step graph (batchNorm ${bn}): loss and every gradient match float64 finite differences`, async () => {
    const inputDim = 6;
    const hidden = [5, 4];
    const n = 9;
    const net = await DenseNet.create({ inputDim, hidden, batchNorm: bn, seed: 4, intraOpThreads: 1 });
    const rng = createRng(8);
    // Perturb BN gamma/beta away from 1/0 so their gradients are exercised in general position.
    for (const [i, name] of net.names.entries()) {
      if (name.endsWith('.gamma') || name.endsWith('.beta')) for (let k = 0; k < net.params[i]!.length; k++) net.params[i]![k]! += 0.3 * rng.normal();
    }
    const x = Float32Array.from({ length: n * inputDim }, () => rng.normal());
    const y = Float32Array.from({ length: n }, (_, r) => (r % 3 === 0 ? 1 : 0));
    const g = await net.gradients(x, y, n);
    const p64 = net.params.map((p) => Float64Array.from(p));
    const x64 = Float64Array.from(x);
    const y64 = Float64Array.from(y);
    const f = () => refLoss(p64, hidden, bn, x64, y64, n, inputDim, 1e-5);
    assert.ok(Math.abs(g.loss - f()) < 1e-5, `loss ${g.loss} vs ${f()}`);
    const h = 1e-6;
    const check = (arr: Float64Array, grad: Float32Array, what: string) => {
      assert.equal(grad.length, arr.length, what);
      for (let k = 0; k < arr.length; k++) {
        const v = arr[k]!;
        arr[k] = v + h;
        const up = f();
        arr[k] = v - h;
        const down = f();
        arr[k] = v;
        const fd = (up - down) / (2 * h);
        assert.ok(Math.abs(grad[k]! - fd) < 5e-6 + 1e-3 * Math.abs(fd), `${what}[${k}]: graph ${grad[k]} vs finite difference ${fd}`);
      }
    };
    for (let i = 0; i < p64.length; i++) check(p64[i]!, g.grads[i]!, net.names[i]!);
    check(x64, g.dx, 'x');
    if (bn) {
      // Batch statistics of layer 0 are those of z = x W^T + b.
      assert.equal(g.batchMean.length, 2);
      assert.equal(g.batchVar[0]!.length, 5);
    }
    await net.close();
  });
}

test('applyGradients: Adam step and PyTorch-style running statistics (momentum 0.1, unbiased variance)', async () => {
  const net = await DenseNet.create({ inputDim: 3, hidden: [2], seed: 1, intraOpThreads: 1 });
  const rng = createRng(3);
  const x = Float32Array.from({ length: 12 }, () => rng.normal());
  const y = Float32Array.of(1, 0, 0, 1);
  const before = net.params.map((p) => p.slice());
  const g = await net.gradients(x, y, 4);
  const bm = g.batchMean[0]!.slice();
  const bv = g.batchVar[0]!.slice();
  net.applyGradients(g, 4);
  for (let k = 0; k < 2; k++) {
    assert.ok(Math.abs(net.runningMean[0]![k]! - 0.1 * bm[k]!) < 1e-7);
    assert.ok(Math.abs(net.runningVar[0]![k]! - (0.9 + 0.1 * bv[k]! * (4 / 3))) < 1e-6);
  }
  // First Adam step moves each weight with a non-zero gradient by about lr.
  const W = net.params[0]!;
  for (let k = 0; k < W.length; k++) assert.ok(Math.abs(Math.abs(W[k]! - before[0]![k]!) - 1e-3) < 1e-6);
  const w = net.toMlpWeights();
  assert.deepEqual(Array.from(w.hidden[0]!.bn!.mean), Array.from(net.runningMean[0]!));
  await net.close();
});
