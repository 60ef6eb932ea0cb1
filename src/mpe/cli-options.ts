/**
 * The MPE flags of `mpe train` and how they become the method's options (`TrainOptions.methodOptions`).
 * Values stay strings here; `mpe/methods.ts` validates them once (MPE_ERR_MPE_CONFIG).
 */

/** [commander flag, description] pairs for `mpe train`. */
export const MPE_TRAIN_FLAGS: readonly (readonly [string, string])[] = Object.freeze([
  ['--groups <n>', 'mpe: frequency groups (default 128)'],
  ['--bits <list>', 'mpe: candidate bit widths (default 0,1,2,3,4,5,6); uniform: the one bit width'],
  ['--tau <t>', 'mpe: softmax temperature (default 3e-3)'],
  ['--lambda <l>', 'mpe: weight of the expected-bits regulariser (default 3e-4)'],
  ['--target-bits <b>', 'mpe budget mode: find lambda for at most b bits per weight'],
  ['--target-ratio <r>', 'mpe budget mode: find lambda for at least r x weights-only compression'],
  ['--search-epochs <n>', 'mpe: max epochs of the search phase (default: --epochs)'],
  ['--probe-epochs <n>', 'mpe budget mode: epochs of each lambda probe (default 1)'],
  ['--budget-probes <n>', 'mpe budget mode: lambda probes of the bisection (default 7)'],
  ['--budget-cost <c>', 'mpe budget mode: how to rank the precision cuts that hold the budget: distortion (default) | probability'],
  ['--pruned <to>', 'mpe: a pruned feature is its field\'s OOV row, as served ("oov", default: its key leaves the vocabulary) or the zero vector ("zero": the paper)'],
]);

const KEYS = ['groups', 'bits', 'tau', 'lambda', 'targetBits', 'targetRatio', 'searchEpochs', 'probeEpochs', 'budgetProbes', 'budgetCost', 'pruned'] as const;

/** Picks the MPE flags commander parsed (camel-cased) into a method-options object. */
export function mpeMethodOptions(flags: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of KEYS) if (flags[k] !== undefined) out[k] = flags[k];
  return out;
}
