import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { synthesize } from '../../src/data/synth.js';

const dir = mkdtempSync(join(tmpdir(), 'mpe-synth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('synth writes Criteo-format rows, deterministic per seed, with a sensible click rate and ceiling', () => {
  const a = synthesize({ rows: 3000, out: join(dir, 'a.txt'), seed: 5 });
  const b = synthesize({ rows: 3000, out: join(dir, 'b.txt'), seed: 5 });
  synthesize({ rows: 3000, out: join(dir, 'c.txt'), seed: 6 });
  const sha = (f: string) => createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
  assert.equal(sha('a.txt'), sha('b.txt'));
  assert.notEqual(sha('a.txt'), sha('c.txt'));
  assert.equal(a.ceilingAuc, b.ceilingAuc);
  const lines = readFileSync(join(dir, 'a.txt'), 'latin1').split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, 3000);
  let pos = 0;
  let missing = 0;
  for (const line of lines) {
    const cols = line.split('\t');
    assert.equal(cols.length, 40);
    assert.match(cols[0]!, /^[01]$/);
    pos += Number(cols[0]);
    for (let i = 1; i <= 13; i++) assert.match(cols[i]!, /^(\d+)?$/);
    for (let i = 14; i < 40; i++) assert.match(cols[i]!, /^([0-9a-f]{8})?$/);
    for (const v of cols) if (v === '') missing++;
  }
  assert.equal(pos, a.positives);
  assert.ok(pos / 3000 > 0.17 && pos / 3000 < 0.28, `CTR ${pos / 3000}`);
  assert.ok(missing > 0);
  assert.ok(a.ceilingAuc > 0.65 && a.ceilingAuc < 0.95, `ceiling ${a.ceilingAuc}`);
});

test('synth rejects a bad row count', () => {
  assert.throws(() => synthesize({ rows: 0, out: join(dir, 'x.txt') }), { code: 'MPE_ERR_TRAIN_CONFIG' });
});
