/**
 * Re-publishing a version from another location (issue 15, item 8): refused with
 * MPE_ERR_REGISTRY_LOCATION unless forced; forced, the record points at the new location and is
 * announced. Through the registry API and the `mpe publish` command.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isMpeError } from '../../src/errors.js';
import { createModelStore } from '../../src/model-store/store.js';
import { writeVersion } from '../helpers/registry-bundles.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix();
let root: string | null = null;
after(async () => {
  await cleanupPrefix(prefix);
  if (root !== null) await rm(root, { recursive: true, force: true });
});

/** The checksum map `mpe publish` records for the bundle in `dir`. */
async function checksumsOf(dir: string): Promise<Record<string, string>> {
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { manifestXxh64: string; files: Record<string, { xxh64: string }> };
  const out: Record<string, string> = { 'manifest.json': m.manifestXxh64 };
  for (const [name, f] of Object.entries(m.files)) out[name] = f.xxh64;
  return out;
}

const input = (location: string) => ({ version: 'v1', location, checksums: { 'table.bin': 'aaaaaaaaaaaaaaaa' }, createdAt: '2026-01-01T00:00:00.000Z', metrics: {} });

test('registry: same version from another location is MPE_ERR_REGISTRY_LOCATION; force repoints it', async () => {
  const reg = createModelStore({ url: SHARED_REDIS_URL, model: 'loc', prefix });
  try {
    const first = await reg.publish(input('/bad/path'));
    assert.equal(first.location, '/bad/path');
    // Same location: idempotent, the first record is kept.
    assert.equal((await reg.publish(input('/bad/path'))).publishedAt, first.publishedAt);
    await assert.rejects(reg.publish(input('/bundles/v1')), (e) => isMpeError(e) && e.code === 'MPE_ERR_REGISTRY_LOCATION' && /published from \/bad\/path, not \/bundles\/v1/.test(e.message));
    assert.equal((await reg.get('v1'))?.location, '/bad/path');
    const forced = await reg.publish(input('/bundles/v1'), { force: true });
    assert.equal(forced.location, '/bundles/v1');
    assert.equal((await reg.get('v1'))?.location, '/bundles/v1');
    assert.equal((await reg.current())?.location, '/bundles/v1');
    // Other checksums stay a conflict, forced or not.
    await assert.rejects(reg.publish({ ...input('/x'), checksums: { 'table.bin': 'cccccccccccccccc' } }, { force: true }), (e) => isMpeError(e) && e.code === 'MPE_ERR_REGISTRY_CONFLICT');
  } finally {
    await reg.close();
  }
});

test('mpe publish: a second location exits 1 with MPE_ERR_REGISTRY_LOCATION, --force repoints (exit 0)', async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-publish-loc-'));
  const v = await writeVersion(root, 'v1', 3);
  const copy = join(root, 'copy-of-v1');
  await cp(v.dir, copy, { recursive: true });
  const mpe = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'publish', ...args, '--redis', SHARED_REDIS_URL, '--model', 'loccli', '--prefix', prefix], { encoding: 'utf8', timeout: 60_000 });
  const reg = createModelStore({ url: SHARED_REDIS_URL, model: 'loccli', prefix });
  await reg.publish({ ...input(v.dir), checksums: await checksumsOf(v.dir) });
  const again = mpe(copy);
  assert.equal(again.status, 1, again.stderr);
  assert.match(again.stderr, /error MPE_ERR_REGISTRY_LOCATION: .*pass --force/);
  const forced = mpe(copy, '--force');
  assert.equal(forced.status, 0, forced.stderr);
  try {
    assert.equal((await reg.get('v1'))?.location, copy);
  } finally {
    await reg.close();
  }
});
