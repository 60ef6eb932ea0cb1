/**
 * Table layouts: how rows of d codes are laid out in the data section of a packed table.
 * Pure arithmetic, no I/O. See docs/format.md.
 *
 * Ids are frequency ranks: id 0 is the most frequent feature of the training split. The
 * "grouped" layout cuts the ids into equal slices of `groupSize` (the last one possibly smaller),
 * so the group of id i is `floor(i / groupSize)` and no per-feature index is stored.
 */
import { MpeError } from '../errors.js';

/** Bit widths a grouped table may hold: 0 = pruned (no bytes), 1..8 = LSQ+ codes, 32 = raw float32 rows. */
export const SUPPORTED_BITS: readonly number[] = Object.freeze([0, 1, 2, 3, 4, 5, 6, 7, 8, 32]);

/** Byte alignment of every group's first row inside the data section (lets fp32 groups use a Float32Array view). */
export const GROUP_ALIGN = 64;

/** MPE / uniform / fp32 tables: one bit width per group, one step alpha per bit width, one offset vector beta. */
export interface GroupedTableSpec {
  readonly kind: 'grouped';
  /** Embedding dimension. */
  readonly d: number;
  readonly featureCount: number;
  readonly groupSize: number;
  /** bits[g] for each group g (length ceil(featureCount / groupSize)). */
  readonly bitsPerGroup: Uint8Array;
  /** alpha[b] = step of bit width b, for b = 1..8 (index 0 unused, length 9). */
  readonly alpha: Float32Array;
  /** Shared offset vector, length d. */
  readonly beta: Float32Array;
}

/** FBGEMM/TorchRec inference layout: per row, unsigned codes then fp16 scale and fp16 bias. value = scale * u + bias. */
export interface RowwiseTableSpec {
  readonly kind: 'rowwise';
  readonly d: number;
  readonly featureCount: number;
  readonly bits: 4 | 8;
}

export type TableSpec = GroupedTableSpec | RowwiseTableSpec;

/** Bytes of one stored row of d codes at `bits` (rows are byte-aligned; codes are packed LSB-first). */
export function rowBytes(bits: number, d: number): number {
  if (bits === 32) return 4 * d;
  if (!Number.isInteger(bits) || bits < 0 || bits > 8) throw new MpeError('MPE_ERR_CODEC_BITS', String(bits));
  return Math.ceil((bits * d) / 8);
}

/** Bytes of one row-wise row: codes plus fp16 scale and fp16 bias. */
export function rowwiseRowBytes(bits: 4 | 8, d: number): number {
  return Math.ceil((bits * d) / 8) + 4;
}

export function groupCount(featureCount: number, groupSize: number): number {
  return Math.ceil(featureCount / groupSize);
}

/** Where each group starts in the data section. */
export interface DataLayout {
  /** Byte offset of group g's first row; length groupCount + 1, last entry = dataBytes. Row-wise: [0, dataBytes]. */
  readonly groupOffsets: Float64Array;
  readonly dataBytes: number;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Validates a spec and computes its data layout. Throws MPE_ERR_CODEC_LAYOUT / MPE_ERR_CODEC_BITS. */
export function computeLayout(spec: TableSpec): DataLayout {
  const { d, featureCount } = spec;
  if (!Number.isInteger(d) || d <= 0 || d > 4096) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `d must be 1..4096, got ${d}`);
  if (!Number.isInteger(featureCount) || featureCount < 0) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `featureCount ${featureCount}`);
  if (spec.kind === 'rowwise') {
    if (spec.bits !== 4 && spec.bits !== 8) throw new MpeError('MPE_ERR_CODEC_BITS', `row-wise bits must be 4 or 8, got ${spec.bits}`);
    const bytes = featureCount * rowwiseRowBytes(spec.bits, d);
    return { groupOffsets: Float64Array.of(0, bytes), dataBytes: bytes };
  }
  const { groupSize, bitsPerGroup } = spec;
  if (!Number.isInteger(groupSize) || groupSize <= 0) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `groupSize ${groupSize}`);
  const G = groupCount(featureCount, groupSize);
  if (bitsPerGroup.length !== G) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `bitsPerGroup has ${bitsPerGroup.length} entries, expected ${G}`);
  if (spec.alpha.length !== 9) throw new MpeError('MPE_ERR_CODEC_LAYOUT', 'alpha must have 9 entries (index = bit width)');
  if (spec.beta.length !== d) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `beta must have d=${d} entries`);
  const offsets = new Float64Array(G + 1);
  let off = 0;
  for (let g = 0; g < G; g++) {
    const b = bitsPerGroup[g]!;
    if (!SUPPORTED_BITS.includes(b)) throw new MpeError('MPE_ERR_CODEC_BITS', `group ${g}: ${b}`);
    offsets[g] = off;
    const rows = Math.min(groupSize, featureCount - g * groupSize);
    if (rows > 0 && b > 0) off = align(off + rows * rowBytes(b, d), GROUP_ALIGN);
  }
  offsets[G] = off;
  return { groupOffsets: offsets, dataBytes: off };
}
