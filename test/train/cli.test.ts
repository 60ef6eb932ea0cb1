import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'mpe-cli-train-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function mpe(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
}

test('mpe synth + mpe train --json (not a TTY: plain progress lines) write a bundle; bad data exits 1 with code and line', () => {
  const data = join(dir, 's.txt');
  const s = mpe('synth', '--rows', '3000', '--out', data, '--seed', '4', '--json');
  assert.equal(s.status, 0, s.stderr);
  const sj = JSON.parse(s.stdout);
  assert.equal(sj.rows, 3000);
  assert.ok(sj.ceilingAuc > 0.6 && sj.ceilingAuc < 1);
  const out = join(dir, 'bundle');
  const t = mpe('train', '--data', data, '--out', out, '--hidden', '8,4', '--d', '4', '--epochs', '2', '--batch-size', '256', '--threads', '1', '--json');
  assert.equal(t.status, 0, t.stderr);
  const tj = JSON.parse(t.stdout);
  assert.equal(tj.method, 'fp32');
  assert.ok(tj.metrics.test.auc > 0.5);
  assert.match(t.stderr, /train epoch 1: train loss [\d.]+, valid AUC [\d.]+/);
  assert.equal(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).metrics.testAuc, tj.metrics.test.auc);

  const bad = join(dir, 'bad.txt');
  writeFileSync(bad, `${readFileSync(data, 'latin1').split('\n').slice(0, 3).join('\n')}\nmaybe${'\t'.repeat(39)}\n`);
  const b = mpe('train', '--data', bad, '--out', join(dir, 'nothing'), '--hidden', '4', '--threads', '1');
  assert.equal(b.status, 1);
  assert.match(b.stderr, new RegExp(`error MPE_ERR_DATA_LABEL: .*${bad}:4:`));
  assert.equal(existsSync(join(dir, 'nothing')), false);
  const u = mpe('train', '--data', data, '--out', join(dir, 'x'), '--epochs', 'two');
  assert.equal(u.status, 1);
  assert.match(u.stderr, /MPE_ERR_TRAIN_CONFIG/);
});
