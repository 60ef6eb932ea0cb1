/**
 * The gRPC wire fast path of the candidate forms (src/server/score-wire-candidates.ts): on every
 * message it accepts, its packed values, context and mask equal what the generic path (proto-loader's
 * decoder, then the service's packing) gives, over many seeded random requests (field orders,
 * interleaved context, explicit empty values, unicode names); every message it cannot map exactly
 * (unicode values, unknown fields, every bad input) is left to the generic path (null), which gives
 * the error. Through a real service: the fast and the generic path give the same scores, or the
 * same error code and message (numeric values that are not numbers, too many candidates).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testConfig } from '../../src/config/config.js';
import { decodeScore, type GrpcScoreRequest } from '../../src/server/grpc-server.js';
import { embeddingProto } from '../../src/server/proto.js';
import { scanCandidatesScore } from '../../src/server/score-wire-candidates.js';
import { scanFlatScore, wireFields } from '../../src/server/score-wire.js';
import type { EmbeddingService, ScoreInput } from '../../src/service/embedding-service.js';
import { createRng } from '../../src/util/random.js';
import { createFixture, fixtureModel } from '../helpers/bundle-fixture.js';
import { assertSamePacked, type CandidateRequest, type DecodedCandidates, encodeWire, randomCandidateRequest, randomScalar, referencePack, shuffle } from '../helpers/candidate-requests.js';
import { outcome, withService } from '../helpers/score-service.js';

const codec = embeddingProto().service.Score!;
const encode = (msg: object): Buffer => codec.requestSerialize(msg);
const decode = (buf: Buffer): GrpcScoreRequest => codec.requestDeserialize(buf) as GrpcScoreRequest;
const rng = (seed: number): (() => number) => createRng(seed).next;

function namesOf(seed: number, F: number): string[] {
  return Array.from({ length: F }, (_, f) => (seed % 3 === 0 ? `champ_${f}_${'é'.repeat(f % 3)}` : seed % 3 === 1 ? `C${f + 1}` : `field_${f}_${'x'.repeat(f % 5)}`));
}

test('accepted messages pack exactly as the generic decoder + packer; the others are unusual ones', () => {
  let accepted = 0;
  let declined = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const r = rng(seed);
    const names = namesOf(seed, 1 + Math.floor(r() * 40));
    const odd = r() < 0.15 ? 0.02 : 0; // unicode and escaped text in some requests
    // Every 8th request up to 300 candidates: past the readers' first slot allocation (64 rows).
    const req = randomCandidateRequest(r, names, () => randomScalar(r, odd), seed % 8 === 0 ? 300 : 30);
    const { data: buf, unusual } = encodeWire(req, r);
    const got = scanCandidatesScore(buf, wireFields(names));
    assert.equal(scanFlatScore(buf, wireFields(names)), null, `seed ${seed}: not the flat form`);
    if (got === null) {
      assert.ok(unusual, `seed ${seed}: a plain valid request must be accepted`);
      declined++;
      continue;
    }
    const want = referencePack(decodeScore(decode(buf)) as DecodedCandidates, names);
    assertSamePacked(got, want, `seed ${seed}`);
    accepted++;
  }
  // Both branches ran (else the test could not fail either way).
  assert.ok(accepted > 300 && declined > 10, `accepted ${accepted}, declined ${declined}`);
});

/** The bad inputs' model: 4 fields, the first two (numeric) usually in context. */
const fx4 = createFixture({ fields: 4, seed: 62 });
const [A, B, C, D] = fx4.fields.map((f) => f.name) as [string, string, string, string];
const names = [A, B, C, D];
const w = wireFields(names);
const pairs = (o: Record<string, string>): { field: string; value: string }[] => Object.entries(o).map(([field, value]) => ({ field, value }));
const ctx = pairs({ [A]: '1', [B]: '2' });
const cand = (c: string, d: string) => ({ features: pairs({ [C]: c, [D]: d }) });
const col = (field: string, values: string[]) => ({ field, values });

/** Bad inputs of the candidate forms (and forms it is not for): each must fall back, and the generic path must give `code` naming `message`. */
const badCases: { name: string; buf: Buffer; code?: string; message?: RegExp }[] = [
  { name: 'context field also per candidate', buf: encode({ context: ctx, candidates: [cand('3', '4'), { features: pairs({ [A]: '9', [C]: '3', [D]: '4' }) }] }), code: 'MPE_ERR_REQ_DUPLICATE_FIELD', message: new RegExp(`candidates\\[1\\]: field ${A} is also in context`) },
  { name: 'context field also as a column', buf: encode({ context: ctx, columns: [col(A, ['1']), col(C, ['3']), col(D, ['4'])] }), code: 'MPE_ERR_REQ_DUPLICATE_FIELD', message: new RegExp(`columns: field ${A} is also in context`) },
  { name: 'field in neither context nor candidates', buf: encode({ context: ctx, candidates: [cand('3', '4'), { features: pairs({ [C]: '3' }) }] }), code: 'MPE_ERR_REQ_MISSING_FIELD', message: new RegExp(`field ${D} is in neither context nor candidates\\[1\\]`) },
  { name: 'field in neither context nor columns', buf: encode({ context: ctx, columns: [col(C, ['3'])] }), code: 'MPE_ERR_REQ_MISSING_FIELD', message: new RegExp(`field ${D} is in neither context nor columns`) },
  { name: 'field in no column', buf: encode({ columns: [col(A, ['1']), col(B, ['2']), col(C, ['3'])] }), code: 'MPE_ERR_REQ_MISSING_FIELD', message: new RegExp(`field ${D} is in neither columns`) },
  { name: 'field missing from a candidate', buf: encode({ candidates: [{ features: pairs({ [A]: '1', [B]: '2', [C]: '3' }) }] }), code: 'MPE_ERR_REQ_MISSING_FIELD', message: new RegExp(`candidates\\[0\\] lacks field ${D}`) },
  { name: 'columns of unequal length', buf: encode({ context: ctx, columns: [col(C, ['3', '3']), col(D, ['4'])] }), code: 'MPE_ERR_REQ_COLUMN_LENGTH', message: new RegExp(`columns: field ${D} has 1 values, field ${C} has 2`) },
  { name: 'empty columns', buf: encode({ context: ctx, columns: [col(C, []), col(D, [])] }), code: 'MPE_ERR_REQ_NO_CANDIDATES', message: /the columns hold no values/ },
  { name: 'context-only request', buf: encode({ context: ctx }), code: 'MPE_ERR_REQ_NO_CANDIDATES', message: /context-only request/ },
  { name: 'candidates and columns together', buf: encode({ context: ctx, candidates: [cand('3', '4')], columns: [col(C, ['3']), col(D, ['4'])] }), code: 'MPE_ERR_REQ_INVALID', message: /candidates or columns, not both/ },
  { name: 'unknown field in context', buf: encode({ context: [...ctx, { field: 'zz', value: '1' }], candidates: [cand('3', '4')] }), code: 'MPE_ERR_VOCAB_FIELD', message: /context: "zz"/ },
  { name: 'unknown field in a candidate', buf: encode({ context: ctx, candidates: [{ features: [...pairs({ [C]: '3', [D]: '4' }), { field: 'zz', value: '1' }] }] }), code: 'MPE_ERR_VOCAB_FIELD', message: /candidates\[0\]: "zz"/ },
  { name: 'unknown column', buf: encode({ context: ctx, columns: [col(C, ['3']), col(D, ['4']), col('zz', ['1'])] }), code: 'MPE_ERR_VOCAB_FIELD', message: /columns: "zz"/ },
  { name: 'context field twice', buf: encode({ context: [...ctx, { field: A, value: '5' }], candidates: [cand('3', '4')] }), code: 'MPE_ERR_REQ_DUPLICATE_FIELD', message: new RegExp(`context: field ${A} given twice`) },
  { name: 'candidate field twice', buf: encode({ context: ctx, candidates: [{ features: [...pairs({ [C]: '3', [D]: '4' }), { field: C, value: '5' }] }] }), code: 'MPE_ERR_REQ_INVALID', message: new RegExp(`candidates\\[0\\]: field ${C} given twice`) },
  { name: 'column twice', buf: encode({ context: ctx, columns: [col(C, ['3']), col(D, ['4']), col(C, ['5'])] }), code: 'MPE_ERR_REQ_DUPLICATE_FIELD', message: new RegExp(`columns: field ${C} given twice`) },
  { name: 'feature without a field name', buf: encode({ context: [{ value: '1' }, ...ctx.slice(1)], candidates: [cand('3', '4')] }), code: 'MPE_ERR_VOCAB_FIELD', message: /context: ""/ },
  { name: 'column without a field name', buf: encode({ context: ctx, columns: [{ values: ['3'] }, col(D, ['4'])] }), code: 'MPE_ERR_VOCAB_FIELD', message: /columns: ""/ },
  { name: 'columns plus ids (packed)', buf: encode({ columns: [col(A, ['1']), col(B, ['2']), col(C, ['3']), col(D, ['4'])], ids: [1, 2, 3, 4] }), code: 'MPE_ERR_REQ_INVALID', message: /send one of/ },
  // ids unpacked (one varint tag per id), after the columns.
  { name: 'columns plus ids (unpacked)', buf: Buffer.concat([encode({ columns: [col(A, ['1']), col(B, ['2']), col(C, ['3']), col(D, ['4'])] }), Buffer.from([0x10, 1, 0x10, 2, 0x10, 3, 0x10, 4])]), code: 'MPE_ERR_REQ_INVALID', message: /send one of/ },
  { name: 'rows plus context', buf: encode({ rows: [{ features: pairs({ [A]: '1', [B]: '2', [C]: '3', [D]: '4' }) }], context: ctx }), code: 'MPE_ERR_REQ_INVALID', message: /send one of/ },
  { name: 'non-ASCII value (the generic path scores it)', buf: encode({ context: ctx, candidates: [cand('é', '4')] }) },
  { name: 'empty message', buf: Buffer.alloc(0), code: 'MPE_ERR_REQ_EMPTY', message: /no rows and no ids/ },
];

test('bad inputs and messages it cannot map exactly are left to the generic path (null)', () => {
  assert.ok(scanCandidatesScore(encode({ context: ctx, candidates: [cand('3', '4')] }), w) !== null, 'control: context + candidates');
  assert.ok(scanCandidatesScore(encode({ context: ctx, columns: [col(D, ['4']), col(C, ['3'])] }), w) !== null, 'control: context + columns');
  assert.ok(scanCandidatesScore(encode({ columns: [col(A, ['1']), col(B, ['2']), col(C, ['3']), col(D, ['4'])] }), w) !== null, 'control: columns');
  for (const c of badCases) assert.equal(scanCandidatesScore(c.buf, w), null, c.name);
  const good = encode({ context: ctx, candidates: [cand('3', '4')] });
  assert.equal(scanCandidatesScore(good.subarray(0, good.length - 2), w), null, 'truncated');
  assert.equal(scanCandidatesScore(Buffer.from([0x1a, 0xff, 0xff]), w), null, 'a varint running past the end');
  assert.equal(scanCandidatesScore(good, wireFields([])), null, 'a model without fields');
});

const fx = createFixture({ fields: 8, seed: 61 });
const fxNames = fx.fields.map((f) => f.name);
const config = testConfig({ workers: 1, requestRowLimit: 16 });
const deadline = { deadline: Number.POSITIVE_INFINITY };

/** Fast path then generic, as the server dispatches; `fields` as the reader was prepared (possibly another model's order). */
function fastInput(buf: Buffer, fields: readonly string[]): ScoreInput | null {
  const part = scanCandidatesScore(buf, wireFields(fields));
  return part === null ? null : { packedRows: { ...part, fields } };
}

test('service: the fast and the generic path give the same scores or the same error, bad input ones included', async () => {
  // Values of the fixture's vocabulary mostly (so scores differ), sometimes unseen, rarely a numeric value that is not a number.
  const value = (r: () => number, f: number): string => {
    const x = r();
    if (x < 0.01 && f < 2) return 'abc';
    if (x < 0.1) return `unseen-${Math.floor(r() * 100)}`;
    const kMax = Math.floor((fx.spec.featureCount - 1 - f) / fxNames.length);
    return String(fx.rawValue(f + fxNames.length * (1 + Math.floor(r() * kMax))));
  };
  await withService(fixtureModel(fx), config, async (service: EmbeddingService) => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(1000 + seed);
      const req: CandidateRequest = randomCandidateRequest(r, fxNames, (f) => value(r, f));
      const buf = encodeWire(req, r, 0).data;
      // A model swapped between decoding and scoring: the reader prepared for another field order.
      const fields = seed % 5 === 0 ? shuffle([...fxNames], r) : fxNames;
      const fast = fastInput(buf, fields);
      assert.ok(fast !== null, `seed ${seed}: accepted`);
      const got = await outcome(service.score(fast, deadline));
      const want = await outcome(service.score(decodeScore(decode(buf)), deadline));
      assert.equal(got, want, `seed ${seed}`);
      seen.add(got.startsWith('MPE_ERR') ? got.split(':')[0]! : 'scores');
    }
    // Every kind of outcome ran: scores, a non-number numeric value (worker), too many candidates (service).
    assert.deepEqual([...seen].sort(), ['MPE_ERR_REQ_NUMERIC', 'MPE_ERR_REQ_TOO_MANY_ROWS', 'scores']);
  });
});

test('service: every bad input falls back, and the generic path gives its code naming the field or row', async () => {
  await withService(fixtureModel(fx4), config, async (service: EmbeddingService) => {
    for (const c of badCases) {
      assert.equal(fastInput(c.buf, names), null, c.name);
      const got = await outcome(service.score(decodeScore(decode(c.buf)), deadline));
      if (c.code === undefined) assert.match(got, /^\[/, `${c.name}: scores`);
      else {
        assert.ok(got.startsWith(`${c.code}: `), `${c.name}: ${got}`);
        assert.match(got, c.message!, c.name);
      }
    }
  });
});
