import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { writeBundle } from '../../src/bundle/write.js';
import { makeFixture } from '../bundle/fixture.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-inspect-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function mpe(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repo, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('inspect --json: histogram, bytes and ratios equal hand-computed values', async () => {
  // d = 4, 2 fields x 4 tokens + 2 OOV = 10 features, groups of 4 at [8, 4, 0] bits.
  const dir = join(root, 'small');
  await writeBundle(dir, makeFixture({ seed: 1, d: 4, fields: 2, perField: 4, groupSize: 4, bits: [8, 4, 0] }).parts);
  const r = mpe('inspect', dir, '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.featureCount, 10);
  assert.deepEqual(s.table, { kind: 'grouped', groupSize: 4, groupPad: 0, groupCount: 3 });
  assert.deepEqual(s.bitsHistogram, [
    { bits: 0, groups: 1, features: 2 },
    { bits: 4, groups: 1, features: 4 },
    { bits: 8, groups: 1, features: 4 },
  ]);
  assert.equal(s.averageBits, (4 * 8 + 4 * 4 + 2 * 0) / 10); // 4.8
  assert.equal(s.ratios.weightsOnly, 32 / 4.8);
  // table.bin: data at 320 (docs/format.md example), data 128 bytes -> 448.
  assert.equal(s.bytes.tableHeader, 320);
  assert.equal(s.bytes.tableData, 128);
  // vocab.bin: 64-byte header + 16 + 12 * 16 slots (8 keys -> capacity 16) = 272.
  assert.equal(s.bytes.vocab, 272);
  assert.equal(s.ratios.allInBytes, 448 + 272);
  assert.equal(s.ratios.fp32AllInBytes, 4 * 4 * 10 + 272);
  assert.equal(s.ratios.allIn, 432 / 720);
  assert.equal(s.bytes.manifest, (await readFile(join(dir, 'manifest.json'))).length);
  assert.deepEqual(s.checksums, { 'manifest.json': 'ok', 'table.bin': 'ok', 'vocab.bin': 'ok', 'scorer.onnx': 'ok' });
  assert.equal(s.model.method, 'mpe');
});

test('inspect: fp32 table is 1x weights-only; human output is a table', async () => {
  // 3 fields x 300 tokens + 3 OOV = 903 features, d = 16, groups of 128 (8 groups), all fp32.
  const dir = join(root, 'fp32');
  await writeBundle(dir, makeFixture({ seed: 2, d: 16, fields: 3, perField: 300, groupSize: 128, bits: new Array(8).fill(32) }).parts);
  const j = JSON.parse(mpe('inspect', dir, '--json').stdout);
  assert.equal(j.ratios.weightsOnly, 1);
  assert.deepEqual(j.bitsHistogram, [{ bits: 32, groups: 8, features: 903 }]);
  // data: 7 groups of 128 rows x 64 B (64-aligned already) + 7 rows x 64 B = 903 * 64.
  assert.equal(j.bytes.tableData, 903 * 64);
  const h = mpe('inspect', dir);
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /^32\s+8\s+903\s+100\.0%$/m);
  assert.match(h.stdout, /^weights-only ratio \(32 \/ avg bits\)\s+1\.00x$/m);
  assert.match(h.stdout, /^table\.bin\s+ok$/m);
});

test('inspect: corrupted file is reported per file and exits 1; errors and usage have their exit codes', async () => {
  const dir = join(root, 'bad');
  await writeBundle(dir, makeFixture({ seed: 3, d: 4, fields: 2, perField: 4, groupSize: 4, bits: [8, 4, 0] }).parts);
  const scorer = await readFile(join(dir, 'scorer.onnx'));
  scorer[5] = scorer[5]! ^ 0x10;
  await writeFile(join(dir, 'scorer.onnx'), scorer);
  const r = mpe('inspect', dir, '--json');
  assert.equal(r.status, 1);
  assert.deepEqual(JSON.parse(r.stdout).checksums, { 'manifest.json': 'ok', 'table.bin': 'ok', 'vocab.bin': 'ok', 'scorer.onnx': 'mismatch' });
  assert.match(r.stderr, /^error MPE_ERR_BUNDLE_CHECKSUM: .*scorer\.onnx/m);
  const missing = mpe('inspect', join(root, 'nope'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^error MPE_ERR_BUNDLE_NOT_FOUND: /m);
  assert.equal(mpe('inspect').status, 2);
  assert.equal(mpe('no-such-command').status, 2);
});
