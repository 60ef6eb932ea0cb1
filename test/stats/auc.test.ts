import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exactAuc, logLoss } from '../../src/stats/auc.js';
import { createRng } from '../../src/util/random.js';

function bruteAuc(s: ArrayLike<number>, y: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < s.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < s.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      wins += s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

test('exactAuc equals the brute-force pair count, ties counting half', () => {
  const rng = createRng(7);
  for (const levels of [3, 17, 1000]) {
    const n = 701;
    const s = new Float32Array(n);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = rng.next() < 0.3 ? 1 : 0;
      // Few levels => many ties, also across classes.
      s[i] = Math.floor((rng.next() * 0.6 + 0.4 * y[i]!) * levels) / levels;
    }
    assert.ok(Math.abs(exactAuc(s, y, n) - bruteAuc(s, y)) < 1e-12, `levels ${levels}`);
  }
});

test('exactAuc: perfect, inverted, all tied, one class', () => {
  assert.equal(exactAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 4), 1);
  assert.equal(exactAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 4), 0);
  assert.equal(exactAuc([0.5, 0.5, 0.5], [0, 1, 1], 3), 0.5);
  assert.ok(Number.isNaN(exactAuc([0.1, 0.2], [1, 1], 2)));
});

test('logLoss is the mean BCE with clipping', () => {
  const p = [0.9, 0.2, 0.5, 0];
  const y = [1, 0, 1, 0];
  const want = -(Math.log(0.9) + Math.log(0.8) + Math.log(0.5) + Math.log(1 - 1e-7)) / 4;
  assert.ok(Math.abs(logLoss(p, y, 4) - want) < 1e-12);
  assert.ok(Math.abs(logLoss([0], [1], 1) - -Math.log(1e-7)) < 1e-9);
});
