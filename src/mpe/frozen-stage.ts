/**
 * Fixed-precision LSQ+ embedding stage: every group has one bit width, e(x) = Q_{bits_g}(w_x)
 * (0 bits: the zero vector), trained with plain BCE and the straight-through gradients of
 * docs/mpe.md "Quantizer" (weights, alpha_b, beta; LSQ+ scale g_b with numel(W) = featureCount * d).
 *
 * Two uses:
 *  - MPE retraining (docs/mpe.md "Retraining"): weights rewound to the start of the search, alpha and beta
 *    from the best search checkpoint, bits from the selection, fresh Adam state;
 *  - the uniform baseline (`--method uniform --bits b`): every group at b, alpha initialised from
 *    the initial table (docs/mpe.md "Quantizer"), beta = 0.
 * Pruned features: with `prunedToOov` (the default of `mpe train`), a feature whose group has
 * 0 bits is looked up as its field's OOV feature, exactly as serving resolves it (a pruned
 * feature is not in the bundle's vocabulary, so its raw value is an unseen value there). The OOV
 * row then has the bits of ITS OWN group: if that group is pruned too, the OOV row and so the
 * pruned feature are the zero vector; otherwise the OOV row is trained (it also receives the
 * pruned features' gradients). Without it (the paper's semantics, kept for comparison), a pruned
 * feature is the zero vector and its key stays in the vocabulary. Pruned rows receive no gradient
 * and are not stepped either way.
 */
import { type GroupedTableSpec, groupCount, groupOfId } from '../codec/layout.js';
import { MpeError } from '../errors.js';
import { DenseAdam } from '../train/dense-adam.js';
import type { EmbeddingStage } from '../train/embedding-stage.js';
import { type SparseAdamOptions, SparseAdamTable } from '../train/embedding-table.js';
import { BatchRows } from './batch-rows.js';
import { LSQ_MAX_BITS, lsqBackwardRow, lsqGradScale, lsqQuantizeRow, lsqStep } from './lsq.js';
import { groupedSpec } from './spec.js';
import { averageBitsPerFeature } from './selection.js';

export interface FrozenStageInit {
  /** Initial fp32 table (featureCount * d), copied. */
  readonly weights: Float32Array;
  readonly d: number;
  readonly groupSize: number;
  /** Ids missing from the first group (codec/layout.ts; MPE's grouping); default 0. */
  readonly groupPad?: number;
  /** Bit width per group (0..8). */
  readonly bitsPerGroup: Uint8Array;
  /** Raw steps (index = bit width, length 9), copied. */
  readonly alpha: Float32Array;
  /** Offset vector (length d), copied. */
  readonly beta: Float32Array;
  readonly maxBatchIds: number;
  /** Adam options of the table (lr); alpha/beta use the same lr. */
  readonly table?: SparseAdamOptions;
  /**
   * OOV feature id of each field (in the batch's field order): pruned features resolve to their
   * field's OOV row, as serving does. Absent: pruned features are the zero vector.
   */
  readonly prunedToOov?: Int32Array;
}

interface FrozenSnapshot {
  readonly weights: Float32Array;
  readonly alpha: Float32Array;
  readonly beta: Float32Array;
}

export class FrozenLsqStage implements EmbeddingStage {
  readonly d: number;
  readonly featureCount: number;
  readonly groupSize: number;
  readonly groupPad: number;
  readonly bitsPerGroup: Uint8Array;
  readonly table: SparseAdamTable;
  readonly alpha: Float32Array;
  readonly beta: Float32Array;
  /** Per id, the bit width of its group, resolved once (BatchRows gathers it as the row's "group"). */
  private readonly bitsAsGroup: Int32Array;
  private readonly step: Float64Array;
  private readonly gScale: Float64Array;
  private readonly adam: DenseAdam;
  private readonly trainRows: BatchRows;
  private readonly evalRows: BatchRows;
  private gradW: Float32Array;
  private readonly alphaSum: Float64Array;
  private readonly gradBeta64: Float64Array;
  private readonly gAlpha: Float32Array;
  private readonly gBeta: Float32Array;
  /** Distinct non-pruned rows of the last training batch (ids and their slots). */
  private liveIds: Int32Array;
  /** OOV id per field when pruned features resolve to OOV, else null. */
  readonly prunedToOov: Int32Array | null;
  /** The batch's ids after pruned -> OOV (reused). */
  private mapped: Int32Array;

  constructor(init: FrozenStageInit) {
    const { d, groupSize, bitsPerGroup } = init;
    const featureCount = init.weights.length / d;
    if (!Number.isInteger(featureCount) || featureCount < 1) throw new MpeError('MPE_ERR_MPE_CONFIG', `weights length ${init.weights.length} is not a multiple of d = ${d}`);
    const groupPad = init.groupPad ?? 0;
    if (!Number.isInteger(groupPad) || groupPad < 0 || groupPad >= groupSize) throw new MpeError('MPE_ERR_MPE_CONFIG', `groupPad ${groupPad} must be in [0, groupSize ${groupSize})`);
    const G = groupCount(featureCount, groupSize, groupPad);
    if (bitsPerGroup.length !== G) throw new MpeError('MPE_ERR_MPE_CONFIG', `bitsPerGroup has ${bitsPerGroup.length} groups, expected ${G}`);
    for (const b of bitsPerGroup) if (b > LSQ_MAX_BITS) throw new MpeError('MPE_ERR_MPE_CONFIG', `bit width ${b} (use 0..${LSQ_MAX_BITS})`);
    this.d = d;
    this.featureCount = featureCount;
    this.groupSize = groupSize;
    this.groupPad = groupPad;
    this.bitsPerGroup = bitsPerGroup.slice();
    this.table = new SparseAdamTable(featureCount, d, init.table ?? {});
    this.table.writeWeights(init.weights);
    this.alpha = init.alpha.slice();
    this.beta = init.beta.slice();
    this.bitsAsGroup = new Int32Array(featureCount);
    for (let i = 0; i < featureCount; i++) {
      const b = bitsPerGroup[groupOfId(i, groupSize, groupPad)]!;
      this.bitsAsGroup[i] = b;
    }
    this.step = new Float64Array(LSQ_MAX_BITS + 1);
    this.gScale = new Float64Array(LSQ_MAX_BITS + 1);
    for (let b = 1; b <= LSQ_MAX_BITS; b++) this.gScale[b] = lsqGradScale(b, featureCount * d);
    this.refresh();
    this.adam = new DenseAdam([this.alpha, this.beta], { lr: init.table?.lr ?? 1e-3, weightDecay: 0 });
    this.trainRows = new BatchRows(featureCount, d, init.maxBatchIds);
    this.evalRows = new BatchRows(featureCount, d, init.maxBatchIds);
    this.gradW = new Float32Array(init.maxBatchIds * d);
    this.liveIds = new Int32Array(init.maxBatchIds);
    this.alphaSum = new Float64Array(LSQ_MAX_BITS + 1);
    this.gradBeta64 = new Float64Array(d);
    this.gAlpha = new Float32Array(LSQ_MAX_BITS + 1);
    this.gBeta = new Float32Array(d);
    this.prunedToOov = init.prunedToOov ? init.prunedToOov.slice() : null;
    if (this.prunedToOov) for (const id of this.prunedToOov) if (!(id >= 0 && id < featureCount)) throw new MpeError('MPE_ERR_MPE_CONFIG', `OOV id ${id} outside 0..${featureCount - 1}`);
    this.mapped = new Int32Array(this.prunedToOov ? init.maxBatchIds : 0);
  }

  /** `ids` with every pruned feature replaced by its field's OOV id (position k is field k % fields). */
  private resolvePruned(ids: Int32Array, n: number, fields: number): Int32Array {
    const oov = this.prunedToOov;
    if (!oov) return ids;
    if (oov.length !== fields) throw new MpeError('MPE_ERR_MPE_CONFIG', `${oov.length} OOV ids for ${fields} fields`);
    if (this.mapped.length < n) this.mapped = new Int32Array(n);
    const out = this.mapped;
    const bits = this.bitsAsGroup;
    for (let k = 0, f = 0; k < n; k++) {
      const id = ids[k]!;
      out[k] = bits[id] === 0 ? oov[f]! : id;
      if (++f === fields) f = 0;
    }
    return out;
  }

  private refresh(): void {
    for (let b = 1; b <= LSQ_MAX_BITS; b++) this.step[b] = lsqStep(this.alpha[b]!);
  }

  forward(ids: Int32Array, rows: number, fields: number, out: Float32Array, training: boolean): void {
    const br = training ? this.trainRows : this.evalRows;
    br.load(this.resolvePruned(ids, rows * fields, fields), rows * fields, this.table, this.bitsAsGroup);
    const { d, step, beta } = this;
    const bitsOf = br.group;
    const w = br.weights;
    const o = br.rowOut;
    for (let u = 0; u < br.count; u++) {
      const b = bitsOf[u]!;
      if (b === 0) o.fill(0, u * d, u * d + d);
      else lsqQuantizeRow(w, u * d, d, b, step[b]!, beta, o, u * d);
    }
    br.scatter(out);
  }

  backwardAndStep(_ids: Int32Array, rows: number, fields: number, gradOut: Float32Array): void {
    const br = this.trainRows;
    if (br.n !== rows * fields) throw new MpeError('MPE_ERR_TRAIN_CONFIG', 'backwardAndStep needs the batch of the last training forward');
    const { d, step, beta, gScale, alphaSum, gradBeta64, alpha, gAlpha, gBeta } = this;
    if (this.gradW.length < br.count * d) {
      this.gradW = new Float32Array(br.weights.length);
      this.liveIds = new Int32Array(br.uniqueIds.length);
    }
    const gradW = this.gradW;
    const live = this.liveIds;
    const G = br.mergeGradients(gradOut);
    alphaSum.fill(0);
    gradBeta64.fill(0);
    let n = 0;
    for (let u = 0; u < br.count; u++) {
      const b = br.group[u]!;
      if (b === 0) continue;
      const o = n * d;
      gradW.fill(0, o, o + d);
      alphaSum[b] = alphaSum[b]! + lsqBackwardRow(br.weights, u * d, d, b, step[b]!, beta, G, u * d, gScale[b]!, gradW, o, gradBeta64);
      live[n++] = br.uniqueIds[u]!;
    }
    this.table.applyRowGradients(live, n, gradW);
    for (let b = 1; b <= LSQ_MAX_BITS; b++) {
      const g = gScale[b]! * alphaSum[b]!;
      gAlpha[b] = alpha[b]! < 0 ? -g : g;
    }
    for (let j = 0; j < d; j++) gBeta[j] = gradBeta64[j]!;
    this.adam.stepWith([gAlpha, gBeta]);
    this.refresh();
  }

  regularizerLoss(): number {
    return 0;
  }

  /** Average stored bits per feature (weights only). */
  averageBits(): number {
    return averageBitsPerFeature(this.bitsPerGroup, this.featureCount, this.groupSize, this.groupPad);
  }

  snapshot(): unknown {
    const s: FrozenSnapshot = { weights: this.table.readWeights(), alpha: this.alpha.slice(), beta: this.beta.slice() };
    return s;
  }

  restore(snapshot: unknown): void {
    const s = snapshot as FrozenSnapshot;
    this.table.writeWeights(s.weights);
    this.alpha.set(s.alpha);
    this.beta.set(s.beta);
    this.refresh();
  }

  /** Grouped spec (bitsPerGroup, effective alpha, beta) and the fp32 weights to pack with it. */
  exportTable(): { spec: GroupedTableSpec; weights: Float32Array; prunedToOov: boolean } {
    return { spec: groupedSpec(this.d, this.featureCount, this.groupSize, this.bitsPerGroup, this.alpha, this.beta, this.groupPad), weights: this.table.readWeights(), prunedToOov: this.prunedToOov !== null };
  }
}
