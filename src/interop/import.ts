/**
 * `mpe import`: turns a PyTorch export (tools/torch/export.py: mpe-export.json, table.safetensors,
 * scorer.onnx) into a bundle. Everything is read and validated before anything is written; the
 * bundle is then written atomically by `writeBundle`, so a refused export leaves nothing behind.
 * See docs/interop.md.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { GroupedTableSpec } from '../codec/layout.js';
import { PackedTable } from '../codec/packed-table.js';
import type { Manifest } from '../bundle/manifest.js';
import { writeBundle } from '../bundle/write.js';
import { MpeError } from '../errors.js';
import type { FieldSpec } from '../features/token.js';
import { createRng } from '../util/random.js';
import { VocabularyBuilder } from '../vocab/vocabulary.js';
import { EXPORT_JSON, parseExportJson, type TorchExport } from './export-json.js';
import { effectiveAlpha, packTorchTable } from './pack-torch.js';
import { planRerank, type RerankPlan } from './rerank.js';
import { parseSafetensors, type SafeTensor, tensorNumbers } from './safetensors.js';
import { checkScorer } from './scorer-check.js';
import { readVocabTsv } from './vocab-tsv.js';

/** Options of {@link importTorchExport}. */
export interface ImportOptions {
  /** raw-value -> feature-index file (TSV: field, value, index); without it the bundle has an empty vocabulary (ids only). */
  readonly vocabFile?: string;
  /** Writes `index<TAB>id` lines (torch feature index -> bundle id) here after the bundle. */
  readonly idMapFile?: string;
  /** model.version of the bundle (default "1"). */
  readonly version?: string;
  /** model.name (default: the export's name). */
  readonly name?: string;
}

/** What an import produced. */
export interface ImportResult {
  readonly manifest: Manifest;
  readonly plan: RerankPlan;
  readonly vocabEntries: number;
  /** Feature count per bit width. */
  readonly bitsHistogram: Readonly<Record<string, number>>;
}

async function readExportFile(dir: string, file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(join(dir, file)));
  } catch (e) {
    throw new MpeError('MPE_ERR_IMPORT_NOT_FOUND', `${join(dir, file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The tensors of the table, checked against the JSON. */
interface TableState {
  readonly weights: Float32Array;
  /** Bit width per torch feature index. */
  readonly bits: Uint8Array;
  readonly counts: Float64Array | undefined;
  /** alpha_eff per bit width 0..8 (0 where unused). */
  readonly alpha: Float32Array;
  readonly beta: Float32Array;
  /** Largest group of the export (fp32: featureCount). */
  readonly largestGroup: number;
}

function tableState(ex: TorchExport, tensors: ReadonlyMap<string, SafeTensor>, file: string): TableState {
  const mismatch = (why: string): never => {
    throw new MpeError('MPE_ERR_IMPORT_MISMATCH', `${file} vs ${EXPORT_JSON}: ${why}`);
  };
  const badValue = (why: string): never => {
    throw new MpeError('MPE_ERR_IMPORT_VALUE', `${file}: ${why}`);
  };
  const listed = new Set(ex.table.tensors);
  for (const name of tensors.keys()) if (!listed.has(name)) mismatch(`tensor "${name}" is not listed in table.tensors`);
  for (const name of listed) if (!tensors.has(name)) mismatch(`table.tensors lists "${name}", the file has no such tensor`);
  const need = (name: string, dtypes: readonly string[], shape: readonly number[]): SafeTensor => {
    const t = tensors.get(name);
    if (t === undefined) return mismatch(`a ${ex.kind} export needs tensor "${name}"`);
    if (!dtypes.includes(t.dtype)) {
      throw new MpeError('MPE_ERR_IMPORT_SAFETENSORS', `${file}: tensor "${name}".dtype: ${t.dtype}, expected ${dtypes.join(' or ')}`);
    }
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      mismatch(`tensor "${name}".shape is [${t.shape.join(', ')}], the JSON gives [${shape.join(', ')}]`);
    }
    return t;
  };
  const { featureCount: n, d } = ex;
  const weights = need('weight', ['F32'], [n, d]).data as Float32Array;
  for (let i = 0; i < weights.length; i++) {
    if (!Number.isFinite(weights[i]!)) badValue(`tensor "weight"[${Math.floor(i / d)}, ${i % d}] is ${weights[i]}`);
  }
  let counts: Float64Array | undefined;
  if (tensors.has('feature_count')) {
    counts = tensorNumbers(need('feature_count', ['F64', 'F32', 'I64', 'I32'], [n]), file, 'feature_count');
    for (let i = 0; i < n; i++) if (!Number.isFinite(counts[i]!)) badValue(`tensor "feature_count"[${i}] is ${counts[i]}`);
  }
  const alpha = new Float32Array(9);
  const beta = new Float32Array(d);
  if (ex.kind === 'fp32') return { weights, bits: new Uint8Array(n).fill(32), counts, alpha, beta, largestGroup: n };

  const q = ex.quantizer!;
  const G = q.groupCount;
  const K = q.bitsets.length;
  const ints = ['I64', 'I32'];
  const groupIndex = tensorNumbers(need('group_index', ints, [n]), file, 'group_index');
  const groupBits = tensorNumbers(need('group_bits', ints, [G]), file, 'group_bits');
  const bitsets = tensorNumbers(need('bitsets', ints, [K]), file, 'bitsets');
  const alphaRaw = need('alpha', ['F32'], [K]).data as Float32Array;
  beta.set(need('beta', ['F32'], [d]).data as Float32Array);
  for (let k = 0; k < K; k++) if (bitsets[k] !== q.bitsets[k]) mismatch(`bitsets[${k}] is ${bitsets[k]}, quantizer.bitsets[${k}] is ${q.bitsets[k]}`);
  for (let g = 0; g < G; g++) if (groupBits[g] !== q.groupBits[g]) mismatch(`group_bits[${g}] is ${groupBits[g]}, quantizer.groupBits[${g}] is ${q.groupBits[g]}`);
  for (let k = 0; k < K; k++) if (q.bitsets[k]! > 8) badValue(`bitsets[${k}] = ${q.bitsets[k]}: bits outside 0..8 cannot be stored (the bundle packs 0..8-bit codes)`);
  for (let g = 0; g < G; g++) if (!q.bitsets.includes(groupBits[g]!)) mismatch(`group_bits[${g}] = ${groupBits[g]} is not one of bitsets ${JSON.stringify(q.bitsets)}`);
  for (let j = 0; j < d; j++) if (!Number.isFinite(beta[j]!)) badValue(`tensor "beta"[${j}] is ${beta[j]}`);
  const used = new Set<number>();
  for (let g = 0; g < G; g++) used.add(groupBits[g]!);
  for (let k = 0; k < K; k++) {
    const b = q.bitsets[k]!;
    if (b === 0) continue;
    const a = effectiveAlpha(alphaRaw[k]!, q.alpha.abs, q.alpha.eps);
    if (used.has(b) && !(Number.isFinite(a) && a > 0)) badValue(`tensor "alpha"[${k}] (${b} bits) gives step ${a}: must be finite and > 0`);
    alpha[b] = a;
  }
  const bits = new Uint8Array(n);
  const groupSizes = new Int32Array(G);
  for (let i = 0; i < n; i++) {
    const g = groupIndex[i]!;
    if (!Number.isInteger(g) || g < 0 || g >= G) badValue(`tensor "group_index"[${i}] = ${g}, outside 0..${G - 1}`);
    bits[i] = groupBits[g]!;
    groupSizes[g]!++;
  }
  let largestGroup = 1;
  for (let g = 0; g < G; g++) largestGroup = Math.max(largestGroup, groupSizes[g]!);
  return { weights, bits, counts, alpha, beta, largestGroup };
}

/** Random rows of the dequantized table, as the scorer will see them: [rows, F*d]. */
function probeBatch(table: PackedTable, fields: number, rows: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const ids = new Int32Array(rows * fields);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.int(table.featureCount);
  const out = new Float32Array(rows * fields * table.d);
  table.dequantize(ids, ids.length, out);
  return out;
}

/**
 * Imports the export in `exportDir` into a bundle at `outDir` (see writeBundle for what may be
 * replaced). Throws MPE_ERR_IMPORT_* (nothing written) or the bundle writer's errors.
 */
export async function importTorchExport(exportDir: string, outDir: string, options: ImportOptions = {}): Promise<ImportResult> {
  if (endianness() !== 'LE') throw new MpeError('MPE_ERR_IMPORT_SAFETENSORS', 'this importer reads little-endian data on little-endian hosts only');
  const dir = resolve(exportDir);
  const jsonPath = join(dir, EXPORT_JSON);
  const ex = parseExportJson(new TextDecoder().decode(await readExportFile(dir, EXPORT_JSON)), jsonPath);
  const F = ex.fields.length;
  if (ex.scorer.inputDim !== F * ex.d) {
    throw new MpeError('MPE_ERR_IMPORT_MISMATCH', `${jsonPath}: scorer.inputDim is ${ex.scorer.inputDim}, fields x d = ${F} x ${ex.d} = ${F * ex.d}`);
  }
  const tablePath = join(dir, ex.table.file);
  const st = parseSafetensors(await readExportFile(dir, ex.table.file), tablePath);
  const state = tableState(ex, st.tensors, tablePath);
  const plan = planRerank(state.bits, state.counts, state.largestGroup);
  const spec: GroupedTableSpec = {
    kind: 'grouped',
    d: ex.d,
    featureCount: ex.featureCount,
    groupSize: plan.groupSize,
    bitsPerGroup: plan.bitsPerGroup,
    alpha: state.alpha,
    beta: state.beta,
  };
  const data = packTorchTable(spec, state.weights, plan.order);

  const scorerPath = join(dir, ex.scorer.file);
  const scorerBytes = await readExportFile(dir, ex.scorer.file);
  const table = new PackedTable(spec, data);
  await checkScorer(scorerBytes, scorerPath, F * ex.d, [probeBatch(table, F, 1, 1), probeBatch(table, F, 64, 2)]);

  const fields: FieldSpec[] = ex.fields.map((f, i) => {
    if (f.oov === undefined && options.vocabFile !== undefined) {
      throw new MpeError('MPE_ERR_IMPORT_VOCAB', `${jsonPath}: fields[${i}].oov: a vocabulary needs each field's out-of-vocabulary feature index`);
    }
    return { name: f.name, kind: f.kind, transform: f.transform, oovId: f.oov === undefined ? 0 : plan.idOf[f.oov]! };
  });
  const vocab = options.vocabFile !== undefined ? await readVocabTsv(options.vocabFile, fields, plan.idOf) : { bytes: new VocabularyBuilder().build().toBytes(), entries: 0 };

  const bitsHistogram: Record<string, number> = {};
  for (let i = 0; i < state.bits.length; i++) bitsHistogram[state.bits[i]!] = (bitsHistogram[state.bits[i]!] ?? 0) + 1;
  const manifest = await writeBundle(outDir, {
    manifest: {
      model: { name: options.name ?? ex.name, version: options.version ?? '1', method: ex.kind === 'fp32' ? 'fp32' : 'mpe' },
      fields,
      metrics: {},
      data: { importedFrom: 'pytorch', vocabEntries: vocab.entries, idsOnly: options.vocabFile === undefined, bitsHistogram },
      training: { source: ex.source, exportName: ex.name, rerank: { groupSize: plan.groupSize, exportLargestGroup: state.largestGroup } },
    },
    tableSpec: spec,
    tableData: data,
    vocabBytes: vocab.bytes,
    scorerBytes,
  });
  if (options.idMapFile !== undefined) await writeIdMap(options.idMapFile, plan.idOf);
  return { manifest, plan, vocabEntries: vocab.entries, bitsHistogram };
}

/** `index<TAB>id` per torch index, written to a temporary sibling and renamed into place. */
async function writeIdMap(path: string, idOf: Int32Array): Promise<void> {
  const lines: string[] = ['# torch_index\tbundle_id'];
  for (let i = 0; i < idOf.length; i++) lines.push(`${i}\t${idOf[i]}`);
  const target = resolve(path);
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  try {
    await writeFile(tmp, `${lines.join('\n')}\n`);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new MpeError('MPE_ERR_BUNDLE_WRITE', `${target}: ${(e as Error).message}`, { cause: e });
  }
}
