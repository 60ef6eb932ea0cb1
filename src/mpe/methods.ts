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
 * Budget mode (`targetBits`, `targetRatio` or `targetBytes`): before the search, bisection on
 * log(lambda) over short searches that start from the same dense net and table; the smallest
 * probed lambda whose selection meets the budget is used for the full search. The budget is a
 * hard limit: after the search's selection (step 2), a selection over the target is lowered where
 * it costs least (budget.ts) before step 3, and the report says by how much. A bytes budget
 * counts what the bundle will hold, table.bin + vocab.bin (train/bundle-size.ts), not bits only.
 *
 * uniform: one FrozenLsqStage phase with every group at `bits` (LSQ+ QAT, docs/mpe.md "Beyond the paper").
 *
 * Method options come through `ctx.options.extra` (the CLI's flags): groups, bits (list or
 * "0,1,2"), tau, lambda, targetBits, targetRatio, targetBytes, probeEpochs, searchEpochs,
 * budgetProbes, budgetCost, pruned; all checked by {@link validateMpeMethodOptions} before any training.
 */
import { MpeError } from '../errors.js';
import { SparseAdamTable } from '../train/embedding-table.js';
import { exportGroupSize } from '../train/fp32-stage.js';
import { type BundleBytes, bundleSizeOf, keysPerGroup } from '../train/bundle-size.js';
import { fp32Method, type MethodContext, type MethodsMap, maxBatchIds, type TrainingMethod } from '../train/methods.js';
import { parseByteSize } from '../util/byte-size.js';
import { FrozenLsqStage } from './frozen-stage.js';
import { type BudgetResult, bitsPerWeightSize, distortionCost, enforceBudget, groupSizes, type LoweringCost, probabilityCost, type SelectionSize } from './budget.js';
import { initLsqAlpha, LSQ_MAX_BITS, lsqStep } from './lsq.js';
import { buildFrequencyGroups } from './groups.js';
import { MPE_DEFAULTS, type MpeOptions, parseBitsList, resolveMpeOptions } from './options.js';
import { MpeSearchStage } from './search-stage.js';
import { averageBitsPerFeature } from './selection.js';

/** One short search of the budget bisection. */
export interface BudgetProbe {
  readonly lambda: number;
  /** Average bits per feature of the probe's selection (at its best epoch). */
  readonly bits: number;
  /** All-in bytes (table.bin + vocab.bin) the probe's selection would write. */
  readonly bytes: number;
  readonly validAuc: number;
  /** Epochs the probe ran, and its best (selected) epoch. */
  readonly epochs: number;
  readonly bestEpoch: number;
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

/** The largest target a weights-only budget may name (fp32). */
const MAX_TARGET_BITS = 32;

/** How budget mode ranks the steps it takes to hold its budget (docs/mpe.md, "Budget mode"). */
export type BudgetCostKind = 'distortion' | 'probability';

/** Budget mode's options, validated: the target (bits per weight or all-in bytes) and how to reach it. */
export interface BudgetSettings {
  /** Average bits per weight the written table must not exceed (--target-bits, --target-ratio), or null. */
  readonly targetBits: number | null;
  /** Bytes table.bin + vocab.bin together must not exceed (--target-bytes), or null. */
  readonly targetBytes: number | null;
  /** The flag the target came from (for messages and the report). */
  readonly from: '--target-bits' | '--target-ratio' | '--target-bytes';
  /** Epochs of each probe; undefined = calibrated (the first probe is a full search, the others as long as its best epoch). */
  readonly probeEpochs: number | undefined;
  readonly probes: number;
  readonly cost: BudgetCostKind;
}

function positiveInt(extra: Readonly<Record<string, unknown>>, key: string, flag: string, dflt: number): number {
  const v = num(extra, key);
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) throw new MpeError('MPE_ERR_MPE_CONFIG', `${flag} must be a positive integer, got ${v}`);
  return v;
}

/** targetBytes as bytes: a number, or a string such as "50MB" (util/byte-size.ts); MPE_ERR_MPE_CONFIG otherwise. */
function bytesOption(extra: Readonly<Record<string, unknown>>): number | undefined {
  const v = extra.targetBytes;
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? parseByteSize(v) : undefined;
  if (n === undefined || Number.isNaN(n)) throw new MpeError('MPE_ERR_MPE_CONFIG', `--target-bytes must be a size in bytes such as 50000000, 50MB, 50MiB or 1.5GB, got '${String(v)}'`);
  return n;
}

/**
 * Budget mode from targetBits, targetRatio (= 32 / bits) or targetBytes, validated, or undefined
 * without a target. Errors (before any training): two targets, or a target with lambda
 * (MPE_ERR_MPE_TARGET_CONFLICT, naming both flags); bits outside 0..32, a ratio below 1, a bits
 * target below the smallest candidate width, which no selection can reach, or bytes that are not
 * a whole number from 1 to 2^53 - 1 (MPE_ERR_MPE_TARGET_RANGE); a byte size that does not parse
 * (MPE_ERR_MPE_CONFIG). Whether a bytes target is reachable depends on the data:
 * {@link checkBytesReachable} checks it after ingestion, before training.
 */
export function budgetSettings(extra: Readonly<Record<string, unknown>>, candidateBits: readonly number[] = MPE_DEFAULTS.bits): BudgetSettings | undefined {
  const tb = num(extra, 'targetBits');
  const tr = num(extra, 'targetRatio');
  const ty = bytesOption(extra);
  const given = [tb !== undefined ? '--target-bits' : null, tr !== undefined ? '--target-ratio' : null, ty !== undefined ? '--target-bytes' : null].filter((x) => x !== null);
  if (given.length > 1) throw new MpeError('MPE_ERR_MPE_TARGET_CONFLICT', `${given.join(' and ')}: give one of --target-bits, --target-ratio or --target-bytes`);
  if (given.length === 0) return undefined;
  const from = given[0] as BudgetSettings['from'];
  if (num(extra, 'lambda') !== undefined) throw new MpeError('MPE_ERR_MPE_TARGET_CONFLICT', `${from} and --lambda: budget mode chooses lambda itself, give one of them`);
  let targetBits: number | null = null;
  let targetBytes: number | null = null;
  if (ty !== undefined) {
    if (!(Number.isSafeInteger(ty) && ty >= 1)) throw new MpeError('MPE_ERR_MPE_TARGET_RANGE', `--target-bytes must be a whole number of bytes from 1 to 2^53 - 1, got ${ty}`);
    targetBytes = ty;
  } else if (tb !== undefined) {
    if (!(tb >= 0 && tb <= MAX_TARGET_BITS)) throw new MpeError('MPE_ERR_MPE_TARGET_RANGE', `--target-bits must be in 0..${MAX_TARGET_BITS}, got ${tb}`);
    targetBits = tb;
  } else {
    if (!(tr! >= 1)) throw new MpeError('MPE_ERR_MPE_TARGET_RANGE', `--target-ratio must be >= 1, got ${tr}`);
    targetBits = MAX_TARGET_BITS / tr!;
  }
  const minBits = Math.min(...candidateBits);
  if (targetBits !== null && targetBits < minBits) {
    throw new MpeError('MPE_ERR_MPE_TARGET_RANGE', `${from} asks for ${targetBits} bits per weight, below the smallest candidate width ${minBits} (--bits): add 0 to --bits to allow pruning`);
  }
  const cost = extra.budgetCost ?? 'distortion';
  if (cost !== 'distortion' && cost !== 'probability') throw new MpeError('MPE_ERR_MPE_CONFIG', `--budget-cost must be distortion or probability, got ${String(cost)}`);
  return {
    targetBits,
    targetBytes,
    from,
    probeEpochs: extra.probeEpochs === undefined ? undefined : positiveInt(extra, 'probeEpochs', '--probe-epochs', 1),
    probes: positiveInt(extra, 'budgetProbes', '--budget-probes', 7),
    cost,
  };
}

/**
 * Every MPE option of a run, checked before any data is read or any training starts (the
 * trainer calls it through {@link TrainingMethod.validate}; `mpe compare` before ingesting).
 */
export function validateMpeMethodOptions(extra: Readonly<Record<string, unknown>>): { options: Readonly<MpeOptions>; budget: BudgetSettings | undefined } {
  const options = mpeOptionsFrom(extra, MPE_DEFAULTS.lr);
  const budget = budgetSettings(extra, options.bits);
  positiveInt(extra, 'searchEpochs', '--search-epochs', 1);
  return { options, budget };
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
 * Shuffle seed of every search of an mpe run (probes and the full search): the seed the trainer
 * gives its first phase, so that a probe at lambda L is exactly the first epochs of the full
 * search at L, and budget mode's full search is the run `--lambda L` would do.
 */
function searchSeed(ctx: MethodContext): number {
  return ctx.options.seed + 1;
}

/** The target of a budget in words: "1.5000 bits/weight" or "5000000 bytes (table.bin + vocab.bin)". */
export function budgetTargetText(b: { readonly targetBits: number | null; readonly targetBytes: number | null }): string {
  return b.targetBytes !== null ? `${b.targetBytes} bytes (table.bin + vocab.bin)` : `${b.targetBits!.toFixed(4)} bits/weight`;
}

/** Bytes of the bundle this run writes (table.bin, vocab.bin), from the bits of each group: the search's grouping, the run's d, vocabulary and --pruned. */
export function runBundleSize(ctx: MethodContext, mo: Readonly<MpeOptions>, prunedTo: 'oov' | 'zero'): { sizeOf: (bitsPerGroup: ArrayLike<number>) => BundleBytes; groups: number } {
  const g = buildFrequencyGroups(ctx.dataset.rankCounts ?? ctx.dataset.trainCounts, mo.groups); // what newSearch's stage builds
  const sizeOf = bundleSizeOf({
    featureCount: g.featureCount,
    d: ctx.options.d,
    groupSize: g.groupSize,
    groupPad: g.groupPad,
    keysPerGroup: keysPerGroup(ctx.dataset.vocab, g.groupOf, g.groups),
    dropPruned: prunedTo === 'oov',
  });
  return { sizeOf, groups: g.groups };
}

/**
 * The smallest bundle a selection can write: every group at the smallest candidate width (every
 * size term is smallest there: rows, kept keys, one index run). A bytes target below it is
 * refused (MPE_ERR_MPE_TARGET_RANGE) after ingestion, before any training.
 */
export function checkBytesReachable(targetBytes: number, sizeOf: (bitsPerGroup: ArrayLike<number>) => BundleBytes, groups: number, candidates: readonly number[], prunedTo: 'oov' | 'zero'): void {
  const minBits = Math.min(...candidates);
  const floor = sizeOf(new Uint8Array(groups).fill(minBits));
  if (floor.total > targetBytes) {
    const why = minBits > 0 ? `every group at ${minBits} bits, the smallest of --bits: add 0 to --bits to allow pruning, or raise the target` : prunedTo === 'zero' ? 'every group pruned, keys kept by --pruned zero: use --pruned oov, or raise the target' : 'every group pruned: raise the target';
    throw new MpeError('MPE_ERR_MPE_TARGET_RANGE', `--target-bytes ${targetBytes} is below the smallest bundle this run can write, ${floor.total} bytes (table.bin ${floor.table} + vocab.bin ${floor.vocab}; ${why})`);
  }
}

/**
 * Budget mode's lambda: bisection on log10(lambda) in [1e-8, 1] over probes, each a search from
 * the same starting dense net (restored between probes), the same initial table and the same
 * shuffles as the full search. Calibrated length (default; docs/mpe.md "Probes that predict the
 * full search"): the first probe runs as the full search would (its epochs and early stopping),
 * and the others stop at its best epoch, where the full search's selection is taken; with
 * `--probe-epochs n` every probe runs n epochs. Returns the smallest probed lambda whose selection
 * meets the target, bits per weight or all-in bytes (`bytesOf` the selection), (none: the largest
 * probed lambda; the enforcement after the search then lowers the rest) and every probe.
 */
export async function findLambda(
  ctx: MethodContext,
  mo: Readonly<MpeOptions>,
  budget: BudgetSettings,
  searchEpochs: number,
  bytesOf: (bitsPerGroup: ArrayLike<number>) => number,
): Promise<{ lambda: number; probes: BudgetProbe[]; probeEpochs: number }> {
  const target = budgetTargetText(budget);
  const meets = (p: BudgetProbe): boolean => (budget.targetBytes !== null ? p.bytes <= budget.targetBytes : p.bits <= budget.targetBits!);
  const start = ctx.net.snapshot();
  const probes: BudgetProbe[] = [];
  let probeEpochs = budget.probeEpochs;
  const probe = async (logLambda: number): Promise<BudgetProbe> => {
    ctx.net.restore(start);
    const lambda = 10 ** logLambda;
    const s = newSearch(ctx, { ...mo, lambda });
    const name = `budget-probe-${probes.length + 1}`;
    const r =
      probeEpochs === undefined
        ? await ctx.fit(s, { name, epochs: searchEpochs, seed: searchSeed(ctx) }) // the calibration run: a full search
        : await ctx.fit(s, { name, epochs: probeEpochs, patience: probeEpochs, seed: searchSeed(ctx) });
    const p: BudgetProbe = { lambda, bits: s.selectedBits(), bytes: bytesOf(s.select()), validAuc: r.bestValid.auc, epochs: r.history.length, bestEpoch: r.bestEpoch };
    probes.push(p);
    ctx.emit({ type: 'log', message: `budget: lambda ${lambda.toExponential(3)} -> ${p.bits.toFixed(4)} bits/weight, ${p.bytes} bytes at epoch ${r.bestEpoch} (target ${target})` });
    if (probeEpochs === undefined) {
      probeEpochs = r.bestEpoch;
      ctx.emit({ type: 'log', message: `budget: the full search's selection is taken at its best epoch (${r.bestEpoch} here): the other probes run ${r.bestEpoch} epoch${r.bestEpoch === 1 ? '' : 's'}` });
    }
    return p;
  };
  let lo = LOG_LAMBDA_LO;
  let hi = LOG_LAMBDA_HI;
  let best: BudgetProbe | null = null;
  for (let i = 0; i < budget.probes; i++) {
    const mid = (lo + hi) / 2;
    const p = await probe(mid);
    if (meets(p)) {
      hi = mid;
      if (best === null || p.lambda < best.lambda) best = p;
    } else lo = mid;
  }
  ctx.net.restore(start);
  if (best === null) {
    best = probes[probes.length - 1]!;
    ctx.emit({ type: 'log', message: `budget: no probe met ${target} bits/weight; using the largest probed lambda ${best.lambda.toExponential(3)}, the enforcement after the search lowers the rest` });
  }
  return { lambda: best.lambda, probes, probeEpochs: probeEpochs ?? 0 };
}

/** What budget mode reports (manifest `training.mpe.budget`, `--json`, stderr). */
export interface BudgetReport {
  /** The target set: bits per weight (--target-bits, --target-ratio) or all-in bytes (--target-bytes); the other is null. */
  readonly targetBits: number | null;
  readonly targetBytes: number | null;
  readonly targetFrom: BudgetSettings['from'];
  /** Whether what is written is within the target (a bytes target no selection can reach stops the run before training instead). */
  readonly hit: boolean;
  readonly lambda: number;
  /** Bits per weight of the search's own selection, and of the selection written after enforcement. */
  readonly searchBits: number;
  readonly bits: number;
  /** Bytes of table.bin + vocab.bin for the search's selection, and as written (exactly the two files' sizes), with the split of the latter. */
  readonly searchBytes: number;
  readonly bytes: number;
  readonly tableBytes: number;
  readonly vocabBytes: number;
  readonly groupsLowered: number;
  readonly stepsLowered: number;
  readonly cost: BudgetCostKind;
  /** The steps taken: group, from and to bits. */
  readonly moves: readonly { group: number; from: number; to: number }[];
  /** Epochs of the probes after the first, and whether that length came from the first probe's best epoch. */
  readonly probeEpochs: number;
  readonly probeCalibrated: boolean;
  readonly probes: readonly BudgetProbe[];
}

/** The cost signal budget mode ranks its steps by, read from the search at its selected checkpoint (see budget.ts). */
export function searchLoweringCost(search: MpeSearchStage, counts: ArrayLike<number>, kind: BudgetCostKind): LoweringCost {
  const candidates = [...search.bits];
  if (kind === 'probability') return probabilityCost(search.p, candidates);
  const step = new Float64Array(LSQ_MAX_BITS + 1);
  for (let b = 1; b <= LSQ_MAX_BITS; b++) step[b] = lsqStep(search.alpha[b]!);
  const g = search.groups;
  return distortionCost({ weights: search.table.readWeights(), d: search.d, counts, groupOf: g.groupOf, groups: g.groups, step, beta: search.beta, candidates });
}

/**
 * Holds a budget on the search's selection: lowered where `cost` is least until `size` is at or
 * under `target` (bits per weight by default; a bytes budget passes its own size and target, and
 * two budgets hold together when enforced one after the other, since lowering shrinks both).
 */
export function enforceSearchBudget(
  search: MpeSearchStage,
  bits: Uint8Array,
  cost: LoweringCost,
  target: number,
  size: SelectionSize = bitsPerWeightSize(groupSizes(search.groups.groupOf, search.groups.groups)),
): BudgetResult {
  return enforceBudget({ bits, candidates: [...search.bits], target, size, cost });
}

/** MPE: search, select, hold the budget, rewind and retrain (see the file comment). */
export const mpeMethod: TrainingMethod = {
  name: 'mpe',
  validate(extra) {
    validateMpeMethodOptions(extra);
  },
  async run(ctx) {
    const o = ctx.options;
    const checked = validateMpeMethodOptions(o.extra);
    let mo = resolveMpeOptions({ ...checked.options, lr: o.lr });
    const budget = checked.budget;
    const prunedTo = prunedMode(o.extra);
    const searchEpochs = num(o.extra, 'searchEpochs') ?? o.epochs;
    let probes: BudgetProbe[] = [];
    let probeEpochs = 0;
    const size = budget !== undefined ? runBundleSize(ctx, mo, prunedTo) : null;
    const bytesOf = (b: ArrayLike<number>): number => size!.sizeOf(b).total;
    if (budget !== undefined) {
      if (budget.targetBytes !== null) checkBytesReachable(budget.targetBytes, size!.sizeOf, size!.groups, mo.bits, prunedTo);
      const found = await findLambda(ctx, mo, budget, searchEpochs, bytesOf);
      mo = resolveMpeOptions({ ...mo, lambda: found.lambda });
      probes = found.probes;
      probeEpochs = found.probeEpochs;
    }
    const search = newSearch(ctx, mo);
    const sr = await ctx.fit(search, {
      name: 'search',
      epochs: searchEpochs,
      seed: searchSeed(ctx),
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
    const { groupSize, groupPad } = search.groups;
    let bits = search.select();
    const searchBits = averageBitsPerFeature(bits, search.featureCount, groupSize, groupPad);
    ctx.emit({ type: 'log', message: `search: best epoch ${sr.bestEpoch}, selection ${searchBits.toFixed(4)} bits/feature (${(32 / searchBits).toFixed(1)}x weights-only)` });
    let report: BudgetReport | null = null;
    if (budget !== undefined) {
      const cost = searchLoweringCost(search, ctx.dataset.rankCounts ?? ctx.dataset.trainCounts, budget.cost);
      const e = budget.targetBytes !== null ? enforceSearchBudget(search, bits, cost, budget.targetBytes, bytesOf) : enforceSearchBudget(search, bits, cost, budget.targetBits!);
      const searchBytes = bytesOf(bits);
      bits = e.bits;
      const written = size!.sizeOf(bits);
      const writtenBits = averageBitsPerFeature(bits, search.featureCount, groupSize, groupPad);
      report = {
        targetBits: budget.targetBits,
        targetBytes: budget.targetBytes,
        targetFrom: budget.from,
        hit: budget.targetBytes !== null ? written.total <= budget.targetBytes : writtenBits <= budget.targetBits!,
        lambda: mo.lambda,
        searchBits,
        bits: writtenBits,
        searchBytes,
        bytes: written.total,
        tableBytes: written.table,
        vocabBytes: written.vocab,
        groupsLowered: e.groupsLowered,
        stepsLowered: e.stepsLowered,
        cost: budget.cost,
        moves: e.moves.map((m) => ({ group: m.group, from: m.from, to: m.to })),
        probeEpochs,
        probeCalibrated: budget.probeEpochs === undefined,
        probes,
      };
      ctx.emit({ type: 'log', message: budgetLine(report) });
    }
    const averageBits = averageBitsPerFeature(bits, search.featureCount, groupSize, groupPad);
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
    await ctx.fit(retrain, { name: 'retrain', seed: searchSeed(ctx) + 1 }); // as without probes: budget mode at lambda L retrains as --lambda L does
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
          lambdaFromBudget: budget !== undefined,
          targetBits: budget?.targetBits ?? null,
          targetBytes: budget?.targetBytes ?? null,
          budgetProbes: probes,
          budget: report,
          bitsPerGroup: [...bits],
          prunedTo,
          averageBits,
          searchAverageBits: searchBits,
          expectedBitsAtBest: search.expectedBits(),
          searchBestEpoch: sr.bestEpoch,
          // group probabilities at the selected checkpoint, G x K, rounded for the manifest
          probabilities: Array.from(search.p, (v) => Math.round(v * 1e6) / 1e6),
        },
      },
    };
  },
};

/** One line for stderr: which target, whether it was hit, what budget mode chose and how far it moved the search's selection. */
export function budgetLine(r: BudgetReport, testAuc?: number): string {
  return (
    `budget: target ${budgetTargetText(r)} (${r.targetFrom}) ${r.hit ? 'hit' : 'MISSED'}, lambda ${r.lambda.toExponential(3)}; ` +
    `search selected ${r.searchBits.toFixed(4)} bits/weight, ${r.searchBytes} bytes; written ${r.bits.toFixed(4)} bits/weight, ${r.bytes} bytes ` +
    `(table.bin ${r.tableBytes} + vocab.bin ${r.vocabBytes}; ${r.groupsLowered} group${r.groupsLowered === 1 ? '' : 's'} lowered by ${r.stepsLowered} step${r.stepsLowered === 1 ? '' : 's'}, cost ${r.cost})` +
    (testAuc !== undefined ? `; test AUC ${testAuc.toFixed(5)}` : '')
  );
}

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
