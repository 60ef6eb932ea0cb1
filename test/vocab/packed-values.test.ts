/** Packed raw values: packing, slicing and resolution give the ids of a value-by-value resolution; errors name row and field. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FieldSpec, fieldToken } from '../../src/features/token.js';
import { MpeError } from '../../src/errors.js';
import { type RawPart, type RawScalar, resolveRawPart, sliceRawPart, ValuePacker } from '../../src/vocab/packed-values.js';

const fields: FieldSpec[] = [
  { name: 'I1', kind: 'numeric', transform: 'criteo-log2', oovId: 0 },
  { name: 'C1', kind: 'categorical', transform: 'none', oovId: 1 },
  { name: 'C2', kind: 'categorical', transform: 'none', oovId: 2 },
];
const F = fields.length;
const known = new Map<string, number>([
  ['0\u00004', 10],
  ['0\u00001', 11],
  ['1\u0000a', 12],
  ['1\u0000héllo\u0001', 13],
  ['2\u0000', 14],
  ['2\u00007', 15],
]);
const vocab = { lookup: (f: number, t: string): number => known.get(`${f}\u0000${t}`) ?? -1 };
const rows: RawScalar[][] = [
  [100, 'a', null],
  ['1', 'héllo\u0001', 7],
  [1, 'zzz', ''],
  [57.5, '', 'b'],
];

function direct(rs: RawScalar[][]): Int32Array {
  const out = new Int32Array(rs.length * F);
  for (let r = 0; r < rs.length; r++) {
    for (let f = 0; f < F; f++) {
      const id = vocab.lookup(f, fieldToken(fields[f]!, rs[r]![f])!);
      out[r * F + f] = id < 0 ? fields[f]!.oovId : id;
    }
  }
  return out;
}

function part(rs: RawScalar[][], context: RawScalar[] | null = null): RawPart {
  const p = new ValuePacker(rs.length * F);
  for (let r = 0; r < rs.length; r++) for (let f = 0; f < F; f++) if (context === null || context[f] === undefined) p.set(r * F + f, rs[r]![f]);
  let ctx: RawPart['context'] = null;
  if (context !== null) {
    const c = new ValuePacker(F);
    const mask = new Uint8Array(F);
    for (let f = 0; f < F; f++) {
      if (context[f] !== undefined) {
        c.set(f, context[f]);
        mask[f] = 1;
      }
    }
    ctx = { values: c.pack(), mask };
  }
  return { rows: rs.length, values: p.pack(), context: ctx, label: 'rows', rowOffset: 0 };
}

test('packed values resolve to the ids of a value-by-value resolution (numbers, OOV, missing, non-ASCII)', () => {
  const out = new Int32Array(rows.length * F);
  resolveRawPart(part(rows), fields, vocab, out);
  assert.deepEqual(out, direct(rows));
  assert.ok(out.includes(13) && out.includes(1) && out.includes(14), 'known, OOV and missing values all occur');
});

test('a slice resolves to the same ids as the rows it holds', () => {
  const whole = part(rows);
  const out = new Int32Array(2 * F);
  resolveRawPart(sliceRawPart(whole, F, 1, 3), fields, vocab, out);
  assert.deepEqual(out, direct(rows).subarray(F, 3 * F));
});

test('context values are resolved once and broadcast; the row slots of context fields are ignored', () => {
  const shared = rows.map((r) => ['1', r[1], 7]);
  const out = new Int32Array(rows.length * F);
  resolveRawPart(part(shared, ['1', undefined, 7]), fields, vocab, out);
  assert.deepEqual(out, direct(shared));
});

test('a bad numeric value names its row (counted from the part\'s offset in the request) and field', () => {
  const bad = part([...rows, ['abc', 'a', '7']]);
  const sliced = { ...sliceRawPart(bad, F, 2, 5), rowOffset: 2 };
  assert.throws(
    () => resolveRawPart(sliced, fields, vocab, new Int32Array(3 * F)),
    (e: unknown) => e instanceof MpeError && e.code === 'MPE_ERR_REQ_NUMERIC' && /^.*rows\[4\]: field I1 value "abc"$/.test(e.message),
  );
  const cols = { ...part([['NaN', 'a', '7']]), label: 'columns' as const };
  assert.throws(() => resolveRawPart(cols, fields, vocab, new Int32Array(F)), /columns\.I1\[0\]: field I1 value "NaN"/);
  const ctx = part([[0, 'a', '7']], ['x', undefined, undefined]);
  assert.throws(() => resolveRawPart(ctx, fields, vocab, new Int32Array(F)), /context: field I1 value "x"/);
});
