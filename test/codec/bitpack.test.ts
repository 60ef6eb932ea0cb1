import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packRow, unpackRow } from '../../src/codec/bitpack.js';
import { rowBytes } from '../../src/codec/layout.js';
import type { MpeError } from '../../src/errors.js';
import { createRng } from '../../src/util/random.js';

const DS = [1, 3, 16, 17, 64];

test('pack/unpack round trip is bit-exact for every width 1..8 and several d over many seeds', () => {
  for (let bits = 1; bits <= 8; bits++) {
    for (const d of DS) {
      for (let seed = 1; seed <= 40; seed++) {
        const rng = createRng(seed * 1000 + bits * 10 + d);
        const codes = new Int32Array(d);
        for (let j = 0; j < d; j++) codes[j] = rng.int(1 << bits);
        const n = rowBytes(bits, d);
        // Pack at an odd offset inside a larger buffer filled with 0xff: neighbours must stay untouched.
        const buf = new Uint8Array(n + 7).fill(0xff);
        packRow(codes, bits, d, buf, 3);
        assert.deepEqual([...buf.subarray(0, 3)], [0xff, 0xff, 0xff]);
        assert.deepEqual([...buf.subarray(3 + n)], [0xff, 0xff, 0xff, 0xff]);
        const back = new Int32Array(d);
        unpackRow(buf, 3, bits, d, back);
        assert.deepEqual(back, codes, `bits ${bits} d ${d} seed ${seed}`);
        // Padding bits of the last byte are zero.
        const used = (bits * d) % 8;
        if (used !== 0) assert.equal(buf[3 + n - 1]! >>> used, 0);
      }
    }
  }
});

test('bits 32 round-trips raw float32 values, little-endian', () => {
  for (const d of DS) {
    const rng = createRng(d);
    const vals = new Float32Array(d);
    for (let j = 0; j < d; j++) vals[j] = rng.normal() * 1e3;
    const buf = new Uint8Array(4 * d + 1);
    packRow(vals, 32, d, buf, 1);
    const back = new Float32Array(d);
    unpackRow(buf, 1, 32, d, back);
    assert.deepEqual(back, vals);
    const dv = new DataView(buf.buffer);
    assert.equal(dv.getFloat32(1, true), vals[0]);
  }
});

test('layout is LSB-first: hand-checked bytes', () => {
  const out = new Uint8Array(2);
  // Code j at bits [3j, 3j+3): byte 0 = 1 | 2<<3 | (3 & 3)<<6 = 0b11_010_001; byte 1 = (3 >> 2) | 4<<1 = 0b1000.
  packRow([1, 2, 3, 4], 3, 4, out, 0);
  assert.deepEqual([...out], [0b11010001, 0b00001000]);
  const out4 = new Uint8Array(1);
  packRow([0xa, 0x5], 4, 2, out4, 0);
  assert.equal(out4[0], 0x5a);
});

test('bad widths, codes and buffers are refused with codes', () => {
  const out = new Uint8Array(16);
  assert.throws(() => packRow([0], 9, 1, out, 0), (e: MpeError) => e.code === 'MPE_ERR_CODEC_BITS');
  assert.throws(() => packRow([4], 2, 1, out, 0), (e: MpeError) => e.code === 'MPE_ERR_CODEC_VALUE');
  assert.throws(() => packRow([-1], 2, 1, out, 0), (e: MpeError) => e.code === 'MPE_ERR_CODEC_VALUE');
  assert.throws(() => packRow([1.5], 2, 1, out, 0), (e: MpeError) => e.code === 'MPE_ERR_CODEC_VALUE');
  assert.throws(() => packRow(new Array(17).fill(0), 8, 17, out, 0), (e: MpeError) => e.code === 'MPE_ERR_CODEC_BUFFER');
  assert.throws(() => unpackRow(out, 10, 8, 7, new Int32Array(7)), (e: MpeError) => e.code === 'MPE_ERR_CODEC_BUFFER');
});
