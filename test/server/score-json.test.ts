/**
 * The REST flat Score fast path (src/server/score-json.ts): every body it accepts packs exactly as
 * the generic path (JSON.parse, then the service's packing with String(n) for numbers and '' for
 * null), over random bodies, key orders, whitespace and numbers; every body it cannot map exactly
 * is left to the generic path (null).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scanFlatJson } from '../../src/server/score-json.js';
import { wireFields } from '../../src/server/score-wire.js';
import { createRng } from '../../src/util/random.js';
import { ValuePacker } from '../../src/vocab/packed-values.js';

/** The project's seeded stream (util/random.ts), as a plain function. */
const rng = (seed: number): (() => number) => createRng(seed).next;

const CHARS = 'abcdef0123456789-_.:/ XYZ';
function randomScalar(r: () => number): string | number | null {
  const x = r();
  if (x < 0.1) return null;
  if (x < 0.35) return Math.floor(r() * 1e6) - (r() < 0.2 ? 5e5 : 0);
  if (x < 0.45) return Math.round(r() * 1e4) / 100;
  let s = '';
  const n = Math.floor(r() * 10);
  for (let i = 0; i < n; i++) s += CHARS[Math.floor(r() * CHARS.length)];
  return s;
}

/** The generic path: JSON.parse, then each row's values packed in the model's field order. */
function genericPack(body: string, names: readonly string[]): { rows: number; text: string; lengths: Int32Array } {
  const rows = (JSON.parse(body) as { rows: Record<string, string | number | null>[] }).rows;
  const F = names.length;
  const packer = new ValuePacker(rows.length * F);
  for (let r = 0; r < rows.length; r++) for (let f = 0; f < F; f++) packer.set(r * F + f, rows[r]![names[f]!]);
  const p = packer.pack();
  return { rows: rows.length, text: p.text, lengths: p.lengths };
}

test('accepted bodies pack exactly as JSON.parse + the service packing, over random bodies, orders and whitespace', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const r = rng(seed);
    const F = 1 + Math.floor(r() * 40);
    const names = Array.from({ length: F }, (_, f) => (seed % 4 === 0 ? `field ${f}` : `C${f + 1}`));
    const rows = Array.from({ length: 1 + Math.floor(r() * 30) }, () => {
      const order = names.map((_, f) => f);
      if (r() < 0.3) order.sort(() => r() - 0.5);
      return Object.fromEntries(order.map((f) => [names[f]!, randomScalar(r)]));
    });
    const body = seed % 3 === 0 ? JSON.stringify({ rows }, null, 2) : JSON.stringify({ rows });
    const got = scanFlatJson(Buffer.from(body), wireFields(names));
    assert.ok(got !== null, `seed ${seed}: a flat body of strings, canonical numbers and nulls must be accepted`);
    const want = genericPack(body, names);
    assert.equal(got.rows, want.rows);
    assert.equal(got.values.text, want.text, `seed ${seed}`);
    assert.deepEqual(got.values.lengths, want.lengths, `seed ${seed}`);
  }
});

test('a number is taken only when its text is what String(n) writes', () => {
  const w = wireFields(['x']);
  const r = rng(7);
  const texts = ['0', '-1', '7', '42', '0.5', '-0.25', '123456789012345', '0.000001', '1.5', '99.99'];
  for (let i = 0; i < 300; i++) {
    const n = (r() - 0.5) * 10 ** Math.floor(r() * 30 - 10);
    texts.push(JSON.stringify(n), JSON.stringify(Math.round(n)));
  }
  texts.push('-0', '01', '1.50', '1e3', '1E3', '0.0000001', '1234567890123456', '1.', '.5', '-', '1.0');
  let accepted = 0;
  for (const t of texts) {
    const got = scanFlatJson(Buffer.from(`{"rows":[{"x":${t}}]}`), w);
    if (got === null) continue;
    accepted++;
    assert.equal(got.values.text, String(Number(t)), `token ${t} was taken as ${got.values.text}`);
  }
  assert.ok(accepted >= 10, `${accepted} accepted`);
});

test('bodies the fast path cannot map exactly go to the generic path (null)', () => {
  const w = wireFields(['a', 'b']);
  const ok = '{"rows":[{"a":"1","b":2},{"b":null,"a":"x"}]}';
  assert.ok(scanFlatJson(Buffer.from(ok), w) !== null, 'control');
  const cases: [string, string][] = [
    ['escape in a value', '{"rows":[{"a":"1\\"","b":2}]}'],
    ['escape in a key', '{"rows":[{"\\u0061":"1","b":2}]}'],
    ['non-ASCII value', '{"rows":[{"a":"é","b":2}]}'],
    ['boolean', '{"rows":[{"a":true,"b":2}]}'],
    ['nested', '{"rows":[{"a":{"x":1},"b":2}]}'],
    ['array value', '{"rows":[{"a":[1],"b":2}]}'],
    ['non-canonical number', '{"rows":[{"a":1.50,"b":2}]}'],
    ['exponent', '{"rows":[{"a":1e3,"b":2}]}'],
    ['another key', '{"rows":[{"a":"1","b":2}],"ids":[]}'],
    ['another form', '{"context":{"a":"1"},"candidates":[{"b":2}]}'],
    ['unknown field', '{"rows":[{"a":"1","b":2,"c":3}]}'],
    ['repeated key', '{"rows":[{"a":"1","b":2,"a":"2"}]}'],
    ['missing field', '{"rows":[{"a":"1"}]}'],
    ['empty row', '{"rows":[{}]}'],
    ['no rows', '{"rows":[]}'],
    ['trailing garbage', `${ok}x`],
    ['truncated', ok.slice(0, 20)],
    ['byte order mark', `\ufeff${ok}`],
    ['control character', '{"rows":[{"a":"1\t","b":2}]}'],
    ['__proto__ key', '{"rows":[{"__proto__":"1","b":2}]}'],
  ];
  for (const [what, body] of cases) assert.equal(scanFlatJson(Buffer.from(body), w), null, what);
});
