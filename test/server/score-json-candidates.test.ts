/**
 * The REST fast path of the candidate forms (src/server/score-json-candidates.ts): every body it
 * accepts packs exactly as JSON.parse + the service's packing (String(n) for numbers, '' for null),
 * context and mask included, over many seeded random bodies (key orders, context first or last,
 * whitespace, numbers, unicode, escapes, non-canonical numbers); every body it cannot map exactly
 * (escapes, unicode values, odd numbers, every bad input) is left to the generic path (null).
 * Through a real service: fast and generic give the same scores or the same error code and message.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testConfig } from '../../src/config/config.js';
import { scanCandidatesJson } from '../../src/server/score-json-candidates.js';
import { scanFlatJson } from '../../src/server/score-json.js';
import { wireFields } from '../../src/server/score-wire.js';
import type { EmbeddingService, ScoreInput } from '../../src/service/embedding-service.js';
import { createRng } from '../../src/util/random.js';
import { createFixture, fixtureModel } from '../helpers/bundle-fixture.js';
import { assertSamePacked, type DecodedCandidates, encodeJson, randomCandidateRequest, randomScalar, referencePack, shuffle } from '../helpers/candidate-requests.js';
import { outcome, withService } from '../helpers/score-service.js';

const rng = (seed: number): (() => number) => createRng(seed).next;

test('accepted bodies pack exactly as JSON.parse + the service packing; the others are unusual ones', () => {
  let accepted = 0;
  let declined = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const r = rng(seed);
    const F = 1 + Math.floor(r() * 40);
    const names = Array.from({ length: F }, (_, f) => (seed % 3 === 0 ? `champ ${f} ${'é'.repeat(f % 3)}` : `C${f + 1}`));
    const odd = r() < 0.15 ? 0.02 : 0; // unicode and escaped text in some bodies
    // Every 8th request up to 300 candidates: past the readers' first slot allocation (64 rows).
    const req = randomCandidateRequest(r, names, () => randomScalar(r, odd), seed % 8 === 0 ? 300 : 30);
    const { data: body, unusual } = encodeJson(req, r, odd);
    const bytes = Buffer.from(body);
    const got = scanCandidatesJson(bytes, wireFields(names));
    assert.equal(scanFlatJson(bytes, wireFields(names)), null, `seed ${seed}: not the flat form`);
    if (got === null) {
      assert.ok(unusual, `seed ${seed}: a plain valid body must be accepted: ${body.slice(0, 200)}`);
      declined++;
      continue;
    }
    const want = referencePack(JSON.parse(body) as DecodedCandidates, names);
    assertSamePacked(got, want, `seed ${seed}`);
    accepted++;
  }
  assert.ok(accepted > 300 && declined > 10, `accepted ${accepted}, declined ${declined}`);
});

test('an empty context object is a context of no fields, as JSON.parse + the service have it', () => {
  const got = scanCandidatesJson(Buffer.from('{"context":{},"columns":{"x":[1,"a",null]}}'), wireFields(['x']));
  assert.ok(got !== null);
  assert.deepEqual(got.context?.mask, new Uint8Array(1));
  assert.equal(got.values.text, '1a');
  assert.deepEqual([...got.values.lengths], [1, 1, 0]);
});

/** The bad inputs' model: 4 fields, the first two (numeric) usually in context. */
const fx4 = createFixture({ fields: 4, seed: 62 });
const [A, B, C, D] = fx4.fields.map((f) => f.name) as [string, string, string, string];
const names = [A, B, C, D];
const w = wireFields(names);
const ctx = { [A]: 1, [B]: '2' };
const cand = (c: string | number, d: string | number | null) => ({ [C]: c, [D]: d });

/** Bad inputs (and bodies it is not for): each must fall back; the generic path must give `code` naming `message` (no code: it scores). */
const badCases: { name: string; body: string | object; code?: string; message?: RegExp }[] = [
  { name: 'context field also per candidate', body: { context: ctx, candidates: [cand('3', 4), { [A]: 9, ...cand('3', 4) }] }, code: 'MPE_ERR_REQ_DUPLICATE_FIELD', message: new RegExp(`candidates\\[1\\]: field ${A} is also in context`) },
  { name: 'context field also as a column', body: { context: ctx, columns: { [A]: [1], [C]: ['3'], [D]: [4] } }, code: 'MPE_ERR_REQ_DUPLICATE_FIELD', message: new RegExp(`columns: field ${A} is also in context`) },
  { name: 'field in neither context nor candidates', body: { context: ctx, candidates: [cand('3', 4), { [C]: '3' }] }, code: 'MPE_ERR_REQ_MISSING_FIELD', message: new RegExp(`field ${D} is in neither context nor candidates\\[1\\]`) },
  { name: 'field in neither context nor columns', body: { context: ctx, columns: { [C]: ['3'] } }, code: 'MPE_ERR_REQ_MISSING_FIELD', message: new RegExp(`field ${D} is in neither context nor columns`) },
  { name: 'field in no column', body: { columns: { [A]: [1], [B]: [2], [C]: ['3'] } }, code: 'MPE_ERR_REQ_MISSING_FIELD', message: new RegExp(`field ${D} is in neither columns`) },
  { name: 'field missing from a candidate', body: { candidates: [{ [A]: 1, [B]: 2, [C]: '3' }] }, code: 'MPE_ERR_REQ_MISSING_FIELD', message: new RegExp(`candidates\\[0\\] lacks field ${D}`) },
  { name: 'columns of unequal length', body: { context: ctx, columns: { [C]: ['3', '3'], [D]: [4] } }, code: 'MPE_ERR_REQ_COLUMN_LENGTH', message: new RegExp(`columns: field ${D} has 1 values, field ${C} has 2`) },
  { name: 'empty columns', body: { context: ctx, columns: { [C]: [], [D]: [] } }, code: 'MPE_ERR_REQ_NO_CANDIDATES', message: /the columns hold no values/ },
  { name: 'no columns', body: { context: ctx, columns: {} }, code: 'MPE_ERR_REQ_NO_CANDIDATES', message: /the candidate list is empty/ },
  { name: 'empty candidate list', body: { context: ctx, candidates: [] }, code: 'MPE_ERR_REQ_NO_CANDIDATES', message: /the candidate list is empty/ },
  { name: 'context-only request', body: { context: ctx }, code: 'MPE_ERR_REQ_NO_CANDIDATES', message: /context-only request/ },
  { name: 'candidates and columns together', body: { context: ctx, candidates: [cand('3', 4)], columns: { [C]: ['3'], [D]: [4] } }, code: 'MPE_ERR_REQ_INVALID', message: /candidates or columns, not both/ },
  { name: 'unknown field in context', body: { context: { ...ctx, zz: 1 }, candidates: [cand('3', 4)] }, code: 'MPE_ERR_VOCAB_FIELD', message: /context: "zz"/ },
  { name: 'unknown field in a candidate', body: { context: ctx, candidates: [{ ...cand('3', 4), zz: 1 }] }, code: 'MPE_ERR_VOCAB_FIELD', message: /candidates\[0\]: "zz"/ },
  { name: 'unknown column', body: { context: ctx, columns: { [C]: ['3'], [D]: [4], zz: [1] } }, code: 'MPE_ERR_VOCAB_FIELD', message: /columns: "zz"/ },
  { name: 'rows and context together', body: { rows: [{ ...ctx, ...cand('3', 4) }], context: ctx }, code: 'MPE_ERR_REQ_INVALID', message: /send one of/ },
  { name: 'ids and columns together', body: { ids: [[1, 2, 3, 4]], columns: { [A]: [1], [B]: [2], [C]: ['3'], [D]: [4] } }, code: 'MPE_ERR_REQ_INVALID', message: /send one of/ },
  // JSON.parse keeps the last of a repeated key: the generic path scores these.
  { name: 'context field twice (JSON keeps the last)', body: `{"context":{"${A}":1,"${B}":2,"${A}":5},"candidates":[{"${C}":"3","${D}":4}]}` },
  { name: 'candidate field twice (JSON keeps the last)', body: `{"context":{"${A}":1,"${B}":2},"candidates":[{"${C}":"3","${D}":4,"${C}":"5"}]}` },
  { name: 'column twice (JSON keeps the last)', body: `{"columns":{"${A}":[1],"${B}":[2],"${C}":["3"],"${D}":[4],"${C}":["5"]}}` },
  { name: 'context key twice (JSON keeps the last)', body: `{"context":{"${A}":7},"context":{"${A}":1,"${B}":2},"candidates":[{"${C}":"3","${D}":4}]}` },
  { name: 'an escaped string', body: `{"context":{"${A}":1,"${B}":2},"candidates":[{"${C}":"a\\"b","${D}":4}]}` },
  { name: 'a non-ASCII value', body: { context: ctx, candidates: [cand('é', 4)] } },
  { name: 'a number String() writes otherwise', body: `{"context":{"${A}":1.50,"${B}":2},"candidates":[{"${C}":"3","${D}":4}]}` },
  { name: 'an exponent', body: `{"context":{"${A}":1e3,"${B}":2},"candidates":[{"${C}":"3","${D}":4}]}` },
];

test('bad inputs and bodies it cannot map exactly are left to the generic path (null)', () => {
  assert.ok(scanCandidatesJson(Buffer.from(JSON.stringify({ context: ctx, candidates: [cand('3', 4)] })), w) !== null, 'control: context + candidates');
  assert.ok(scanCandidatesJson(Buffer.from(JSON.stringify({ columns: { [D]: [4], [C]: ['3'] }, context: ctx })), w) !== null, 'control: columns + context');
  for (const c of badCases) assert.equal(scanCandidatesJson(Buffer.from(typeof c.body === 'string' ? c.body : JSON.stringify(c.body)), w), null, c.name);
  const others: [string, string][] = [
    ['a boolean value', `{"context":{"${A}":true,"${B}":2},"candidates":[{"${C}":"3","${D}":4}]}`],
    ['a nested value', `{"context":{"${A}":[1],"${B}":2},"candidates":[{"${C}":"3","${D}":4}]}`],
    ['an array of values for a candidate', `{"candidates":[["1","2","3","4"]]}`],
    ['a column that is not an array', `{"columns":{"${A}":1,"${B}":[2],"${C}":["3"],"${D}":[4]}}`],
    ['context null', `{"context":null,"candidates":[{"${A}":1,"${B}":2,"${C}":"3","${D}":4}]}`],
    ['an unknown top-level key', `{"context":{"${A}":1,"${B}":2},"candidates":[{"${C}":"3","${D}":4}],"x":1}`],
    ['truncated', `{"context":{"${A}":1,"${B}":2},"candidates":[{"${C}":"3","${D}":4}]`],
    ['trailing bytes', `{"context":{"${A}":1,"${B}":2},"candidates":[{"${C}":"3","${D}":4}]}x`],
    ['a trailing comma', `{"context":{"${A}":1,"${B}":2,},"candidates":[{"${C}":"3","${D}":4}]}`],
    ['not an object', '[]'],
    ['empty', ''],
  ];
  for (const [what, body] of others) assert.equal(scanCandidatesJson(Buffer.from(body), w), null, what);
});

const config = testConfig({ workers: 1, requestRowLimit: 16 });
const deadline = { deadline: Number.POSITIVE_INFINITY };

/** The body as the HTTP adapter hands it to the service after JSON.parse and the schema (http-server.ts). */
function genericInput(body: string): ScoreInput {
  const b = JSON.parse(body) as Record<string, never>;
  return { rows: b.rows, idRows: b.ids, context: b.context, candidates: b.candidates, columns: b.columns };
}

function fastInput(body: string, fields: readonly string[]): ScoreInput | null {
  const part = scanCandidatesJson(Buffer.from(body), wireFields(fields));
  return part === null ? null : { packedRows: { ...part, fields } };
}

test('service: the fast and the generic path give the same scores or the same error', async () => {
  const fx = createFixture({ fields: 8, seed: 61 });
  const fxNames = fx.fields.map((f) => f.name);
  const value = (r: () => number, f: number): string | number | null => {
    const x = r();
    if (x < 0.01 && f < 2) return 'abc';
    if (x < 0.05) return null;
    if (x < 0.1) return `unseen-${Math.floor(r() * 100)}`;
    const kMax = Math.floor((fx.spec.featureCount - 1 - f) / fxNames.length);
    const v = fx.rawValue(f + fxNames.length * (1 + Math.floor(r() * kMax)));
    return f < 2 && r() < 0.5 ? Number(v) : v;
  };
  await withService(fixtureModel(fx), config, async (service: EmbeddingService) => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(2000 + seed);
      const body = encodeJson(
        randomCandidateRequest(r, fxNames, (f) => value(r, f)),
        r,
        0,
      ).data;
      const fields = seed % 5 === 0 ? shuffle([...fxNames], r) : fxNames;
      const fast = fastInput(body, fields);
      assert.ok(fast !== null, `seed ${seed}: accepted`);
      const got = await outcome(service.score(fast, deadline));
      assert.equal(got, await outcome(service.score(genericInput(body), deadline)), `seed ${seed}`);
      seen.add(got.startsWith('MPE_ERR') ? got.split(':')[0]! : 'scores');
    }
    assert.deepEqual([...seen].sort(), ['MPE_ERR_REQ_NUMERIC', 'MPE_ERR_REQ_TOO_MANY_ROWS', 'scores']);
  });
});

test('service: every bad input falls back, and the generic path gives its code naming the field or row', async () => {
  await withService(fixtureModel(fx4), config, async (service: EmbeddingService) => {
    for (const c of badCases) {
      const body = typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
      assert.equal(fastInput(body, names), null, c.name);
      const got = await outcome(service.score(genericInput(body), deadline));
      if (c.code === undefined) assert.match(got, /^\[/, `${c.name}: scores`);
      else {
        assert.ok(got.startsWith(`${c.code}: `), `${c.name}: ${got}`);
        assert.match(got, c.message!, c.name);
      }
    }
  });
});
