/**
 * manifest.json: what a bundle holds, how its table is quantized, and the checksum of every
 * binary file. Parsing validates every field once; see docs/format.md for the field list.
 */
import { MpeError } from '../errors.js';
import type { FieldSpec, FieldTransform } from '../features/token.js';

/** Value of `manifest.format`. */
export const BUNDLE_FORMAT = 'mpe-bundle';
/** The bundle format version this code writes (v2: compact vocabulary, docs/format.md). */
export const BUNDLE_FORMAT_VERSION = 2;
/** The versions this code reads: v1 bundles still load and serve. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = Object.freeze([1, 2]);

/** File names inside a bundle directory. */
export const MANIFEST_FILE = 'manifest.json';
export const TABLE_FILE = 'table.bin';
export const VOCAB_FILE = 'vocab.bin';
export const SCORER_FILE = 'scorer.onnx';
/** The binary files listed (with size and checksum) in `manifest.files`. */
export const BINARY_FILES = Object.freeze([TABLE_FILE, VOCAB_FILE, SCORER_FILE] as const);
export type BinaryFileName = (typeof BINARY_FILES)[number];

export type ModelMethod = 'fp32' | 'mpe' | 'uniform' | 'rowwise-int8' | 'rowwise-int4';
const METHODS: readonly string[] = ['fp32', 'mpe', 'uniform', 'rowwise-int8', 'rowwise-int4'];
const TRANSFORMS: readonly FieldTransform[] = ['none', 'criteo-log2'];

export interface ManifestModel {
  readonly name: string;
  readonly version: string;
  /** ISO 8601 timestamp. */
  readonly createdAt: string;
  readonly method: ModelMethod;
}

/** The table layout, repeated from table.bin's header (the loader checks they agree). */
export interface ManifestTable {
  readonly kind: 'grouped' | 'rowwise';
  /** Row-wise tables: featureCount (one group). */
  readonly groupSize: number;
  /** Ids missing from the first group (codec/layout.ts); written only when non-zero, absent = 0. */
  readonly groupPad?: number;
  /** Row-wise tables: 1. */
  readonly groupCount: number;
  /** Bits of each group; row-wise tables: [rowwiseBits]. */
  readonly bitsPerGroup: readonly number[];
  /** alpha[b] for b = 0..8 (float32 values; index 0 unused); row-wise tables: zeros. */
  readonly alpha: readonly number[];
  /** beta[j], j < d (float32 values); row-wise tables: zeros. */
  readonly beta: readonly number[];
  /** Row-wise tables only: 4 or 8. */
  readonly rowwiseBits?: 4 | 8;
}

export interface ManifestScorer {
  readonly file: typeof SCORER_FILE;
  readonly input: 'embeddings';
  readonly output: 'probability';
  /** fields.length * d. */
  readonly inputDim: number;
}

export interface ManifestFileEntry {
  readonly bytes: number;
  /** XXH64 (seed 0) of the file, 16 lowercase hex digits. */
  readonly xxh64: string;
}

/** What vocab.bin holds (manifest key `vocabulary`, format v2). */
export interface ManifestVocabulary {
  /** "compact": the v2 index (ids implied by position); "hash-table": the v1 payload with stored ids. */
  readonly index: 'compact' | 'hash-table';
  /** Keys stored. */
  readonly keys: number;
  /** Keys before pruned features left the vocabulary (= keys when nothing was dropped): the fp32 all-in baseline indexes them all. */
  readonly allKeys: number;
}

/** Contents of manifest.json, format version 1 or 2. */
export interface Manifest {
  readonly format: typeof BUNDLE_FORMAT;
  readonly formatVersion: 1 | 2;
  readonly model: ManifestModel;
  /** Input fields in the scorer's input order. */
  readonly fields: readonly FieldSpec[];
  readonly d: number;
  readonly featureCount: number;
  readonly table: ManifestTable;
  readonly scorer: ManifestScorer;
  readonly files: Readonly<Record<BinaryFileName, ManifestFileEntry>>;
  /** Format v2 only (required there): what vocab.bin holds. */
  readonly vocabulary?: ManifestVocabulary;
  /** Training metrics (free-form: AUC, log loss...). */
  readonly metrics: Readonly<Record<string, unknown>>;
  /** Data statistics (free-form: rows, splits, counts...). */
  readonly data: Readonly<Record<string, unknown>>;
  /** Training options (free-form). */
  readonly training: Readonly<Record<string, unknown>>;
  /** XXH64 of this manifest's own JSON text without this key (see docs/format.md). */
  readonly manifestXxh64: string;
}

/**
 * What a caller gives {@link writeBundle}: the writer derives d, featureCount, table, scorer,
 * files and the checksums from the table spec and the bytes it writes.
 */
export interface ManifestInput {
  /** `createdAt` defaults to now. */
  readonly model: Omit<ManifestModel, 'createdAt'> & { readonly createdAt?: string };
  readonly fields: readonly FieldSpec[];
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly data?: Readonly<Record<string, unknown>>;
  readonly training?: Readonly<Record<string, unknown>>;
}

/** The text whose XXH64 is `manifestXxh64`: the manifest without that key, `JSON.stringify(m, null, 2)`. */
export function manifestHashText(m: Omit<Manifest, 'manifestXxh64'> | Record<string, unknown>): string {
  const { manifestXxh64: _omit, ...rest } = m as Record<string, unknown>;
  return JSON.stringify(rest, null, 2);
}

function bad(path: string, what: string): never {
  throw new MpeError('MPE_ERR_BUNDLE_MANIFEST', `${path}: ${what}`);
}
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, path: string): Record<string, unknown> {
  if (!isObject(v)) bad(path, 'expected an object');
  return v;
}
function str(v: unknown, path: string): string {
  if (typeof v !== 'string') bad(path, 'expected a string');
  return v;
}
function int(v: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(path, `expected an integer in [${min}, ${max}]`);
  return v;
}
function numArray(v: unknown, path: string, length: number, check: (x: number) => boolean): number[] {
  if (!Array.isArray(v) || v.length !== length) bad(path, `expected an array of ${length} numbers`);
  for (let i = 0; i < length; i++) if (typeof v[i] !== 'number' || !check(v[i])) bad(`${path}[${i}]`, 'invalid number');
  return v as number[];
}

/**
 * Parses and validates manifest.json text. Throws MPE_ERR_BUNDLE_MANIFEST (not JSON, missing or
 * ill-typed field) or MPE_ERR_BUNDLE_VERSION (formatVersion not in `versions`, default 1 and 2;
 * checked before the other fields, so that a newer manifest is reported as a version problem).
 */
export function parseManifest(text: string, versions: readonly number[] = READABLE_FORMAT_VERSIONS): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // Not JSON.parse's message: it quotes the file's first bytes (whatever file the path named).
    throw new MpeError('MPE_ERR_BUNDLE_MANIFEST', 'manifest.json is not JSON', { cause: e });
  }
  const m = obj(raw, 'manifest');
  if (m.format !== BUNDLE_FORMAT) bad('format', `expected "${BUNDLE_FORMAT}"`);
  if (typeof m.formatVersion !== 'number' || !versions.includes(m.formatVersion)) {
    throw new MpeError('MPE_ERR_BUNDLE_VERSION', `manifest formatVersion ${JSON.stringify(m.formatVersion)}, this reader reads ${versions.join(' and ')}`);
  }
  const model = obj(m.model, 'model');
  str(model.name, 'model.name');
  str(model.version, 'model.version');
  str(model.createdAt, 'model.createdAt');
  if (!METHODS.includes(model.method as string)) bad('model.method', `expected one of ${METHODS.join(', ')}`);
  const d = int(m.d, 'd', 1, 4096);
  const featureCount = int(m.featureCount, 'featureCount', 0);
  if (!Array.isArray(m.fields) || m.fields.length === 0) bad('fields', 'expected a non-empty array');
  const names = new Set<string>();
  for (let i = 0; i < m.fields.length; i++) {
    const f = obj(m.fields[i], `fields[${i}]`);
    const name = str(f.name, `fields[${i}].name`);
    if (names.has(name)) bad(`fields[${i}].name`, `duplicate field "${name}"`);
    names.add(name);
    if (f.kind !== 'categorical' && f.kind !== 'numeric') bad(`fields[${i}].kind`, 'expected "categorical" or "numeric"');
    if (!TRANSFORMS.includes(f.transform as FieldTransform)) bad(`fields[${i}].transform`, `expected one of ${TRANSFORMS.join(', ')}`);
    int(f.oovId, `fields[${i}].oovId`, 0, Math.max(0, featureCount - 1));
  }
  const t = obj(m.table, 'table');
  if (t.kind !== 'grouped' && t.kind !== 'rowwise') bad('table.kind', 'expected "grouped" or "rowwise"');
  const groupSize = int(t.groupSize, 'table.groupSize', 0);
  if (t.groupPad !== undefined) int(t.groupPad, 'table.groupPad', 0, Math.max(0, groupSize - 1));
  const G = int(t.groupCount, 'table.groupCount', 0);
  numArray(t.bitsPerGroup, 'table.bitsPerGroup', G, (b) => Number.isInteger(b) && ((b >= 0 && b <= 8) || b === 32));
  numArray(t.alpha, 'table.alpha', 9, Number.isFinite);
  numArray(t.beta, 'table.beta', d, Number.isFinite);
  if (t.kind === 'rowwise' && t.rowwiseBits !== 4 && t.rowwiseBits !== 8) bad('table.rowwiseBits', 'expected 4 or 8 for a row-wise table');
  const s = obj(m.scorer, 'scorer');
  if (s.file !== SCORER_FILE) bad('scorer.file', `expected "${SCORER_FILE}"`);
  if (s.input !== 'embeddings') bad('scorer.input', 'expected "embeddings"');
  if (s.output !== 'probability') bad('scorer.output', 'expected "probability"');
  int(s.inputDim, 'scorer.inputDim', 1);
  const files = obj(m.files, 'files');
  for (const name of BINARY_FILES) {
    const e = obj(files[name], `files["${name}"]`);
    int(e.bytes, `files["${name}"].bytes`, 0);
    if (typeof e.xxh64 !== 'string' || !/^[0-9a-f]{16}$/.test(e.xxh64)) bad(`files["${name}"].xxh64`, 'expected 16 lowercase hex digits');
  }
  if (m.formatVersion >= 2) {
    const v = obj(m.vocabulary, 'vocabulary');
    if (v.index !== 'compact' && v.index !== 'hash-table') bad('vocabulary.index', 'expected "compact" or "hash-table"');
    const keys = int(v.keys, 'vocabulary.keys', 0);
    int(v.allKeys, 'vocabulary.allKeys', keys);
  } else if (m.vocabulary !== undefined) bad('vocabulary', 'not a version 1 key');
  obj(m.metrics, 'metrics');
  obj(m.data, 'data');
  obj(m.training, 'training');
  if (typeof m.manifestXxh64 !== 'string' || !/^[0-9a-f]{16}$/.test(m.manifestXxh64)) bad('manifestXxh64', 'expected 16 lowercase hex digits');
  return m as unknown as Manifest;
}
