/**
 * What the service serves: a loaded bundle seen through the few members the service needs, plus
 * the table statistics GetModel and the metrics report (computed once, at load).
 */
import type { LoadedBundle } from '../bundle/load.js';
import { compressionRatios } from '../bundle/summary.js';
import type { PackedTable } from '../codec/packed-table.js';
import type { FieldSpec } from '../features/token.js';

/** The vocabulary as the service uses it: (field index, token) -> id, or -1 when unseen. */
export interface VocabLookup {
  lookup(field: number, token: string): number;
}

/** Sections of a bundle, by name. */
export type SectionName = 'table' | 'vocab' | 'scorer' | 'manifest';

export interface ServingModel {
  readonly version: string;
  /** Input fields in the scorer's order. */
  readonly fields: readonly FieldSpec[];
  readonly table: PackedTable;
  /** The whole table.bin in ONE SharedArrayBuffer, shared with every score worker. */
  readonly tableBuffer: SharedArrayBuffer;
  readonly vocab: VocabLookup;
  /** The whole vocab.bin in its SharedArrayBuffer: score workers read the vocabulary from it and resolve raw values themselves. */
  readonly vocabBuffer?: SharedArrayBuffer;
  readonly scorerBytes: Uint8Array;
  /** Bytes of each section as stored in the bundle. */
  readonly sectionBytes: Readonly<Record<SectionName, number>>;
  /** Vocabulary bytes of the fp32 all-in baseline (every key; default: sectionBytes.vocab). */
  readonly fp32VocabBytes?: number;
}

export interface BitsStat {
  readonly bits: number;
  readonly features: number;
  /** Bytes of the data section holding rows of this width (incl. group alignment padding). */
  readonly bytes: number;
}

/** Table statistics (GetModel, metrics). */
export interface ModelStats {
  readonly bits: readonly BitsStat[];
  /** 32 / average stored bits per weight (codes only, the paper's measure); 0 when every feature is pruned. */
  readonly compressionWeights: number;
  /** (fp32 table + vocabulary) / (table.bin + vocabulary): what a serving process really saves. */
  readonly compressionAllIn: number;
}

/** Computes {@link ModelStats} once per model. */
export function modelStats(model: ServingModel): ModelStats {
  const { table } = model;
  const features = table.featuresByBits();
  const bytes = table.bytesByBits();
  const widths = [...features.keys()].sort((a, b) => a - b);
  let bitSum = 0;
  const bits: BitsStat[] = [];
  for (const b of widths) {
    const n = features.get(b) ?? 0;
    bits.push({ bits: b, features: n, bytes: bytes.get(b) ?? 0 });
    bitSum += b * n;
  }
  const n = table.featureCount;
  const ratios = compressionRatios(table.d, n, n > 0 ? bitSum / n : 0, model.sectionBytes.table, model.sectionBytes.vocab, model.fp32VocabBytes);
  return { bits, compressionWeights: ratios.weightsOnly ?? 0, compressionAllIn: ratios.allIn };
}

/** The service's view of a bundle loaded by `bundle/load.ts` (no copies). */
export function servingModelFromBundle(b: LoadedBundle): ServingModel {
  const s = b.bytesBySection;
  return {
    version: b.manifest.model.version,
    fields: b.fields,
    table: b.table,
    tableBuffer: b.tableBuffer,
    vocab: b.vocab,
    vocabBuffer: b.vocabBuffer,
    scorerBytes: b.scorerBytes,
    sectionBytes: { table: s.tableHeader + s.tableData, vocab: s.vocab, scorer: s.scorer, manifest: s.manifest },
    fp32VocabBytes: b.fp32VocabBytes,
  };
}
