import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseByteSize } from '../../src/util/byte-size.js';

test('byte sizes: plain bytes, decimal and binary units, any case, rounded down to whole bytes', () => {
  const cases: Array<[string, number]> = [
    ['50000000', 50_000_000],
    ['50MB', 50_000_000],
    ['50 mb', 50_000_000],
    ['50MiB', 50 * 2 ** 20],
    ['1.5GB', 1_500_000_000],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['4.35MB', 4_350_000], // 4.35 * 1e6 is 4349999.999999999 in doubles: still 4350000
    ['2kB', 2000],
    ['2KB', 2000],
    ['3KiB', 3072],
    ['1TB', 1e12],
    ['1TiB', 2 ** 40],
    ['5e7', 50_000_000],
    ['5e7B', 50_000_000],
    ['100.7', 100],
    ['.5KiB', 512],
    ['0', 0],
    [' 12 B ', 12],
  ];
  for (const [text, bytes] of cases) assert.equal(parseByteSize(text), bytes, text);
});

test('byte sizes: anything else is undefined (unknown unit, no number, sign, several numbers)', () => {
  for (const text of ['', 'MB', '50XB', '50 M', '50m', '-5MB', '+5MB', '5MB5', '1,5GB', 'Infinity', '1e400', 'NaN', '0x10', '5 MB B']) {
    assert.equal(parseByteSize(text), undefined, text);
  }
});
