/**
 * Hard budget enforcement (budget mode, docs/mpe.md "Budget mode"): after the search's selection
 * and before retraining, a selection whose size is over the target is lowered, one group one
 * candidate step at a time, where it costs least per unit of size saved, until it is at or under
 * the target; then the moves that are no longer needed are given back (latest first) while the
 * size stays within the target.
 *
 * {@link enforceBudget} is pure and knows neither how a selection's size is measured nor what a
 * step costs: both are functions the caller passes in, so the same enforcement holds a bits-per-
 * weight budget ({@link bitsPerWeightSize}) or an all-in bytes budget (a size function that
 * counts the packed table, its header and the vocabulary). The cost signals offered here:
 *  - {@link distortionCost}: the count-weighted squared quantization error that the step adds
 *    to the search's own trained table (what the network would see change, weighted by how
 *    often each feature occurs); the default;
 *  - {@link probabilityCost}: the search's probability mass on the widths the step gives up.
 */
import { qMax, qMin, roundHalfEven } from '../codec/quantize.js';
import { MpeError } from '../errors.js';

/**
 * The size of a selection (bits per group) in the budget's unit. It may grow when a group is
 * lowered (all-in bytes: a new bit width adds a run to the vocabulary index); such a step is
 * taken only when no step saves anything, and the smallest size must be every group at the
 * smallest candidate (true of bits per weight and of all-in bytes).
 */
export type SelectionSize = (bitsPerGroup: Uint8Array) => number;

/** The cost (>= 0, any unit; lower is cheaper) of lowering `group` from `from` to `to` bits, to < from. */
export type LoweringCost = (group: number, from: number, to: number) => number;

export interface BudgetProblem {
  /** The search's selection, bits per group (not modified). */
  readonly bits: Uint8Array;
  /** Candidate bit widths a group may take (any order). */
  readonly candidates: readonly number[];
  /** The budget, in the unit of `size`. */
  readonly target: number;
  readonly size: SelectionSize;
  readonly cost: LoweringCost;
}

/** One applied step: `group` went from `from` to `to` bits at this cost. */
export interface BudgetMove {
  readonly group: number;
  readonly from: number;
  readonly to: number;
  readonly cost: number;
}

export interface BudgetResult {
  /** The enforced selection (a new array; equal to the input when it was within the target). */
  readonly bits: Uint8Array;
  /** Size of the input selection and of the enforced one. */
  readonly sizeBefore: number;
  readonly sizeAfter: number;
  /** Groups whose width was lowered, and the candidate steps taken in all (after the give-back pass). */
  readonly groupsLowered: number;
  readonly stepsLowered: number;
  /** The steps kept, in the order they were taken. */
  readonly moves: readonly BudgetMove[];
}

/**
 * Lowers the selection until `size(bits) <= target` (see the file comment). Greedy: at each step
 * the group whose next lower candidate width costs least per unit of size saved is lowered (ties:
 * the higher group index, i.e. the rarer slice with id 0 most frequent); steps that save nothing
 * are taken only when no step saves anything. Then, latest first, a step is undone when the size
 * stays within the target without it. Throws MPE_ERR_MPE_BUDGET when even every group at the
 * smallest candidate is over the target.
 */
export function enforceBudget(p: BudgetProblem): BudgetResult {
  const cands = [...new Set(p.candidates)].sort((a, b) => a - b);
  if (cands.length === 0) throw new MpeError('MPE_ERR_MPE_CONFIG', 'enforceBudget: no candidate bit widths');
  const lower = (b: number): number => {
    let r = -1;
    for (const c of cands) if (c < b) r = c;
    return r;
  };
  const cur = p.bits.slice();
  const sizeBefore = p.size(cur);
  let size = sizeBefore;
  const moves: (BudgetMove & { undone: boolean })[] = [];
  while (size > p.target) {
    let best = -1;
    let bestScore = Number.POSITIVE_INFINITY;
    let bestCost = Number.POSITIVE_INFINITY;
    let bestSize = size;
    let fallback = -1; // a step that saves nothing now (e.g. byte rounding), cheapest first
    let fallbackCost = Number.POSITIVE_INFINITY;
    for (let g = 0; g < cur.length; g++) {
      const from = cur[g]!;
      const to = lower(from);
      if (to < 0) continue;
      const cost = Math.max(0, p.cost(g, from, to));
      cur[g] = to;
      const s = p.size(cur);
      cur[g] = from;
      const saved = size - s;
      if (saved > 0) {
        const score = cost / saved;
        if (score <= bestScore) {
          best = g;
          bestScore = score;
          bestCost = cost;
          bestSize = s;
        }
      } else if (cost <= fallbackCost) {
        fallback = g;
        fallbackCost = cost;
      }
    }
    const saves = best >= 0;
    const g = saves ? best : fallback;
    if (g < 0) {
      throw new MpeError('MPE_ERR_MPE_BUDGET', `every group at its smallest candidate (${cands[0]} bits) still has size ${size} > target ${p.target}`);
    }
    const from = cur[g]!;
    const to = lower(from);
    cur[g] = to;
    size = saves ? bestSize : p.size(cur);
    moves.push({ group: g, from, to, cost: saves ? bestCost : fallbackCost, undone: false });
  }
  // Give back what the last (most expensive per unit) steps took beyond the target.
  for (let i = moves.length - 1; i >= 0; i--) {
    const m = moves[i]!;
    if (cur[m.group] !== m.to) continue; // a later step on this group is still in place
    cur[m.group] = m.from;
    const s = p.size(cur);
    if (s <= p.target) {
      size = s;
      m.undone = true;
    } else cur[m.group] = m.to;
  }
  const kept = moves.filter((m) => !m.undone).map(({ group, from, to, cost }) => ({ group, from, to, cost }));
  let groupsLowered = 0;
  for (let g = 0; g < cur.length; g++) if (cur[g]! < p.bits[g]!) groupsLowered++;
  return { bits: cur, sizeBefore, sizeAfter: size, groupsLowered, stepsLowered: kept.length, moves: kept };
}

/** Rows of each group, from the group of every id. */
export function groupSizes(groupOf: Int32Array, groups: number): Float64Array {
  const s = new Float64Array(groups);
  for (let i = 0; i < groupOf.length; i++) s[groupOf[i]!] = s[groupOf[i]!]! + 1;
  return s;
}

/** Size model of the weights-only budget: average stored bits per weight, sum_g |g| bits_g / n. */
export function bitsPerWeightSize(sizes: ArrayLike<number>): SelectionSize {
  let n = 0;
  for (let g = 0; g < sizes.length; g++) n += sizes[g]!;
  return (bits) => {
    let s = 0;
    for (let g = 0; g < sizes.length; g++) s += sizes[g]! * bits[g]!;
    return n > 0 ? s / n : 0;
  };
}

/** What {@link distortionCost} reads from the search at its selected checkpoint. */
export interface DistortionInput {
  /** Trained fp32 table of the search, featureCount x d. */
  readonly weights: Float32Array;
  readonly d: number;
  /** Training count (or ranking key) of each feature id. */
  readonly counts: ArrayLike<number>;
  readonly groupOf: Int32Array;
  readonly groups: number;
  /** Effective LSQ step per bit width (index = bits, 0 unused) and the offset vector. */
  readonly step: ArrayLike<number>;
  readonly beta: Float32Array;
  readonly candidates: readonly number[];
}

/**
 * Cost = the count-weighted squared error sum_{x in g} c_x ||w_x - Q_to(w_x)||^2 minus the same
 * at `from` (Q_0 = 0: a pruned row is the zero vector). One pass over the table at construction
 * (G x K sums); each call is O(1).
 */
export function distortionCost(o: DistortionInput): LoweringCost {
  const K = o.candidates.length;
  const widths = [...o.candidates];
  const err = new Float64Array(o.groups * K);
  const n = o.groupOf.length;
  const { weights: w, d, beta, step } = o;
  for (let x = 0; x < n; x++) {
    const c = o.counts[x]!;
    if (!(c > 0)) continue;
    const base = o.groupOf[x]! * K;
    for (let k = 0; k < K; k++) {
      const b = widths[k]!;
      let e = 0;
      if (b === 0) for (let j = 0; j < d; j++) e += w[x * d + j]! * w[x * d + j]!;
      else {
        const s = step[b]!;
        const lo = qMin(b);
        const hi = qMax(b);
        for (let j = 0; j < d; j++) {
          const v = (w[x * d + j]! - beta[j]!) / s;
          const q = v <= lo ? lo : v >= hi ? hi : roundHalfEven(v);
          const diff = w[x * d + j]! - Math.fround(s * q + beta[j]!);
          e += diff * diff;
        }
      }
      err[base + k] = err[base + k]! + c * e;
    }
  }
  return (g, from, to) => err[g * K + widths.indexOf(to)]! - err[g * K + widths.indexOf(from)]!;
}

/**
 * Cost = the search's probability mass on the widths the step gives up: sum of p_{g,k} over the
 * candidates b_k with to < b_k <= from. `p` is G x K in the order of `candidates`.
 */
export function probabilityCost(p: ArrayLike<number>, candidates: readonly number[]): LoweringCost {
  const K = candidates.length;
  return (g, from, to) => {
    let m = 0;
    for (let k = 0; k < K; k++) if (candidates[k]! > to && candidates[k]! <= from) m += p[g * K + k]!;
    return m;
  };
}
