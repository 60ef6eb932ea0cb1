/**
 * Seeded random Score requests in the candidate forms (columns; context + candidates; context +
 * columns), written as protobuf wire bytes or JSON text with the encoding choices a fast path must
 * survive (field and key orders, interleaved repeated fields, explicit empty strings, unknown
 * fields, whitespace, escapes, non-canonical numbers), and the packing the service's generic path
 * gives their decoded form (its rawPart, restated: the reference the fast paths must equal).
 */
import assert from 'node:assert/strict';
import type { PackedCandidates } from '../../src/server/score-wire-candidates.js';
import { ValuePacker } from '../../src/vocab/packed-values.js';

export type Scalar = string | number | null;
export type Pairs = readonly (readonly [string, Scalar])[];

export interface CandidateRequest {
  readonly context: Pairs | null;
  readonly candidates: readonly Pairs[] | null;
  readonly columns: readonly (readonly [string, readonly Scalar[]])[] | null;
}

/** Fisher-Yates with the given stream. */
export function shuffle<T>(a: T[], r: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const PLAIN = 'abcdef0123456789-_.:/ XYZ';
const UNUSUAL = ['é', 'città', '日本', '😀', 'a"b', 'back\\slash', 'line\nbreak', 'tab\t', '\u0001'];

/** A value: mostly plain ASCII text, some numbers, nulls and empty strings, rarely unicode or text JSON must escape. */
export function randomScalar(r: () => number, unusual = 0.02): Scalar {
  const x = r();
  if (x < unusual) return UNUSUAL[Math.floor(r() * UNUSUAL.length)]!;
  if (x < 0.08) return null;
  if (x < 0.12) return '';
  if (x < 0.3) return Math.floor(r() * 1e6) - (r() < 0.2 ? 5e5 : 0);
  if (x < 0.38) return Math.round(r() * 1e4) / 100;
  let s = '';
  const n = 1 + Math.floor(r() * 10);
  for (let i = 0; i < n; i++) s += PLAIN[Math.floor(r() * PLAIN.length)];
  return s;
}

/**
 * A valid request over the model's `names`: a random context (or none), the other fields per
 * candidate or as columns, in random orders, 1 to `maxRows` candidates; values from `value(f)`.
 */
export function randomCandidateRequest(r: () => number, names: readonly string[], value: (f: number) => Scalar, maxRows = 30): CandidateRequest {
  const F = names.length;
  const inContext = names.map(() => false);
  const ctxShare = r() < 0.25 ? 0 : r();
  for (let f = 0; f < F; f++) inContext[f] = r() < ctxShare;
  const free = names.map((_, f) => f).filter((f) => !inContext[f]);
  const ctxFields = names.map((_, f) => f).filter((f) => inContext[f]);
  if (r() < 0.3) shuffle(ctxFields, r);
  const context = ctxFields.length > 0 ? ctxFields.map((f) => [names[f]!, value(f)] as const) : null;
  const rows = 1 + Math.floor(r() * maxRows);
  if (free.length > 0 && r() < 0.5) {
    const order = r() < 0.3 ? shuffle([...free], r) : free;
    return { context, candidates: null, columns: order.map((f) => [names[f]!, Array.from({ length: rows }, () => value(f))] as const) };
  }
  const candidates = Array.from({ length: rows }, () => (r() < 0.3 ? shuffle([...free], r) : free).map((f) => [names[f]!, value(f)] as const));
  return { context, candidates, columns: null };
}

/** Whether a value is one a fast path may decline (non-ASCII, or text JSON escapes). */
export function isUnusual(v: Scalar): boolean {
  return typeof v === 'string' && [...v].some((ch) => ch < ' ' || ch > '~' || ch === '"' || ch === '\\');
}

function requestValues(req: CandidateRequest): Scalar[] {
  const out: Scalar[] = [];
  for (const [, v] of req.context ?? []) out.push(v);
  for (const row of req.candidates ?? []) for (const [, v] of row) out.push(v);
  for (const [, vs] of req.columns ?? []) out.push(...vs);
  return out;
}

// --- protobuf wire bytes -----------------------------------------------------------------

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function lenField(field: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([...varint((field << 3) | 2), ...varint(payload.length)]), payload]);
}

/** An unknown varint field (number 15): decoders skip it. */
const UNKNOWN = Buffer.from([0x78, 0x01]);

/** A proto3 string value as text (numbers as String(n), null as ''). */
const text = (v: Scalar): string => (v === null ? '' : String(v));

/** The encoding choices of {@link encodeWire}; `unusual` when it put in something a fast path may decline. */
export interface Encoded<T> {
  readonly data: T;
  readonly unusual: boolean;
}

/**
 * ScoreRequest wire bytes of `req`: RawFeature value before name at random, empty values omitted or
 * explicit, the context entries interleaved with the candidates / columns at random, and (with
 * probability `unknown`) an unknown field somewhere.
 */
export function encodeWire(req: CandidateRequest, r: () => number, unknown = 0.1): Encoded<Buffer> {
  const nonAscii = requestValues(req).some((v) => typeof v === 'string' && [...v].some((ch) => ch.charCodeAt(0) > 0x7f));
  const where = r() < unknown ? Math.floor(r() * 4) : -1; // 0 top level, 1 a feature, 2 a row, 3 a column
  const explicitEmpty = r() < 0.5;
  const feature = (name: string, v: Scalar, extra: boolean): Buffer => {
    const parts = [lenField(1, Buffer.from(name, 'utf8'))];
    const t = text(v);
    if (t !== '' || explicitEmpty) parts.push(lenField(2, Buffer.from(t, 'utf8')));
    if (r() < 0.2) parts.reverse();
    if (extra) parts.push(UNKNOWN);
    return Buffer.concat(parts);
  };
  let unknownLeft = where;
  const take = (at: number): boolean => {
    if (unknownLeft !== at) return false;
    unknownLeft = -1;
    return true;
  };
  const ctx = (req.context ?? []).map(([n, v]) => lenField(3, feature(n, v, take(1))));
  const body: Buffer[] = [];
  for (const row of req.candidates ?? []) {
    const feats = row.map(([n, v]) => lenField(1, feature(n, v, take(1))));
    if (take(2)) feats.push(UNKNOWN);
    body.push(lenField(4, Buffer.concat(feats)));
  }
  for (const [n, vs] of req.columns ?? []) {
    const parts = [lenField(1, Buffer.from(n, 'utf8')), ...vs.map((v) => lenField(2, Buffer.from(text(v), 'utf8')))];
    if (r() < 0.2) parts.push(parts.shift()!); // the field name after the values
    if (take(3)) parts.push(UNKNOWN);
    body.push(lenField(5, Buffer.concat(parts)));
  }
  // The context first, last, or spread among the candidates / columns.
  const mode = r();
  let all: Buffer[];
  if (mode < 0.5) all = [...ctx, ...body];
  else if (mode < 0.7) all = [...body, ...ctx];
  else {
    all = [...body];
    for (const c of ctx) all.splice(Math.floor(r() * (all.length + 1)), 0, c);
  }
  if (take(0)) all.splice(Math.floor(r() * (all.length + 1)), 0, UNKNOWN);
  // unknownLeft still `where`: no place of that kind (no candidates, say), so no unknown field.
  return { data: Buffer.concat(all), unusual: nonAscii || (where >= 0 && unknownLeft === -1) };
}

// --- JSON text ---------------------------------------------------------------------------

/**
 * JSON text of `req`: keys in the request's order with the context first or last, compact or
 * spaced, numbers as String(n) or (rarely) in a form String(n) does not write, strings as
 * JSON.stringify writes them or (rarely) with a needless \u escape.
 */
export function encodeJson(req: CandidateRequest, r: () => number, odd = 0.05): Encoded<string> {
  let unusual = requestValues(req).some(isUnusual);
  const sp = r() < 0.3 ? ' ' : '';
  const nl = r() < 0.2 ? '\n  ' : '';
  const scalar = (v: Scalar): string => {
    if (typeof v === 'number' && r() < odd) {
      unusual = true;
      return Number.isInteger(v) ? `${v}.0` : `${v}0`;
    }
    if (typeof v === 'string' && v.length > 0 && r() < odd) {
      unusual = true;
      return `"\\u${v.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(v).slice(2)}`;
    }
    return v === null ? 'null' : JSON.stringify(v);
  };
  const obj = (pairs: Pairs): string => `{${pairs.map(([k, v]) => `${nl}${JSON.stringify(k)}:${sp}${scalar(v)}`).join(`,${sp}`)}}`;
  const members: string[] = [];
  if (req.candidates !== null) members.push(`"candidates":${sp}[${req.candidates.map(obj).join(`,${sp}`)}]`);
  if (req.columns !== null) members.push(`"columns":${sp}{${req.columns.map(([k, vs]) => `${nl}${JSON.stringify(k)}:${sp}[${vs.map(scalar).join(`,${sp}`)}]`).join(`,${sp}`)}}`);
  if (req.context !== null) {
    const c = `"context":${sp}${obj(req.context)}`;
    if (r() < 0.5) members.unshift(c);
    else members.push(c);
  }
  return { data: `${sp}{${nl}${members.join(`,${sp}${nl}`)}}${sp}`, unusual };
}

// --- the generic path's packing ----------------------------------------------------------

/** A decoded request as the service takes it (proto-loader's or JSON.parse's objects). */
export interface DecodedCandidates {
  readonly context?: readonly { field: string; value?: Scalar }[] | Readonly<Record<string, Scalar>> | null;
  readonly candidates?: readonly (readonly { field: string; value?: Scalar }[] | Readonly<Record<string, Scalar>>)[];
  readonly columns?: readonly { field: string; values: readonly Scalar[] }[] | Readonly<Record<string, readonly Scalar[]>>;
}

export interface PackedReference {
  readonly rows: number;
  readonly label: 'candidates' | 'columns';
  readonly text: string;
  readonly lengths: Int32Array;
  readonly context: { readonly text: string; readonly lengths: Int32Array; readonly mask: Uint8Array } | null;
}

const entries = <T>(x: readonly { field: string; value?: T }[] | Readonly<Record<string, T>>): [string, T | undefined][] =>
  Array.isArray(x) ? (x as { field: string; value?: T }[]).map((p) => [p.field, p.value]) : Object.entries(x as Record<string, T>);

/**
 * How the service's generic path (rawPart) packs a VALID request as the transport hands it to the
 * service (gRPC: decodeScore's output): the context (if given) once with its mask, then the
 * candidates or columns in row-major slots, context slots empty.
 */
export function referencePack(d: DecodedCandidates, names: readonly string[]): PackedReference {
  const F = names.length;
  const index = new Map(names.map((n, i) => [n, i]));
  const hasContext = d.context !== undefined && d.context !== null;
  const mask = new Uint8Array(F);
  const ctx = new ValuePacker(F);
  if (hasContext) {
    for (const [k, v] of entries(d.context!)) {
      mask[index.get(k)!] = 1;
      ctx.set(index.get(k)!, v);
    }
  }
  const cands = d.candidates !== undefined && d.candidates.length > 0 ? d.candidates : null;
  let rows: number;
  let out: ValuePacker;
  if (cands !== null) {
    rows = cands.length;
    out = new ValuePacker(rows * F);
    cands.forEach((row, r) => {
      for (const [k, v] of entries(row)) out.set(r * F + index.get(k)!, v);
    });
  } else {
    const cols: [string, readonly Scalar[]][] = Array.isArray(d.columns) ? (d.columns as { field: string; values: Scalar[] }[]).map((c) => [c.field, c.values]) : Object.entries(d.columns as Record<string, Scalar[]>);
    rows = cols[0]![1].length;
    out = new ValuePacker(rows * F);
    for (const [k, vs] of cols) for (let r = 0; r < rows; r++) out.set(r * F + index.get(k)!, vs[r]);
  }
  const p = out.pack();
  const c = ctx.pack();
  return { rows, label: cands !== null ? 'candidates' : 'columns', text: p.text, lengths: p.lengths, context: hasContext ? { text: c.text, lengths: c.lengths, mask } : null };
}

/** Asserts that a fast path's packing is the reference's, slot for slot (rows, label, values, context, mask). */
export function assertSamePacked(got: PackedCandidates, want: PackedReference, what: string): void {
  assert.equal(got.rows, want.rows, `${what}: rows`);
  assert.equal(got.label, want.label, `${what}: label`);
  assert.equal(got.values.text, want.text, `${what}: text`);
  assert.deepEqual(got.values.lengths, want.lengths, `${what}: lengths`);
  if (want.context === null) {
    assert.equal(got.context, null, `${what}: no context`);
    return;
  }
  assert.ok(got.context !== null, `${what}: context`);
  assert.equal(got.context.values.text, want.context.text, `${what}: context text`);
  assert.deepEqual(got.context.values.lengths, want.context.lengths, `${what}: context lengths`);
  assert.deepEqual(got.context.mask, want.context.mask, `${what}: mask`);
}
