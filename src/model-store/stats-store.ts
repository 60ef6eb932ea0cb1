/**
 * The Redis half of the live statistics (docs/redis.md): a replica's sampler delta is added to
 * the version's merged counts in one pipeline (BITFIELD INCRBY for sketch cells, HINCRBY for
 * counters, ZADD GT for candidates); a flush that fails puts the delta back into the sampler, so
 * an outage loses nothing. `readLiveCounts` reads the merge of every replica's flushes.
 */
import type { Redis } from 'ioredis';
import { FieldSketches } from '../stats/count-min.js';
import type { FrequencySampler, LiveCounts } from '../stats/sampler.js';
import type { KeyLayout } from './keys.js';

/** Statistics keys expire this long after the last flush (seconds): a week. */
export const STATS_TTL_S = 7 * 86_400;
/** Candidates kept per field in Redis (ZSET capped after each flush). */
export const CANDIDATES_PER_FIELD = 256;
/** Sketch cell increments per BITFIELD command. */
const BITFIELD_CHUNK = 512;

/** Adds `sampler`'s local counts to Redis under `version` and clears them; returns the lookups flushed (0 if Redis failed: counts are kept). */
export async function flushSampler(redis: Redis, keys: KeyLayout, version: string, sampler: FrequencySampler): Promise<number> {
  const delta = sampler.take();
  if (delta === null) return 0;
  const { counts: snap, topK, topCounts, topIds, topSizes } = delta;
  const { options } = sampler;
  const F = snap.fieldTotals.length;
  const rate = snap.rate;
  const p = redis.pipeline();
  const meta = keys.statsMeta(version);
  // The first flush fixes the geometry; readers check it (see readLiveCounts).
  p.hsetnx(meta, 'width', String(options.width));
  p.hsetnx(meta, 'depth', String(options.depth));
  p.hsetnx(meta, 'seed', String(options.sketchSeed));
  p.hsetnx(meta, 'fields', String(F));
  p.hsetnx(meta, 'rate', String(rate));
  // groupSize and groupPad: how the group counts bin ids, group = floor((id + groupPad) / groupSize).
  p.hsetnx(meta, 'groupSize', String(options.groupSize));
  p.hsetnx(meta, 'groupPad', String(options.groupPad));
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
    sampler.restore(delta);
    return 0;
  }
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
  // groupPad absent: flushed before it was recorded here (null: the reader supplies the bundle's).
  const groupPad = meta.groupPad === undefined ? null : Number(meta.groupPad);
  return { rate: Number(meta.rate), total, fieldTotals, oovCounts, groupCounts, groupSize: Number(meta.groupSize), groupPad, sketch, candidates };
}
