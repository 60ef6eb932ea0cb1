/**
 * Loads a bundle directory: one read per file into SharedArrayBuffers, checksums, then every
 * consistency check between manifest.json, table.bin and vocab.bin. The table's data section is
 * never copied: the codec's PackedTable views it in place.
 */
import { join } from 'node:path';
import type { PackedTable } from '../codec/packed-table.js';
import { MpeError } from '../errors.js';
import type { FieldSpec } from '../features/token.js';
import { initChecksum, xxh64HexSync } from '../util/checksum.js';
import { compactIndexBytes, CompactVocabulary } from '../vocab/compact-index.js';
import { isCompactPayload, type VocabularyIndex, vocabularyFromBytes } from '../vocab/decode.js';
import { BINARY_FILES, type BinaryFileName, type Manifest, MANIFEST_FILE, manifestHashText, parseManifest, READABLE_FORMAT_VERSIONS, SCORER_FILE, TABLE_FILE, VOCAB_FILE } from './manifest.js';
import { checkDirectory, type HeadCheck, readFileShared, readTextFile } from './read-file.js';
import { decodeTableHead, loadTableFromSharedBuffer, TABLE_HEADER_BYTES, type TableHeader } from './table-file.js';
import { decodeVocabFile, decodeVocabHead, VOCAB_HEADER_BYTES } from './vocab-file.js';

export interface LoadOptions {
  /** Check the XXH64 of manifest.json and of every binary file (default true). Sizes, magic, versions and consistency are always checked. */
  readonly verify?: boolean;
  /** Bundle format versions accepted (default 1 and 2; `[1]` behaves as a v1-only reader). */
  readonly versions?: readonly number[];
  /** Longest open() of one file (milliseconds, default OPEN_TIMEOUT_MS of read-file.ts). */
  readonly openTimeoutMs?: number;
}

/** Byte counts of a loaded bundle, per part. */
export interface BundleSectionBytes {
  readonly manifest: number;
  /** table.bin before the data section: header, bits, alpha, beta, group offsets, padding. */
  readonly tableHeader: number;
  /** table.bin's data section (packed rows and group alignment padding). */
  readonly tableData: number;
  readonly vocab: number;
  readonly scorer: number;
}

export interface LoadedBundle {
  readonly dir: string;
  readonly manifest: Manifest;
  /** Input fields, in the scorer's input order (= manifest.fields). */
  readonly fields: readonly FieldSpec[];
  /** Views the data section of `tableBuffer` (no copy). */
  readonly table: PackedTable;
  readonly tableHeader: TableHeader;
  /** The whole table.bin; post it to worker threads and call `loadTableFromSharedBuffer` there. */
  readonly tableBuffer: SharedArrayBuffer;
  /** The v2 compact index, or the v1 hash table (same lookup API). */
  readonly vocab: VocabularyIndex;
  /**
   * Bytes the same kind of vocabulary would take with EVERY key of the training vocabulary
   * (pruned ones included): the vocabulary of the fp32 all-in baseline. v1: vocab.bin itself.
   */
  readonly fp32VocabBytes: number;
  /** The whole vocab.bin (shareable with workers; its payload starts at byte 64). */
  readonly vocabBuffer: SharedArrayBuffer;
  /** scorer.onnx in an ordinary ArrayBuffer (onnxruntime-node does not accept shared memory). */
  readonly scorerBytes: Uint8Array;
  readonly bytesBySection: BundleSectionBytes;
  /** Checksum state of each file: 'ok', or 'skipped' when loaded with verify: false. */
  readonly checksums: Readonly<Record<typeof MANIFEST_FILE | BinaryFileName, 'ok' | 'skipped'>>;
  /** bytes: all files; ms: wall time of the whole load; verifyMs: time spent hashing. */
  readonly loadStats: { readonly bytes: number; readonly ms: number; readonly verifyMs: number };
}

/** The files whose fixed header says how long they are: checked on their first bytes before they are read whole. */
const HEAD_CHECKS: Partial<Record<BinaryFileName, HeadCheck>> = {
  [TABLE_FILE]: { bytes: TABLE_HEADER_BYTES, check: (head, size) => void decodeTableHead(head, size) },
  [VOCAB_FILE]: { bytes: VOCAB_HEADER_BYTES, check: (head, size) => void decodeVocabHead(head, size) },
};

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function mismatch(what: string): never {
  throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', what);
}

/** Every check between the manifest and table.bin's header (MPE_ERR_BUNDLE_MISMATCH). */
function checkTableAgainstManifest(m: Manifest, h: TableHeader): void {
  const t = m.table;
  if (h.spec.kind !== t.kind) mismatch(`table kind: manifest ${t.kind}, table.bin ${h.spec.kind}`);
  if (h.spec.d !== m.d) mismatch(`d: manifest ${m.d}, table.bin ${h.spec.d}`);
  if (h.spec.featureCount !== m.featureCount) mismatch(`featureCount: manifest ${m.featureCount}, table.bin ${h.spec.featureCount}`);
  if (h.groupSize !== t.groupSize) mismatch(`groupSize: manifest ${t.groupSize}, table.bin ${h.groupSize}`);
  if (h.groupPad !== (t.groupPad ?? 0)) mismatch(`groupPad: manifest ${t.groupPad ?? 0}, table.bin ${h.groupPad}`);
  if (h.groupCount !== t.groupCount) mismatch(`groupCount: manifest ${t.groupCount}, table.bin ${h.groupCount}`);
  if (!same(h.bitsPerGroup, t.bitsPerGroup)) mismatch('bitsPerGroup differ between manifest and table.bin');
  if (!same(h.alpha, t.alpha)) mismatch('alpha differs between manifest and table.bin');
  if (!same(h.beta, t.beta)) mismatch('beta differs between manifest and table.bin');
  if (h.spec.kind === 'rowwise' && h.spec.bits !== t.rowwiseBits) mismatch(`rowwiseBits: manifest ${t.rowwiseBits}, table.bin ${h.spec.bits}`);
  if (m.scorer.inputDim !== m.fields.length * m.d) mismatch(`scorer.inputDim ${m.scorer.inputDim}, expected fields * d = ${m.fields.length * m.d}`);
}

/**
 * Loads and validates the bundle in `dir`. Throws, in this order of checks:
 * MPE_ERR_BUNDLE_NOT_FOUND (no directory or a missing file), _UNREADABLE (a file that is not
 * regular or does not open in time), _MANIFEST (bad manifest.json), _VERSION (a manifest of
 * another format version), _CHECKSUM (manifest.json's own, with verify); then per binary file,
 * before memory is allocated for it: _TRUNCATED (shorter than the manifest says), _MISMATCH
 * (longer), and for table.bin and vocab.bin their fixed header against the file's size (_MAGIC,
 * _VERSION, _TRUNCATED, _MISMATCH); then _CHECKSUM of the files (with verify); then every
 * consistency check between the sections (_VERSION, _MAGIC, _MISMATCH).
 */
export async function loadBundle(dir: string, options: LoadOptions = {}): Promise<LoadedBundle> {
  const verify = options.verify ?? true;
  const t0 = performance.now();
  await checkDirectory(dir, options.openTimeoutMs);
  const manifestText = await readTextFile(join(dir, MANIFEST_FILE), undefined, options.openTimeoutMs);
  const manifest = parseManifest(manifestText, options.versions ?? READABLE_FORMAT_VERSIONS);
  if (verify) {
    await initChecksum();
    // The manifest sizes everything that follows: trust it only once its own checksum holds.
    if (xxh64HexSync(new TextEncoder().encode(manifestHashText(manifest))) !== manifest.manifestXxh64) {
      throw new MpeError('MPE_ERR_BUNDLE_CHECKSUM', `${MANIFEST_FILE} (manifestXxh64)`);
    }
  }

  const read: Partial<Record<BinaryFileName, Uint8Array>> = {};
  for (const name of BINARY_FILES) {
    // Sizes are compared from fstat, and the headers of table.bin and vocab.bin with that size,
    // before anything is allocated (a 2 GiB table.bin costs nothing, whatever the manifest says).
    const bytes = await readFileShared(join(dir, name), manifest.files[name].bytes, options.openTimeoutMs, HEAD_CHECKS[name]);
    read[name] = bytes;
  }
  const tableBytes = read[TABLE_FILE]!;
  const vocabBytes = read[VOCAB_FILE]!;
  // onnxruntime-node refuses SharedArrayBuffer-backed model bytes; the model is small, so copy it once.
  const scorerBytes = new Uint8Array(read[SCORER_FILE]!);

  let verifyMs = 0;
  if (verify) {
    const tv = performance.now();
    for (const name of BINARY_FILES) {
      const got = xxh64HexSync(read[name]!);
      if (got !== manifest.files[name].xxh64) throw new MpeError('MPE_ERR_BUNDLE_CHECKSUM', `${name}: xxh64 ${got}, manifest says ${manifest.files[name].xxh64}`);
    }
    verifyMs = performance.now() - tv;
  }

  const shared = loadTableFromSharedBuffer(tableBytes.buffer as SharedArrayBuffer);
  // All three version numbers move together (docs/format.md#versioning).
  if (shared.header.formatVersion !== manifest.formatVersion) throw new MpeError('MPE_ERR_BUNDLE_VERSION', `table.bin version ${shared.header.formatVersion} in a version ${manifest.formatVersion} bundle`);
  checkTableAgainstManifest(manifest, shared.header);
  for (const f of manifest.fields) if (f.oovId >= manifest.featureCount) mismatch(`field ${f.name}: oovId ${f.oovId} >= featureCount ${manifest.featureCount}`);

  const { header: vocabHeader, payload } = decodeVocabFile(vocabBytes);
  if (vocabHeader.formatVersion !== manifest.formatVersion) throw new MpeError('MPE_ERR_BUNDLE_VERSION', `vocab.bin version ${vocabHeader.formatVersion} in a version ${manifest.formatVersion} bundle`);
  if (vocabHeader.fieldCount !== manifest.fields.length) mismatch(`vocab.bin has ${vocabHeader.fieldCount} fields, manifest ${manifest.fields.length}`);
  const compact = isCompactPayload(payload);
  if (manifest.formatVersion === 1 && compact) throw new MpeError('MPE_ERR_BUNDLE_VERSION', 'a version 1 vocab.bin holds a version 2 compact index');
  const vocab = vocabularyFromBytes(payload);
  if (manifest.vocabulary && (manifest.vocabulary.index === 'compact') !== compact) mismatch(`manifest says a ${manifest.vocabulary.index} vocabulary, vocab.bin holds the other kind`);
  // Every key maps to a non-OOV feature, so there are fewer keys than features.
  if (vocab.size > manifest.featureCount) mismatch(`vocab.bin has ${vocab.size} keys, more than featureCount ${manifest.featureCount}`);
  if (vocab instanceof CompactVocabulary && vocab.idEnd() > manifest.featureCount) mismatch(`vocab.bin resolves ids up to ${vocab.idEnd() - 1}, featureCount ${manifest.featureCount}`);
  if (manifest.vocabulary && manifest.vocabulary.keys !== vocab.size) mismatch(`manifest says ${manifest.vocabulary.keys} vocabulary keys, vocab.bin holds ${vocab.size}`);
  const fp32VocabBytes = manifest.vocabulary && compact ? VOCAB_HEADER_BYTES + compactIndexBytes(manifest.vocabulary.allKeys, 1) : vocabBytes.byteLength;

  const bytesBySection: BundleSectionBytes = {
    manifest: Buffer.byteLength(manifestText),
    tableHeader: shared.header.sections.dataOffset,
    tableData: shared.header.sections.dataBytes,
    vocab: vocabBytes.byteLength,
    scorer: scorerBytes.byteLength,
  };
  const state = verify ? 'ok' : 'skipped';
  return {
    dir,
    manifest,
    fields: manifest.fields,
    table: shared.table,
    tableHeader: shared.header,
    tableBuffer: shared.buffer,
    vocab,
    fp32VocabBytes,
    vocabBuffer: vocabBytes.buffer as SharedArrayBuffer,
    scorerBytes,
    bytesBySection,
    checksums: { [MANIFEST_FILE]: state, [TABLE_FILE]: state, [VOCAB_FILE]: state, [SCORER_FILE]: state },
    loadStats: {
      bytes: bytesBySection.manifest + tableBytes.byteLength + vocabBytes.byteLength + scorerBytes.byteLength,
      ms: performance.now() - t0,
      verifyMs,
    },
  };
}
