/**
 * The MLP scorer: weights, the ONNX export, random weights for fixtures, and a float64 reference
 * forward pass for tests.
 *
 * Layer order, per hidden layer: Linear (Gemm, transB=1) -> BatchNormalization (inference form,
 * optional) -> ReLU. Then a final Linear to one logit and a Sigmoid. This is the order the
 * trainer must use too, or its exported scores will not match training.
 *
 * Graph: input `embeddings` float32 [N, inputDim] (N symbolic) -> output `probability` float32 [N, 1].
 */
import { MpeError } from '../errors.js';
import { attrFloat, attrInt, OnnxGraphBuilder, type ToBytesOptions } from '../onnx/builder.js';
import { createRng } from '../util/random.js';

/** Inference-form batch normalisation of one hidden layer: y = gamma * (x - mean) / sqrt(variance + eps) + beta. */
export interface BatchNormParams {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  eps: number;
}

/** One hidden layer: W is [out x in] row-major, b has `out` entries. */
export interface MlpHiddenLayer {
  W: Float32Array;
  b: Float32Array;
  bn?: BatchNormParams;
}

/** Weights of the scorer MLP. */
export interface MlpWeights {
  /** Width of the input row (fields x d, plus any dense features). */
  inputDim: number;
  hidden: MlpHiddenLayer[];
  /** Final layer: W is [1 x last hidden width] (or [1 x inputDim] with no hidden layer), b has 1 entry. */
  out: { W: Float32Array; b: Float32Array };
}

/** Input and output names of every scorer model. */
export const SCORER_INPUT = 'embeddings';
export const SCORER_OUTPUT = 'probability';

/** Options of {@link buildMlpScorer}. */
export type BuildMlpOptions = ToBytesOptions;

function weightError(detail: string): MpeError {
  return new MpeError('MPE_ERR_ONNX_GRAPH', `MLP weights: ${detail}`);
}

/** Checks shapes; returns the width of each hidden layer. */
export function validateMlpWeights(w: MlpWeights): number[] {
  if (!Number.isSafeInteger(w.inputDim) || w.inputDim < 1) throw weightError(`inputDim must be a positive integer, got ${w.inputDim}`);
  const widths: number[] = [];
  let prev = w.inputDim;
  for (let l = 0; l < w.hidden.length; l++) {
    const layer = w.hidden[l] as MlpHiddenLayer;
    const out = layer.b?.length ?? 0;
    if (!(layer.W instanceof Float32Array) || !(layer.b instanceof Float32Array)) throw weightError(`hidden[${l}]: W and b must be Float32Arrays`);
    if (out < 1 || layer.W.length !== out * prev) throw weightError(`hidden[${l}]: W has ${layer.W.length} values, expected ${out} x ${prev}`);
    const bn = layer.bn;
    if (bn !== undefined) {
      for (const k of ['gamma', 'beta', 'mean', 'variance'] as const) {
        const v = bn[k];
        if (!(v instanceof Float32Array) || v.length !== out) throw weightError(`hidden[${l}].bn.${k} must be a Float32Array of ${out}`);
      }
      if (!(bn.eps > 0)) throw weightError(`hidden[${l}].bn.eps must be > 0`);
    }
    widths.push(out);
    prev = out;
  }
  if (!(w.out?.W instanceof Float32Array) || !(w.out.b instanceof Float32Array)) throw weightError('out.W and out.b must be Float32Arrays');
  if (w.out.W.length !== prev || w.out.b.length !== 1) throw weightError(`out.W must be 1 x ${prev} and out.b 1 value`);
  return widths;
}

/**
 * Exports the MLP as an ONNX model (bytes for `createScorerSession` or a bundle's scorer.onnx).
 * Initializers reference `w`'s arrays until the bytes are written, then the model owns a copy.
 * @throws MpeError MPE_ERR_ONNX_GRAPH on inconsistent shapes
 */
export function buildMlpScorer(w: MlpWeights, opts: BuildMlpOptions = {}): Uint8Array {
  const widths = validateMlpWeights(w);
  const g = new OnnxGraphBuilder('mpe_mlp_scorer');
  g.addInput(SCORER_INPUT, 'float32', ['N', w.inputDim]);
  let x = SCORER_INPUT;
  let prev = w.inputDim;
  const transB = { transB: attrInt(1) };
  for (let l = 0; l < w.hidden.length; l++) {
    const layer = w.hidden[l] as MlpHiddenLayer;
    const out = widths[l] as number;
    g.addInitializer(`h${l}.W`, layer.W, [out, prev]);
    g.addInitializer(`h${l}.b`, layer.b, [out]);
    [x] = g.addNode('Gemm', [x, `h${l}.W`, `h${l}.b`], [`h${l}.linear`], transB) as [string];
    const bn = layer.bn;
    if (bn !== undefined) {
      g.addInitializer(`h${l}.bn.gamma`, bn.gamma, [out]);
      g.addInitializer(`h${l}.bn.beta`, bn.beta, [out]);
      g.addInitializer(`h${l}.bn.mean`, bn.mean, [out]);
      g.addInitializer(`h${l}.bn.var`, bn.variance, [out]);
      [x] = g.addNode('BatchNormalization', [x, `h${l}.bn.gamma`, `h${l}.bn.beta`, `h${l}.bn.mean`, `h${l}.bn.var`], [`h${l}.bn`], {
        epsilon: attrFloat(bn.eps),
      }) as [string];
    }
    [x] = g.addNode('Relu', [x], [`h${l}.relu`]) as [string];
    prev = out;
  }
  g.addInitializer('out.W', w.out.W, [1, prev]);
  g.addInitializer('out.b', w.out.b, [1]);
  g.addNode('Gemm', [x, 'out.W', 'out.b'], ['logit'], transB);
  g.addNode('Sigmoid', ['logit'], [SCORER_OUTPUT]);
  g.addOutput(SCORER_OUTPUT, 'float32', ['N', 1]);
  return g.toBytes(opts);
}

/** Options of {@link randomMlpWeights}. */
export interface RandomMlpOptions {
  /** Add inference BatchNorm parameters to every hidden layer (default false). */
  batchNorm?: boolean;
  /** BatchNorm epsilon (default 1e-5). */
  eps?: number;
}

/**
 * Deterministic random weights (He-normal W, small biases; BN statistics away from identity so
 * tests exercise them). Same arguments, same weights.
 */
export function randomMlpWeights(inputDim: number, hidden: readonly number[], seed: number, opts: RandomMlpOptions = {}): MlpWeights {
  const rng = createRng(seed);
  const layers: MlpHiddenLayer[] = [];
  let prev = inputDim;
  const fill = (n: number, scale: number, offset = 0): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = offset + scale * rng.normal();
    return a;
  };
  for (const out of hidden) {
    const layer: MlpHiddenLayer = { W: fill(out * prev, Math.sqrt(2 / prev)), b: fill(out, 0.1) };
    if (opts.batchNorm) {
      const variance = new Float32Array(out);
      for (let i = 0; i < out; i++) variance[i] = 0.25 + 1.5 * rng.next();
      layer.bn = { gamma: fill(out, 0.2, 1), beta: fill(out, 0.1), mean: fill(out, 0.3), variance, eps: opts.eps ?? 1e-5 };
    }
    layers.push(layer);
    prev = out;
  }
  return { inputDim, hidden: layers, out: { W: fill(prev, Math.sqrt(1 / prev)), b: fill(1, 0.1) } };
}

/**
 * Reference forward pass in float64 (same layer order as the ONNX graph) for tests.
 * @param x `n * inputDim` inputs, row-major
 * @returns `n` probabilities
 */
export function mlpForwardReference(w: MlpWeights, x: ArrayLike<number>, n: number): Float64Array {
  const widths = validateMlpWeights(w);
  const result = new Float64Array(n);
  let maxWidth = w.inputDim;
  for (const k of widths) maxWidth = Math.max(maxWidth, k);
  let cur = new Float64Array(maxWidth);
  let next = new Float64Array(maxWidth);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < w.inputDim; i++) cur[i] = x[r * w.inputDim + i] as number;
    let prev = w.inputDim;
    for (let l = 0; l < w.hidden.length; l++) {
      const layer = w.hidden[l] as MlpHiddenLayer;
      const out = widths[l] as number;
      const bn = layer.bn;
      for (let o = 0; o < out; o++) {
        let s = layer.b[o] as number;
        const row = o * prev;
        for (let i = 0; i < prev; i++) s += (layer.W[row + i] as number) * (cur[i] as number);
        if (bn !== undefined) {
          // onnxruntime holds epsilon as a float32 attribute.
          s = ((s - (bn.mean[o] as number)) / Math.sqrt((bn.variance[o] as number) + Math.fround(bn.eps))) * (bn.gamma[o] as number) + (bn.beta[o] as number);
        }
        next[o] = Math.max(s, 0);
      }
      const t = cur;
      cur = next;
      next = t;
      prev = out;
    }
    let z = w.out.b[0] as number;
    for (let i = 0; i < prev; i++) z += (w.out.W[i] as number) * (cur[i] as number);
    result[r] = 1 / (1 + Math.exp(-z));
  }
  return result;
}
