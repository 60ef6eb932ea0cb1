/**
 * `mpe quantize --rowwise int8|int4 IN OUT`: post-training row-wise quantization of an fp32
 * bundle into the FBGEMM/TorchRec inference layout (per row: unsigned codes, fp16 scale, fp16
 * bias; the codec's `packTable` computes them). Vocabulary and scorer are carried over unchanged.
 */
import { loadBundle } from '../bundle/load.js';
import type { Manifest } from '../bundle/manifest.js';
import { writeBundle } from '../bundle/write.js';
import type { RowwiseTableSpec } from '../codec/layout.js';
import { packTable } from '../codec/pack-table.js';
import { MpeError } from '../errors.js';

/** Parses "int8" / "int4" (also "8" / "4"); MPE_ERR_MPE_CONFIG otherwise. */
export function parseRowwiseBits(s: string): 4 | 8 {
  if (s === 'int8' || s === '8') return 8;
  if (s === 'int4' || s === '4') return 4;
  throw new MpeError('MPE_ERR_MPE_CONFIG', `--rowwise takes int8 or int4, got "${s}"`);
}

/**
 * Reads the fp32 bundle `inDir` (every group 32-bit; MPE_ERR_MPE_CONFIG otherwise), packs its
 * rows row-wise at `bits` and writes the bundle `outDir` (atomically, by the bundle writer).
 */
export async function quantizeBundleRowwise(inDir: string, outDir: string, bits: 4 | 8): Promise<Manifest> {
  const b = await loadBundle(inDir, { verify: true });
  const spec = b.table.spec;
  if (spec.kind !== 'grouped' || !spec.bitsPerGroup.every((x) => x === 32)) {
    throw new MpeError('MPE_ERR_MPE_CONFIG', `${inDir} is not an fp32 bundle (method ${b.manifest.model.method}): row-wise quantization starts from fp32 rows`);
  }
  const n = spec.featureCount;
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  const weights = new Float32Array(n * spec.d);
  b.table.dequantize(ids, n, weights);
  const out: RowwiseTableSpec = { kind: 'rowwise', d: spec.d, featureCount: n, bits };
  const m = b.manifest;
  return writeBundle(outDir, {
    manifest: {
      model: { name: m.model.name, version: m.model.version, method: bits === 8 ? 'rowwise-int8' : 'rowwise-int4' },
      fields: m.fields,
      // The source's metrics were measured with fp32 rows; they are kept under `source` only.
      metrics: { source: m.metrics },
      data: m.data,
      training: { ...m.training, method: bits === 8 ? 'rowwise-int8' : 'rowwise-int4', quantizedFrom: { dir: inDir, manifestXxh64: m.manifestXxh64 } },
    },
    tableSpec: out,
    tableData: packTable(out, weights),
    vocabBytes: b.vocab.toBytes(),
    ...(m.vocabulary ? { vocabAllKeys: m.vocabulary.allKeys } : {}),
    scorerBytes: b.scorerBytes,
  });
}
