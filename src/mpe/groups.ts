/**
 * Frequency groups (docs/mpe.md "Groups"), exactly as the authors' code forms them:
 * group size s = ceil(n / G); the features, sorted by ASCENDING train count, are cut into
 * consecutive slices of s, so the one partial slice holds the MOST frequent features (never the
 * rarest); when s * (G - 1) >= n would leave slices empty, ceil(n / s) groups are formed.
 *
 * Our ids are frequency ranks (id 0 = most frequent), i.e. the same order reversed, so the slices
 * are cut from the rare end of the ids: group g (g = 0 most frequent, the authors' G-1) holds the
 * ids floor((id + pad) / s) = g, with pad = groups * s - n. Group 0 is the partial one
 * (s - pad ids); every other group has exactly s. The same `(groupSize, groupPad)` pair is what
 * the packed table stores (codec/layout.ts), so serving needs no per-feature index.
 *
 * f_g = (sum of training counts in group g) / (smallest such sum over groups), so f_g >= 1 and
 * the rare groups have the smallest weights. Zero-count features (an OOV id no rare value fell
 * into) are ordinary features of the rarest group; they add nothing to its sum. A group whose sum
 * is 0 (only possible when more than s features have a zero count) would make the reference's
 * normaliser 0 (division by zero): here the normaliser is the smallest POSITIVE sum and such a
 * group gets f_g = 1, like the rarest group with counts.
 */
import { groupOfId, groupRows } from '../codec/layout.js';
import { MpeError } from '../errors.js';

/** The grouping of a table's ids and each group's regulariser weight. */
export interface FrequencyGroups {
  readonly featureCount: number;
  readonly groupSize: number;
  /** Ids missing from group 0 (the partial, most frequent group): group of id = floor((id + groupPad) / groupSize). */
  readonly groupPad: number;
  /** Number of groups actually formed: ceil(featureCount / groupSize) (can be below the requested count). */
  readonly groups: number;
  /** Ids in each group. */
  readonly sizes: Int32Array;
  /** Sum of the training counts of each group's features. */
  readonly countSum: Float64Array;
  /** f_g >= 1. */
  readonly weight: Float64Array;
  /** Group of every id (featureCount entries), for gathers that need it per row. */
  readonly groupOf: Int32Array;
}

/**
 * Builds the groups from per-id training counts (`counts[id]`, id = frequency rank, so the counts
 * must be non-increasing). Throws MPE_ERR_MPE_CONFIG for groups < 1, an empty table, a negative
 * or non-finite count, or counts that are not sorted.
 */
export function buildFrequencyGroups(counts: ArrayLike<number>, requestedGroups: number): FrequencyGroups {
  const n = counts.length;
  if (!Number.isInteger(requestedGroups) || requestedGroups < 1) throw new MpeError('MPE_ERR_MPE_CONFIG', `--groups must be a positive integer, got ${requestedGroups}`);
  if (n === 0) throw new MpeError('MPE_ERR_MPE_CONFIG', 'the table has no features');
  const groupSize = Math.ceil(n / requestedGroups);
  const G = Math.ceil(n / groupSize);
  const groupPad = G * groupSize - n;
  const countSum = new Float64Array(G);
  const sizes = new Int32Array(G);
  const groupOf = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = counts[i]!;
    if (!(c >= 0) || !Number.isFinite(c)) throw new MpeError('MPE_ERR_MPE_CONFIG', `count of feature ${i} is ${c}`);
    if (i > 0 && c > counts[i - 1]!) throw new MpeError('MPE_ERR_MPE_CONFIG', `feature ids must be frequency ranks: count of id ${i} (${c}) exceeds that of id ${i - 1} (${counts[i - 1]})`);
    const g = groupOfId(i, groupSize, groupPad);
    groupOf[i] = g;
    countSum[g] = countSum[g]! + c;
  }
  for (let g = 0; g < G; g++) sizes[g] = groupRows(g, n, groupSize, groupPad);
  let minPos = Number.POSITIVE_INFINITY;
  for (let g = 0; g < G; g++) if (countSum[g]! > 0 && countSum[g]! < minPos) minPos = countSum[g]!;
  const weight = new Float64Array(G);
  for (let g = 0; g < G; g++) weight[g] = minPos === Number.POSITIVE_INFINITY ? 1 : Math.max(countSum[g]!, minPos) / minPos;
  return { featureCount: n, groupSize, groupPad, groups: G, sizes, countSum, weight, groupOf };
}
