/**
 * How far live lookup frequencies have moved from the groups a bundle was trained with:
 * - the share of lookups hitting pruned (0-bit) features,
 * - the share hitting out-of-vocabulary features (overall and per field),
 * - frequent features sitting in low-precision groups: a feature whose LIVE frequency rank would
 *   place it in a group with more bits than the group it is stored in.
 * Exported as metrics by {@link registerDriftMetrics}.
 */
import { Gauge, type Registry as PromRegistry } from 'prom-client';
import { MpeError } from '../errors.js';
import type { LiveCounts } from './sampler.js';

/** The parts of a bundle's manifest drift needs. */
export interface DriftModel {
  readonly featureCount: number;
  readonly groupSize: number;
  /** Ids missing from the first group (codec/layout.ts); default 0. */
  readonly groupPad?: number;
  readonly bitsPerGroup: ArrayLike<number>;
  readonly fields: ReadonlyArray<{ readonly name: string; readonly oovId: number }>;
}

/** Field name reported for features sampled from lookups by id (their field is unknown). */
export const BY_ID_FIELD = '(lookup by id)';

export interface MisplacedFeature {
  readonly field: string;
  readonly id: number;
  /** Estimated share of all sampled lookups. */
  readonly share: number;
  readonly bits: number;
  /** Bits of the group its live rank falls in. */
  readonly liveRankBits: number;
}

export interface DriftReport {
  /** Sampled lookups the report is based on. */
  readonly sampled: number;
  /** Estimated lookups (sampled / rate). */
  readonly estimatedLookups: number;
  readonly prunedShare: number;
  readonly oovShare: number;
  readonly oovShareByField: Readonly<Record<string, number>>;
  /** Share of lookups per stored bit width, e.g. {"0": 0.01, "4": 0.7, ...}. */
  readonly shareByBits: Readonly<Record<string, number>>;
  /** Features whose live rank deserves more bits than they have, best first (at most 20). */
  readonly misplaced: readonly MisplacedFeature[];
  readonly misplacedCount: number;
  /** Estimated share of lookups hitting misplaced features. */
  readonly misplacedShare: number;
  /** Count-min error bound of each per-feature estimate: epsilon * (field's lookups) with probability 1 - delta. */
  readonly sketchEpsilon: number;
}

/**
 * Computes a drift report of `live` statistics against `model`'s groups. Throws
 * MPE_ERR_STATS_GROUPING when `live` binned its group counts with another groupSize or groupPad
 * than the model (a groupPad of null, not recorded, is taken to be the model's).
 */
export function computeDrift(model: DriftModel, live: LiveCounts): DriftReport {
  const pad = model.groupPad ?? 0;
  if (live.groupSize !== model.groupSize || (live.groupPad !== null && live.groupPad !== pad)) {
    throw new MpeError('MPE_ERR_STATS_GROUPING', `statistics groupSize ${live.groupSize}, groupPad ${live.groupPad}; bundle groupSize ${model.groupSize}, groupPad ${pad}`);
  }
  const G = model.bitsPerGroup.length;
  const total = live.total;
  const share = (x: number): number => (total > 0 ? x / total : 0);
  let pruned = 0;
  const byBits: Record<string, number> = {};
  for (let g = 0; g < Math.min(G, live.groupCounts.length); g++) {
    const b = model.bitsPerGroup[g]!;
    const c = live.groupCounts[g]!;
    if (b === 0) pruned += c;
    byBits[b] = (byBits[b] ?? 0) + c;
  }
  for (const b of Object.keys(byBits)) byBits[b] = share(byBits[b]!);
  let oov = 0;
  const oovByField: Record<string, number> = {};
  for (let f = 0; f < model.fields.length; f++) {
    const c = live.oovCounts[f] ?? 0;
    oov += c;
    const ft = live.fieldTotals[f] ?? 0;
    oovByField[model.fields[f]!.name] = ft > 0 ? c / ft : 0;
  }
  // Live rank of the candidates by their merged sketch estimate; OOV features excluded (they are buckets, not features).
  const scored: Array<{ field: number; id: number; est: number }> = [];
  const seen = new Set<number>();
  for (const c of live.candidates) {
    if (c.id < 0 || c.id >= model.featureCount || c.id === model.fields[c.field]?.oovId || seen.has(c.id)) continue;
    seen.add(c.id);
    scored.push({ field: c.field, id: c.id, est: live.sketch.estimate(c.field, c.id) });
  }
  scored.sort((a, b) => b.est - a.est || a.id - b.id);
  const misplaced: MisplacedFeature[] = [];
  let misplacedLookups = 0;
  for (let rank = 0; rank < scored.length; rank++) {
    const s = scored[rank]!;
    const bits = model.bitsPerGroup[Math.floor((s.id + pad) / model.groupSize)]!;
    const liveRankBits = model.bitsPerGroup[Math.min(G - 1, Math.floor((rank + pad) / model.groupSize))]!;
    if (bits >= liveRankBits) continue;
    misplacedLookups += s.est;
    misplaced.push({ field: model.fields[s.field]?.name ?? BY_ID_FIELD, id: s.id, share: share(s.est), bits, liveRankBits });
  }
  return {
    sampled: total,
    estimatedLookups: live.rate > 0 ? total / live.rate : 0,
    prunedShare: share(pruned),
    oovShare: share(oov),
    oovShareByField: oovByField,
    shareByBits: byBits,
    misplaced: misplaced.slice(0, 20),
    misplacedCount: misplaced.length,
    misplacedShare: share(misplacedLookups),
    sketchEpsilon: Math.E / live.sketch.width,
  };
}

/**
 * Registers drift gauges on `registry`; each scrape calls `report()` (null = no statistics yet,
 * the gauges are left unset): mpe_drift_pruned_share, mpe_drift_oov_share,
 * mpe_drift_misplaced_share, mpe_drift_sampled_lookups.
 */
export function registerDriftMetrics(registry: PromRegistry, report: () => DriftReport | null): void {
  const defs: Array<[string, string, (r: DriftReport) => number]> = [
    ['mpe_drift_pruned_share', 'Share of sampled lookups hitting pruned (0-bit) features', (r) => r.prunedShare],
    ['mpe_drift_oov_share', 'Share of sampled lookups hitting out-of-vocabulary features', (r) => r.oovShare],
    ['mpe_drift_misplaced_share', 'Share of sampled lookups hitting frequent features stored with fewer bits than their live rank deserves', (r) => r.misplacedShare],
    ['mpe_drift_sampled_lookups', 'Sampled lookups behind the drift figures', (r) => r.sampled],
  ];
  for (const [name, help, pick] of defs) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const r = report();
        if (r !== null) this.set(pick(r));
      },
    });
  }
}
