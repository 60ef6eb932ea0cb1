import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dequantizeValue, f16round, fromFloat16Bits, qMax, qMin, quantizeValue, roundHalfEven, toFloat16Bits } from '../../src/codec/quantize.js';
import { createRng } from '../../src/util/random.js';

test('roundHalfEven: ties go to the even neighbour, other values to the nearest', () => {
  const cases: Array<[number, number]> = [
    [0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, -0], [-1.5, -2], [-2.5, -2], [-3.5, -4],
    [0.49999999999999994, 0], [1.4, 1], [1.6, 2], [-1.4, -1], [-1.6, -2], [7, 7], [-8, -8], [1e15 + 0.5, 1e15],
  ];
  for (const [x, want] of cases) assert.ok(Object.is(roundHalfEven(x), want), `round(${x}) = ${roundHalfEven(x)}, want ${want}`);
});

test('quantizeValue: hand-computed codes, ties to even, clamping to [Qn, Qp]', () => {
  assert.equal(qMin(4), -8);
  assert.equal(qMax(4), 7);
  assert.equal(qMin(1), -1);
  assert.equal(qMax(1), 0);
  // (w - beta) / alpha = (0.35 - 0.1) / 0.1 = 2.5 (up to double rounding: 2.4999999999999996) -> 2
  assert.equal(quantizeValue(0.35, 0.1, 0.1, 4), 2);
  // exact ties with power-of-two steps: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, -3.5 -> -4
  assert.equal(quantizeValue(1.25, 0.5, 0, 4), 2);
  assert.equal(quantizeValue(1.75, 0.5, 0, 4), 4);
  assert.equal(quantizeValue(-1.25, 0.5, 0, 4), -2);
  assert.equal(quantizeValue(-1.75, 0.5, 0, 4), -4);
  assert.equal(quantizeValue(0.25 + 1, 0.5, 1, 4), 0); // v = 0.5 -> 0
  // clamping
  assert.equal(quantizeValue(100, 0.5, 0, 4), 7);
  assert.equal(quantizeValue(-100, 0.5, 0, 4), -8);
  assert.equal(quantizeValue(3.75, 0.5, 0, 4), 7); // v = 7.5 -> 8 -> clamped 7
  assert.equal(quantizeValue(-4.25, 0.5, 0, 4), -8); // v = -8.5 -> -8
  assert.equal(quantizeValue(0.3, 0.25, 0, 1), 0);
  assert.equal(quantizeValue(-0.3, 0.25, 0, 1), -1);
  assert.equal(quantizeValue(1000, 0.01, 0, 8), 127);
  assert.equal(quantizeValue(-1000, 0.01, 0, 8), -128);
});

test('dequantizeValue is Math.fround(alpha*q + beta)', () => {
  const a = Math.fround(0.0123);
  const b = Math.fround(-0.5);
  assert.equal(dequantizeValue(-3, a, b), Math.fround(a * -3 + b));
  assert.equal(dequantizeValue(0, a, b), b);
});

test('fp16: known encodings and exact round trips', () => {
  const known: Array<[number, number]> = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65519, 0x7bff], [65520, 0x7c00],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [2 ** -14, 0x0400], [1 / 3, 0x3555], [0.1, 0x2e66],
    [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [Number.POSITIVE_INFINITY, 0x7c00], [Number.NEGATIVE_INFINITY, 0xfc00],
  ];
  for (const [x, bits] of known) assert.equal(toFloat16Bits(x), bits, `fp16(${x})`);
  assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(Number.NaN))));
  for (let h = 0; h < 0x10000; h++) {
    const e = (h >>> 10) & 0x1f;
    if (e === 31 && (h & 0x3ff) !== 0) continue; // NaN payloads
    assert.equal(toFloat16Bits(fromFloat16Bits(h)), h);
  }
  // Against Math.f16round where the runtime has it (Node >= 24); otherwise against the monotone/nearest property.
  const native = (Math as unknown as { f16round?: (x: number) => number }).f16round;
  const rng = createRng(7);
  for (let i = 0; i < 20000; i++) {
    const x = (rng.next() - 0.5) * 2 ** (rng.int(35) - 20);
    const r = f16round(x);
    if (native) assert.equal(r, native(x));
    const a = Math.abs(x);
    const ha = toFloat16Bits(r) & 0x7fff;
    const up = fromFloat16Bits(ha + 1);
    const down = ha > 0 ? fromFloat16Bits(ha - 1) : 0;
    const err = Math.abs(a - Math.abs(r));
    assert.ok(err <= Math.abs(up - a) && err <= Math.abs(a - down), `nearest for ${x}`);
  }
});
