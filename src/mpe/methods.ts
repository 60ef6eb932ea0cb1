/**
 * The `mpe` and `uniform` training methods, registered with the trainer's method registry
 * (`train/methods.ts`); both run through the trainer's loop (`ctx.fit`), dense net and evaluation.
 *
 * mpe (docs/mpe.md "Search", "Selection", "Retraining"):
 *  1. search: MpeSearchStage trained jointly with the dense net (validation-AUC checkpoint,
 *     early stopping); the loop restores the best checkpoint (table, alpha, beta, logits, net);
 *  2. selection: bits_g = largest b with p_{g,b} >= 1/(2K) at that checkpoint;
 *  3. retraining: FrozenLsqStage from the REWOUND table (start-of-search values) with the
 *     checkpoint's alpha and beta and the checkpoint's dense net, fresh Adam state for
 *     everything, plain BCE, early stopping; its table is what the bundle stores.
 * Budget mode (`targetBits` or `targetRatio`): before the search, bisection on log(lambda) over
 * short searches (`probeEpochs` epochs each, default 1) that start from the same dense net and
 * table; the smallest probed lambda whose selection meets the budget is used for the full search.
 *
 * uniform: one FrozenLsqStage phase with every group at `bits` (LSQ+ QAT, docs/mpe.md "Beyond the paper").
 *
 * Method options come through `ctx.options.extra` (the CLI's flags): groups, bits (list or
 * "0,1,2"), tau, lambda, targetBits, targetRatio, probeEpochs, searchEpochs, budgetProbes.
 */
import { MpeError } from '../errors.js';
import { SparseAdamTable } from '../train/embedding-table.js';
import { exportGroupSize } from '../train/fp32-stage.js';
import { fp32Method, type MethodContext, type MethodsMap, maxBatchIds, type TrainingMethod } from '../train/methods.js';
import { FrozenLsqStage } from './frozen-stage.js';
import { initLsqAlpha, LSQ_MAX_BITS } from './lsq.js';
import { type MpeOptions, parseBitsList, resolveMpeOptions } from './options.js';
import { MpeSearchStage } from './search-stage.js';
import { averageBitsPerFeature } from './selection.js';

/** One short search of the budget bisection. */
export interface BudgetProbe {
  readonly lambda: number;
  /** Average bits per feature of the probe's selection. */
  readonly bits: number;
  readonly validAuc: number;
}

function num(extra: Readonly<Record<string, unknown>>, key: string): number | undefined {
  const v = extra[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new MpeError('MPE_ERR_MPE_CONFIG', `${key} must be a number, got ${String(v)}`);
  return n;
}

/** MPE options from the method's `extra` bag (CLI flags), defaults as in docs/mpe.md "Defaults". */
export function mpeOptionsFrom(extra: Readonly<Record<string, unknown>>, lr: number): Readonly<MpeOptions> {
  const o: { -readonly [K in keyof MpeOptions]?: MpeOptions[K] } = { lr };
  const groups = num(extra, 'groups');
  if (groups !== undefined) o.groups = groups;
  const tau = num(extra, 'tau');
  if (tau !== undefined) o.tau = tau;
  const lambda = num(extra, 'lambda');
  if (lambda !== undefined) o.lambda = lambda;
  const bits = extra.bits;
  if (typeof bits === 'string') o.bits = parseBitsList(bits);
  else if (Array.isArray(bits)) o.bits = bits.map(Number);
  return resolveMpeOptions(o);
}

/** The bit budget (average bits per feature) from targetBits or targetRatio (= 32 / bits), or undefined. */
export function bitBudget(extra: Readonly<Record<string, unknown>>): number | undefined {
  const tb = num(extra, 'targetBits');
  const tr = num(extra, 'targetRatio');
  if (tb !== undefined && tr !== undefined) throw new MpeError('MPE_ERR_MPE_CONFIG', 'give --target-bits or --target-ratio, not both');
  if (tb !== undefined) {
    if (!(tb > 0)) throw new MpeError('MPE_ERR_MPE_CONFIG', `--target-bits must be > 0, got ${tb}`);
    return tb;
  }
  if (tr !== undefined) {
    if (!(tr >= 1)) throw new MpeError('MPE_ERR_MPE_CONFIG', `--target-ratio must be >= 1, got ${tr}`);
    return 32 / tr;
  }
  return undefined;
}

/**
 * What a pruned feature is (`--pruned`): 'oov' (default) resolves it to its field's OOV row in
 * retraining, as serving does once its key has left the vocabulary; 'zero' is the paper's zero
 * vector (its key then stays in the vocabulary, so serving agrees too).
 */
export function prunedMode(extra: Readonly<Record<string, unknown>>): 'oov' | 'zero' {
  const v = extra.pruned ?? 'oov';
  if (v !== 'oov' && v !== 'zero') throw new MpeError('MPE_ERR_MPE_CONFIG', `--pruned must be "oov" or "zero", got ${String(v)}`);
  return v;
}

/** Bisection range of log10(lambda) for the budget mode. */
const LOG_LAMBDA_LO = -8;
const LOG_LAMBDA_HI = 0;

function newSearch(ctx: MethodContext, mo: Readonly<MpeOptions>): MpeSearchStage {
  const o = ctx.options;
  return new MpeSearchStage(ctx.dataset.rankCounts ?? ctx.dataset.trainCounts, o.d, maxBatchIds(ctx), mo, { lr: o.lr, initStd: o.initStd, seed: o.seed });
}

/**
 * Budget mode: bisection on log10(lambda) in [1e-8, 1] over short searches, each from the same
 * starting dense net (restored between probes) and the same initial table. Returns the smallest
 * probed lambda whose selection has at most `target` bits per feature, and every probe.
 */
export async function findLambda(ctx: MethodContext, mo: Readonly<MpeOptions>, target: number): Promise<{ lambda: number; probes: BudgetProbe[] }> {
  const extra = ctx.options.extra;
  const probeEpochs = num(extra, 'probeEpochs') ?? 1;
  const steps = num(extra, 'budgetProbes') ?? 7;
  const start = ctx.net.snapshot();
  const probes: BudgetProbe[] = [];
  const probe = async (logLambda: number): Promise<BudgetProbe> => {
    ctx.net.restore(start);
    const lambda = 10 ** logLambda;
    const s = newSearch(ctx, { ...mo, lambda });
    const r = await ctx.fit(s, { name: `budget-probe-${probes.length + 1}`, epochs: probeEpochs, patience: probeEpochs });
    const p: BudgetProbe = { lambda, bits: s.selectedBits(), validAuc: r.bestValid.auc };
    probes.push(p);
    ctx.emit({ type: 'log', message: `budget: lambda ${lambda.toExponential(3)} -> ${p.bits.toFixed(4)} bits/feature (target ${target.toFixed(4)})` });
    return p;
  };
  let lo = LOG_LAMBDA_LO;
  let hi = LOG_LAMBDA_HI;
  let best: BudgetProbe | null = null;
  const top = await probe(hi);
  if (top.bits <= target) best = top;
  else {
    ctx.net.restore(start);
    throw new MpeError('MPE_ERR_MPE_BUDGET', `lambda ${top.lambda} still selects ${top.bits.toFixed(4)} bits/feature > ${target}`);
  }
  for (let i = 1; i < steps; i++) {
    const mid = (lo + hi) / 2;
    const p = await probe(mid);
    if (p.bits <= target) {
      hi = mid;
      if (p.lambda < best.lambda) best = p;
    } else lo = mid;
  }
  ctx.net.restore(start);
  return { lambda: best.lambda, probes };
}

/** MPE: search, select, rewind and retrain (see the file comment). */
export const mpeMethod: TrainingMethod = {
  name: 'mpe',
  async run(ctx) {
    const o = ctx.options;
    let mo = mpeOptionsFrom(o.extra, o.lr);
    const target = bitBudget(o.extra);
    let probes: BudgetProbe[] = [];
    if (target !== undefined) {
      const found = await findLambda(ctx, mo, target);
      mo = resolveMpeOptions({ ...mo, lambda: found.lambda });
      probes = found.probes;
    }
    const search = newSearch(ctx, mo);
    const searchEpochs = num(o.extra, 'searchEpochs');
    const sr = await ctx.fit(search, {
      name: 'search',
      ...(searchEpochs !== undefined ? { epochs: searchEpochs } : {}),
      afterEpoch: (epoch, valid) => {
        const sel = search.select();
        ctx.emit({
          type: 'search-epoch',
          epoch,
          validAuc: valid.auc,
          selectedBits: averageBitsPerFeature(sel, search.featureCount, search.groups.groupSize, search.groups.groupPad),
          expectedBits: search.expectedBits(),
          bitsPerGroup: Array.from(sel),
          logits: search.gamma.slice(),
          probabilities: search.p.slice(),
        });
      },
    });
    const bits = search.select();
    const { groupSize, groupPad } = search.groups;
    const averageBits = averageBitsPerFeature(bits, search.featureCount, groupSize, groupPad);
    ctx.emit({ type: 'log', message: `search: best epoch ${sr.bestEpoch}, selection ${averageBits.toFixed(4)} bits/feature (${(32 / averageBits).toFixed(1)}x weights-only)` });
    const prunedTo = prunedMode(o.extra);
    const retrain = new FrozenLsqStage({
      weights: search.initialWeights,
      d: o.d,
      groupSize,
      groupPad,
      bitsPerGroup: bits,
      alpha: search.alpha,
      beta: search.beta,
      maxBatchIds: maxBatchIds(ctx),
      table: { lr: o.lr, initStd: o.initStd, seed: o.seed },
      ...(prunedTo === 'oov' ? { prunedToOov: Int32Array.from(ctx.dataset.fields, (f) => f.oovId) } : {}),
    });
    ctx.net.optimizer.reset(); // fresh optimiser state for the dense net too (docs/mpe.md "Retraining")
    await ctx.fit(retrain, { name: 'retrain' });
    return {
      stage: retrain,
      info: {
        mpe: {
          groups: search.groups.groups,
          groupSize,
          groupPad,
          groupWeights: Array.from(search.groups.weight, (w) => Math.round(w * 1e4) / 1e4),
          candidateBits: [...mo.bits],
          tau: mo.tau,
          lambda: mo.lambda,
          lambdaFromBudget: target !== undefined,
          targetBits: target ?? null,
          budgetProbes: probes,
          bitsPerGroup: [...bits],
          prunedTo,
          averageBits,
          expectedBitsAtBest: search.expectedBits(),
          searchBestEpoch: sr.bestEpoch,
          // group probabilities at the selected checkpoint, G x K, rounded for the manifest
          probabilities: Array.from(search.p, (v) => Math.round(v * 1e6) / 1e6),
        },
      },
    };
  },
};

/** Uniform LSQ+ at one bit width for every feature (the paper's 6-bit LSQ+ baseline at b = 6). */
export const uniformMethod: TrainingMethod = {
  name: 'uniform',
  async run(ctx) {
    const o = ctx.options;
    const b = num(o.extra, 'bits');
    if (b === undefined || !Number.isInteger(b) || b < 1 || b > LSQ_MAX_BITS) {
      throw new MpeError('MPE_ERR_MPE_CONFIG', `--method uniform needs --bits b with b in 1..${LSQ_MAX_BITS}, got ${String(o.extra.bits)}`);
    }
    const n = ctx.dataset.featureCount;
    const init = new SparseAdamTable(n, o.d, { initStd: o.initStd, seed: o.seed }).readWeights();
    const alpha = new Float32Array(LSQ_MAX_BITS + 1);
    initLsqAlpha(init, b, alpha);
    const groupSize = exportGroupSize(n);
    const stage = new FrozenLsqStage({
      weights: init,
      d: o.d,
      groupSize,
      bitsPerGroup: new Uint8Array(Math.ceil(n / groupSize)).fill(b),
      alpha,
      beta: new Float32Array(o.d),
      maxBatchIds: maxBatchIds(ctx),
      table: { lr: o.lr },
    });
    await ctx.fit(stage, { name: 'train' });
    return { stage, info: { uniform: { bits: b, averageBits: b } } };
  },
};

/** Every training method, by `--method` name: pass as `methods` to trainModel. */
export const TRAINING_METHODS: MethodsMap = Object.freeze({ fp32: fp32Method, mpe: mpeMethod, uniform: uniformMethod });
