/**
 * Validation of an imported scorer.onnx through onnxruntime-node's own view of the model
 * (session input/output metadata), then a probe run: the bundle's scorer contract is input
 * `embeddings` float32 [N, F*d] with N symbolic, output `probability` float32 [N, 1].
 */
import * as ort from 'onnxruntime-node';
import { MpeError } from '../errors.js';
import { SCORER_INPUT, SCORER_OUTPUT } from '../scorer/mlp.js';
import { createScorerSession } from '../scorer/session.js';

function describe(m: ort.InferenceSession.ValueMetadata): string {
  return m.isTensor ? `${m.name}: ${m.type} [${m.shape.join(', ')}]` : `${m.name}: (not a tensor)`;
}

/**
 * Loads `modelBytes`, checks names, types and shapes, then scores each probe batch (`probes`:
 * row-major [rows, inputDim] float32 arrays) and checks every output is a finite probability.
 * `file` names the model in errors.
 * @throws MpeError MPE_ERR_IMPORT_SCORER, MPE_ERR_IMPORT_MISMATCH (second dimension is not inputDim)
 */
export async function checkScorer(modelBytes: Uint8Array, file: string, inputDim: number, probes: readonly Float32Array[]): Promise<void> {
  const fail = (field: string, why: string): never => {
    throw new MpeError('MPE_ERR_IMPORT_SCORER', `${file}: ${field}: ${why}`);
  };
  let session: ort.InferenceSession;
  try {
    session = (await createScorerSession(modelBytes, { provider: 'cpu', intraOpThreads: 1 })).session;
  } catch (e) {
    return fail('model', `onnxruntime cannot load it (${(e as Error).message.split('\n')[0]})`);
  }
  try {
    const ins = session.inputMetadata;
    const outs = session.outputMetadata;
    if (ins.length !== 1 || ins[0]!.name !== SCORER_INPUT) fail('inputs', `expected one input "${SCORER_INPUT}", got ${ins.map(describe).join('; ') || 'none'}`);
    if (outs.length !== 1 || outs[0]!.name !== SCORER_OUTPUT) fail('outputs', `expected one output "${SCORER_OUTPUT}", got ${outs.map(describe).join('; ') || 'none'}`);
    const i = ins[0]!;
    const o = outs[0]!;
    if (!i.isTensor || i.type !== 'float32') fail(`input ${SCORER_INPUT}`, `expected float32, got ${describe(i)}`);
    if (!o.isTensor || o.type !== 'float32') fail(`output ${SCORER_OUTPUT}`, `expected float32, got ${describe(o)}`);
    const ish = (i as ort.InferenceSession.TensorValueMetadata).shape;
    if (ish.length !== 2 || typeof ish[0] !== 'string') fail(`input ${SCORER_INPUT}.shape`, `expected [N, ${inputDim}] with N symbolic (dynamic batch), got [${ish.join(', ')}]`);
    if (ish[1] !== inputDim) {
      throw new MpeError('MPE_ERR_IMPORT_MISMATCH', `${file}: input ${SCORER_INPUT}.shape[1] is ${JSON.stringify(ish[1])}, the table gives F*d = ${inputDim}`);
    }
    const osh = (o as ort.InferenceSession.TensorValueMetadata).shape;
    // torch.onnx.export may leave the output shape unknown; then the probe below decides.
    if (osh.length !== 0 && (osh.length !== 2 || typeof osh[0] === 'number' || (osh[1] !== 1 && typeof osh[1] === 'number'))) {
      fail(`output ${SCORER_OUTPUT}.shape`, `expected [N, 1], got [${osh.join(', ')}]`);
    }
    for (const x of probes) {
      const rows = x.length / inputDim;
      let r: ort.InferenceSession.ReturnType;
      try {
        r = await session.run({ [SCORER_INPUT]: new ort.Tensor('float32', x, [rows, inputDim]) });
      } catch (e) {
        return fail('probe', `running ${rows} rows failed (${(e as Error).message.split('\n')[0]})`);
      }
      const p = r[SCORER_OUTPUT]!;
      if (p.type !== 'float32' || p.dims.length !== 2 || p.dims[0] !== rows || p.dims[1] !== 1) fail('probe', `${rows} rows gave ${p.type} [${p.dims.join(', ')}], expected float32 [${rows}, 1]`);
      const data = p.data as Float32Array;
      for (let k = 0; k < rows; k++) {
        const v = data[k]!;
        if (!(v >= 0 && v <= 1)) fail('probe', `row ${k} of ${rows} scored ${v}, not a probability in [0, 1] (NaN weights, or a model that returns logits: export with output="logit")`);
      }
    }
  } finally {
    await session.release();
  }
}
