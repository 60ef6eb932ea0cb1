/**
 * Table layouts: how rows of d codes are laid out in the data section of a packed table.
 * Pure arithmetic, no I/O. See docs/format.md.
 *
 * Ids are frequency ranks: id 0 is the most frequent feature of the training split. The
 * "grouped" layout cuts the ids into slices of `groupSize`, so the group of id i is
 * `floor((i + groupPad) / groupSize)` and no per-feature index is stored. `groupPad` (default 0)
 * shortens the FIRST group to `groupSize - groupPad` ids: MPE's grouping (docs/mpe.md
 * "Groups") puts its one partial group at the most frequent end; tables without a pad (fp32,
 * uniform, bundles written before the pad existed) have their partial group last.
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
  /**
   * Ids missing from the first group, 0 <= groupPad < groupSize (absent = 0): group of id i is
   * floor((i + groupPad) / groupSize). See {@link groupOfId}.
   */
  readonly groupPad?: number;
  /** bits[g] for each group g (length {@link groupCount}(featureCount, groupSize, groupPad)). */
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

/** Groups of a grouped table: ceil((featureCount + groupPad) / groupSize). */
export function groupCount(featureCount: number, groupSize: number, groupPad = 0): number {
  return Math.ceil((featureCount + groupPad) / groupSize);
}

/** Group of feature `id`: floor((id + groupPad) / groupSize). */
export function groupOfId(id: number, groupSize: number, groupPad = 0): number {
  return Math.floor((id + groupPad) / groupSize);
}

/** First id of group g (its rows are ids groupFirstId(g) .. groupFirstId(g) + groupRows(g) - 1). */
export function groupFirstId(g: number, groupSize: number, groupPad = 0): number {
  return Math.max(0, g * groupSize - groupPad);
}

/** Ids in group g. */
export function groupRows(g: number, featureCount: number, groupSize: number, groupPad = 0): number {
  return Math.max(0, Math.min(featureCount, (g + 1) * groupSize - groupPad) - groupFirstId(g, groupSize, groupPad));
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
  const pad = spec.groupPad ?? 0;
  if (!Number.isInteger(groupSize) || groupSize <= 0) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `groupSize ${groupSize}`);
  if (!Number.isInteger(pad) || pad < 0 || pad >= groupSize) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `groupPad ${pad} must be an integer in [0, groupSize ${groupSize})`);
  const G = groupCount(featureCount, groupSize, pad);
  if (bitsPerGroup.length !== G) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `bitsPerGroup has ${bitsPerGroup.length} entries, expected ${G}`);
  if (spec.alpha.length !== 9) throw new MpeError('MPE_ERR_CODEC_LAYOUT', 'alpha must have 9 entries (index = bit width)');
  if (spec.beta.length !== d) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `beta must have d=${d} entries`);
  const offsets = new Float64Array(G + 1);
  let off = 0;
  for (let g = 0; g < G; g++) {
    const b = bitsPerGroup[g]!;
    if (!SUPPORTED_BITS.includes(b)) throw new MpeError('MPE_ERR_CODEC_BITS', `group ${g}: ${b}`);
    offsets[g] = off;
    const rows = groupRows(g, featureCount, groupSize, pad);
    if (rows > 0 && b > 0) off = align(off + rows * rowBytes(b, d), GROUP_ALIGN);
  }
  offsets[G] = off;
  return { groupOffsets: offsets, dataBytes: off };
}
