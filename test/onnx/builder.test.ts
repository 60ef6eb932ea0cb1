import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { isMpeError } from '../../src/errors.js';
import {
  type AttrValue,
  attrFloat,
  attrInt,
  attrInts,
  attrTensor,
  OnnxGraphBuilder,
} from '../../src/onnx/builder.js';
import { createRng } from '../../src/util/random.js';

const TOL = 1e-5;

function randn(n: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * rng.normal();
  return a;
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function f32(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = TOL): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `element ${i}: ${a} vs ${e}`);
  }
}

function assertGraphError(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isMpeError(e), `expected MpeError, got ${String(e)}`);
    assert.equal(e.code, 'MPE_ERR_ONNX_GRAPH');
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

/** True when `needle` occurs in `hay`. */
function contains(hay: Uint8Array, needle: readonly number[]): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}

test('wire format (hand-computed bytes): varint dims, negative int64, fixed32 float, nested lengths', () => {
  const g = new OnnxGraphBuilder('g');
  g.addInput('x', 'float32', [300]);
  g.addNode('Relu', ['x'], ['y'], { a: attrInt(-1), f: attrFloat(1.5) });
  g.addOutput('y', 'float32', [300]);
  const bytes = g.toBytes();
  // NodeProto.attribute (field 5) {name "a", i = -1 (10-byte two's complement), type INT (field 20 = 2)}
  assert.ok(contains(bytes, [0x2a, 0x11, 0x0a, 0x01, 0x61, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xa0, 0x01, 0x02]), 'INT attribute -1');
  // {name "f", f = 1.5 (fixed32 LE 00 00 c0 3f), type FLOAT (1)}
  assert.ok(contains(bytes, [0x2a, 0x0b, 0x0a, 0x01, 0x66, 0x15, 0x00, 0x00, 0xc0, 0x3f, 0xa0, 0x01, 0x01]), 'FLOAT attribute 1.5');
  // TensorShapeProto.dim {dim_value = 300 (varint ac 02)}
  assert.ok(contains(bytes, [0x0a, 0x03, 0x08, 0xac, 0x02]), 'dim 300');
  // ModelProto starts with ir_version 8, producer_name "mpe-serve".
  assert.deepEqual(Array.from(bytes.subarray(0, 13)), [0x08, 0x08, 0x12, 0x09, ...Buffer.from('mpe-serve')]);
});

test('Gemm (transB=1, alpha, beta) matches the TS reference; symbolic batch dim is declared', async () => {
  const n = 5;
  const k = 7;
  const m = 3;
  const x = randn(n * k, 1);
  const W = randn(m * k, 2);
  const b = randn(m, 3);
  const g = new OnnxGraphBuilder('gemm');
  g.addInput('x', 'float32', ['N', k]);
  g.addInitializer('W', W, [m, k]);
  g.addInitializer('b', b, [m]);
  g.addNode('Gemm', ['x', 'W', 'b'], ['y'], { transB: attrInt(1), alpha: attrFloat(0.5), beta: attrFloat(2) });
  g.addOutput('y', 'float32', ['N', m]);
  const bytes = g.toBytes();
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  assert.deepEqual(s.inputNames, ['x']);
  assert.deepEqual(s.outputNames, ['y']);
  const meta = s.inputMetadata[0] as { shape?: unknown; type?: unknown };
  assert.deepEqual(meta.shape, ['N', k]);
  assert.equal(meta.type, 'float32');
  const out = await s.run({ x: f32(x, [n, k]) });
  await s.release();
  const y = out.y as ort.Tensor;
  assert.deepEqual(y.dims, [n, m]);
  const ref = new Float64Array(n * m);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < m; o++) {
      let acc = 0;
      for (let i = 0; i < k; i++) acc += (x[r * k + i] as number) * (W[o * k + i] as number);
      ref[r * m + o] = 0.5 * acc + 2 * (b[o] as number);
    }
  }
  assertClose(y.data as Float32Array, ref);
});

test('MatMul + Add (broadcast bias) -> Relu -> Sigmoid matches the TS reference', async () => {
  const n = 4;
  const k = 6;
  const m = 5;
  const x = randn(n * k, 11);
  const W = randn(k * m, 12); // [k, m] for MatMul
  const b = randn(m, 13);
  const g = new OnnxGraphBuilder();
  g.addInput('x', 'float32', ['N', k]);
  g.addInitializer('W', W, [k, m]);
  g.addInitializer('b', b, [m]);
  g.addNode('MatMul', ['x', 'W'], ['xw']);
  g.addNode('Add', ['xw', 'b'], ['lin']);
  g.addNode('Relu', ['lin'], ['relu']);
  g.addNode('Sigmoid', ['relu'], ['p']);
  g.addOutput('relu', 'float32', ['N', m]);
  g.addOutput('p', 'float32', ['N', m]);
  const out = await run(g.toBytes(), { x: f32(x, [n, k]) });
  const relu = new Float64Array(n * m);
  const p = new Float64Array(n * m);
  let zeros = 0;
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < m; o++) {
      let acc = b[o] as number;
      for (let i = 0; i < k; i++) acc += (x[r * k + i] as number) * (W[i * m + o] as number);
      const v = Math.max(acc, 0);
      if (v === 0) zeros++;
      relu[r * m + o] = v;
      p[r * m + o] = 1 / (1 + Math.exp(-v));
    }
  }
  assert.ok(zeros > 0 && zeros < n * m, 'fixture exercises both ReLU branches');
  assertClose((out.relu as ort.Tensor).data as Float32Array, relu);
  assertClose((out.p as ort.Tensor).data as Float32Array, p);
});

test('BatchNormalization (inference form, float epsilon) matches the TS reference', async () => {
  const n = 6;
  const c = 4;
  const x = randn(n * c, 21, 2);
  const gamma = new Float32Array([1.5, 0.5, -1, 2]);
  const beta = new Float32Array([0.1, -0.2, 0.3, 0]);
  const mean = new Float32Array([0.5, -0.5, 0, 1]);
  const variance = new Float32Array([0.25, 1, 4, 0.5]);
  const eps = 1e-3;
  const g = new OnnxGraphBuilder();
  g.addInput('x', 'float32', ['N', c]);
  g.addInitializer('gamma', gamma, [c]).addInitializer('beta', beta, [c]).addInitializer('mean', mean, [c]).addInitializer('var', variance, [c]);
  g.addNode('BatchNormalization', ['x', 'gamma', 'beta', 'mean', 'var'], ['y'], { epsilon: attrFloat(eps) });
  g.addOutput('y', 'float32', ['N', c]);
  const out = await run(g.toBytes(), { x: f32(x, [n, c]) });
  const ref = new Float64Array(n * c);
  for (let i = 0; i < n * c; i++) {
    const j = i % c;
    ref[i] = (((x[i] as number) - (mean[j] as number)) / Math.sqrt((variance[j] as number) + Math.fround(eps))) * (gamma[j] as number) + (beta[j] as number);
  }
  assertClose((out.y as ort.Tensor).data as Float32Array, ref);
});

/** Batch statistics over axis 0, as the trainer's BatchNorm training form computes them. */
function buildBnTrainingGraph(opset: number): Uint8Array {
  const c = 3;
  const g = new OnnxGraphBuilder('bn_train');
  g.addInput('x', 'float32', ['N', c]);
  g.addInitializer('eps', new Float32Array([1e-5]), []);
  g.addInitializer('gamma', new Float32Array([1, 2, 0.5]), [c]);
  g.addInitializer('beta', new Float32Array([0, 1, -1]), [c]);
  // ReduceMean takes `axes` as an attribute up to opset 17 and as an int64 input from opset 18.
  const reduce = (input: string, output: string): void => {
    if (opset >= 18) g.addNode('ReduceMean', [input, 'axes0'], [output], { keepdims: attrInt(1) });
    else g.addNode('ReduceMean', [input], [output], { axes: attrInts([0]), keepdims: attrInt(1) });
  };
  if (opset >= 18) g.addInitializer('axes0', new BigInt64Array([0n]), [1]);
  reduce('x', 'mean');
  g.addNode('Sub', ['x', 'mean'], ['xc']);
  g.addNode('Mul', ['xc', 'xc'], ['xc2']);
  reduce('xc2', 'var');
  g.addNode('Add', ['var', 'eps'], ['var_eps']);
  g.addNode('Sqrt', ['var_eps'], ['std']);
  g.addNode('Div', ['xc', 'std'], ['xhat']);
  g.addNode('Mul', ['xhat', 'gamma'], ['scaled']);
  g.addNode('Add', ['scaled', 'beta'], ['y']);
  g.addOutput('y', 'float32', ['N', c]);
  g.addOutput('mean', 'float32', [1, c]);
  g.addOutput('var', 'float32', [1, c]);
  return g.toBytes({ opset });
}

for (const opset of [17, 18]) {
  test(`training-form BatchNorm with ReduceMean/Sub/Mul/Div (opset ${opset}, axes as ${opset >= 18 ? 'input' : 'attribute'})`, async () => {
    const n = 8;
    const c = 3;
    const x = randn(n * c, 31 + opset, 3);
    const out = await run(buildBnTrainingGraph(opset), { x: f32(x, [n, c]) });
    const gamma = [1, 2, 0.5];
    const beta = [0, 1, -1];
    const mean = new Float64Array(c);
    const variance = new Float64Array(c);
    for (let i = 0; i < n * c; i++) mean[i % c] = (mean[i % c] as number) + (x[i] as number) / n;
    for (let i = 0; i < n * c; i++) {
      const dlt = (x[i] as number) - (mean[i % c] as number);
      variance[i % c] = (variance[i % c] as number) + (dlt * dlt) / n;
    }
    const y = new Float64Array(n * c);
    for (let i = 0; i < n * c; i++) {
      const j = i % c;
      y[i] = (((x[i] as number) - (mean[j] as number)) / Math.sqrt((variance[j] as number) + Math.fround(1e-5))) * (gamma[j] as number) + (beta[j] as number);
    }
    assert.deepEqual((out.mean as ort.Tensor).dims, [1, c]);
    assertClose((out.mean as ort.Tensor).data as Float32Array, mean);
    assertClose((out.var as ort.Tensor).data as Float32Array, variance);
    assertClose((out.y as ort.Tensor).data as Float32Array, y);
  });
}

test('ReLU mask (Greater + Cast), Concat with a negative axis, Constant tensor attribute, int64 and int32 initializers', async () => {
  const n = 3;
  const x = new Float32Array([-1, 2, 0, 3.5, -0.25, 1]);
  const g = new OnnxGraphBuilder();
  g.addInput('x', 'float32', ['N', 2]);
  g.addNode('Constant', [], ['zero'], { value: attrTensor(new Float32Array([0]), []) });
  g.addNode('Greater', ['x', 'zero'], ['pos']);
  g.addNode('Cast', ['pos'], ['mask'], { to: attrInt(1) });
  g.addNode('Concat', ['x', 'mask'], ['cat'], { axis: attrInt(-1) });
  g.addInitializer('shape', new BigInt64Array([-1n, 2n, 2n]), [3]);
  g.addNode('Reshape', ['cat', 'shape'], ['r']);
  g.addInitializer('idx', new Int32Array([1, 0]), [2]);
  g.addNode('Gather', ['x', 'idx'], ['swapped'], { axis: attrInt(1) });
  g.addOutput('cat', 'float32', ['N', 4]);
  g.addOutput('r', 'float32');
  g.addOutput('swapped', 'float32', ['N', 2]);
  const out = await run(g.toBytes(), { x: f32(x, [n, 2]) });
  assert.deepEqual(Array.from((out.cat as ort.Tensor).data as Float32Array), [-1, 2, 0, 1, 0, 3.5, 0, 1, -0.25, 1, 0, 1]);
  assert.deepEqual((out.r as ort.Tensor).dims, [n, 2, 2]);
  assert.deepEqual(Array.from((out.swapped as ort.Tensor).data as Float32Array), [2, -1, 3.5, 0, 1, -0.25]);
});

test('opset 21 with ir_version 10 loads and runs', async () => {
  const g = new OnnxGraphBuilder();
  g.addInput('x', 'float32', [2]);
  g.addNode('Neg', ['x'], ['y']);
  g.addOutput('y', 'float32', [2]);
  const out = await run(g.toBytes({ opset: 21, irVersion: 10, producerVersion: '0.1.0' }), { x: f32(new Float32Array([1, -2]), [2]) });
  assert.deepEqual(Array.from((out.y as ort.Tensor).data as Float32Array), [-1, 2]);
});

test('invalid graphs are refused with MPE_ERR_ONNX_GRAPH', () => {
  const base = (): OnnxGraphBuilder => new OnnxGraphBuilder().addInput('x', 'float32', ['N', 2]);
  assertGraphError(() => base().addNode('Relu', ['nope'], ['y']), /before it is defined/);
  assertGraphError(() => {
    const g = base();
    g.addNode('Relu', ['x'], ['y']);
    g.addNode('Relu', ['x'], ['y']);
  }, /already defined/);
  assertGraphError(() => base().addNode('Add', ['x', 'x'], ['x']), /already defined/);
  assertGraphError(() => base().addNode('Split', ['x'], ['a', 'a']), /already defined/);
  assertGraphError(() => base().addInput('x', 'float32', [2]), /already defined/);
  assertGraphError(() => base().addInitializer('x', new Float32Array(2), [2]), /already defined/);
  assertGraphError(() => base().addInitializer('W', new Float32Array(5), [2, 3]), /need 6/);
  assertGraphError(() => base().addInitializer('W', new Float32Array(2), [-2]), /non-negative/);
  assertGraphError(() => base().addInput('z', 'float16' as never, [2]), /unknown element type/);
  assertGraphError(() => base().addInput('', 'float32', [2]), /non-empty/);
  assertGraphError(() => base().addInput('z', 'float32', [1.5]), /dim 0/);
  assertGraphError(() => base().addNode('', ['x'], ['y']), /op_type/);
  assertGraphError(() => base().addNode('Relu', ['x'], []), /at least one output/);
  assertGraphError(() => base().addNode('Gemm', ['x', 'x'], ['y'], { transB: attrInt(0.5) }), /integer/);
  assertGraphError(() => base().addNode('Gemm', ['x', 'x'], ['y'], { transB: 1 as unknown as AttrValue }), /attrInt/);
  assertGraphError(() => base().addOutput('x', 'float32').addOutput('x', 'float32'), /twice/);
  assertGraphError(() => base().toBytes(), /no outputs/);
  assertGraphError(() => base().addOutput('missing', 'float32').toBytes(), /not produced/);
  assertGraphError(() => base().addOutput('x', 'float32').toBytes({ opset: 0 }), /opset/);
  // '' is an omitted optional input and is allowed.
  const ok = base();
  ok.addNode('Clip', ['x', '', ''], ['y']);
  assert.equal(ok.has('y'), true);
});
