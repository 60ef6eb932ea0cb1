/**
 * `mpe import` on exports written by test/interop/export-fixture.ts (no torch needed): the valid
 * one imports with torch's codes and the re-ranked layout; each broken one is refused with its
 * stable MPE_ERR_IMPORT_* code and a message naming the file and the field, and writes nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadBundle } from '../../src/bundle/load.js';
import { type ErrorCode, isMpeError } from '../../src/errors.js';
import { importTorchExport } from '../../src/interop/import.js';
import { effectiveAlpha, torchCode } from '../../src/interop/pack-torch.js';
import { planRerank } from '../../src/interop/rerank.js';
import { BITSETS, customScorer, D, encodeSafetensors, exportJson, F, GROUP_BITS, N, tableTensors, writeExport } from './export-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'mpe-import-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;

test('a valid export imports: torch codes, contiguous groups by bit width, vocabulary and id map', async () => {
  const dir = writeExport(join(root, 'ok'));
  const vocab = join(root, 'ok.tsv');
  writeFileSync(vocab, '# field\tvalue\tindex\na\tx\t5\na\ty\t6\nb\tx\t7\n\nb\tz\t8\n');
  const out = join(root, 'ok-bundle');
  const r = await importTorchExport(dir, out, { vocabFile: vocab, idMapFile: join(root, 'ok.map') });
  const b = await loadBundle(out);
  assert.equal(b.manifest.featureCount, N);
  assert.equal(r.vocabEntries, 4);
  const spec = b.table.spec;
  assert.ok(spec.kind === 'grouped');
  // Four groups of 10 in the export: group size 10, widest bits first.
  assert.equal(spec.groupSize, 10);
  assert.deepEqual(Array.from(spec.bitsPerGroup), [8, 4, 2, 0]);
  const st = tableTensors();
  const w = new Float32Array(st.weight!.data.slice().buffer);
  const alphaRaw = new Float32Array(st.alpha!.data.slice().buffer);
  const beta = new Float32Array(st.beta!.data.slice().buffer);
  assert.equal(spec.alpha[4], Math.fround(0.01 + Math.fround(1e-10)), 'alpha_eff = |alpha| + eps, in float32');
  // Every feature dequantizes to torch's value: alpha_eff * code + beta (codes from the float32 formula).
  const ids = Int32Array.from({ length: N }, (_, i) => r.plan.idOf[i]!);
  const got = new Float32Array(N * D);
  b.table.dequantize(ids, N, got);
  for (let i = 0; i < N; i++) {
    const bits = GROUP_BITS[(i * 7) % 4]!;
    const a = effectiveAlpha(alphaRaw[BITSETS.indexOf(bits)]!, true, 1e-10);
    for (let j = 0; j < D; j++) {
      const want = bits === 0 ? 0 : Math.fround(a * torchCode(w[i * D + j]!, a, beta[j]!, bits) + beta[j]!);
      assert.equal(got[i * D + j], want, `feature ${i} (${bits} bits) element ${j}`);
    }
  }
  // Vocabulary: raw value -> the bundle id of its torch index; OOV -> the field's oov feature.
  assert.equal(b.vocab.lookup(0, 'x'), r.plan.idOf[5]);
  assert.equal(b.vocab.lookup(1, 'z'), r.plan.idOf[8]);
  assert.equal(b.vocab.lookup(1, 'y'), -1);
  assert.equal(b.fields[1]!.oovId, r.plan.idOf[1]);
  const map = readFileSync(join(root, 'ok.map'), 'utf8').trim().split('\n').slice(1);
  assert.equal(map.length, N);
  assert.equal(map[5], `5\t${r.plan.idOf[5]}`);
});

test('re-rank: the export partial group goes last; classes that share no group size fall back to a gcd', () => {
  // Reference-style: groups of 4, the partial one (2 features) the most frequent, with 6 bits.
  const bits = Uint8Array.from([2, 2, 2, 2, 4, 4, 4, 4, 6, 6]);
  const p = planRerank(bits, Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 4);
  assert.equal(p.groupSize, 4);
  assert.deepEqual(Array.from(p.bitsPerGroup), [4, 2, 6]);
  assert.deepEqual(Array.from(p.order), [7, 6, 5, 4, 3, 2, 1, 0, 9, 8]);
  // Sizes 6, 4, 3 (bits 1, 2, 3) with a preferred size of 4: two classes are off. The largest
  // size that works: the 2-bit class last and gcd(6, 3) = 3 (the 3-bit class last would give 2).
  const q = planRerank(Uint8Array.from([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]), undefined, 4);
  assert.equal(q.groupSize, 3);
  assert.deepEqual(Array.from(q.bitsPerGroup), [3, 1, 1, 2, 2]);
  for (let id = 0; id < 13; id++) assert.equal(q.bitsPerGroup[Math.floor(id / 3)], [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3][q.order[id]!]);
});

/** Runs the import of a broken export and checks the refusal. */
async function refused(parts: Parameters<typeof writeExport>[1], code: ErrorCode, pattern: RegExp, vocab?: string): Promise<void> {
  const name = `bad${seq++}`;
  const dir = writeExport(join(root, name), parts);
  const out = join(root, `${name}-bundle`);
  const idMap = join(root, `${name}.map`);
  await assert.rejects(importTorchExport(dir, out, { vocabFile: vocab, idMapFile: idMap }), (e: unknown) => {
    assert.ok(isMpeError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
  assert.equal(existsSync(out), false, 'no bundle written');
  assert.equal(existsSync(idMap), false, 'no id map written');
}

const t = (edit: (x: ReturnType<typeof tableTensors>) => void, headerEdit?: (h: Record<string, unknown>) => void, pad = true): Uint8Array => {
  const x = tableTensors();
  edit(x);
  return encodeSafetensors(x, headerEdit, pad);
};
const j = (edit: (x: Record<string, unknown>) => void): Record<string, unknown> => {
  const x = exportJson();
  edit(x);
  return x;
};
const setLength = (b: Uint8Array, n: bigint): Uint8Array => {
  new DataView(b.buffer, b.byteOffset).setBigUint64(0, n, true);
  return b;
};

const CASES: { name: string; parts: Parameters<typeof writeExport>[1]; code: ErrorCode; pattern: RegExp; vocab?: string }[] = [
  // safetensors structure
  { name: 'header length beyond the file', parts: { table: setLength(t(() => {}), 1n << 20n) }, code: 'MPE_ERR_IMPORT_SAFETENSORS', pattern: /table\.safetensors: header length: 1048576 bytes does not fit/ },
  { name: 'header length over the limit', parts: { table: setLength(t(() => {}), 1n << 40n) }, code: 'MPE_ERR_IMPORT_SAFETENSORS', pattern: /table\.safetensors: header length: .* exceeds/ },
  { name: 'file shorter than 8 bytes', parts: { table: new Uint8Array(5) }, code: 'MPE_ERR_IMPORT_SAFETENSORS', pattern: /table\.safetensors: header length: file has 5 bytes/ },
  { name: 'header not JSON', parts: { table: setLength(t(() => {}), 3n) }, code: 'MPE_ERR_IMPORT_SAFETENSORS', pattern: /table\.safetensors: header: not UTF-8 JSON/ },
  { name: 'weight stored as F64', parts: { table: t((x) => (x.weight = { dtype: 'F64', shape: [N, D], data: new Uint8Array(N * D * 8) })) }, code: 'MPE_ERR_IMPORT_SAFETENSORS', pattern: /tensor "weight"\.dtype: F64, expected F32/ },
  { name: 'unknown dtype', parts: { table: t((x) => (x.beta!.dtype = 'Q4')) }, code: 'MPE_ERR_IMPORT_SAFETENSORS', pattern: /tensor "beta"\.dtype: "Q4" is not a safetensors dtype/ },
  { name: 'offsets disagree with the shape', parts: { table: t((x) => (x.beta!.shape = [D + 1])) }, code: 'MPE_ERR_IMPORT_SAFETENSORS', pattern: /tensor "beta"\.data_offsets: 16 bytes, shape \[5\] of F32 needs 20/ },
  { name: 'negative dimension', parts: { table: t((x) => (x.beta!.shape = [-4])) }, code: 'MPE_ERR_IMPORT_SAFETENSORS', pattern: /tensor "beta"\.shape: \[-4\]/ },
  {
    name: 'overlapping tensors',
    parts: { table: t(() => {}, (h) => ((h.beta as { data_offsets: number[] }).data_offsets = [0, 16])) },
    code: 'MPE_ERR_IMPORT_SAFETENSORS',
    pattern: /overlaps|hole/,
  },
  { name: 'trailing bytes', parts: { table: Uint8Array.from([...t(() => {}), 0, 0, 0, 0]) }, code: 'MPE_ERR_IMPORT_SAFETENSORS', pattern: /data section: .* trailing bytes/ },
  // JSON vs tensors
  { name: 'JSON is not JSON', parts: { json: '{"format": ' }, code: 'MPE_ERR_IMPORT_JSON', pattern: /mpe-export\.json: \(file\): not JSON/ },
  { name: 'JSON of another version', parts: { json: j((x) => (x.formatVersion = 2)) }, code: 'MPE_ERR_IMPORT_JSON', pattern: /mpe-export\.json: formatVersion: this build reads 1, got 2/ },
  { name: 'JSON rounding other than half-even', parts: { json: j((x) => ((x.quantizer as Record<string, unknown>).rounding = 'half-up')) }, code: 'MPE_ERR_IMPORT_JSON', pattern: /quantizer\.rounding/ },
  { name: 'JSON featureCount disagrees', parts: { json: j((x) => (x.featureCount = N + 1)) }, code: 'MPE_ERR_IMPORT_MISMATCH', pattern: /table\.safetensors vs mpe-export\.json: tensor "weight"\.shape is \[40, 4\], the JSON gives \[41, 4\]/ },
  { name: 'JSON d disagrees (and scorer.inputDim with it)', parts: { json: j((x) => {
        x.d = 5;
        (x.scorer as Record<string, unknown>).inputDim = 10;
      }) }, code: 'MPE_ERR_IMPORT_MISMATCH', pattern: /tensor "weight"\.shape/ },
  { name: 'JSON scorer.inputDim is not F*d', parts: { json: j((x) => ((x.scorer as Record<string, unknown>).inputDim = 9)) }, code: 'MPE_ERR_IMPORT_MISMATCH', pattern: /mpe-export\.json: scorer\.inputDim is 9, fields x d = 2 x 4 = 8/ },
  { name: 'JSON groupBits disagree with group_bits', parts: { json: j((x) => ((x.quantizer as Record<string, unknown>).groupBits = [4, 0, 8, 4])) }, code: 'MPE_ERR_IMPORT_MISMATCH', pattern: /group_bits\[3\] is 2, quantizer\.groupBits\[3\] is 4/ },
  { name: 'a tensor the JSON does not list', parts: { table: t((x) => (x.extra = { dtype: 'U8', shape: [1], data: new Uint8Array(1) })) }, code: 'MPE_ERR_IMPORT_MISMATCH', pattern: /tensor "extra" is not listed/ },
  // values
  { name: 'NaN weight', parts: { table: t((x) => new DataView(x.weight!.data.buffer).setFloat32(4 * 13, Number.NaN, true)) }, code: 'MPE_ERR_IMPORT_VALUE', pattern: /tensor "weight"\[3, 1\] is NaN/ },
  { name: 'NaN alpha', parts: { table: t((x) => new DataView(x.alpha!.data.buffer).setFloat32(4, Number.NaN, true)) }, code: 'MPE_ERR_IMPORT_VALUE', pattern: /tensor "alpha"\[1\] \(2 bits\)/ },
  { name: 'group index out of range', parts: { table: t((x) => new DataView(x.group_index!.data.buffer).setBigInt64(8 * 7, 4n, true)) }, code: 'MPE_ERR_IMPORT_VALUE', pattern: /group_index"\[7\] = 4, outside 0\.\.3/ },
  {
    name: 'bits outside 0..8',
    parts: {
      json: j((x) => ((x.quantizer as Record<string, unknown>).bitsets = [0, 2, 4, 16])),
      table: t((x) => (x.bitsets = { dtype: 'I64', shape: [4], data: new Uint8Array(BigInt64Array.from([0n, 2n, 4n, 16n]).buffer) })),
    },
    code: 'MPE_ERR_IMPORT_VALUE',
    pattern: /bitsets\[3\] = 16: bits outside 0\.\.8/,
  },
  // scorer
  { name: 'ONNX with another input name', parts: { scorer: customScorer({ input: 'x' }) }, code: 'MPE_ERR_IMPORT_SCORER', pattern: /scorer\.onnx: inputs: expected one input "embeddings", got x: float32 \[N, 8\]/ },
  { name: 'ONNX with another output name', parts: { scorer: customScorer({ output: 'p' }) }, code: 'MPE_ERR_IMPORT_SCORER', pattern: /scorer\.onnx: outputs: expected one output "probability"/ },
  { name: 'ONNX with a fixed batch', parts: { scorer: customScorer({ inputDims: [4, F * D] }) }, code: 'MPE_ERR_IMPORT_SCORER', pattern: /input embeddings\.shape: expected \[N, 8\] with N symbolic/ },
  { name: 'ONNX whose width is not F*d', parts: { scorer: customScorer({ width: 10 }) }, code: 'MPE_ERR_IMPORT_MISMATCH', pattern: /scorer\.onnx: input embeddings\.shape\[1\] is 10, the table gives F\*d = 8/ },
  { name: 'ONNX that scores NaN', parts: { scorer: customScorer({ weight: Number.NaN }) }, code: 'MPE_ERR_IMPORT_SCORER', pattern: /scorer\.onnx: probe: row 0 of 1 scored NaN/ },
  { name: 'not ONNX at all', parts: { scorer: new TextEncoder().encode('not a model') }, code: 'MPE_ERR_IMPORT_SCORER', pattern: /scorer\.onnx: model: onnxruntime cannot load it/ },
  // vocabulary
  { name: 'vocabulary line with two columns', parts: {}, vocab: 'a\tx\n', code: 'MPE_ERR_IMPORT_VOCAB', pattern: /\.tsv:1: 2 tab-separated columns/ },
  { name: 'vocabulary with an unknown field', parts: {}, vocab: 'a\tx\t1\nc\tx\t2\n', code: 'MPE_ERR_IMPORT_VOCAB', pattern: /\.tsv:2: field "c" is not one of the export's fields/ },
  { name: 'vocabulary index out of range', parts: {}, vocab: 'a\tx\t40\n', code: 'MPE_ERR_IMPORT_VOCAB', pattern: /\.tsv:1: index 40 >= featureCount 40/ },
  { name: 'vocabulary value mapped twice', parts: {}, vocab: 'a\tx\t1\na\tx\t2\n', code: 'MPE_ERR_IMPORT_VOCAB', pattern: /\.tsv:2: field "a" value "x" .* maps to index 2, an earlier line mapped it to 1/ },
];

for (const c of CASES) {
  test(`refused: ${c.name} -> ${c.code}`, async () => {
    let vocab: string | undefined;
    if (c.vocab !== undefined) {
      vocab = join(root, `v${seq}.tsv`);
      writeFileSync(vocab, c.vocab);
    }
    await refused(c.parts, c.code, c.pattern, vocab);
  });
}

test('refused: a missing export file -> MPE_ERR_IMPORT_NOT_FOUND', async () => {
  const dir = writeExport(join(root, 'missing'));
  rmSync(join(dir, 'scorer.onnx'));
  await assert.rejects(importTorchExport(dir, join(root, 'missing-bundle')), (e: unknown) => isMpeError(e) && e.code === 'MPE_ERR_IMPORT_NOT_FOUND' && /scorer\.onnx: ENOENT/.test(e.message));
  assert.equal(existsSync(join(root, 'missing-bundle')), false);
});

test('mpe import CLI: a refused export prints the code and exits 1', () => {
  const dir = writeExport(join(root, 'cli'), { scorer: customScorer({ input: 'x' }) });
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'import', dir, '--out', join(root, 'cli-bundle')], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^error MPE_ERR_IMPORT_SCORER: .*scorer\.onnx: inputs/m);
  assert.equal(existsSync(join(root, 'cli-bundle')), false);
});
