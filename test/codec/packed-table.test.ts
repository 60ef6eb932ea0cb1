import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unpackRow } from '../../src/codec/bitpack.js';
import { computeLayout, type GroupedTableSpec, type RowwiseTableSpec, rowBytes } from '../../src/codec/layout.js';
import { packTable } from '../../src/codec/pack-table.js';
import { PackedTable } from '../../src/codec/packed-table.js';
import { fromFloat16Bits, qMin, quantizeValue } from '../../src/codec/quantize.js';
import type { MpeError } from '../../src/errors.js';
import { createRng } from '../../src/util/random.js';

function randomWeights(n: number, d: number, seed: number, scale = 0.05): Float32Array {
  const rng = createRng(seed);
  const w = new Float32Array(n * d);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * scale;
  return w;
}

function groupedSpec(d: number, featureCount: number, groupSize: number, bits: number[], seed: number): GroupedTableSpec {
  const rng = createRng(seed);
  const alpha = new Float32Array(9);
  for (let b = 1; b <= 8; b++) alpha[b] = Math.fround((0.1 / Math.sqrt(2 ** (b - 1))) * (0.5 + rng.next()));
  const beta = new Float32Array(d);
  for (let j = 0; j < d; j++) beta[j] = Math.fround(rng.normal() * 0.01);
  const G = Math.ceil(featureCount / groupSize);
  const bitsPerGroup = new Uint8Array(G);
  for (let g = 0; g < G; g++) bitsPerGroup[g] = bits[g % bits.length]!;
  return { kind: 'grouped', d, featureCount, groupSize, bitsPerGroup, alpha, beta };
}

/** Copies bytes into a SharedArrayBuffer at a given byteOffset, as the bundle loader does. */
function shared(bytes: Uint8Array, byteOffset = 0): Uint8Array {
  const sab = new SharedArrayBuffer(bytes.length + byteOffset);
  const u8 = new Uint8Array(sab, byteOffset, bytes.length);
  u8.set(bytes);
  return u8;
}

const ALL_BITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 32];

test('mixed-bits table (0-bit, 1..8, fp32 groups): dequantize equals Math.fround(alpha_b*q + beta_j) bit for bit', () => {
  for (const d of [1, 3, 16, 17, 64, 70]) {
    const n = 1003; // last group smaller
    const spec = groupedSpec(d, n, 50, ALL_BITS, d);
    const w = randomWeights(n, d, 100 + d);
    const data = packTable(spec, w);
    assert.equal(data.length, computeLayout(spec).dataBytes);
    for (const [unrolled, lut] of [[true, true], [true, false], [false, false]]) {
      for (const off of [0, 2]) {
        const table = new PackedTable(spec, shared(data, off), { unrolled, lut });
        const ids = new Int32Array(n);
        const rng = createRng(d);
        for (let i = 0; i < n; i++) ids[i] = rng.int(n);
        ids[0] = n - 1;
        const out = new Float32Array(n * d + 5).fill(Number.NaN);
        table.dequantize(ids, n, out, 5);
        for (let i = 0; i < n; i++) {
          const id = ids[i]!;
          const b = spec.bitsPerGroup[Math.floor(id / spec.groupSize)]!;
          assert.equal(table.bitsOf(id), b);
          for (let j = 0; j < d; j++) {
            const x = w[id * d + j]!;
            const want = b === 0 ? 0 : b === 32 ? x : Math.fround(spec.alpha[b]! * quantizeValue(x, spec.alpha[b]!, spec.beta[j]!, b) + spec.beta[j]!);
            const got = out[5 + i * d + j]!;
            assert.ok(Object.is(got, want), `d ${d} unrolled ${unrolled} id ${id} bits ${b} j ${j}: ${got} != ${want}`);
          }
        }
      }
    }
  }
});

test('group pad (partial FIRST group, MPE grouping): every decoder is bit-exact and bitsOf follows floor((id + pad) / groupSize)', () => {
  for (const d of [3, 16, 70]) {
    const n = 1003;
    const gs = 50;
    const pad = 47; // group 0 holds 3 ids
    const base = groupedSpec(d, n, gs, ALL_BITS, d);
    const G = Math.ceil((n + pad) / gs);
    const bitsPerGroup = new Uint8Array(G);
    for (let g = 0; g < G; g++) bitsPerGroup[g] = ALL_BITS[(g + 3) % ALL_BITS.length]!;
    const spec: GroupedTableSpec = { ...base, groupPad: pad, bitsPerGroup };
    assert.throws(() => computeLayout({ ...spec, bitsPerGroup: bitsPerGroup.subarray(0, G - 1) }), { code: 'MPE_ERR_CODEC_LAYOUT' });
    assert.throws(() => computeLayout({ ...spec, groupPad: gs }), { code: 'MPE_ERR_CODEC_LAYOUT' });
    const w = randomWeights(n, d, 300 + d);
    const data = packTable(spec, w);
    for (const [unrolled, lut] of [[true, true], [true, false], [false, false]]) {
      const table = new PackedTable(spec, shared(data, 0), { unrolled, lut });
      const ids = Int32Array.from({ length: n }, (_, i) => n - 1 - i);
      const out = new Float32Array(n * d);
      table.dequantize(ids, n, out, 0);
      for (let i = 0; i < n; i++) {
        const id = ids[i]!;
        const b = bitsPerGroup[Math.floor((id + pad) / gs)]!;
        assert.equal(table.bitsOf(id), b);
        for (let j = 0; j < d; j++) {
          const x = w[id * d + j]!;
          const want = b === 0 ? 0 : b === 32 ? x : Math.fround(spec.alpha[b]! * quantizeValue(x, spec.alpha[b]!, spec.beta[j]!, b) + spec.beta[j]!);
          assert.ok(Object.is(out[i * d + j], want), `d ${d} unrolled ${unrolled} lut ${lut} id ${id} bits ${b} j ${j}`);
        }
      }
    }
    let features = 0;
    for (const v of new PackedTable(spec, data).featuresByBits().values()) features += v;
    assert.equal(features, n);
  }
});

test('stored codes are offset-binary u = q - Qn at each group offset', () => {
  const d = 16;
  const spec = groupedSpec(d, 300, 100, [3, 6, 0], 5);
  const w = randomWeights(300, d, 9);
  const data = packTable(spec, w);
  const offs = computeLayout(spec).groupOffsets;
  assert.equal(offs[1]! % 64, 0);
  const codes = new Int32Array(d);
  for (const id of [0, 99, 100, 199]) {
    const g = Math.floor(id / 100);
    const b = spec.bitsPerGroup[g]!;
    unpackRow(data, offs[g]! + (id - g * 100) * rowBytes(b, d), b, d, codes);
    for (let j = 0; j < d; j++) assert.equal(codes[j], quantizeValue(w[id * d + j]!, spec.alpha[b]!, spec.beta[j]!, b) - qMin(b));
  }
});

test('row-wise int4/int8: value = fround(scale*u + bias), error within scale/2 + fp16 rounding', () => {
  for (const bits of [4, 8] as const) {
    for (const d of [1, 3, 16, 17, 64]) {
      const n = 257;
      const spec: RowwiseTableSpec = { kind: 'rowwise', d, featureCount: n, bits };
      const w = randomWeights(n, d, bits * 100 + d, 0.3);
      w.fill(0.25, 0, d); // constant row: scale 1, all codes 0
      const data = packTable(spec, w);
      const cb = rowBytes(bits, d);
      for (const unrolled of [true, false]) {
        const table = new PackedTable(spec, shared(data), { unrolled });
        const ids = Int32Array.from({ length: n }, (_, i) => i);
        const out = new Float32Array(n * d);
        table.dequantize(ids, n, out);
        const codes = new Int32Array(d);
        for (let id = 0; id < n; id++) {
          const p = id * (cb + 4);
          const scale = fromFloat16Bits(data[p + cb]! | (data[p + cb + 1]! << 8));
          const bias = fromFloat16Bits(data[p + cb + 2]! | (data[p + cb + 3]! << 8));
          unpackRow(data, p, bits, d, codes);
          let min = Number.POSITIVE_INFINITY;
          let max = Number.NEGATIVE_INFINITY;
          for (let j = 0; j < d; j++) {
            min = Math.min(min, w[id * d + j]!);
            max = Math.max(max, w[id * d + j]!);
          }
          const qmax = (1 << bits) - 1;
          const exactScale = (max - min) / qmax;
          // fp16 rounding of bias shifts the grid; of scale stretches it by up to qmax * |scale - exact|.
          const bound = scale / 2 + Math.abs(bias - min) + qmax * Math.abs(scale - exactScale) + 1e-6;
          for (let j = 0; j < d; j++) {
            const got = out[id * d + j]!;
            assert.ok(Object.is(got, Math.fround(scale * codes[j]! + bias)));
            if (id > 0) assert.ok(Math.abs(got - w[id * d + j]!) <= bound, `bits ${bits} d ${d} id ${id}: err ${Math.abs(got - w[id * d + j]!)} > ${bound}`);
            else assert.equal(got, 0.25);
          }
        }
      }
    }
  }
});

test('ids out of range, short buffers and bad layouts are refused with codes', () => {
  const spec = groupedSpec(16, 100, 10, [4, 0], 1);
  const table = new PackedTable(spec, shared(packTable(spec, randomWeights(100, 16, 1))));
  const out = new Float32Array(32);
  for (const bad of [-1, 100, 2 ** 31 - 1]) {
    assert.throws(() => table.dequantize(Int32Array.of(3, bad), 2, out), (e: MpeError) => e.code === 'MPE_ERR_CODEC_ID_RANGE');
    assert.throws(() => table.bitsOf(bad), (e: MpeError) => e.code === 'MPE_ERR_CODEC_ID_RANGE');
  }
  const generic = new PackedTable(spec, shared(packTable(spec, randomWeights(100, 16, 1))), { unrolled: false });
  assert.throws(() => generic.dequantize(Int32Array.of(100), 1, out), (e: MpeError) => e.code === 'MPE_ERR_CODEC_ID_RANGE');
  assert.throws(() => table.dequantize(Int32Array.of(1, 2, 3), 3, out), (e: MpeError) => e.code === 'MPE_ERR_CODEC_BUFFER');
  assert.throws(() => table.dequantize(Int32Array.of(1), 1, out, 17), (e: MpeError) => e.code === 'MPE_ERR_CODEC_BUFFER');
  assert.throws(() => new PackedTable(spec, new Uint8Array(10)), (e: MpeError) => e.code === 'MPE_ERR_CODEC_LAYOUT');
  assert.throws(() => packTable(spec, new Float32Array(5)), (e: MpeError) => e.code === 'MPE_ERR_CODEC_LAYOUT');
  const nan = randomWeights(100, 16, 2);
  nan[5] = Number.NaN;
  assert.throws(() => packTable(spec, nan), (e: MpeError) => e.code === 'MPE_ERR_CODEC_VALUE');
  assert.throws(() => packTable({ ...spec, bitsPerGroup: Uint8Array.of(4, 0, 4, 4, 4, 4, 4, 4, 4, 9) }, randomWeights(100, 16, 1)), (e: MpeError) => e.code === 'MPE_ERR_CODEC_BITS');
});

test('bytesByBits and featuresByBits account for every byte and feature', () => {
  const spec = groupedSpec(16, 1000, 100, [6, 4, 2, 0, 32], 3);
  const table = new PackedTable(spec, shared(packTable(spec, randomWeights(1000, 16, 3))));
  const feats = table.featuresByBits();
  assert.deepEqual([...feats.entries()].sort((a, b) => a[0] - b[0]), [[0, 200], [2, 200], [4, 200], [6, 200], [32, 200]]);
  const bytes = table.bytesByBits();
  assert.equal(bytes.get(0), 0);
  assert.equal(bytes.get(6), 2 * 1216); // 100 rows * 12 bytes, padded to 64-byte alignment
  assert.equal(bytes.get(32), 2 * 100 * 64);
  let sum = 0;
  for (const v of bytes.values()) sum += v;
  assert.equal(sum, table.layout.dataBytes);
  const rw = new PackedTable({ kind: 'rowwise', d: 16, featureCount: 10, bits: 4 }, new Uint8Array(120));
  assert.deepEqual([...rw.bytesByBits()], [[4, 120]]);
  assert.equal(rw.bitsOf(9), 4);
});
