/**
 * The Score request forms over both transports: flat rows, ids, columnar, and context +
 * candidates (context + columns) all give EXACTLY the flat form's probabilities; the bad inputs
 * of the new forms get their stable codes naming the field or row, and the next request is exact.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../../src/errors.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { createFixture, type Fixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';
import { createRng } from '../../src/util/random.js';
import { grpcClient, httpJson, type Rpc } from './clients.js';

const fx: Fixture = createFixture({ fields: 8, seed: 33 });
const names = fx.fields.map((f) => f.name);
/** The first CONTEXT fields are shared: every row gets row 0's values for them. */
const CONTEXT = 5;
const ROWS = 7;
const rows = randomRows(fx, ROWS, 12).raw.map((r, _i, all) => {
  const out = { ...r };
  for (let f = 0; f < CONTEXT; f++) out[names[f]!] = all[0]![names[f]!]!;
  return out;
});
const contextObj = Object.fromEntries(names.slice(0, CONTEXT).map((n) => [n, rows[0]![n]!]));
const candidateObjs = rows.map((r) => Object.fromEntries(names.slice(CONTEXT).map((n) => [n, r[n]!])));
const columnsObj = (from: number): Record<string, (string | number)[]> => Object.fromEntries(names.slice(from).map((n) => [n, rows.map((r) => r[n]!)]));
const pairs = (o: Record<string, string | number>): { field: string; value: string }[] => Object.entries(o).map(([field, value]) => ({ field, value: String(value) }));
const grpcColumns = (o: Record<string, (string | number)[]>): { field: string; values: string[] }[] => Object.entries(o).map(([field, values]) => ({ field, values: values.map(String) }));

let server: RunningServer;
let rpc: Rpc;
let closeClient: () => void;
/** The flat raw form's answer (HTTP), the reference every other form must equal exactly. */
let flat: number[];

before(async () => {
  server = await createServer(testConfig({ workers: 1, requestRowLimit: 16 }), { model: fixtureModel(fx), registry: new Registry() });
  ({ call: rpc, close: closeClient } = grpcClient(server.grpcPort));
  const h = await httpJson(server.httpPort, 'POST', '/v1/score', { rows });
  assert.equal(h.status, 200, JSON.stringify(h.json));
  flat = h.json.probabilities;
  assert.equal(flat.length, ROWS);
});

after(async () => {
  closeClient();
  await server.close();
});

async function httpScore(body: unknown): Promise<number[]> {
  const r = await httpJson(server.httpPort, 'POST', '/v1/score', body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.probabilities;
}

async function grpcScore(req: object): Promise<number[]> {
  const r = await rpc<{ probabilities: number[] }>('Score', req);
  assert.ok(r.ok, r.details);
  return r.value!.probabilities;
}

test('every form gives exactly the flat form\'s probabilities, on both transports', async () => {
  // The context really is shared, and the rows really differ (else the test could not fail).
  assert.ok(new Set(flat).size > 1);
  const forms: [string, () => Promise<number[]>][] = [
    ['HTTP columns', () => httpScore({ columns: columnsObj(0) })],
    ['HTTP context + candidates', () => httpScore({ context: contextObj, candidates: candidateObjs })],
    ['HTTP context + columns', () => httpScore({ context: contextObj, columns: columnsObj(CONTEXT) })],
    ['HTTP ids', () => httpScore({ ids: rows.map((r) => names.map((n, f) => fx.vocabEntries.get(`${f}\u0000${String(r[n])}`)!)) })],
    ['gRPC flat rows', () => grpcScore({ rows: rows.map((r) => ({ features: pairs(r) })) })],
    ['gRPC columns', () => grpcScore({ columns: grpcColumns(columnsObj(0)) })],
    ['gRPC context + candidates', () => grpcScore({ context: pairs(contextObj), candidates: candidateObjs.map((c) => ({ features: pairs(c) })) })],
    ['gRPC context + columns', () => grpcScore({ context: pairs(contextObj), columns: grpcColumns(columnsObj(CONTEXT)) })],
  ];
  for (const [name, run] of forms) assert.deepEqual(await run(), flat, name);
});

test('seeded random requests: columns, context + candidates and context + columns equal the flat form, on both transports', async () => {
  const rng = createRng(77);
  for (let round = 0; round < 6; round++) {
    const n = 1 + rng.int(16);
    const rr = randomRows(fx, n, 500 + round).raw;
    // A random context; its values copied into every flat row.
    const inCtx = names.map(() => rng.next() < 0.5);
    if (round === 0) inCtx.fill(false);
    for (const r of rr) for (let f = 0; f < names.length; f++) if (inCtx[f]) r[names[f]!] = rr[0]![names[f]!]!;
    // Some values as numbers, some empty, one unicode (the generic path's case) in the last round.
    if (round === 5) rr[0]![names[names.length - 1]!] = 'é-unseen';
    const ctxO = Object.fromEntries(names.filter((_, f) => inCtx[f]).map((k) => [k, rr[0]![k]!]));
    const free = names.filter((_, f) => !inCtx[f]);
    const candO = rr.map((r) => Object.fromEntries(free.map((k) => [k, r[k]!])));
    const colsO = Object.fromEntries(free.map((k) => [k, rr.map((r) => r[k]!)]));
    const want = await httpScore({ rows: rr });
    const hasCtx = Object.keys(ctxO).length > 0;
    const ctxPart = hasCtx ? { context: ctxO } : {};
    const gCtx = hasCtx ? { context: pairs(ctxO) } : {};
    const got: [string, number[]][] = [
      ['HTTP candidates', await httpScore({ ...ctxPart, candidates: candO })],
      ['HTTP columns', await httpScore({ ...ctxPart, columns: colsO })],
      ['gRPC candidates', await grpcScore({ ...gCtx, candidates: candO.map((c) => ({ features: pairs(c) })) })],
      ['gRPC columns', await grpcScore({ ...gCtx, columns: grpcColumns(colsO) })],
    ];
    for (const [name, p] of got) assert.deepEqual(p, want, `round ${round}: ${name}`);
  }
});

test('a context value differs from the flat rows -> different scores (the context is really used)', async () => {
  const other = { ...contextObj, [names[2]!]: 'never-seen' };
  const p = await httpScore({ context: other, candidates: candidateObjs });
  assert.notDeepEqual(p, flat);
});

interface BadCase {
  readonly name: string;
  readonly http?: unknown;
  readonly grpc?: object;
  readonly code: ErrorCode;
  /** The message must name this (field or row). */
  readonly names: RegExp;
}

const field0 = names[0]!;
const last = names[names.length - 1]!;
const withoutLast = (o: Record<string, string | number>): Record<string, string | number> => Object.fromEntries(Object.entries(o).filter(([k]) => k !== last));
const badCases: BadCase[] = [
  {
    name: 'context field also per candidate',
    http: { context: contextObj, candidates: candidateObjs.map((c, i) => (i === 3 ? { ...c, [field0]: rows[0]![field0]! } : c)) },
    grpc: { context: pairs(contextObj), candidates: candidateObjs.map((c, i) => ({ features: pairs(i === 3 ? { ...c, [field0]: rows[0]![field0]! } : c) })) },
    code: 'MPE_ERR_REQ_DUPLICATE_FIELD',
    names: new RegExp(`candidates\\[3\\]: field ${field0} is also in context`),
  },
  {
    name: 'context field also as a column',
    http: { context: contextObj, columns: columnsObj(0) },
    grpc: { context: pairs(contextObj), columns: grpcColumns(columnsObj(0)) },
    code: 'MPE_ERR_REQ_DUPLICATE_FIELD',
    names: new RegExp(`columns: field ${field0} is also in context`),
  },
  {
    name: 'field in neither context nor candidates',
    http: { context: contextObj, candidates: candidateObjs.map((c, i) => (i === 2 ? withoutLast(c) : c)) },
    grpc: { context: pairs(contextObj), candidates: candidateObjs.map((c, i) => ({ features: pairs(i === 2 ? withoutLast(c) : c) })) },
    code: 'MPE_ERR_REQ_MISSING_FIELD',
    names: new RegExp(`field ${last} is in neither context nor candidates\\[2\\]`),
  },
  {
    name: 'field in neither context nor columns',
    http: { context: contextObj, columns: withoutLastColumn(columnsObj(CONTEXT)) },
    grpc: { context: pairs(contextObj), columns: grpcColumns(withoutLastColumn(columnsObj(CONTEXT))) },
    code: 'MPE_ERR_REQ_MISSING_FIELD',
    names: new RegExp(`field ${last} is in neither context nor columns`),
  },
  {
    name: 'columns of unequal length',
    http: { columns: { ...columnsObj(0), [last]: rows.slice(1).map((r) => r[last]!) } },
    grpc: { columns: grpcColumns({ ...columnsObj(0), [last]: rows.slice(1).map((r) => r[last]!) }) },
    code: 'MPE_ERR_REQ_COLUMN_LENGTH',
    names: new RegExp(`field ${last} has ${ROWS - 1} values, field ${field0} has ${ROWS}`),
  },
  { name: 'empty candidate list', http: { context: contextObj, candidates: [] }, code: 'MPE_ERR_REQ_NO_CANDIDATES', names: /candidate list is empty/ },
  { name: 'empty columns', http: { columns: Object.fromEntries(names.map((n) => [n, []])) }, code: 'MPE_ERR_REQ_NO_CANDIDATES', names: /columns hold no values/ },
  { name: 'context-only request', http: { context: contextObj }, grpc: { context: pairs(contextObj) }, code: 'MPE_ERR_REQ_NO_CANDIDATES', names: /context-only request/ },
  {
    name: 'candidates and columns together',
    http: { context: contextObj, candidates: candidateObjs, columns: columnsObj(CONTEXT) },
    grpc: { context: pairs(contextObj), candidates: candidateObjs.map((c) => ({ features: pairs(c) })), columns: grpcColumns(columnsObj(CONTEXT)) },
    code: 'MPE_ERR_REQ_INVALID',
    names: /candidates or columns, not both/,
  },
  { name: 'rows and context together', http: { rows, context: contextObj }, grpc: { rows: rows.map((r) => ({ features: pairs(r) })), context: pairs(contextObj) }, code: 'MPE_ERR_REQ_INVALID', names: /send one of/ },
  {
    name: 'numeric column value not a number',
    http: { columns: { ...columnsObj(0), I2: rows.map((r, i) => (i === 4 ? 'abc' : r.I2!)) } },
    grpc: { columns: grpcColumns({ ...columnsObj(0), I2: rows.map((r, i) => (i === 4 ? 'abc' : r.I2!)) }) },
    code: 'MPE_ERR_REQ_NUMERIC',
    names: /columns\.I2\[4\]: field I2 value "abc"/,
  },
  { name: 'unknown field in context', http: { context: { ...contextObj, nope: 1 }, candidates: candidateObjs }, grpc: { context: [...pairs(contextObj), { field: 'nope', value: '1' }], candidates: candidateObjs.map((c) => ({ features: pairs(c) })) }, code: 'MPE_ERR_VOCAB_FIELD', names: /context: "nope"/ },
  {
    name: 'unknown column',
    http: { context: contextObj, columns: { ...columnsObj(CONTEXT), nope: rows.map(() => 1) } },
    grpc: { context: pairs(contextObj), columns: grpcColumns({ ...columnsObj(CONTEXT), nope: rows.map(() => 1) }) },
    code: 'MPE_ERR_VOCAB_FIELD',
    names: /columns: "nope"/,
  },
  { name: 'unknown field in a candidate', http: { context: contextObj, candidates: candidateObjs.map((c, i) => (i === 1 ? { ...c, nope: 1 } : c)) }, grpc: { context: pairs(contextObj), candidates: candidateObjs.map((c, i) => ({ features: pairs(i === 1 ? { ...c, nope: 1 } : c) })) }, code: 'MPE_ERR_VOCAB_FIELD', names: /candidates\[1\]: "nope"/ },
  { name: 'context field given twice', grpc: { context: [...pairs(contextObj), { field: field0, value: '1' }], candidates: candidateObjs.map((c) => ({ features: pairs(c) })) }, code: 'MPE_ERR_REQ_DUPLICATE_FIELD', names: new RegExp(`context: field ${field0} given twice`) },
  { name: 'candidate field given twice', grpc: { context: pairs(contextObj), candidates: candidateObjs.map((c, i) => ({ features: i === 5 ? [...pairs(c), { field: last, value: '1' }] : pairs(c) })) }, code: 'MPE_ERR_REQ_INVALID', names: new RegExp(`candidates\\[5\\]: field ${last} given twice`) },
  { name: 'column given twice', grpc: { context: pairs(contextObj), columns: [...grpcColumns(columnsObj(CONTEXT)), { field: last, values: rows.map(() => '1') }] }, code: 'MPE_ERR_REQ_DUPLICATE_FIELD', names: new RegExp(`columns: field ${last} given twice`) },
  { name: 'a boolean value (schema)', http: { context: { ...contextObj, [field0]: true }, candidates: candidateObjs }, code: 'MPE_ERR_REQ_INVALID', names: /context/ },
  { name: 'a column that is not an array (schema)', http: { context: contextObj, columns: { ...columnsObj(CONTEXT), [last]: 'x' } }, code: 'MPE_ERR_REQ_INVALID', names: /columns/ },
  {
    name: 'too many candidates',
    http: { context: contextObj, candidates: Array.from({ length: 17 }, () => candidateObjs[0]) },
    grpc: { context: pairs(contextObj), candidates: Array.from({ length: 17 }, () => ({ features: pairs(candidateObjs[0]!) })) },
    code: 'MPE_ERR_REQ_TOO_MANY_ROWS',
    names: /17 rows, limit 16/,
  },
];

function withoutLastColumn(o: Record<string, (string | number)[]>): Record<string, (string | number)[]> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => k !== last));
}

/** After each bad request: the flat form again, exact. */
async function nextIsExact(): Promise<void> {
  assert.deepEqual(await httpScore({ context: contextObj, candidates: candidateObjs }), flat);
  assert.deepEqual(await grpcScore({ context: pairs(contextObj), columns: grpcColumns(columnsObj(CONTEXT)) }), flat);
}

for (const c of badCases) {
  if (c.http !== undefined) {
    test(`HTTP ${c.name} -> ${c.code}`, async () => {
      const r = await httpJson(server.httpPort, 'POST', '/v1/score', c.http);
      assert.equal(r.status, ERROR_CATALOGUE[c.code].http, JSON.stringify(r.json));
      assert.equal(r.json.error.code, c.code);
      assert.match(r.json.error.message, c.names);
      await nextIsExact();
    });
  }
  if (c.grpc !== undefined) {
    test(`gRPC ${c.name} -> ${c.code}`, async () => {
      const r = await rpc('Score', c.grpc!);
      assert.equal(r.ok, false);
      assert.equal(r.status, ERROR_CATALOGUE[c.code].grpc, r.details);
      assert.equal(r.mpeCode, c.code);
      assert.match(r.details ?? '', c.names);
      await nextIsExact();
    });
  }
}

test('a model without a shared vocabulary (raw values resolved on the main thread) gives the same scores in every form', async () => {
  const other = await createServer(testConfig({ workers: 1, requestRowLimit: 16 }), { model: fixtureModel(fx, 'main-thread', { workerVocab: false }), registry: new Registry() });
  try {
    for (const body of [{ rows }, { columns: columnsObj(0) }, { context: contextObj, candidates: candidateObjs }]) {
      const r = await httpJson(other.httpPort, 'POST', '/v1/score', body);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual(r.json.probabilities, flat);
    }
    const bad = await httpJson(other.httpPort, 'POST', '/v1/score', { columns: { ...columnsObj(0), I2: rows.map((r, i) => (i === 4 ? 'abc' : r.I2!)) } });
    assert.equal(bad.json.error.code, 'MPE_ERR_REQ_NUMERIC');
    assert.match(bad.json.error.message, /columns\.I2\[4\]: field I2 value "abc"/);
  } finally {
    await other.close();
  }
});
