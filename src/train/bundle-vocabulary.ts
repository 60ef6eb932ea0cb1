/**
 * The vocabulary a trained bundle stores, and the row order that goes with it (format v2):
 *  - pruned features leave the vocabulary when the stage resolves them to OOV (their raw value
 *    then resolves like any unseen value: to the field's OOV row, as the retraining stage did);
 *  - the kept keys go into the compact index (`vocab/compact-index.ts`), whose ids are implied by
 *    position, so the table's rows are REORDERED inside each run (all groups of one bit width:
 *    a row keeps its value in any group of its width) to match: first the run's keys in index
 *    order, then its rows without a key (OOV rows) in their old order.
 * Scores do not change: every (field, token) reaches the same weights as before, only the ids
 * move. Rows of pruned groups keep their ids when their keys are dropped. At most 10 runs (bit
 * widths 0..8 and 32); the v1 hash-table fallback beyond 256 runs cannot happen today.
 */
import { groupCount, groupFirstId, groupRows, type TableSpec } from '../codec/layout.js';
import type { Dataset } from '../data/ingest.js';
import type { FieldSpec } from '../features/token.js';
import { buildCompactIndex, MAX_RUNS } from '../vocab/compact-index.js';
import { hashHi, hashInto, hashLo } from '../vocab/hash.js';
import { VocabularyBuilder } from '../vocab/vocabulary.js';

/** What the bundle writer needs. */
export interface BundleVocabulary {
  /** The vocabulary payload (compact index, or the v1 hash table beyond 256 runs). */
  readonly vocabBytes: Uint8Array;
  /** Weights in the new row order (featureCount * d). */
  readonly weights: Float32Array;
  /** Fields with their OOV ids in the new row order. */
  readonly fields: readonly FieldSpec[];
  /** Keys stored / keys of the training vocabulary. */
  readonly keys: number;
  readonly allKeys: number;
  /** Runs of the index (0 for the hash-table fallback). */
  readonly runs: number;
  /** New id of each old id. */
  readonly newId: Int32Array;
}

/**
 * The runs of a table: one per bit width present (ascending), each the list of its groups' id
 * ranges [first, length] in id order, adjacent groups merged. Every row of a run has the same bit
 * width, so rows may move freely inside it: a moved row keeps its codes and so its value.
 */
export function tableRuns(spec: TableSpec): { bits: number[]; segments: Array<Array<[number, number]>> } {
  const n = spec.featureCount;
  if (spec.kind === 'rowwise') return n > 0 ? { bits: [spec.bits], segments: [[[0, n]]] } : { bits: [], segments: [] };
  const byBits = new Map<number, Array<[number, number]>>();
  const pad = spec.groupPad ?? 0;
  const G = groupCount(n, spec.groupSize, pad);
  for (let g = 0; g < G; g++) {
    const b = spec.bitsPerGroup[g]!;
    const a = groupFirstId(g, spec.groupSize, pad);
    const len = groupRows(g, n, spec.groupSize, pad);
    if (len === 0) continue;
    const segs = byBits.get(b) ?? [];
    const last = segs[segs.length - 1];
    if (last && last[0] + last[1] === a) last[1] += len;
    else segs.push([a, len]);
    byBits.set(b, segs);
  }
  const bits = [...byBits.keys()].sort((x, y) => x - y);
  return { bits, segments: bits.map((b) => byBits.get(b)!) };
}

/**
 * Builds the vocabulary of `ds` for a table `spec` with fp32 `weights` (featureCount * d) and
 * permutes the rows to match. `dropPruned`: keys of 0-bit groups are left out (they resolve to
 * their field's OOV row).
 */
export function buildBundleVocabulary(ds: Pick<Dataset, 'vocab' | 'fields'>, spec: TableSpec, weights: Float32Array, dropPruned: boolean): BundleVocabulary {
  const n = spec.featureCount;
  const d = spec.d;
  const all = tableRuns(spec);
  // Runs that hold keys: every bit width but 0 when pruned keys are dropped.
  const keep: number[] = [];
  const runOfId = new Int32Array(n).fill(-1);
  for (let r = 0; r < all.bits.length; r++) {
    if (dropPruned && all.bits[r] === 0) continue;
    const k = keep.length;
    keep.push(r);
    for (const [a, len] of all.segments[r]!) runOfId.fill(k, a, a + len);
  }
  let allKeys = 0;
  for (const f of ds.vocab) allKeys += f.tokens.length;
  const hi = new Uint32Array(allKeys);
  const lo = new Uint32Array(allKeys);
  const run = new Int32Array(allKeys);
  const oldId = new Int32Array(allKeys);
  let m = 0;
  for (let f = 0; f < ds.vocab.length; f++) {
    const { tokens, ids } = ds.vocab[f]!;
    for (let i = 0; i < tokens.length; i++) {
      const r = runOfId[ids[i]!]!;
      if (r < 0) continue; // pruned: resolves to the field's OOV row
      hashInto(f, tokens[i]!);
      hi[m] = hashHi();
      lo[m] = hashLo();
      run[m] = r;
      oldId[m] = ids[i]!;
      m++;
    }
  }
  const newId = new Int32Array(n);
  for (let i = 0; i < n; i++) newId[i] = i;
  if (keep.length > MAX_RUNS) {
    const b = new VocabularyBuilder();
    for (let k = 0; k < m; k++) b.addHash(hi[k]!, lo[k]!, oldId[k]!);
    return { vocabBytes: b.build().toBytes(), weights, fields: ds.fields, keys: m, allKeys, runs: 0, newId };
  }
  const space = keep.map((r) => all.segments[r]!);
  const { index, idOfKey } = buildCompactIndex(hi, lo, run, m, space);
  // Keyed rows take the index's ids; the other rows of each kept run fill its remaining ids, in old order.
  const hasKey = new Uint8Array(n);
  const taken = new Uint8Array(n);
  for (let k = 0; k < m; k++) {
    newId[oldId[k]!] = idOfKey[k]!;
    hasKey[oldId[k]!] = 1;
    taken[idOfKey[k]!] = 1;
  }
  for (const segs of space) {
    const free: number[] = [];
    for (const [a, len] of segs) for (let id = a; id < a + len; id++) if (!taken[id]) free.push(id);
    let next = 0;
    for (const [a, len] of segs) for (let id = a; id < a + len; id++) if (!hasKey[id]) newId[id] = free[next++]!;
  }
  const out = new Float32Array(weights.length);
  for (let i = 0; i < n; i++) out.set(weights.subarray(i * d, i * d + d), newId[i]! * d);
  const fields = ds.fields.map((f) => Object.freeze({ ...f, oovId: newId[f.oovId]! }));
  return { vocabBytes: index.toBytes(), weights: out, fields, keys: m, allKeys, runs: keep.length, newId };
}
