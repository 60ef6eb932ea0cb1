/**
 * Frequency groups (MPE.md section 2) over frequency-ranked feature ids: ids are cut into equal
 * slices of `groupSize = ceil(featureCount / groups)` (the last one possibly smaller), and the
 * group of id i is `floor(i / groupSize)`. Because id 0 is the MOST frequent feature, group 0 here
 * is the most frequent slice; MPE.md numbers groups from the rarest (its group G-1 is our group 0).
 * The method does not depend on the numbering: only the weights f_g matter.
 *
 * f_g = (sum of training counts in group g) / (smallest such sum over groups), so f_g >= 1 and the
 * rare groups have the smallest weights. A group whose count sum is 0 (possible only for OOV rows
 * that never occur) is given the smallest positive sum, i.e. f_g = 1.
 */
import { groupCount } from '../codec/layout.js';
import { MpeError } from '../errors.js';

/** The grouping of a table's ids and each group's regulariser weight. */
export interface FrequencyGroups {
  readonly featureCount: number;
  readonly groupSize: number;
  /** Number of groups actually formed: ceil(featureCount / groupSize) (can be below the requested count). */
  readonly groups: number;
  /** Sum of the training counts of each group's features. */
  readonly countSum: Float64Array;
  /** f_g >= 1. */
  readonly weight: Float64Array;
  /** Group of every id (featureCount entries), for gathers that need it per row. */
  readonly groupOf: Int32Array;
}

/**
 * Builds the groups from per-id training counts (`counts[id]`, id = frequency rank).
 * Throws MPE_ERR_MPE_CONFIG for groups < 1 or an empty table.
 */
export function buildFrequencyGroups(counts: ArrayLike<number>, requestedGroups: number): FrequencyGroups {
  const n = counts.length;
  if (!Number.isInteger(requestedGroups) || requestedGroups < 1) throw new MpeError('MPE_ERR_MPE_CONFIG', `--groups must be a positive integer, got ${requestedGroups}`);
  if (n === 0) throw new MpeError('MPE_ERR_MPE_CONFIG', 'the table has no features');
  const groupSize = Math.ceil(n / requestedGroups);
  const G = groupCount(n, groupSize);
  const countSum = new Float64Array(G);
  const groupOf = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.floor(i / groupSize);
    groupOf[i] = g;
    const c = counts[i]!;
    if (!(c >= 0)) throw new MpeError('MPE_ERR_MPE_CONFIG', `count of feature ${i} is ${c}`);
    countSum[g] = countSum[g]! + c;
  }
  let minPos = Number.POSITIVE_INFINITY;
  for (let g = 0; g < G; g++) if (countSum[g]! > 0 && countSum[g]! < minPos) minPos = countSum[g]!;
  const weight = new Float64Array(G);
  for (let g = 0; g < G; g++) weight[g] = minPos === Number.POSITIVE_INFINITY ? 1 : Math.max(countSum[g]!, minPos) / minPos;
  return { featureCount: n, groupSize, groups: G, countSum, weight, groupOf };
}
