/**
 * The Redis half of `mpe train --counts-from`: resolves which version's live counts to use (and
 * the bundle they were sampled against) through the registry, and reads the merged counts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, parseManifest } from '../bundle/manifest.js';
import { MpeError } from '../errors.js';
import type { LiveCounts } from '../stats/sampler.js';
import { redisCall } from './redis-client.js';
import { readLiveCounts } from './stats-store.js';
import { createModelStore } from './store.js';

/** Which counts: the registry model, and optionally the version and its bundle directory. */
export interface StoredCountsQuery {
  /** Redis URL (redis://HOST:PORT). */
  readonly url: string;
  readonly model: string;
  /** Key prefix (default `mpe`). */
  readonly prefix?: string;
  /** Default: the bundle's version, else the registry's current one. */
  readonly version?: string;
  /** Default: the registry record's location. */
  readonly bundleDir?: string;
}

/**
 * Reads the merged live counts of `q`. Throws MPE_ERR_REGISTRY_UNAVAILABLE (Redis unreachable),
 * MPE_ERR_REGISTRY_NOT_FOUND (no such version, or no statistics for it), MPE_ERR_BUNDLE_NOT_FOUND
 * (no manifest in `bundleDir`).
 */
export async function readStoredLiveCounts(q: StoredCountsQuery): Promise<{ version: string; bundleDir: string; live: LiveCounts }> {
  const reg = createModelStore({ url: q.url, model: q.model, ...(q.prefix !== undefined ? { prefix: q.prefix } : {}) });
  try {
    let version = q.version;
    let dir = q.bundleDir;
    if (dir !== undefined && version === undefined) {
      version = parseManifest(await readFile(join(dir, MANIFEST_FILE), 'utf8').catch((e: unknown) => {
        throw new MpeError('MPE_ERR_BUNDLE_NOT_FOUND', `--counts-bundle ${dir}`, { cause: e });
      })).model.version;
    }
    if (dir === undefined) {
      const rec = version !== undefined ? await reg.get(version) : await reg.current();
      if (rec === null) throw new MpeError('MPE_ERR_REGISTRY_NOT_FOUND', `${q.model} ${version ?? '(current)'}: pass --counts-bundle DIR and --counts-version`);
      version = rec.version;
      dir = rec.location;
    }
    const v = version!;
    const live = await redisCall('read live counts', () => readLiveCounts(reg.redis, reg.keys, v));
    if (live === null || live.total === 0) throw new MpeError('MPE_ERR_REGISTRY_NOT_FOUND', `no live statistics for ${q.model} ${v} (key prefix ${q.prefix ?? 'mpe'})`);
    return { version: v, bundleDir: dir, live };
  } finally {
    await reg.close();
  }
}
