import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mix32 } from '../../src/util/hash.js';

/** MurmurHash3 fmix32 written with BigInt arithmetic, independent of Math.imul. */
function reference(x: number): number {
  const M = 0xffffffffn;
  let h = BigInt(x >>> 0);
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & M;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & M;
  h ^= h >> 16n;
  return Number(h);
}

test('mix32 is MurmurHash3 fmix32: known answers and a BigInt reference', () => {
  assert.equal(mix32(0), 0);
  assert.equal(mix32(1), 0x514e28b7); // MurmurHash3 reference finaliser
  for (const x of [2, 0x7fffffff, 0x80000000, 0xffffffff, 0xdeadbeef, 123456789]) assert.equal(mix32(x), reference(x), `x = ${x}`);
});

test('mix32 is injective on a range and returns uint32', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 1 << 16; i++) {
    const h = mix32(i * 65537);
    assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff);
    seen.add(h);
  }
  assert.equal(seen.size, 1 << 16);
});
