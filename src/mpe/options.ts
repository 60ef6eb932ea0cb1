/**
 * MPE options with the authors' defaults (docs/mpe.md "Search" and "Defaults"), validated once and frozen.
 */
import { MpeError } from '../errors.js';
import { LSQ_MAX_BITS } from './lsq.js';

export interface MpeOptions {
  /** Number of frequency groups G (the authors' default: 128). */
  readonly groups: number;
  /** Candidate bit widths (the authors' default: 0..6; 0 = pruned). Distinct integers in 0..8. */
  readonly bits: readonly number[];
  /** Softmax temperature tau (the authors' default: 3e-3). */
  readonly tau: number;
  /** Weight of the expected-bits regulariser (the authors' default: 3e-4 for Criteo). */
  readonly lambda: number;
  /** Adam learning rate of the logits, alpha and beta (the authors' default: 1e-3, as everything else). */
  readonly lr: number;
}

export const MPE_DEFAULTS: Readonly<MpeOptions> = Object.freeze({
  groups: 128,
  bits: Object.freeze([0, 1, 2, 3, 4, 5, 6]),
  tau: 3e-3,
  lambda: 3e-4,
  lr: 1e-3,
});

/** Parses "0,1,2,3" into bit widths (MPE_ERR_MPE_CONFIG on anything else). */
export function parseBitsList(s: string): number[] {
  const parts = s.split(',').map((x) => x.trim());
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p)) throw new MpeError('MPE_ERR_MPE_CONFIG', `--bits: "${p}" is not a bit width`);
    out.push(Number(p));
  }
  return out;
}

/** Merges `o` over the defaults, validates and freezes. */
export function resolveMpeOptions(o: Partial<MpeOptions> = {}): Readonly<MpeOptions> {
  const r = { ...MPE_DEFAULTS, ...o };
  if (!Number.isInteger(r.groups) || r.groups < 1) throw new MpeError('MPE_ERR_MPE_CONFIG', `groups must be a positive integer, got ${r.groups}`);
  if (!(r.tau > 0) || !Number.isFinite(r.tau)) throw new MpeError('MPE_ERR_MPE_CONFIG', `tau must be > 0, got ${r.tau}`);
  if (!(r.lambda >= 0) || !Number.isFinite(r.lambda)) throw new MpeError('MPE_ERR_MPE_CONFIG', `lambda must be >= 0, got ${r.lambda}`);
  if (!(r.lr > 0) || !Number.isFinite(r.lr)) throw new MpeError('MPE_ERR_MPE_CONFIG', `lr must be > 0, got ${r.lr}`);
  const seen = new Set<number>();
  for (const b of r.bits) {
    if (!Number.isInteger(b) || b < 0 || b > LSQ_MAX_BITS) throw new MpeError('MPE_ERR_MPE_CONFIG', `bit widths must be integers in 0..${LSQ_MAX_BITS}, got ${b}`);
    if (seen.has(b)) throw new MpeError('MPE_ERR_MPE_CONFIG', `bit width ${b} listed twice`);
    seen.add(b);
  }
  if (r.bits.length < 2) throw new MpeError('MPE_ERR_MPE_CONFIG', 'give at least two candidate bit widths');
  if (!r.bits.some((b) => b > 0)) throw new MpeError('MPE_ERR_MPE_CONFIG', 'at least one candidate bit width must be > 0');
  return Object.freeze({ ...r, bits: Object.freeze([...r.bits]) });
}
