/**
 * The gRPC Score wire fast path (src/server/score-wire.ts): on every message it accepts, its packed
 * values equal what the generic path (proto-loader's decoder, then the service's packing) gives,
 * over many random requests; every message it cannot map exactly is left to the generic path
 * (null). At the service: packed rows whose field order is not the model's (a model swapped
 * between decoding and scoring) score like the same rows sent as objects; a NaN probability on
 * the raw-values path is MPE_ERR_SCORER_RUN, never an answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testConfig } from '../../src/config/config.js';
import { isMpeError } from '../../src/errors.js';
import { scanFlatScore, wireFields } from '../../src/server/score-wire.js';
import { embeddingProto } from '../../src/server/proto.js';
import { createRng } from '../../src/util/random.js';
import { ValuePacker } from '../../src/vocab/packed-values.js';
import { nanScorer } from '../helpers/bad-scorers.js';
import { createFixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';
import { withService } from '../helpers/score-service.js';

const codec = embeddingProto().service.Score!;
const encode = (msg: object): Buffer => codec.requestSerialize(msg);
type Pair = { field?: string; value?: string };

/** The project's seeded stream (util/random.ts), as a plain function. */
const rng = (seed: number): (() => number) => createRng(seed).next;

const VALUE_CHARS = 'abcdef0123456789-_.:/ XYZ';
function randomValue(r: () => number): string {
  const n = Math.floor(r() * 12);
  let s = '';
  for (let i = 0; i < n; i++) s += VALUE_CHARS[Math.floor(r() * VALUE_CHARS.length)];
  return s;
}

/** What the generic path packs for decoded flat rows (pairs), in the model's field order. */
function genericPack(buf: Buffer, names: readonly string[]): { text: string; lengths: Int32Array } {
  const decoded = codec.requestDeserialize(buf) as { rows: { features: { field: string; value: string }[] }[] };
  const F = names.length;
  const index = new Map(names.map((n, i) => [n, i]));
  const packer = new ValuePacker(decoded.rows.length * F);
  decoded.rows.forEach((row, r) => {
    for (const p of row.features) packer.set(r * F + index.get(p.field)!, p.value);
  });
  return packer.pack();
}

test('accepted messages pack exactly as the generic decoder + packer, over random field orders, values and sizes', () => {
  let accepted = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = rng(seed);
    const F = 1 + Math.floor(r() * 40);
    const names = Array.from({ length: F }, (_, f) => (seed % 3 === 0 ? `field_${f}_${'x'.repeat(f % 5)}` : `C${f + 1}`));
    const nRows = 1 + Math.floor(r() * 30);
    const rows: { features: Pair[] }[] = [];
    for (let i = 0; i < nRows; i++) {
      const order = names.map((_, f) => f);
      if (r() < 0.3) order.sort(() => r() - 0.5); // out of the model's order
      const features: Pair[] = order.map((f) => (r() < 0.1 ? { field: names[f]! } : { field: names[f]!, value: randomValue(r) }));
      rows.push({ features });
    }
    const buf = encode({ rows });
    const got = scanFlatScore(buf, wireFields(names));
    assert.ok(got !== null, `seed ${seed}: a well-formed flat request must be accepted`);
    const want = genericPack(buf, names);
    assert.equal(got.rows, nRows);
    assert.equal(got.values.text, want.text, `seed ${seed}: text`);
    assert.deepEqual(got.values.lengths, want.lengths, `seed ${seed}: lengths`);
    accepted++;
  }
  assert.equal(accepted, 60);
});

test('a field name that is not ASCII is matched by its UTF-8 bytes', () => {
  const names = ['pays', 'città', 'ville'];
  const buf = encode({ rows: [{ features: [{ field: 'ville', value: 'a' }, { field: 'città', value: 'bb' }, { field: 'pays', value: '' }] }] });
  const got = scanFlatScore(buf, wireFields(names));
  assert.ok(got !== null);
  assert.equal(got.values.text, 'bba');
  assert.deepEqual([...got.values.lengths], [0, 2, 1]);
});

test('messages the fast path cannot map exactly go to the generic path (null)', () => {
  const names = ['a', 'b', 'c'];
  const w = wireFields(names);
  const row = (pairs: Pair[]) => ({ features: pairs });
  const full = [{ field: 'a', value: '1' }, { field: 'b', value: '2' }, { field: 'c', value: '3' }];
  assert.ok(scanFlatScore(encode({ rows: [row(full)] }), w) !== null, 'control: the full row is accepted');
  const cases: [string, Buffer][] = [
    ['unknown field', encode({ rows: [row([...full, { field: 'zz', value: '1' }])] })],
    ['field twice', encode({ rows: [row([...full, { field: 'b', value: '9' }])] })],
    ['field missing', encode({ rows: [row(full.slice(0, 2))] })],
    ['feature without a field name', encode({ rows: [row([...full.slice(0, 2), { value: '3' }])] })],
    ['non-ASCII value', encode({ rows: [row([{ field: 'a', value: 'é' }, ...full.slice(1)])] })],
    ['ids form', encode({ ids: [1, 2, 3] })],
    ['rows plus ids', encode({ rows: [row(full)], ids: [1, 2, 3] })],
    ['context + candidates', encode({ context: [full[0]], candidates: [row(full.slice(1))] })],
    ['columns', encode({ columns: [{ field: 'a', values: ['1'] }] })],
    ['empty message', Buffer.alloc(0)],
    ['truncated', encode({ rows: [row(full)] }).subarray(0, 9)],
    ['a varint running past the end', Buffer.from([0x0a, 0xff, 0xff])],
  ];
  for (const [what, buf] of cases) assert.equal(scanFlatScore(buf, w), null, what);
  assert.equal(scanFlatScore(encode({ rows: [row(full)] }), wireFields([])), null, 'a model without fields');
});

const fx = createFixture({ seed: 44 });
const config = testConfig({ workers: 1 });

test('service: packed rows in another field order (model swapped after decoding) score like the object rows', async () => {
  const names = fx.fields.map((f) => f.name);
  const { raw } = randomRows(fx, 6, 4400);
  const reversed = [...names].reverse();
  const buf = encode({ rows: raw.map((r) => ({ features: reversed.map((n) => ({ field: n, value: String(r[n]) })) })) });
  const packedOther = scanFlatScore(buf, wireFields(reversed));
  const packedSame = scanFlatScore(buf, wireFields(names));
  assert.ok(packedOther !== null && packedSame !== null);
  const ctx = { deadline: Number.POSITIVE_INFINITY };
  await withService(fixtureModel(fx), config, async (service) => {
    const want = (await service.score({ rows: raw }, ctx)).probabilities;
    const same = (await service.score({ packedRows: { ...packedSame, fields: names } }, ctx)).probabilities;
    const other = (await service.score({ packedRows: { ...packedOther, fields: reversed } }, ctx)).probabilities;
    assert.deepEqual([...same], [...want]);
    assert.deepEqual([...other], [...want]);
    // Unpacked, a field the model lacks is the generic path's error.
    const bad = scanFlatScore(encode({ rows: [{ features: [...reversed.slice(1), 'nope'].map((n) => ({ field: n, value: '1' })) }] }), wireFields([...reversed.slice(1), 'nope']));
    assert.ok(bad !== null);
    await assert.rejects(service.score({ packedRows: { ...bad, fields: [...reversed.slice(1), 'nope'] } }, ctx), (e) => isMpeError(e) && e.code === 'MPE_ERR_VOCAB_FIELD');
  });
});

test('service: a NaN probability on the raw-values path is MPE_ERR_SCORER_RUN, never an answer', async () => {
  const model = { ...fixtureModel(fx, 'nan-scorer'), scorerBytes: nanScorer(fx.mlp) };
  await withService(model, config, async (service) => {
    await assert.rejects(service.score({ rows: randomRows(fx, 3, 4401).raw }, { deadline: Number.POSITIVE_INFINITY }), (e) => isMpeError(e) && e.code === 'MPE_ERR_SCORER_RUN' && /NaN/.test(e.message));
  });
});
