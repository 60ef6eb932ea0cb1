/**
 * Live feature-frequency sampling on the lookup path, bounded memory. Pure: the Redis half
 * (flush, merged read) is model-store/stats-store.ts.
 *
 * `observe(field, id)` costs one decrement and a branch when the lookup is not sampled: the gap
 * to the next sampled lookup is drawn from a geometric distribution (a Bernoulli(rate) process),
 * so the random generator runs once per SAMPLED lookup, not per lookup. A sampled lookup updates
 * exact per-group and per-field counters, the field's count-min sketch and its top-k candidates;
 * nothing is allocated. Counts held between flushes are deltas: `take` hands them over and clears
 * them, `restore` puts back what a failed flush could not write, so an outage loses nothing.
 *
 * Field slots: one per bundle field, plus one last slot ({@link SamplerOptions.oovIds}.length)
 * for lookups by id that name no field (`observeId`): ids are global ranks and the vocabulary
 * cannot map an id back to its field, so such an id is attributed to its field only when it is a
 * field's OOV id, and to the extra slot otherwise. Group counts are global either way.
 */
import { MpeError } from '../errors.js';
import { FieldSketches } from './count-min.js';
import { createRng } from '../util/random.js';
import { FieldTopK } from './top-k.js';

export interface SamplerOptions {
  /** Fraction of lookups sampled, (0, 1] (default 0.01). */
  readonly rate?: number;
  /** Count-min width per field, a power of two (default 2048: epsilon = e/2048 = 0.13% of a field's lookups). */
  readonly width?: number;
  /** Count-min depth (default 4: delta = e^-4 = 1.8% per query). */
  readonly depth?: number;
  /** Heavy-hitter candidates kept per field between flushes (default 16). */
  readonly topK?: number;
  /** The bundle's shape: features per group and the OOV id of each field. */
  readonly groupSize: number;
  /** Ids missing from the first group (codec/layout.ts); default 0. */
  readonly groupPad?: number;
  readonly featureCount: number;
  readonly oovIds: ArrayLike<number>;
  /** Sketch hash seed, identical on every replica (default 1); sampling seed (default random). */
  readonly sketchSeed?: number;
  readonly samplingSeed?: number;
}

/** Sampled counts (not scaled by 1/rate). */
export interface LiveCounts {
  readonly rate: number;
  readonly total: number;
  /** Per field slot: the bundle's fields, then the by-id slot (see the module comment). */
  readonly fieldTotals: Float64Array;
  readonly oovCounts: Float64Array;
  readonly groupCounts: Float64Array;
  /**
   * How `groupCounts` bin ids: group = floor((id + groupPad) / groupSize), the bundle's own
   * grouping (codec/layout.ts). groupPad is null for statistics flushed to Redis before it was
   * recorded there (their binning used the served bundle's pad, which the reader must supply).
   */
  readonly groupSize: number;
  readonly groupPad: number | null;
  /** Count-min sketch (for per-feature estimates) and heavy-hitter candidates, best first per field. */
  readonly sketch: FieldSketches;
  readonly candidates: ReadonlyArray<{ readonly field: number; readonly id: number }>;
}

export interface FrequencySampler {
  /** Records one lookup of feature `id` in field `field` (sampled at `rate`). */
  observe(field: number, id: number): void;
  /** Records one lookup of feature `id` whose field is not known (Lookup by ids). */
  observeId(id: number): void;
  /** Sampled lookups held locally since the last flush. */
  pending(): number;
  /** Local counts since the last flush (copies). */
  snapshot(): LiveCounts;
  /** Hands over the local counts and clears them; null when there are none. */
  take(): SamplerDelta | null;
  /** Adds back a delta {@link FrequencySampler.take} handed over (a flush that failed). */
  restore(delta: SamplerDelta): void;
  readonly options: Readonly<Required<Omit<SamplerOptions, 'oovIds' | 'samplingSeed'>>>;
}

/** What a sampler held since the last flush: its counts and its heavy-hitter candidates with their local estimates. */
export interface SamplerDelta {
  readonly counts: LiveCounts;
  /** Candidate slots per field. */
  readonly topK: number;
  /** Per field, `topSizes[f]` candidates in slots `f * topK ...`: estimate and id. */
  readonly topCounts: Float64Array;
  readonly topIds: Int32Array;
  readonly topSizes: Int32Array;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new MpeError('MPE_ERR_STATS_CONFIG', what);
}

/** Creates a sampler for a bundle with `oovIds.length` fields. Throws MPE_ERR_STATS_CONFIG. */
export function createFrequencySampler(opts: SamplerOptions): FrequencySampler {
  const rate = opts.rate ?? 0.01;
  check(typeof rate === 'number' && rate > 0 && rate <= 1, `rate ${rate}: use (0, 1]`);
  const topK = opts.topK ?? 16;
  check(Number.isInteger(topK) && topK >= 1 && topK <= 1024, `topK ${topK}: use 1..1024`);
  check(Number.isInteger(opts.groupSize) && opts.groupSize > 0, `groupSize ${opts.groupSize}`);
  const groupPad = opts.groupPad ?? 0;
  check(Number.isInteger(groupPad) && groupPad >= 0 && groupPad < opts.groupSize, `groupPad ${groupPad}`);
  const FB = opts.oovIds.length;
  // One more slot than the bundle's fields: lookups by id of non-OOV ids (module comment).
  const F = FB + 1;
  const options = Object.freeze({
    rate,
    width: opts.width ?? 2048,
    depth: opts.depth ?? 4,
    topK,
    groupSize: opts.groupSize,
    groupPad,
    featureCount: opts.featureCount,
    sketchSeed: opts.sketchSeed ?? 1,
  });
  const sketch = new FieldSketches(F, options.width, options.depth, options.sketchSeed);
  const top = new FieldTopK(F, topK);
  const oov = Int32Array.from([...Array.from(opts.oovIds), -1]);
  const groupCounts = new Float64Array(Math.ceil((opts.featureCount + groupPad) / opts.groupSize));
  const fieldTotals = new Float64Array(F);
  const oovCounts = new Float64Array(F);
  const groupSize = opts.groupSize;
  let total = 0;
  // Sampling generator, seeded per replica; 1 - next() is in (0, 1], so its log is finite.
  const rng = createRng(opts.samplingSeed ?? (Math.random() * 2 ** 32) >>> 0);
  const logKeep = Math.log(1 - rate); // -Infinity at rate 1: every gap is 1
  const nextGap = (): number => (rate === 1 ? 1 : 1 + Math.floor(Math.log(1 - rng.next()) / logKeep));
  let skip = nextGap();

  function observe(field: number, id: number): void {
    if (--skip > 0) return;
    skip = nextGap();
    total++;
    fieldTotals[field]!++;
    if (id === oov[field]) oovCounts[field]!++;
    groupCounts[((id + groupPad) / groupSize) | 0]!++;
    top.offer(field, id, sketch.add(field, id, 1));
  }

  function observeId(id: number): void {
    if (--skip > 0) return;
    // Sampled (rare): find the field whose OOV id this is, else the by-id slot.
    let field = FB;
    for (let f = 0; f < FB; f++) {
      if (oov[f] === id) {
        field = f;
        break;
      }
    }
    skip = 1;
    observe(field, id);
  }

  function candidates(): Array<{ field: number; id: number }> {
    const out: Array<{ field: number; id: number }> = [];
    for (let f = 0; f < F; f++) {
      const base = f * topK;
      const n = top.sizes[f]!;
      const order = Array.from({ length: n }, (_, i) => base + i).sort((a, b) => top.counts[b]! - top.counts[a]!);
      for (const s of order) out.push({ field: f, id: top.ids[s]! });
    }
    return out;
  }

  function clear(): void {
    total = 0;
    fieldTotals.fill(0);
    oovCounts.fill(0);
    groupCounts.fill(0);
    sketch.cells.fill(0);
    top.clear();
  }

  return {
    observe,
    observeId,
    options,
    pending: () => total,
    snapshot() {
      return {
        rate,
        total,
        fieldTotals: fieldTotals.slice(),
        oovCounts: oovCounts.slice(),
        groupCounts: groupCounts.slice(),
        groupSize,
        groupPad,
        sketch: new FieldSketches(F, options.width, options.depth, options.sketchSeed, sketch.cells.slice()),
        candidates: candidates(),
      };
    },
    take() {
      if (total === 0) return null;
      const delta: SamplerDelta = { counts: this.snapshot(), topK, topCounts: top.counts.slice(), topIds: top.ids.slice(), topSizes: top.sizes.slice() };
      clear();
      return delta;
    },
    restore(delta) {
      // Candidates of the failed window are offered again with their estimates.
      const c = delta.counts;
      total += c.total;
      for (let f = 0; f < F; f++) {
        fieldTotals[f]! += c.fieldTotals[f]!;
        oovCounts[f]! += c.oovCounts[f]!;
      }
      for (let g = 0; g < groupCounts.length; g++) groupCounts[g]! += c.groupCounts[g]!;
      const cells = c.sketch.cells;
      for (let i = 0; i < cells.length; i++) sketch.cells[i]! += cells[i]!;
      for (let f = 0; f < F; f++) for (let s = f * topK; s < f * topK + delta.topSizes[f]!; s++) top.offer(f, delta.topIds[s]!, delta.topCounts[s]!);
    },
  };
}
