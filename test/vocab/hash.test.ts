import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashToken, slotHash } from '../../src/vocab/hash.js';
import { createRng } from '../../src/util/random.js';

/** The spec, written the slow and obvious way: FNV-1a 64 over uint32_le(field) || TextEncoder(token). */
function reference(field: number, token: string): [number, number] {
  const bytes = [field & 0xff, (field >>> 8) & 0xff, (field >>> 16) & 0xff, field >>> 24, ...new TextEncoder().encode(token)];
  let h = 0xcbf29ce484222325n;
  for (const c of bytes) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return [Number(h >> 32n), Number(h & 0xffffffffn)];
}

test('hashToken matches a BigInt FNV-1a 64 over uint32_le(field) || utf8(token)', () => {
  assert.deepEqual(hashToken(0, ''), [0x4d25767f, 0x9dce13f5]);
  const fixed: Array<[number, string]> = [
    [0, 'a'], [1, 'a'], [38, '68fd1e64'], [0xffffffff, 'x'], [3, 'é'], [3, '日本'], [3, '😀'], [3, '\ud800'], [3, 'a\udc00b'], [2, '\u0000'], [7, 'x'.repeat(300)],
  ];
  for (const [f, t] of fixed) assert.deepEqual(hashToken(f, t), reference(f, t), `${f} ${JSON.stringify(t)}`);
  const rng = createRng(11);
  for (let i = 0; i < 3000; i++) {
    let t = '';
    const len = rng.int(12);
    for (let k = 0; k < len; k++) t += String.fromCharCode(rng.next() < 0.8 ? 32 + rng.int(95) : rng.int(0x10000));
    const f = rng.int(64);
    assert.deepEqual(hashToken(f, t), reference(f, t));
  }
  assert.notDeepEqual(hashToken(0, 'a'), hashToken(1, 'a'));
});

test('slotHash is MurmurHash3 fmix32 of hi ^ lo', () => {
  assert.equal(slotHash(0, 0), 0);
  // fmix32(1) = 0x514e28b7 (MurmurHash3 reference finaliser)
  assert.equal(slotHash(1, 0), 0x514e28b7);
  assert.equal(slotHash(0x12345678, 0x12345678), 0);
});
