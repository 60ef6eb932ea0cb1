/**
 * Live feature-frequency sampling on the lookup path, bounded memory, flushed to Redis.
 *
 * `observe(field, id)` costs one decrement and a branch when the lookup is not sampled: the gap
 * to the next sampled lookup is drawn from a geometric distribution (a Bernoulli(rate) process),
 * so the random generator runs once per SAMPLED lookup, not per lookup. A sampled lookup updates
 * exact per-group and per-field counters, the field's count-min sketch and its top-k candidates;
 * nothing is allocated. Counts held between flushes are deltas: `flush` sends them in one
 * pipeline (BITFIELD INCRBY for sketch cells, HINCRBY for counters, ZADD GT for candidates) and
 * clears them; a flush that fails puts them back, so an outage loses nothing.
 *
 * Field slots: one per bundle field, plus one last slot ({@link SamplerOptions.oovIds}.length)
 * for lookups by id that name no field (`observeId`): ids are global ranks and the vocabulary
 * cannot map an id back to its field, so such an id is attributed to its field only when it is a
 * field's OOV id, and to the extra slot otherwise. Group counts are global either way.
 */
import type { Redis } from 'ioredis';
import { MpeError } from '../errors.js';
import type { KeyLayout } from '../registry/keys.js';
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
  /** Adds the local counts to Redis under `version` and clears them; returns the lookups flushed (0 if Redis failed: counts are kept). */
  flush(redis: Redis, keys: KeyLayout, version: string): Promise<number>;
  readonly options: Readonly<Required<Omit<SamplerOptions, 'oovIds' | 'samplingSeed' | 'groupPad'>>>;
}

/** Statistics keys expire this long after the last flush (seconds): a week. */
export const STATS_TTL_S = 7 * 86_400;
/** Candidates kept per field in Redis (ZSET capped after each flush). */
export const CANDIDATES_PER_FIELD = 256;
/** Sketch cell increments per BITFIELD command. */
const BITFIELD_CHUNK = 512;

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
  const FB = opts.oovIds.length;
  // One more slot than the bundle's fields: lookups by id of non-OOV ids (module comment).
  const F = FB + 1;
  const options = Object.freeze({
    rate,
    width: opts.width ?? 2048,
    depth: opts.depth ?? 4,
    topK,
    groupSize: opts.groupSize,
    featureCount: opts.featureCount,
    sketchSeed: opts.sketchSeed ?? 1,
  });
  const sketch = new FieldSketches(F, options.width, options.depth, options.sketchSeed);
  const top = new FieldTopK(F, topK);
  const oov = Int32Array.from([...Array.from(opts.oovIds), -1]);
  const groupPad = opts.groupPad ?? 0;
  check(Number.isInteger(groupPad) && groupPad >= 0 && groupPad < opts.groupSize, `groupPad ${groupPad}`);
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
        sketch: new FieldSketches(F, options.width, options.depth, options.sketchSeed, sketch.cells.slice()),
        candidates: candidates(),
      };
    },
    async flush(redis, keys, version) {
      if (total === 0) return 0;
      const snap = this.snapshot();
      const topCounts = top.counts.slice();
      const topIds = top.ids.slice();
      const topSizes = top.sizes.slice();
      clear();
      const p = redis.pipeline();
      const meta = keys.statsMeta(version);
      // The first flush fixes the geometry; readers check it (see readLiveCounts).
      p.hsetnx(meta, 'width', String(options.width));
      p.hsetnx(meta, 'depth', String(options.depth));
      p.hsetnx(meta, 'seed', String(options.sketchSeed));
      p.hsetnx(meta, 'fields', String(F));
      p.hsetnx(meta, 'rate', String(rate));
      p.hsetnx(meta, 'groupSize', String(groupSize));
      let ops: string[] = [];
      const cms = keys.statsCms(version);
      const cells = snap.sketch.cells;
      for (let i = 0; i < cells.length; i++) {
        const c = cells[i]!;
        if (c === 0) continue;
        ops.push('INCRBY', 'u32', `#${i}`, String(c));
        if (ops.length >= 4 * BITFIELD_CHUNK) {
          p.bitfield(cms, 'OVERFLOW', 'SAT', ...(ops as ['INCRBY', string, string, string]));
          ops = [];
        }
      }
      if (ops.length > 0) p.bitfield(cms, 'OVERFLOW', 'SAT', ...(ops as ['INCRBY', string, string, string]));
      const groups = keys.statsGroups(version);
      for (let g = 0; g < snap.groupCounts.length; g++) if (snap.groupCounts[g]! > 0) p.hincrby(groups, String(g), snap.groupCounts[g]!);
      const fields = keys.statsFields(version);
      for (let f = 0; f < F; f++) {
        if (snap.fieldTotals[f]! > 0) p.hincrby(fields, `total:${f}`, snap.fieldTotals[f]!);
        if (snap.oovCounts[f]! > 0) p.hincrby(fields, `oov:${f}`, snap.oovCounts[f]!);
        const n = topSizes[f]!;
        if (n === 0) continue;
        const zkey = keys.statsTop(version, f);
        const args: string[] = [];
        for (let s = f * topK; s < f * topK + n; s++) args.push(String(topCounts[s]!), String(topIds[s]!));
        p.zadd(zkey, 'GT', ...args);
        p.zremrangebyrank(zkey, 0, -(CANDIDATES_PER_FIELD + 1));
        p.expire(zkey, STATS_TTL_S);
      }
      for (const k of [meta, cms, groups, fields]) p.expire(k, STATS_TTL_S);
      try {
        const res = await p.exec();
        const err = res?.find(([e]) => e !== null);
        if (err) throw err[0];
        return snap.total;
      } catch {
        // Put the counts back (candidates of the failed window are kept as they were).
        total += snap.total;
        for (let f = 0; f < F; f++) {
          fieldTotals[f]! += snap.fieldTotals[f]!;
          oovCounts[f]! += snap.oovCounts[f]!;
        }
        for (let g = 0; g < groupCounts.length; g++) groupCounts[g]! += snap.groupCounts[g]!;
        for (let i = 0; i < cells.length; i++) sketch.cells[i]! += cells[i]!;
        for (let f = 0; f < F; f++) for (let s = f * topK; s < f * topK + topSizes[f]!; s++) top.offer(f, topIds[s]!, topCounts[s]!);
        return 0;
      }
    },
  };
}

/** Reads the merged statistics of `version` from Redis (all replicas' flushes added up), or null if there are none. */
export async function readLiveCounts(redis: Redis, keys: KeyLayout, version: string): Promise<LiveCounts | null> {
  const meta = await redis.hgetall(keys.statsMeta(version));
  if (meta.width === undefined) return null;
  const F = Number(meta.fields);
  const width = Number(meta.width);
  const depth = Number(meta.depth);
  const [raw, groups, fields] = await Promise.all([redis.getBuffer(keys.statsCms(version)), redis.hgetall(keys.statsGroups(version)), redis.hgetall(keys.statsFields(version))]);
  const cells = new Uint32Array(F * depth * width);
  if (raw !== null) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const n = Math.min(cells.length, raw.byteLength >>> 2);
    for (let i = 0; i < n; i++) cells[i] = dv.getUint32(i * 4, false); // BITFIELD u32 cells are big-endian
  }
  let groupCount = 0;
  for (const g of Object.keys(groups)) groupCount = Math.max(groupCount, Number(g) + 1);
  const groupCounts = new Float64Array(groupCount);
  for (const [g, c] of Object.entries(groups)) groupCounts[Number(g)] = Number(c);
  const fieldTotals = new Float64Array(F);
  const oovCounts = new Float64Array(F);
  let total = 0;
  for (let f = 0; f < F; f++) {
    fieldTotals[f] = Number(fields[`total:${f}`] ?? 0);
    oovCounts[f] = Number(fields[`oov:${f}`] ?? 0);
    total += fieldTotals[f]!;
  }
  const sketch = new FieldSketches(F, width, depth, Number(meta.seed), cells);
  const candidates: Array<{ field: number; id: number }> = [];
  const tops = await Promise.all(Array.from({ length: F }, (_, f) => redis.zrange(keys.statsTop(version, f), '0', '-1')));
  for (let f = 0; f < F; f++) for (const id of tops[f]!) candidates.push({ field: f, id: Number(id) });
  return { rate: Number(meta.rate), total, fieldTotals, oovCounts, groupCounts, sketch, candidates };
}
