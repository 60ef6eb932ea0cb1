/**
 * All-in bytes of a grouped table's bundle, table.bin + vocab.bin, as the trainer writes them
 * (bundle-vocabulary.ts, bundle/write.ts), computed from the bit width of each group alone: what
 * budget mode's `--target-bytes` holds (docs/mpe.md "Budget mode"). Exact, not an estimate:
 *  - table.bin = its header sections (`tableSections`: fixed for a given group count and d) +
 *    each non-empty group's rows at its width, 64-byte aligned (`computeLayout`); a 0-bit group
 *    stores nothing;
 *  - vocab.bin = its 64-byte header + the compact index (`compactIndexBytes`) over the kept keys:
 *    every key, or with pruned -> OOV only the keys of groups above 0 bits; one run per bit width
 *    present, and of each run's segments (maximal id ranges of adjacent groups of that width)
 *    as many as its keys fill, at least one (what `buildCompactIndex` stores).
 * test/train/bundle-size.test.ts checks it against vocabularies built and tables packed for
 * random selections. At most 10 bit widths exist, so the v1 hash-table fallback (above 256 runs)
 * never applies.
 */
import { tableSections } from '../bundle/table-file.js';
import { VOCAB_HEADER_BYTES } from '../bundle/vocab-file.js';
import { GROUP_ALIGN, groupCount, groupRows, rowBytes } from '../codec/layout.js';
import { MpeError } from '../errors.js';
import { compactIndexBytes } from '../vocab/compact-index.js';

/** What fixes a bundle's size besides the bits of each group. */
export interface BundleShape {
  readonly featureCount: number;
  readonly d: number;
  readonly groupSize: number;
  readonly groupPad: number;
  /** Keys of the training vocabulary whose feature is in each group (length = group count). */
  readonly keysPerGroup: ArrayLike<number>;
  /** Pruned (0-bit) groups' keys leave the vocabulary (`--pruned oov`). */
  readonly dropPruned: boolean;
}

/** Bytes of table.bin, of vocab.bin, and both. */
export interface BundleBytes {
  readonly table: number;
  readonly vocab: number;
  readonly total: number;
}

/** Largest bit width a group may have (fp32 rows). */
const MAX_WIDTH = 32;

/** Keys of `vocab` (ids of every field's tokens) per group of `groupOf`. */
export function keysPerGroup(vocab: ReadonlyArray<{ readonly ids: Int32Array }>, groupOf: Int32Array, groups: number): Float64Array {
  const k = new Float64Array(groups);
  for (const f of vocab) for (let i = 0; i < f.ids.length; i++) k[groupOf[f.ids[i]!]!]!++;
  return k;
}

/**
 * The size function of a bundle of this shape: bits per group -> bytes written. O(groups) per
 * call, no allocation (budget enforcement calls it groups x steps times).
 */
export function bundleSizeOf(shape: BundleShape): (bitsPerGroup: ArrayLike<number>) => BundleBytes {
  const { featureCount: n, d, groupSize, groupPad, dropPruned } = shape;
  const G = groupCount(n, groupSize, groupPad);
  if (shape.keysPerGroup.length !== G) throw new MpeError('MPE_ERR_MPE_CONFIG', `keysPerGroup has ${shape.keysPerGroup.length} entries for ${G} groups`);
  const rows = new Float64Array(G);
  for (let g = 0; g < G; g++) rows[g] = groupRows(g, n, groupSize, groupPad);
  const keys = Float64Array.from(shape.keysPerGroup);
  const header = tableSections(G, d, 0).fileBytes;
  const keysOf = new Float64Array(MAX_WIDTH + 1);
  const filled = new Float64Array(MAX_WIDTH + 1);
  const segments = new Int32Array(MAX_WIDTH + 1);
  const present = new Uint8Array(MAX_WIDTH + 1);
  return (bits) => {
    if (bits.length !== G) throw new MpeError('MPE_ERR_MPE_CONFIG', `${bits.length} bit widths for ${G} groups`);
    keysOf.fill(0);
    filled.fill(0);
    segments.fill(0);
    present.fill(0);
    let data = 0;
    for (let g = 0; g < G; g++) {
      if (rows[g] === 0) continue;
      const b = bits[g]!;
      if (b > 0) data += Math.ceil((rows[g]! * rowBytes(b, d)) / GROUP_ALIGN) * GROUP_ALIGN;
      if (dropPruned && b === 0) continue;
      present[b] = 1;
      keysOf[b]! += keys[g]!;
    }
    // Segments in id order: a new one starts where the width changes; it is stored when it is its
    // run's first or the run's earlier segments do not yet hold all of the run's keys.
    let prev = -1;
    for (let g = 0; g < G; g++) {
      if (rows[g] === 0) continue;
      const b = bits[g]!;
      if (!(dropPruned && b === 0)) {
        if (b !== prev && (segments[b] === 0 || filled[b]! < keysOf[b]!)) segments[b]!++;
        filled[b]! += rows[g]!;
      }
      prev = b;
    }
    let runs = 0;
    let kept = 0;
    let segs = 0;
    for (let b = 0; b <= MAX_WIDTH; b++) {
      if (!present[b]) continue;
      runs++;
      kept += keysOf[b]!;
      segs += segments[b]!;
    }
    const table = header + data;
    const vocab = VOCAB_HEADER_BYTES + compactIndexBytes(kept, runs, segs);
    return { table, vocab, total: table + vocab };
  };
}
