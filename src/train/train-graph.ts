/**
 * The dense network's training step as ONE onnxruntime graph: forward pass, BCE loss and the
 * hand-written backward pass. Weights are graph INPUTS (they change every step; initializers
 * would need a new session), outputs are the loss, every weight gradient, dL/d(input) for the
 * embedding stage, and each BatchNorm layer's batch mean and (biased) variance for the running
 * statistics the exported scorer uses.
 *
 * Per hidden layer (the scorer's order, `scorer/mlp.ts`): z = x W^T + b (Gemm, transB = 1),
 * BatchNorm in training form (batch statistics), a = gamma * zn + beta, h = ReLU(a). Then
 * logit = h Wo^T + bo, p = sigmoid(logit), loss = mean BCE computed from the logit in the stable
 * form relu(z) - z*y + log(1 + exp(-|z|)).
 *
 * Why onnxruntime and not TypeScript loops: the default model is ~8 MFLOP per sample forward and
 * backward; scalar TS loops reach a few GFLOP/s, onnxruntime's Gemm reached ~100+ GFLOP/s on this
 * 2-core machine (see docs/training.md).
 */
import { type AttrValue, attrInt, attrInts, OnnxGraphBuilder } from '../onnx/builder.js';

export interface TrainGraphSpec {
  readonly inputDim: number;
  readonly hidden: readonly number[];
  /** BatchNorm after each hidden Linear (default true). */
  readonly batchNorm: boolean;
  /** BatchNorm epsilon (PyTorch's 1e-5). */
  readonly bnEps: number;
}

/** Names of the graph's weight inputs, in parameter order: per hidden layer W, b[, gamma, beta], then out.W, out.b. */
export function trainParamNames(spec: TrainGraphSpec): string[] {
  const names: string[] = [];
  for (let l = 0; l < spec.hidden.length; l++) {
    names.push(`h${l}.W`, `h${l}.b`);
    if (spec.batchNorm) names.push(`h${l}.gamma`, `h${l}.beta`);
  }
  names.push('out.W', 'out.b');
  return names;
}

/** Shapes of the parameters, in {@link trainParamNames} order. */
export function trainParamShapes(spec: TrainGraphSpec): number[][] {
  const shapes: number[][] = [];
  let prev = spec.inputDim;
  for (const out of spec.hidden) {
    shapes.push([out, prev], [out]);
    if (spec.batchNorm) shapes.push([out], [out]);
    prev = out;
  }
  shapes.push([1, prev], [1]);
  return shapes;
}

/** Graph input / output names. */
export const TRAIN_INPUT_X = 'x';
export const TRAIN_INPUT_Y = 'y';
export const TRAIN_OUTPUT_LOSS = 'loss';
export const TRAIN_OUTPUT_DX = 'grad.x';
export const gradName = (param: string): string => `grad.${param}`;
export const bnMeanName = (l: number): string => `h${l}.batch_mean`;
export const bnVarName = (l: number): string => `h${l}.batch_var`;

/** Builds the train-step model (opset 17; ReduceSum takes its axes as an input from opset 13). */
export function buildTrainStepGraph(spec: TrainGraphSpec): Uint8Array {
  const g = new OnnxGraphBuilder('mpe_train_step');
  const L = spec.hidden.length;
  const names = trainParamNames(spec);
  const shapes = trainParamShapes(spec);
  g.addInput(TRAIN_INPUT_X, 'float32', ['N', spec.inputDim]);
  g.addInput(TRAIN_INPUT_Y, 'float32', ['N', 1]);
  for (let i = 0; i < names.length; i++) g.addInput(names[i]!, 'float32', shapes[i]!);
  g.addInitializer('axis0', BigInt64Array.of(0n), [1]);
  if (spec.batchNorm) g.addInitializer('eps', Float32Array.of(spec.bnEps), []);
  g.addInitializer('one', Float32Array.of(1), []);
  g.addInitializer('zero', Float32Array.of(0), []);
  const keep1: Record<string, AttrValue> = { axes: attrInts([0]), keepdims: attrInt(1) };
  const sum0 = (x: string, out: string): string => g.addNode('ReduceSum', [x, 'axis0'], [out], { keepdims: attrInt(0) })[0]!;
  const node = (op: string, inputs: string[], out: string, attrs: Record<string, AttrValue> = {}): string => g.addNode(op, inputs, [out], attrs)[0]!;

  // ---- forward ----
  const hIn: string[] = []; // input of each hidden layer
  const act: string[] = []; // pre-ReLU value a of each layer
  const zn: string[] = [];
  const inv: string[] = [];
  let x = TRAIN_INPUT_X;
  for (let l = 0; l < L; l++) {
    hIn.push(x);
    const z = node('Gemm', [x, `h${l}.W`, `h${l}.b`], `h${l}.z`, { transB: attrInt(1) });
    let a = z;
    if (spec.batchNorm) {
      const mu = node('ReduceMean', [z], bnMeanName(l), keep1);
      const zc = node('Sub', [z, mu], `h${l}.zc`);
      const sq = node('Mul', [zc, zc], `h${l}.zc2`);
      const v = node('ReduceMean', [sq], bnVarName(l), keep1);
      const ve = node('Add', [v, 'eps'], `h${l}.var_eps`);
      const sd = node('Sqrt', [ve], `h${l}.std`);
      inv.push(node('Reciprocal', [sd], `h${l}.inv_std`));
      zn.push(node('Mul', [zc, inv[l]!], `h${l}.zn`));
      const sc = node('Mul', [zn[l]!, `h${l}.gamma`], `h${l}.scaled`);
      a = node('Add', [sc, `h${l}.beta`], `h${l}.a`);
    }
    act.push(a);
    x = node('Relu', [a], `h${l}.h`);
  }
  const logit = node('Gemm', [x, 'out.W', 'out.b'], 'logit', { transB: attrInt(1) });
  // loss = mean(relu(z) - z*y + log(1 + exp(-|z|)))
  const rz = node('Relu', [logit], 'loss.relu');
  const zy = node('Mul', [logit, TRAIN_INPUT_Y], 'loss.zy');
  const az = node('Abs', [logit], 'loss.abs');
  const naz = node('Neg', [az], 'loss.negabs');
  const ez = node('Exp', [naz], 'loss.exp');
  const lp = node('Log', [node('Add', [ez, 'one'], 'loss.1pexp')], 'loss.log1pexp');
  const perRow = node('Add', [node('Sub', [rz, zy], 'loss.diff'), lp], 'loss.per_row');
  node('ReduceMean', [perRow], TRAIN_OUTPUT_LOSS, { keepdims: attrInt(0) });

  // ---- backward ----
  // dlogit = (sigmoid(z) - y) / N
  const shape = node('Shape', [TRAIN_INPUT_X], 'n.shape');
  const n64 = node('Gather', [shape, 'axis0'], 'n.i64', { axis: attrInt(0) });
  const nf = node('Cast', [n64], 'n.f32', { to: attrInt(1) });
  const p = node('Sigmoid', [logit], 'prob');
  const dlogit = node('Div', [node('Sub', [p, TRAIN_INPUT_Y], 'dlogit.num'), nf], 'dlogit');
  // out layer: logit = h Wo^T + bo
  node('Gemm', [dlogit, x], gradName('out.W'), { transA: attrInt(1) });
  sum0(dlogit, gradName('out.b'));
  let dh = node('MatMul', [dlogit, 'out.W'], 'dh.out');
  for (let l = L - 1; l >= 0; l--) {
    const pos = node('Greater', [act[l]!, 'zero'], `h${l}.relu_mask`);
    const da = node('Where', [pos, dh, 'zero'], `h${l}.da`);
    let dz = da;
    if (spec.batchNorm) {
      // dz = inv_std * (dzn - mean(dzn) - zn * mean(dzn * zn)), dzn = da * gamma
      const daZn = node('Mul', [da, zn[l]!], `h${l}.da_zn`);
      sum0(daZn, gradName(`h${l}.gamma`));
      sum0(da, gradName(`h${l}.beta`));
      const dzn = node('Mul', [da, `h${l}.gamma`], `h${l}.dzn`);
      const m1 = node('ReduceMean', [dzn], `h${l}.dzn_mean`, keep1);
      const m2 = node('ReduceMean', [node('Mul', [dzn, zn[l]!], `h${l}.dzn_zn`)], `h${l}.dzn_zn_mean`, keep1);
      const t1 = node('Sub', [dzn, m1], `h${l}.dz_t1`);
      const t3 = node('Sub', [t1, node('Mul', [zn[l]!, m2], `h${l}.dz_t2`)], `h${l}.dz_t3`);
      dz = node('Mul', [t3, inv[l]!], `h${l}.dz`);
    }
    node('Gemm', [dz, hIn[l]!], gradName(`h${l}.W`), { transA: attrInt(1) });
    sum0(dz, gradName(`h${l}.b`));
    dh = node('MatMul', [dz, `h${l}.W`], l === 0 ? TRAIN_OUTPUT_DX : `dh.h${l - 1}`);
  }
  if (L === 0) node('Identity', [dh], TRAIN_OUTPUT_DX);

  g.addOutput(TRAIN_OUTPUT_LOSS, 'float32', []);
  g.addOutput(TRAIN_OUTPUT_DX, 'float32', ['N', spec.inputDim]);
  for (let i = 0; i < names.length; i++) g.addOutput(gradName(names[i]!), 'float32', shapes[i]!);
  if (spec.batchNorm) {
    for (let l = 0; l < L; l++) {
      g.addOutput(bnMeanName(l), 'float32', [1, spec.hidden[l]!]);
      g.addOutput(bnVarName(l), 'float32', [1, spec.hidden[l]!]);
    }
  }
  return g.toBytes({ opset: 17 });
}
