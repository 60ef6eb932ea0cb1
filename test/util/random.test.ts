import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../../src/util/random.js';

test('createRng: same seed same stream, different seeds differ, values in range', () => {
  const a = createRng(42);
  const b = createRng(42);
  const c = createRng(43);
  const xa: number[] = [];
  let differs = 0;
  for (let i = 0; i < 1000; i++) {
    const va = a.next();
    assert.equal(va, b.next());
    if (va !== c.next()) differs++;
    assert.ok(va >= 0 && va < 1);
    xa.push(va);
  }
  assert.ok(differs > 990);
  // First value pinned so fixtures stay stable across refactors (mulberry32, seed 42).
  assert.equal(xa[0], 0.6011037519201636);
  assert.equal(xa[1], 0.44829055899754167);
});

test('createRng: normal() has mean ~0 and variance ~1; int(n) covers [0, n)', () => {
  const r = createRng(7);
  let s = 0;
  let s2 = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const v = r.normal();
    s += v;
    s2 += v * v;
  }
  assert.ok(Math.abs(s / n) < 0.03, `mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - 1) < 0.05, `variance ${s2 / n}`);
  const counts = new Int32Array(5);
  for (let i = 0; i < 5000; i++) {
    const k = r.int(5);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 5);
    counts[k] = (counts[k] as number) + 1;
  }
  for (const cnt of counts) assert.ok(cnt > 850 && cnt < 1150, `bucket count ${cnt}`);
});
