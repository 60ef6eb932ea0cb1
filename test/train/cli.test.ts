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

test('mpe train: csv implied by --label, --split-column, --method mpe --json carries the run summary; compare and train take the same training flags', () => {
  const p = join(dir, 'ctr.csv');
  const lines = ['click,user,item,part'];
  for (let i = 0; i < 1500; i++) {
    const u = i % 37;
    const it = (i * 7) % 23;
    lines.push(`${(u + it) % 3 === 0 ? 1 : 0},u${u},i${it},${i % 10 < 8 ? 'train' : i % 10 === 8 ? 'valid' : 'test'}`);
  }
  writeFileSync(p, `${lines.join('\n')}\n`);
  const out = join(dir, 'mpe-csv');
  const t = mpe(
    'train', '--data', p, '--label', 'click', '--categorical', 'user,item', '--split-column', 'part', '--out', out, '--method', 'mpe',
    '--preset', 'paper', '--epochs', '2', '--batch-size', '128', '--hidden', '8', '--d', '4', '--threads', '1', '--groups', '8', '--lambda', '1e-4', '--json',
  );
  assert.equal(t.status, 0, t.stderr);
  const j = JSON.parse(t.stdout);
  assert.equal(j.method, 'mpe');
  assert.equal(j.preset, 'paper');
  assert.deepEqual(j.data.rowsPerSplit, [1200, 150, 150]);
  assert.deepEqual(j.data.split, { column: 'part' });
  assert.equal(j.options.epochs, 2); // explicit flag over the preset's 15
  assert.equal(j.options.patience, 2); // the preset's
  assert.equal(j.options.weightDecay, 0);
  assert.equal(j.mpe.lambda, 1e-4);
  assert.equal(j.mpe.tau, 3e-3);
  assert.equal(j.mpe.groups, j.memory.bitsPerGroup.length);
  assert.ok(Math.abs(j.memory.averageBits - j.mpe.averageBits) < 1e-12);
  assert.ok(Math.abs(j.memory.weightsOnlyRatio - 32 / j.memory.averageBits) < 1e-9);
  assert.ok(j.memory.allInRatio > 0 && j.memory.allInBytes > 0);
  assert.deepEqual(j.phases.map((ph: { name: string }) => ph.name), ['search', 'retrain']);
  for (const ph of j.phases) {
    assert.ok(ph.epochs >= 1 && ph.bestEpoch >= 1 && ph.bestEpoch <= ph.epochs && ph.samplesPerSecond > 0);
    assert.equal(ph.history.length, ph.epochs);
  }
  assert.ok(j.wallSeconds > 0);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.deepEqual(j.memory.bitsPerGroup, manifest.table.bitsPerGroup);
  // a csv flag with an explicit criteo format is refused naming the flag, before any training
  const bad = mpe('train', '--data', p, '--format', 'criteo', '--label', 'click', '--categorical', 'user', '--out', join(dir, 'nothing2'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /MPE_ERR_TRAIN_CONFIG: .*--label, --categorical are csv flags/);
  // mpe compare accepts every training flag mpe train accepts (one definition)
  const flagsOf = (cmd: string) => new Set([...mpe(cmd, '--help').stdout.matchAll(/(--[a-z-]+)/g)].map((m) => m[1]));
  const trainFlags = flagsOf('train');
  const compareFlags = flagsOf('compare');
  for (const f of ['--split-column', '--train', '--valid', '--test', '--split-seed', '--preset', '--patience', '--lr', '--weight-decay', '--lambda', '--search-epochs']) {
    assert.ok(trainFlags.has(f) && compareFlags.has(f), f);
  }
});
