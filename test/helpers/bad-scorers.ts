/** Scorers that are valid ONNX but must never be served (model validation tests, `npm run chaos`). */
import { attrInt, OnnxGraphBuilder } from '../../src/onnx/builder.js';
import { buildMlpScorer, type MlpWeights, SCORER_INPUT, SCORER_OUTPUT } from '../../src/scorer/mlp.js';

/** A logistic scorer whose input and output shapes are fixed to ONE row: any micro-batch of more fails. */
export function fixedBatchOneScorer(inputDim: number): Uint8Array {
  const g = new OnnxGraphBuilder('fixed_batch_1');
  g.addInput(SCORER_INPUT, 'float32', [1, inputDim]);
  g.addInitializer('W', new Float32Array(inputDim).fill(0.01), [1, inputDim]);
  g.addInitializer('b', Float32Array.of(0), [1]);
  g.addNode('Gemm', [SCORER_INPUT, 'W', 'b'], ['logit'], { transB: attrInt(1) });
  g.addNode('Sigmoid', ['logit'], [SCORER_OUTPUT]);
  g.addOutput(SCORER_OUTPUT, 'float32', [1, 1]);
  return g.toBytes();
}

/** `mlp` with a NaN output bias: every probability it answers is NaN. */
export function nanScorer(mlp: MlpWeights): Uint8Array {
  return buildMlpScorer({ ...mlp, out: { W: mlp.out.W, b: Float32Array.of(Number.NaN) } });
}
