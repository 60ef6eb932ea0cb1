/**
 * table.bin: a 64-byte header, the table's metadata sections and the codec's data section, every
 * section 64-byte aligned, little-endian. Byte layout in docs/format.md. The loader parses the
 * header out of the same SharedArrayBuffer the data lives in and builds the codec's PackedTable
 * over a view of it: no copy of the data, no per-row objects.
 */
import { computeLayout, type TableSpec } from '../codec/layout.js';
import { PackedTable } from '../codec/packed-table.js';
import { MpeError } from '../errors.js';

/** "MPETABL1" */
export const TABLE_MAGIC = Uint8Array.of(0x4d, 0x50, 0x45, 0x54, 0x41, 0x42, 0x4c, 0x31);
/** Version of table.bin's own layout (bumped with the bundle format). */
/** table.bin version written (v2: same layout as v1; rows inside a run of equal bit widths are in vocabulary order, docs/format.md). */
export const TABLE_FORMAT_VERSION = 2;
const TABLE_READABLE_VERSIONS: readonly number[] = [1, 2];
/** Bytes of the fixed header; every later section starts on a multiple of this. */
export const TABLE_HEADER_BYTES = 64;
const SECTION_ALIGN = 64;
const KIND_GROUPED = 1;
const KIND_ROWWISE = 2;
/**
 * Header flag: a grouped table whose first group is short by `groupPad` ids (MPE grouping, the
 * partial group at the frequent end); the pad is stored in the u32 at offset 40 (row-wise bits,
 * unused by grouped tables). Set only when the pad is non-zero, so tables without one are
 * byte-identical to those written before the flag existed, and a reader that predates it refuses
 * a padded table (non-zero flags) instead of misreading its groups.
 */
export const TABLE_FLAG_GROUP_PAD = 1;

/** Where each section of table.bin starts (bytes from the start of the file). */
export interface TableSections {
  readonly bitsOffset: number;
  readonly alphaOffset: number;
  readonly betaOffset: number;
  readonly groupOffsetsOffset: number;
  readonly dataOffset: number;
  readonly dataBytes: number;
  /** Total file size: dataOffset + dataBytes. */
  readonly fileBytes: number;
}

/** The decoded header of a table.bin. */
export interface TableHeader {
  readonly formatVersion: number;
  readonly spec: TableSpec;
  /** Row-wise tables: 1. */
  readonly groupCount: number;
  /** Row-wise tables: featureCount. */
  readonly groupSize: number;
  /** Ids missing from the first group (codec/layout.ts); 0 unless the header has TABLE_FLAG_GROUP_PAD. */
  readonly groupPad: number;
  /** Row-wise tables: [bits]. */
  readonly bitsPerGroup: Uint8Array;
  /** Row-wise tables: zeros. */
  readonly alpha: Float32Array;
  /** Row-wise tables: zeros. */
  readonly beta: Float32Array;
  /** Byte offset of each group inside the data section (length groupCount + 1). */
  readonly groupOffsets: Float64Array;
  readonly sections: TableSections;
}

function align(n: number): number {
  return Math.ceil(n / SECTION_ALIGN) * SECTION_ALIGN;
}

/** Section offsets for a table with `groupCount` groups, dimension d and `dataBytes` of data. */
export function tableSections(groupCount: number, d: number, dataBytes: number): TableSections {
  const bitsOffset = TABLE_HEADER_BYTES;
  const alphaOffset = align(bitsOffset + groupCount);
  const betaOffset = align(alphaOffset + 4 * 9);
  const groupOffsetsOffset = align(betaOffset + 4 * d);
  const dataOffset = align(groupOffsetsOffset + 8 * (groupCount + 1));
  return { bitsOffset, alphaOffset, betaOffset, groupOffsetsOffset, dataOffset, dataBytes, fileBytes: dataOffset + dataBytes };
}

/** The grouped view of any spec: what the header and manifest store. */
export function groupedView(spec: TableSpec): { groupSize: number; groupPad: number; groupCount: number; bitsPerGroup: Uint8Array; alpha: Float32Array; beta: Float32Array } {
  if (spec.kind === 'rowwise') {
    return { groupSize: spec.featureCount, groupPad: 0, groupCount: 1, bitsPerGroup: Uint8Array.of(spec.bits), alpha: new Float32Array(9), beta: new Float32Array(spec.d) };
  }
  return { groupSize: spec.groupSize, groupPad: spec.groupPad ?? 0, groupCount: spec.bitsPerGroup.length, bitsPerGroup: spec.bitsPerGroup, alpha: spec.alpha, beta: spec.beta };
}

/**
 * Encodes everything of table.bin that precedes the data section (header, bits, alpha, beta,
 * group offsets, padding). The file is `encodeTableHeader(spec)` followed by the data section
 * from the codec's packTable(spec, weights). Throws MPE_ERR_CODEC_LAYOUT / _BITS for a bad spec.
 */
export function encodeTableHeader(spec: TableSpec, formatVersion: number = TABLE_FORMAT_VERSION): Uint8Array {
  const layout = computeLayout(spec);
  const g = groupedView(spec);
  const s = tableSections(g.groupCount, spec.d, layout.dataBytes);
  const out = new Uint8Array(s.dataOffset);
  const v = new DataView(out.buffer);
  out.set(TABLE_MAGIC, 0);
  v.setUint32(8, formatVersion, true);
  v.setUint32(12, TABLE_HEADER_BYTES, true);
  v.setUint32(16, spec.kind === 'grouped' ? KIND_GROUPED : KIND_ROWWISE, true);
  v.setUint32(20, spec.d, true);
  v.setBigUint64(24, BigInt(spec.featureCount), true);
  v.setUint32(32, g.groupSize, true);
  v.setUint32(36, g.groupCount, true);
  v.setUint32(40, spec.kind === 'rowwise' ? spec.bits : g.groupPad, true);
  v.setUint32(44, g.groupPad > 0 ? TABLE_FLAG_GROUP_PAD : 0, true);
  v.setBigUint64(48, BigInt(s.dataOffset), true);
  v.setBigUint64(56, BigInt(s.dataBytes), true);
  out.set(g.bitsPerGroup, s.bitsOffset);
  for (let i = 0; i < 9; i++) v.setFloat32(s.alphaOffset + 4 * i, g.alpha[i]!, true);
  for (let j = 0; j < spec.d; j++) v.setFloat32(s.betaOffset + 4 * j, g.beta[j]!, true);
  for (let i = 0; i <= g.groupCount; i++) v.setFloat64(s.groupOffsetsOffset + 8 * i, layout.groupOffsets[i]!, true);
  return out;
}

function u64(v: DataView, at: number, what: string): number {
  const x = v.getBigUint64(at, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin ${what} ${x} is too large`);
  return Number(x);
}

/** What the fixed 64-byte header of table.bin says, checked against the file's size. */
export interface TableHead {
  readonly formatVersion: number;
  readonly kindCode: number;
  readonly d: number;
  readonly featureCount: number;
  readonly groupSize: number;
  readonly groupCount: number;
  /** Row-wise bits (row-wise tables), else the group pad. */
  readonly word40: number;
  readonly groupPad: number;
  readonly sections: TableSections;
}

/**
 * Decodes and validates the fixed header of a table.bin of `fileBytes` bytes from `head` (at
 * least its first 64 bytes, or the whole file when shorter): magic, version, flags, kind, the
 * section offsets, and the size the header implies against `fileBytes`. Reads nothing past byte
 * 64, so the loader runs it on the first bytes of a file before allocating memory for the whole.
 * Throws as {@link decodeTableHeader}.
 */
export function decodeTableHead(head: Uint8Array, fileBytes: number): TableHead {
  if (fileBytes < TABLE_HEADER_BYTES || head.byteLength < TABLE_HEADER_BYTES) {
    // Too short even for the header: still report a foreign file as such.
    for (let i = 0; i < Math.min(8, head.byteLength); i++) if (head[i] !== TABLE_MAGIC[i]) throw new MpeError('MPE_ERR_BUNDLE_MAGIC', 'table.bin');
    throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `table.bin has ${fileBytes} bytes, less than its ${TABLE_HEADER_BYTES}-byte header`);
  }
  for (let i = 0; i < 8; i++) if (head[i] !== TABLE_MAGIC[i]) throw new MpeError('MPE_ERR_BUNDLE_MAGIC', 'table.bin does not start with MPETABL1');
  const v = new DataView(head.buffer, head.byteOffset, TABLE_HEADER_BYTES);
  const formatVersion = v.getUint32(8, true);
  if (!TABLE_READABLE_VERSIONS.includes(formatVersion)) throw new MpeError('MPE_ERR_BUNDLE_VERSION', `table.bin version ${formatVersion}, this build reads ${TABLE_READABLE_VERSIONS.join(' and ')}`);
  const flags = v.getUint32(44, true);
  if ((flags & ~TABLE_FLAG_GROUP_PAD) !== 0) throw new MpeError('MPE_ERR_BUNDLE_VERSION', `table.bin flags 0x${flags.toString(16)} are not defined in version ${formatVersion}`);
  if (v.getUint32(12, true) !== TABLE_HEADER_BYTES) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin header length ${v.getUint32(12, true)}`);
  const kindCode = v.getUint32(16, true);
  if (kindCode !== KIND_GROUPED && kindCode !== KIND_ROWWISE) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin kind ${kindCode}`);
  const d = v.getUint32(20, true);
  const featureCount = u64(v, 24, 'featureCount');
  const groupSize = v.getUint32(32, true);
  const groupCount = v.getUint32(36, true);
  const word40 = v.getUint32(40, true);
  const padded = (flags & TABLE_FLAG_GROUP_PAD) !== 0;
  if (padded && kindCode !== KIND_GROUPED) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', 'table.bin: only grouped tables have a group pad');
  if (kindCode === KIND_GROUPED && !padded && word40 !== 0) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin: grouped table with ${word40} at offset 40 and no group-pad flag`);
  const groupPad = padded ? word40 : 0;
  if (padded && groupPad === 0) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', 'table.bin: group-pad flag set with a pad of 0');
  const dataOffset = u64(v, 48, 'data offset');
  const dataBytes = u64(v, 56, 'data size');
  const s = tableSections(groupCount, d, dataBytes);
  if (s.dataOffset !== dataOffset) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin data offset ${dataOffset}, expected ${s.dataOffset}`);
  if (fileBytes < s.fileBytes) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `table.bin has ${fileBytes} bytes, its header says ${s.fileBytes}`);
  if (fileBytes > s.fileBytes) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin has ${fileBytes} bytes, its header says ${s.fileBytes}`);
  return { formatVersion, kindCode, d, featureCount, groupSize, groupCount, word40, groupPad, sections: s };
}

/**
 * Decodes and validates table.bin's header from `bytes` (the whole file). Throws
 * MPE_ERR_BUNDLE_MAGIC, _VERSION, _TRUNCATED (file shorter than the header says) or _MISMATCH
 * (longer, or sections inconsistent with the layout the spec implies).
 */
export function decodeTableHeader(bytes: Uint8Array): TableHeader {
  const { formatVersion, kindCode, d, featureCount, groupSize, groupCount, word40: rowwiseBits, groupPad, sections: s } = decodeTableHead(bytes, bytes.byteLength);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dataBytes = s.dataBytes;
  // Metadata is small (G + 36 + 4d + 8(G+1) bytes): copy it out, so it stays valid and aligned whatever the host.
  const bitsPerGroup = bytes.slice(s.bitsOffset, s.bitsOffset + groupCount);
  const alpha = new Float32Array(9);
  for (let i = 0; i < 9; i++) alpha[i] = v.getFloat32(s.alphaOffset + 4 * i, true);
  const beta = new Float32Array(d);
  for (let j = 0; j < d; j++) beta[j] = v.getFloat32(s.betaOffset + 4 * j, true);
  const groupOffsets = new Float64Array(groupCount + 1);
  for (let i = 0; i <= groupCount; i++) groupOffsets[i] = v.getFloat64(s.groupOffsetsOffset + 8 * i, true);
  let spec: TableSpec;
  if (kindCode === KIND_ROWWISE) {
    if (rowwiseBits !== 4 && rowwiseBits !== 8) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin row-wise bits ${rowwiseBits}`);
    if (groupCount !== 1 || bitsPerGroup[0] !== rowwiseBits) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', 'table.bin row-wise header must have one group at the row-wise bit width');
    spec = { kind: 'rowwise', d, featureCount, bits: rowwiseBits };
  } else {
    spec = { kind: 'grouped', d, featureCount, groupSize, ...(groupPad > 0 ? { groupPad } : {}), bitsPerGroup, alpha, beta };
  }
  let layout: ReturnType<typeof computeLayout>;
  try {
    layout = computeLayout(spec);
  } catch (e) {
    throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin header describes an invalid layout (${(e as Error).message})`, { cause: e });
  }
  if (layout.dataBytes !== dataBytes) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin data section has ${dataBytes} bytes, its layout needs ${layout.dataBytes}`);
  for (let i = 0; i <= groupCount; i++) {
    if (layout.groupOffsets[i] !== groupOffsets[i]) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `table.bin group ${i} offset ${groupOffsets[i]}, its layout says ${layout.groupOffsets[i]}`);
  }
  return { formatVersion, spec, groupCount, groupSize, groupPad, bitsPerGroup, alpha, beta, groupOffsets, sections: s };
}

/** A table view over a table.bin held in a SharedArrayBuffer. */
export interface SharedTable {
  readonly header: TableHeader;
  readonly table: PackedTable;
  /** View of the data section (no copy). */
  readonly data: Uint8Array;
  readonly buffer: SharedArrayBuffer;
}

/**
 * Builds a PackedTable over a SharedArrayBuffer that holds a whole table.bin, without copying
 * the data section. Use it in worker threads: post `LoadedBundle.tableBuffer` to the worker and
 * call this there. Validates the header like the loader does (no checksum: the loader verified it).
 */
export function loadTableFromSharedBuffer(buffer: SharedArrayBuffer): SharedTable {
  const bytes = new Uint8Array(buffer);
  const header = decodeTableHeader(bytes);
  const data = new Uint8Array(buffer, header.sections.dataOffset, header.sections.dataBytes);
  return { header, table: new PackedTable(header.spec, data), data, buffer };
}
