/**
 * A command loads only what it runs (issue 11): `mpe --help` imported every subcommand and with
 * them echarts, onnxruntime, ioredis, fastify and grpc-js (about 1.2 s of plain-node start-up).
 * Each case spawns the real CLI with a module resolve hook that records the packages imported.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeBundle } from '../../src/bundle/write.js';
import { makeFixture } from '../bundle/fixture.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-lazy-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Packages (first path segment or @scope/name) imported by `mpe ...args`. */
async function packagesOf(name: string, ...args: string[]): Promise<Set<string>> {
  const out = join(root, `${name}.txt`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', './test/helpers/record-imports.mjs', 'src/cli/main.ts', ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, MPE_RECORD_IMPORTS: out },
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = (await readFile(out, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  return new Set(lines.map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!)));
}

const HEAVY = ['echarts', 'onnxruntime-node', 'ioredis', 'fastify', '@grpc/grpc-js'];

test('the hook sees packages: mpe --help imports commander', async () => {
  const pkgs = await packagesOf('help', '--help');
  assert.ok(pkgs.has('commander'), [...pkgs].join(' '));
});

test('mpe --help imports none of echarts, onnxruntime, ioredis, fastify, grpc-js', async () => {
  const pkgs = await packagesOf('help2', '--help');
  assert.deepEqual(HEAVY.filter((p) => pkgs.has(p)), []);
});

test('mpe inspect BUNDLE imports none of echarts, ioredis, fastify, grpc-js', async () => {
  const dir = join(root, 'bundle');
  await writeBundle(dir, makeFixture({ seed: 1, d: 4, fields: 2, perField: 4, groupSize: 4, bits: [8, 4, 0] }).parts);
  const pkgs = await packagesOf('inspect', 'inspect', dir);
  assert.deepEqual(['echarts', 'ioredis', 'fastify', '@grpc/grpc-js'].filter((p) => pkgs.has(p)), []);
});

test('mpe train --help loads no Redis client (ioredis only with --counts-from) and no charts', async () => {
  const pkgs = await packagesOf('train', 'train', '--help');
  assert.deepEqual(['ioredis', 'echarts', 'fastify', '@grpc/grpc-js'].filter((p) => pkgs.has(p)), []);
});
