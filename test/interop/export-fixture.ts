/**
 * A small, valid PyTorch-style export written from TypeScript (no torch needed), with hooks to
 * break one thing at a time: the bad-input tests of `mpe import` start from it.
 * Table: 40 features, d = 4, 4 groups of 10 labelled in an order unrelated to the ids, bits
 * [4, 0, 8, 2] (bitsets 0, 2, 4, 8); 2 fields; scorer = an MLP built by src/scorer/mlp.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attrInt, OnnxGraphBuilder, type Dim } from '../../src/onnx/builder.js';
import { buildMlpScorer, randomMlpWeights } from '../../src/scorer/mlp.js';
import { createRng } from '../../src/util/random.js';

export const N = 40;
export const D = 4;
export const F = 2;
export const BITSETS = [0, 2, 4, 8];
export const GROUP_BITS = [4, 0, 8, 2];

export interface StTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

const bytesOf = (a: Float32Array | Float64Array | BigInt64Array | Int32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** safetensors bytes; `header` may be edited by `edit` before it is encoded (offsets already set). */
export function encodeSafetensors(tensors: Record<string, StTensor>, edit?: (h: Record<string, unknown>) => void, padTo8 = true): Uint8Array {
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    parts.push(t.data);
    off += t.data.byteLength;
  }
  edit?.(header);
  let text = JSON.stringify(header);
  if (padTo8) text += ' '.repeat((8 - (text.length % 8)) % 8);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.byteLength), true);
  out.set(h, 8);
  let p = 8 + h.byteLength;
  for (const part of parts) {
    out.set(part, p);
    p += part.byteLength;
  }
  return out;
}

/** The valid table tensors (fresh copies each call). */
export function tableTensors(seed = 3): Record<string, StTensor> {
  const rng = createRng(seed);
  const w = new Float32Array(N * D);
  for (let i = 0; i < w.length; i++) w[i] = 0.05 * rng.normal();
  // Group labels unrelated to the index order: feature i is in group (i * 7) % 4.
  const gi = new BigInt64Array(N);
  for (let i = 0; i < N; i++) gi[i] = BigInt((i * 7) % 4);
  const counts = new Float64Array(N);
  for (let i = 0; i < N; i++) counts[i] = (i * 13) % 17;
  return {
    weight: { dtype: 'F32', shape: [N, D], data: bytesOf(w) },
    group_index: { dtype: 'I64', shape: [N], data: bytesOf(gi) },
    group_bits: { dtype: 'I64', shape: [4], data: bytesOf(BigInt64Array.from(GROUP_BITS, BigInt)) },
    bitsets: { dtype: 'I64', shape: [4], data: bytesOf(BigInt64Array.from(BITSETS, BigInt)) },
    alpha: { dtype: 'F32', shape: [4], data: bytesOf(Float32Array.of(1, 0.03, -0.01, 0.002)) },
    beta: { dtype: 'F32', shape: [D], data: bytesOf(Float32Array.of(0.001, -0.002, 0, 0.003)) },
    feature_count: { dtype: 'F64', shape: [N], data: bytesOf(counts) },
  };
}

/** The valid mpe-export.json object (fresh each call). */
export function exportJson(): Record<string, unknown> {
  return {
    format: 'mpe-torch-export',
    formatVersion: 1,
    name: 'fixture',
    kind: 'mpe',
    featureCount: N,
    d: D,
    fields: [
      { name: 'a', kind: 'categorical', transform: 'none', oov: 0 },
      { name: 'b', kind: 'categorical', transform: 'none', oov: 1 },
    ],
    table: { file: 'table.safetensors', tensors: ['alpha', 'beta', 'bitsets', 'feature_count', 'group_bits', 'group_index', 'weight'] },
    scorer: { file: 'scorer.onnx', input: 'embeddings', output: 'probability', inputDim: F * D, opset: 13 },
    quantizer: { groupCount: 4, bitsets: BITSETS, groupBits: GROUP_BITS, alpha: { abs: true, eps: 1e-10, dtype: 'float32' }, rounding: 'half-even', codes: 'signed', division: 'float32' },
    source: { test: true },
  };
}

/** A valid scorer: MLP on [N, F*d]. */
export function goodScorer(): Uint8Array {
  return buildMlpScorer(randomMlpWeights(F * D, [6], 9));
}

/** One Gemm + Sigmoid with the given names and shapes (`weight` fills the Gemm's W). */
export function customScorer(o: { input?: string; output?: string; inputDims?: Dim[]; outputDims?: Dim[]; width?: number; weight?: number }): Uint8Array {
  const width = o.width ?? F * D;
  const g = new OnnxGraphBuilder('custom');
  g.addInput(o.input ?? 'embeddings', 'float32', o.inputDims ?? ['N', width]);
  g.addInitializer('W', new Float32Array(width).fill(o.weight ?? 0.1), [1, width]);
  g.addInitializer('b', Float32Array.of(0), [1]);
  g.addNode('Gemm', [o.input ?? 'embeddings', 'W', 'b'], ['logit'], { transB: attrInt(1) });
  g.addNode('Sigmoid', ['logit'], [o.output ?? 'probability']);
  g.addOutput(o.output ?? 'probability', 'float32', o.outputDims ?? ['N', 1]);
  return g.toBytes();
}

/** Writes an export into `dir`; each part may be replaced. */
export function writeExport(dir: string, parts: { json?: Record<string, unknown> | string; table?: Uint8Array; scorer?: Uint8Array } = {}): string {
  mkdirSync(dir, { recursive: true });
  const json = parts.json ?? exportJson();
  writeFileSync(join(dir, 'mpe-export.json'), typeof json === 'string' ? json : JSON.stringify(json, null, 1));
  writeFileSync(join(dir, 'table.safetensors'), parts.table ?? encodeSafetensors(tableTensors()));
  writeFileSync(join(dir, 'scorer.onnx'), parts.scorer ?? goodScorer());
  return dir;
}
