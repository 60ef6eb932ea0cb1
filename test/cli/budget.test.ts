import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { synthesize } from '../../src/data/synth.js';

const dir = mkdtempSync(join(tmpdir(), 'mpe-cli-budget-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function mpe(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
}

test('mpe train and mpe compare refuse bad budget flags with a stable code before reading the data', () => {
  const missing = join(dir, 'missing.txt');
  const t = mpe('train', '--data', missing, '--out', join(dir, 'a'), '--method', 'mpe', '--target-bits', '2', '--lambda', '1e-3');
  assert.equal(t.status, 1);
  assert.match(t.stderr, /error MPE_ERR_MPE_TARGET_CONFLICT: .*--target-bits and --lambda/);
  const r = mpe('train', '--data', missing, '--out', join(dir, 'b'), '--method', 'mpe', '--target-bits', '40');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error MPE_ERR_MPE_TARGET_RANGE: .*got 40/);
  const c = mpe('compare', '--data', missing, '--out', join(dir, 'c'), '--methods', 'fp32,mpe', '--target-ratio', '0.5');
  assert.equal(c.status, 1);
  assert.match(c.stderr, /error MPE_ERR_MPE_TARGET_RANGE: .*--target-ratio must be >= 1/);
  assert.equal(existsSync(join(dir, 'c')), false, 'compare stopped before creating its report directory');
  // mpe:<b> rows are budget mode at b bits per weight: checked like --target-bits, --lambda left to the plain mpe row.
  const m = mpe('compare', '--data', missing, '--out', join(dir, 'm'), '--methods', 'mpe,mpe:0.5', '--bits', '1,2,4', '--lambda', '1e-4');
  assert.equal(m.status, 1);
  assert.match(m.stderr, /error MPE_ERR_MPE_TARGET_RANGE: .*0\.5 bits per weight, below the smallest candidate width 1/);
  const ref = mpe('compare', '--data', missing, '--out', join(dir, 'r'), '--methods', 'mpe:2', '--reference', join(dir, 'no-such.json'));
  assert.equal(ref.status, 1);
  assert.match(ref.stderr, /error MPE_ERR_DATA_NOT_FOUND: .*--reference/);
  assert.equal(existsSync(join(dir, 'm')) || existsSync(join(dir, 'r')), false, 'nothing written');
  // --target-bytes: a byte size, alone
  const y = mpe('train', '--data', missing, '--out', join(dir, 'd'), '--method', 'mpe', '--target-bytes', '50XB');
  assert.equal(y.status, 1);
  assert.match(y.stderr, /error MPE_ERR_MPE_CONFIG: .*--target-bytes must be a size in bytes such as 50000000, 50MB, 50MiB or 1\.5GB, got '50XB'/);
  const yc = mpe('compare', '--data', missing, '--out', join(dir, 'e'), '--methods', 'fp32,mpe', '--target-bytes', '1.5MiB', '--target-ratio', '8');
  assert.equal(yc.status, 1);
  assert.match(yc.stderr, /error MPE_ERR_MPE_TARGET_CONFLICT: .*--target-ratio and --target-bytes: give one of/);
  assert.equal(existsSync(join(dir, 'e')), false);
  const y0 = mpe('train', '--data', missing, '--out', join(dir, 'f'), '--method', 'mpe', '--target-bytes', '0MB');
  assert.equal(y0.status, 1);
  assert.match(y0.stderr, /error MPE_ERR_MPE_TARGET_RANGE: .*--target-bytes must be a whole number of bytes from 1/);
});

/**
 * A small budget-mode `mpe train --json` on synthetic data: --tau 10 keeps the search's softmax
 * near uniform, so it selects 6 bits everywhere, over the target. Returns the run and its out dir.
 */
function budgetRun(name: string, seed: number, d: number, target: string[]): { t: ReturnType<typeof mpe>; out: string } {
  const data = join(dir, `${name}.txt`);
  synthesize({ rows: 3000, out: data, seed });
  const out = join(dir, name);
  const t = mpe(
    'train', '--data', data, '--out', out, '--method', 'mpe', ...target, '--tau', '10', '--groups', '8', '--budget-probes', '2',
    '--hidden', '8', '--d', String(d), '--epochs', '1', '--batch-size', '256', '--threads', '1', '--json',
  );
  assert.equal(t.status, 0, t.stderr);
  return { t, out };
}

test('mpe train --target-bits reports target, lambda, search and written bits, groups lowered and test AUC (stderr, --json, manifest)', () => {
  const { t, out } = budgetRun('bundle', 3, 4, ['--target-bits', '1.5']);
  const j = JSON.parse(t.stdout);
  const b = j.budget;
  assert.equal(b.targetBits, 1.5);
  assert.ok(b.searchBits > 1.5 && b.bits <= 1.5, JSON.stringify(b));
  assert.ok(b.groupsLowered > 0);
  assert.equal(b.testAuc, j.metrics.test.auc);
  assert.equal(b.targetBytes, null);
  assert.equal(b.hit, true);
  assert.match(
    t.stderr,
    new RegExp(
      `budget: target 1\\.5000 bits/weight \\(--target-bits\\) hit, lambda ${b.lambda.toExponential(3).replace('+', '\\+')}; search selected ${b.searchBits.toFixed(4)} bits/weight, ${b.searchBytes} bytes; ` +
        `written ${b.bits.toFixed(4)} bits/weight, ${b.bytes} bytes \\(table.bin ${b.tableBytes} \\+ vocab.bin ${b.vocabBytes}; ${b.groupsLowered} groups? lowered by ${b.stepsLowered} steps?, cost distortion\\); test AUC`,
    ),
  );
  const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  const { testAuc, ...inJson } = b;
  assert.deepEqual(m.training.mpe.budget, inJson);
  assert.equal(m.training.mpe.averageBits, b.bits);
  assert.equal(m.metrics.testAuc, b.testAuc);
});

test('mpe train --target-bytes 40KB: the written table.bin + vocab.bin are within 40,000 bytes; the report (stderr, --json, manifest) names the target, hit, and the bytes', () => {
  const { t, out } = budgetRun('bundle-bytes', 4, 16, ['--target-bytes', '40KB']);
  const b = JSON.parse(t.stdout).budget;
  assert.equal(b.targetBytes, 40000);
  assert.equal(b.targetBits, null);
  assert.equal(b.targetFrom, '--target-bytes');
  const files = statSync(join(out, 'table.bin')).size + statSync(join(out, 'vocab.bin')).size;
  assert.equal(b.bytes, files);
  assert.ok(files <= 40000 && b.searchBytes > 40000, `search ${b.searchBytes} -> written ${files} bytes`);
  assert.equal(b.hit, true);
  assert.match(t.stderr, new RegExp(`budget: target 40000 bytes \\(table\\.bin \\+ vocab\\.bin\\) \\(--target-bytes\\) hit, .* written [0-9.]+ bits/weight, ${files} bytes`));
  const { testAuc, ...inJson } = b;
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).training.mpe.budget, inJson);
});
