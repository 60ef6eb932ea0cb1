/**
 * The precision-search embedding stage (docs/mpe.md "Search"). Per batch:
 *  - forward: each distinct feature x of group g gets e(x) = sum_{b>0} p_{g,b} Q_b(w_x), with
 *    p_g = softmax(gamma_g / tau);
 *  - backward: dL/de through the mixture to the fp32 rows (straight-through), to alpha_b and beta
 *    (LSQ+ scaled), and to the logits through the softmax; PLUS the gradient of the regulariser
 *    R = lambda * sum_g sum_b p_{g,b} b / f_g, which (as in the authors' loss) is added to EVERY
 *    training batch's loss and sums over ALL groups (not over the batch's features);
 *  - one Adam step (lr 1e-3) on the rows the batch touched (the trainer's SparseAdamTable) and one
 *    on alpha, beta and the logits (the trainer's DenseAdam, no weight decay). The dense network
 *    is stepped by the trainer on the same batch: the optimisation is joint.
 *
 * The table's values at construction (the start of the search) are kept in `initialWeights` for
 * the retraining stage's rewind (docs/mpe.md "Retraining").
 */
import type { GroupedTableSpec } from '../codec/layout.js';
import { MpeError } from '../errors.js';
import { DenseAdam } from '../train/dense-adam.js';
import type { EmbeddingStage } from '../train/embedding-stage.js';
import { type SparseAdamOptions, SparseAdamTable } from '../train/embedding-table.js';
import { BatchRows } from './batch-rows.js';
import { buildFrequencyGroups, type FrequencyGroups } from './groups.js';
import { createLsqParams, initLsqAlpha, LSQ_MAX_BITS } from './lsq.js';
import {
  bitsRegularizer,
  createMixtureConsts,
  type MixtureConsts,
  mixtureBackward,
  mixtureForward,
  refreshSteps,
  softmaxBackward,
  softmaxTemperature,
} from './mixture.js';
import type { MpeOptions } from './options.js';
import { averageBitsPerFeature, expectedBitsPerFeature, selectBits } from './selection.js';
import { groupedSpec } from './spec.js';

/** What {@link MpeSearchStage.snapshot} keeps: weights (not the Adam moments) and the quantizer/search parameters. */
interface SearchSnapshot {
  readonly weights: Float32Array;
  readonly alpha: Float32Array;
  readonly beta: Float32Array;
  readonly gamma: Float32Array;
}

export class MpeSearchStage implements EmbeddingStage {
  readonly d: number;
  readonly featureCount: number;
  readonly table: SparseAdamTable;
  /** The table at the start of the search (docs/mpe.md "Retraining" rewinds to it). */
  readonly initialWeights: Float32Array;
  readonly groups: FrequencyGroups;
  /** Candidate bit widths, K entries. */
  readonly bits: Uint8Array;
  readonly tau: number;
  /** Regulariser weight; mutable so that a budget controller may steer it between batches. */
  lambda: number;
  /** Raw steps, index = bit width (length 9). */
  readonly alpha: Float32Array;
  readonly beta: Float32Array;
  /** Logits, G x K row-major. */
  readonly gamma: Float32Array;
  /** Current probabilities softmax(gamma / tau), G x K. */
  readonly p: Float64Array;
  private readonly consts: MixtureConsts;
  private readonly adam: DenseAdam;
  private readonly trainRows: BatchRows;
  private readonly evalRows: BatchRows;
  private gradW: Float32Array;
  private readonly gradP: Float64Array;
  private readonly gradStep: Float64Array;
  private readonly gradBeta64: Float64Array;
  private readonly gAlpha: Float32Array;
  private readonly gBeta: Float32Array;
  private readonly gGamma: Float32Array;
  private lastReg = 0;

  /**
   * @param counts training counts per feature id (id = frequency rank, id 0 most frequent)
   * @param maxBatchIds the largest rows * fields of a training batch (buffers grow if exceeded)
   * @param table fp32 table options (init std 0.003, seed, lr) for the trainer's SparseAdamTable
   */
  constructor(counts: ArrayLike<number>, d: number, maxBatchIds: number, options: Readonly<MpeOptions>, table: SparseAdamOptions = {}) {
    this.groups = buildFrequencyGroups(counts, options.groups);
    this.featureCount = counts.length;
    this.d = d;
    this.table = new SparseAdamTable(this.featureCount, d, { lr: options.lr, ...table });
    this.initialWeights = this.table.readWeights();
    this.bits = Uint8Array.from(options.bits);
    this.tau = options.tau;
    this.lambda = options.lambda;
    const K = this.bits.length;
    const G = this.groups.groups;
    const lsq = createLsqParams(d);
    this.alpha = lsq.alpha;
    this.beta = lsq.beta;
    let maxBits = 0;
    for (const b of this.bits) maxBits = Math.max(maxBits, b);
    if (maxBits === 0) throw new MpeError('MPE_ERR_MPE_CONFIG', 'at least one candidate bit width must be > 0');
    initLsqAlpha(this.initialWeights, maxBits, this.alpha);
    this.gamma = new Float32Array(G * K);
    this.p = new Float64Array(G * K);
    softmaxTemperature(this.gamma, G, K, this.tau, this.p);
    this.consts = createMixtureConsts(this.bits, this.featureCount * d);
    refreshSteps(this.consts, this.alpha);
    this.adam = new DenseAdam([this.alpha, this.beta, this.gamma], { lr: options.lr, weightDecay: 0 });
    this.trainRows = new BatchRows(this.featureCount, d, maxBatchIds);
    this.evalRows = new BatchRows(this.featureCount, d, maxBatchIds);
    this.gradW = new Float32Array(maxBatchIds * d);
    this.gradP = new Float64Array(G * K);
    this.gradStep = new Float64Array(K);
    this.gradBeta64 = new Float64Array(d);
    this.gAlpha = new Float32Array(LSQ_MAX_BITS + 1);
    this.gBeta = new Float32Array(d);
    this.gGamma = new Float32Array(G * K);
  }

  forward(ids: Int32Array, rows: number, fields: number, out: Float32Array, training: boolean): void {
    const br = training ? this.trainRows : this.evalRows;
    br.load(ids, rows * fields, this.table, this.groups.groupOf);
    mixtureForward(br.weights, br.count, this.d, br.group, this.p, this.consts, this.beta, br.rowOut);
    br.scatter(out);
    if (training) this.lastReg = bitsRegularizer(this.p, this.groups.groups, this.bits, this.groups.weight, this.lambda, null);
  }

  backwardAndStep(_ids: Int32Array, rows: number, fields: number, gradOut: Float32Array): void {
    const br = this.trainRows;
    if (br.n !== rows * fields) throw new MpeError('MPE_ERR_TRAIN_CONFIG', 'backwardAndStep needs the batch of the last training forward');
    const { d, bits, gradP, gradStep, gradBeta64, gAlpha, gBeta, gGamma, alpha } = this;
    const U = br.count;
    if (this.gradW.length < U * d) this.gradW = new Float32Array(br.weights.length);
    const G = br.mergeGradients(gradOut);
    gradP.fill(0);
    gradStep.fill(0);
    gradBeta64.fill(0);
    mixtureBackward(br.weights, U, d, br.group, this.p, this.consts, this.beta, G, this.gradW, gradP, gradStep, gradBeta64);
    this.table.applyRowGradients(br.uniqueIds, U, this.gradW);
    // Regulariser: dR/dp added to the mixture's dL/dp, then both go through the softmax.
    bitsRegularizer(this.p, this.groups.groups, bits, this.groups.weight, this.lambda, gradP);
    gGamma.fill(0);
    softmaxBackward(this.p, gradP, this.groups.groups, bits.length, this.tau, gGamma);
    gAlpha.fill(0);
    for (let k = 0; k < bits.length; k++) {
      const b = bits[k]!;
      if (b > 0) gAlpha[b] = alpha[b]! < 0 ? -gradStep[k]! : gradStep[k]!; // d|alpha|/dalpha
    }
    for (let j = 0; j < d; j++) gBeta[j] = gradBeta64[j]!;
    this.adam.stepWith([gAlpha, gBeta, gGamma]);
    refreshSteps(this.consts, alpha);
    softmaxTemperature(this.gamma, this.groups.groups, bits.length, this.tau, this.p);
  }

  regularizerLoss(): number {
    return this.lastReg;
  }

  /** bits_g by the selection rule of docs/mpe.md "Selection", from the current probabilities. */
  select(): Uint8Array {
    const out = new Uint8Array(this.groups.groups);
    selectBits(this.p, this.groups.groups, this.bits, out);
    return out;
  }

  /** Expected bits per feature under the current probabilities. */
  expectedBits(): number {
    return expectedBitsPerFeature(this.p, this.bits, this.featureCount, this.groups.groupSize, this.groups.groups, this.groups.groupPad);
  }

  /** Average bits per feature of the current selection. */
  selectedBits(): number {
    return averageBitsPerFeature(this.select(), this.featureCount, this.groups.groupSize, this.groups.groupPad);
  }

  snapshot(): unknown {
    const s: SearchSnapshot = { weights: this.table.readWeights(), alpha: this.alpha.slice(), beta: this.beta.slice(), gamma: this.gamma.slice() };
    return s;
  }

  restore(snapshot: unknown): void {
    const s = snapshot as SearchSnapshot;
    this.table.writeWeights(s.weights);
    this.alpha.set(s.alpha);
    this.beta.set(s.beta);
    this.gamma.set(s.gamma);
    refreshSteps(this.consts, this.alpha);
    softmaxTemperature(this.gamma, this.groups.groups, this.bits.length, this.tau, this.p);
  }

  /** The current selection over the current (search) weights; the product is the retraining stage's export. */
  exportTable(): { spec: GroupedTableSpec; weights: Float32Array } {
    return { spec: groupedSpec(this.d, this.featureCount, this.groups.groupSize, this.select(), this.alpha, this.beta, this.groups.groupPad), weights: this.table.readWeights() };
  }
}
