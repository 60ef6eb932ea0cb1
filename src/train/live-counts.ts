/**
 * `mpe train --counts-from redis://HOST:PORT --model NAME`: rank features by training counts
 * blended with the live lookup counts the replicas sampled (src/stats/sampler.ts; read from Redis
 * by src/model-store/live-counts.ts) for the bundle
 * version they served, so that features traffic made hot get low ids, hence the frequent groups
 * (more bits under MPE), and rarely looked-up ones drift down.
 *
 * The training data still defines the vocabulary (which tokens are features, min-count, one OOV
 * feature per field); only the ranking changes. For a feature of field f with train count t:
 *
 *   key = (1 - w) * t + w * live * trainRows / liveTotal(f)
 *
 * where `live` is the count-min estimate of the field's sketch for the token's id in the OLD
 * bundle (its vocabulary maps token -> old id; fields are matched by name), or the field's exact
 * sampled OOV count for the OOV feature, and `liveTotal(f)` is the field's sampled lookups: live
 * counts are rescaled to the train split's total (every train row has one token per field), so
 * `w` weighs shares, not volumes. A field with no live lookups, or absent from the old bundle,
 * keeps key = t. Tokens new since the old bundle were looked up as its OOV feature: their live
 * count is 0.
 *
 * Live counts are SAMPLED (rate `MPE_STATS_SAMPLE_RATE`) and APPROXIMATE: each estimate is >= the
 * true sampled count and exceeds it by more than e/width of the field's sampled lookups with
 * probability <= e^-depth (count-min, docs/redis.md). Lookups by id (no field) are not used.
 */
import { loadBundle } from '../bundle/load.js';
import type { RankBy, RankKey } from '../data/ingest.js';
import { MpeError } from '../errors.js';
import type { LiveCounts } from '../stats/sampler.js';
import type { Vocabulary } from '../vocab/vocabulary.js';

/** Default of `--counts-weight`. */
export const DEFAULT_COUNTS_WEIGHT = 0.5;

/** The parts of the bundle the live counts were sampled against. */
export interface CountsBundle {
  readonly fields: readonly { readonly name: string }[];
  readonly vocab: Pick<Vocabulary, 'lookup'>;
}

/** Throws MPE_ERR_TRAIN_CONFIG unless 0 <= w <= 1. */
export function checkCountsWeight(w: number): number {
  if (typeof w !== 'number' || !(w >= 0 && w <= 1)) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `--counts-weight must be in [0, 1], got ${w}`);
  return w;
}

/**
 * The ingestion ranking hook blending train counts with `live` (see the module comment).
 * Throws MPE_ERR_BUNDLE_MISMATCH when the statistics do not have one slot per bundle field (+1).
 */
export function blendLiveCounts(live: LiveCounts, bundle: CountsBundle, weight: number = DEFAULT_COUNTS_WEIGHT): RankBy {
  const w = checkCountsWeight(weight);
  const oldFields = bundle.fields.length;
  // The sampler keeps one slot per bundle field plus the by-id slot.
  if (live.fieldTotals.length !== oldFields + 1) {
    throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `live statistics have ${live.fieldTotals.length - 1} fields, the counts bundle ${oldFields}: pass the bundle of the version the counts belong to`);
  }
  const oldIndex = new Map<string, number>();
  for (let f = 0; f < oldFields; f++) oldIndex.set(bundle.fields[f]!.name, f);
  return (fieldNames, trainRows) => {
    // Per new field: its old slot (-1 = none) and the rescale factor of its live counts.
    const slot = new Int32Array(fieldNames.length).fill(-1);
    const scale = new Float64Array(fieldNames.length);
    for (let f = 0; f < fieldNames.length; f++) {
      const o = oldIndex.get(fieldNames[f]!);
      if (o === undefined || !(live.fieldTotals[o]! > 0)) continue;
      slot[f] = o;
      scale[f] = (w * trainRows) / live.fieldTotals[o]!;
    }
    const key: RankKey = (f, token, trainCount) => {
      const o = slot[f]!;
      if (o < 0) return trainCount;
      let c: number;
      if (token === null) c = live.oovCounts[o]!;
      else {
        const oldId = bundle.vocab.lookup(o, token);
        c = oldId < 0 ? 0 : live.sketch.estimate(o, oldId);
      }
      return (1 - w) * trainCount + c * scale[f]!;
    };
    return key;
  };
}

/** Where `mpe train --counts-from` reads its live counts (see model-store/live-counts.ts). */
export interface LiveCountsSource {
  /** Redis URL (redis://HOST:PORT). */
  readonly url: string;
  /** Registry model name (`--model`). */
  readonly model: string;
  /** Key prefix (default `mpe`). */
  readonly prefix?: string;
  /** Version whose counts to use (default: the counts bundle's version, else the registry's current one). */
  readonly version?: string;
  /** Bundle of that version (default: the registry record's location). */
  readonly bundleDir?: string;
  /** w of the blend, [0, 1] (default 0.5). */
  readonly weight?: number;
}

/** The live counts of one version and the bundle they were sampled against. */
export interface StoredLiveCounts {
  readonly version: string;
  readonly bundleDir: string;
  readonly live: LiveCounts;
}

/** What a blended ranking was built from; recorded in the new manifest's `data.ranking`. */
export interface LiveRankingInfo extends Record<string, unknown> {
  readonly source: 'live-counts';
  readonly model: string;
  readonly version: string;
  readonly bundle: string;
  readonly weight: number;
  readonly sampledLookups: number;
  readonly sampleRate: number;
  /** Count-min error bound: e / width of a field's sampled lookups, with probability 1 - e^-depth. */
  readonly sketchEpsilon: number;
  readonly sketchDelta: number;
}

/**
 * Reads the live counts of `src` with `read` (model-store/live-counts.ts: Redis) and the
 * vocabulary of the bundle they belong to, and returns the ingestion hook plus what it was built
 * from. Everything is read before any training, so a failure writes nothing. Throws
 * MPE_ERR_TRAIN_CONFIG (a bad weight, a counts bundle of another version), MPE_ERR_BUNDLE_* (the
 * bundle does not load) and whatever `read` throws (MPE_ERR_REGISTRY_*).
 */
export async function readLiveRanking(src: LiveCountsSource, read: (src: LiveCountsSource) => Promise<StoredLiveCounts>): Promise<{ rankBy: RankBy; info: LiveRankingInfo }> {
  const weight = checkCountsWeight(src.weight ?? DEFAULT_COUNTS_WEIGHT);
  const { version: v, bundleDir: dir, live } = await read(src);
  const bundle = await loadBundle(dir);
  if (bundle.manifest.model.version !== v) {
    throw new MpeError('MPE_ERR_TRAIN_CONFIG', `the counts are of version ${v}, the bundle in ${dir} is version ${bundle.manifest.model.version}`);
  }
  const rankBy = blendLiveCounts(live, { fields: bundle.fields, vocab: bundle.vocab }, weight);
  const { width, depth } = live.sketch;
  return {
    rankBy,
    info: {
      source: 'live-counts',
      model: src.model,
      version: v,
      bundle: dir,
      weight,
      sampledLookups: live.total,
      sampleRate: live.rate,
      sketchEpsilon: Math.E / width,
      sketchDelta: Math.exp(-depth),
    },
  };
}
