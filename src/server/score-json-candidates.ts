/**
 * The REST twin of score-wire-candidates.ts: the columnar body of POST /v1/score
 * (`{"columns":{"C1":[...],...}}`) and the context + candidates bodies
 * (`{"context":{...},"candidates":[{...},...]}` or `{"context":{...},"columns":{...}}`) read
 * straight from their bytes into the workers' packed form, the context fields once with their
 * mask, exactly as JSON.parse, the schema and the service's packing would give them.
 *
 * It accepts only bodies it maps exactly (the value rules of score-json.ts: strings without
 * escapes, canonical numbers, null): the keys `context`, `candidates`, `columns` each at most once
 * and in any order, `candidates` or `columns` but not both, every key of an object a model field
 * given once, every field in context or else in every candidate (or one column), never both,
 * columns all of one non-zero length. Anything else (every bad input among them) returns null and
 * the body takes fastify's JSON parser, the schema and the service's checks: errors and answers
 * are unchanged.
 */
import { nextFreeFields, type PackedCandidates } from './score-wire-candidates.js';
import { bodyStart, COLON, COMMA, LBRACE, LBRACKET, QUOTE, RBRACE, RBRACKET, readScalar, stringEnd, ws } from './score-json.js';
import { fieldAt, packSlots, sameBytes, type WireFields } from './score-wire.js';

/** Whitespace and nothing else at or below it (JSON's four whitespace bytes; other control bytes fail later). */
const SPACE = 0x20;
const CONTEXT_KEY = Buffer.from('context', 'latin1');
const CANDIDATES_KEY = Buffer.from('candidates', 'latin1');
const COLUMNS_KEY = Buffer.from('columns', 'latin1');

/** Rows of slots allocated first; doubled as needed. */
const FIRST_ROWS = 64;

/** One body's reading state (one object per body; no allocation per value). */
class Reader {
  readonly F: number;
  readonly end: number;
  readonly mask: Uint8Array;
  readonly ctxStarts: Int32Array;
  readonly ctxLengths: Int32Array;
  ctxTotal = 0;
  hasContext = false;
  /** Row slots: -1 = not given. */
  starts: Int32Array;
  lengths: Int32Array;
  cap = FIRST_ROWS;
  rows = 0;
  total = 0;
  /** After {@link key}: the position of the member's value. */
  vAt = 0;
  readonly inColumn: Uint8Array;

  constructor(
    readonly b: Uint8Array,
    readonly fields: WireFields,
  ) {
    this.F = fields.names.length;
    this.end = b.length;
    this.mask = new Uint8Array(this.F);
    this.ctxStarts = new Int32Array(this.F);
    this.ctxLengths = new Int32Array(this.F);
    this.inColumn = new Uint8Array(this.F);
    this.starts = new Int32Array(FIRST_ROWS * this.F);
    this.lengths = new Int32Array(FIRST_ROWS * this.F).fill(-1);
  }

  /** Room for `rows` rows of slots. */
  reserve(rows: number): void {
    if (rows <= this.cap) return;
    let cap = this.cap;
    while (cap < rows) cap *= 2;
    const s = new Int32Array(cap * this.F);
    s.set(this.starts);
    const l = new Int32Array(cap * this.F).fill(-1);
    l.set(this.lengths);
    this.starts = s;
    this.lengths = l;
    this.cap = cap;
  }

  /** The value at `p` into row slot `k`; its end, or -1. */
  slot(p: number, k: number): number {
    p = readScalar(this.b, p, this.end, this.starts, this.lengths, k);
    if (p >= 0) this.total += this.lengths[k]!;
    return p;
  }

  /** A key `"name":` at `p` naming a model field: the field (vAt = the position after the colon and whitespace), or -1. */
  key(p: number, expected: number): number {
    const b = this.b;
    if (b[p] !== QUOTE) return -1;
    const e = stringEnd(b, p + 1, this.end);
    if (e < 0) return -1;
    const f = fieldAt(b, p + 1, e - p - 1, this.fields, expected);
    if (f < 0) return -1;
    p = ws(b, e + 1, this.end);
    if (b[p] !== COLON) return -1;
    this.vAt = ws(b, p + 1, this.end);
    return f;
  }

  /** Whether the last {@link after} met the closing bracket (else a comma). */
  closed = false;

  /** After a member or element at `p`: past `close` (closed) or the next member's position (after a comma), or -1. */
  after(p: number, close: number): number {
    const b = this.b;
    let c = b[p]!;
    if (c <= SPACE) {
      p = ws(b, p, this.end);
      c = b[p]!;
    }
    if (c === COMMA) {
      this.closed = false;
      return b[++p]! <= SPACE ? ws(b, p, this.end) : p;
    }
    this.closed = true;
    return c === close ? p + 1 : -1;
  }

  /** The context object at `p`; its end, or -1. */
  context(p: number): number {
    const b = this.b;
    if (b[p] !== LBRACE) return -1;
    p = ws(b, p + 1, this.end);
    if (b[p] === RBRACE) return p + 1;
    let expected = 0;
    for (;;) {
      const f = this.key(p, expected);
      if (f < 0 || this.mask[f] === 1) return -1;
      p = readScalar(b, this.vAt, this.end, this.ctxStarts, this.ctxLengths, f);
      if (p < 0) return -1;
      this.mask[f] = 1;
      this.ctxTotal += this.ctxLengths[f]!;
      expected = f + 1;
      p = this.after(p, RBRACE);
      if (p < 0 || this.closed) return p;
    }
  }

  /** The candidates array at `p` (rows of any model fields, each once; checked against the context later); its end, or -1. */
  candidates(p: number): number {
    const b = this.b;
    const F = this.F;
    if (b[p] !== LBRACKET) return -1;
    p = ws(b, p + 1, this.end);
    if (b[p] === RBRACKET) return -1; // no candidates: the generic path says so
    const next = nextFreeFields(this.mask); // the field expected next in a row (a hint: the context may come later)
    for (;;) {
      if (b[p] !== LBRACE) return -1;
      if (this.rows === this.cap) this.reserve(this.rows + 1);
      const base = this.rows * F;
      p = ws(b, p + 1, this.end);
      if (b[p] === RBRACE) {
        p++;
      } else {
        let expected = next[0]!;
        for (;;) {
          const f = this.key(p, expected);
          if (f < 0) return -1;
          const k = base + f;
          if (this.lengths[k]! >= 0) return -1; // repeated key: JSON.parse keeps the last, leave that to it
          p = this.slot(this.vAt, k);
          if (p < 0) return -1;
          expected = next[f + 1]!;
          p = this.after(p, RBRACE);
          if (p < 0) return -1;
          if (this.closed) break;
        }
      }
      this.rows++;
      p = this.after(p, RBRACKET);
      if (p < 0 || this.closed) return p;
    }
  }

  /** The columns object at `p` (all of one non-zero length; checked against the context later); its end, or -1. */
  columns(p: number): number {
    const b = this.b;
    const F = this.F;
    if (b[p] !== LBRACE) return -1;
    p = ws(b, p + 1, this.end);
    if (b[p] === RBRACE) return -1; // no columns: the generic path says so
    const next = nextFreeFields(this.mask); // the field expected next (a hint: the context may come later)
    let n = -1;
    let expected = next[0]!;
    for (;;) {
      const f = this.key(p, expected);
      if (f < 0 || this.inColumn[f] === 1) return -1;
      this.inColumn[f] = 1;
      p = this.vAt;
      if (b[p] !== LBRACKET) return -1;
      p = ws(b, p + 1, this.end);
      let r = 0;
      if (b[p] === RBRACKET) {
        p++;
      } else {
        for (;;) {
          if (r === this.cap) this.reserve(r + 1);
          p = this.slot(p, r * F + f);
          if (p < 0) return -1;
          r++;
          p = this.after(p, RBRACKET);
          if (p < 0) return -1;
          if (this.closed) break;
        }
      }
      if (n < 0) n = r;
      else if (r !== n) return -1;
      expected = next[f + 1]!;
      p = this.after(p, RBRACE);
      if (p < 0) return -1;
      if (this.closed) {
        this.rows = n;
        return n > 0 ? p : -1;
      }
    }
  }
}

/** Reads a columns or context + candidates / columns body, or returns null (see the module comment). */
export function scanCandidatesJson(b: Uint8Array, fields: WireFields): PackedCandidates | null {
  const F = fields.names.length;
  const end = b.length;
  let p = F === 0 ? -1 : bodyStart(b, end);
  if (p < 0) return null;
  const rd = new Reader(b, fields);
  let form: 'candidates' | 'columns' | null = null;
  for (;;) {
    if (b[p] !== QUOTE) return null;
    const e = stringEnd(b, p + 1, end);
    if (e < 0) return null;
    const at = p + 1;
    const len = e - at;
    p = ws(b, e + 1, end);
    if (b[p] !== COLON) return null;
    p = ws(b, p + 1, end);
    if (sameBytes(b, at, len, CONTEXT_KEY)) {
      if (rd.hasContext) return null;
      rd.hasContext = true;
      p = rd.context(p);
    } else if (sameBytes(b, at, len, CANDIDATES_KEY)) {
      if (form !== null) return null;
      form = 'candidates';
      p = rd.candidates(p);
    } else if (sameBytes(b, at, len, COLUMNS_KEY)) {
      if (form !== null) return null;
      form = 'columns';
      p = rd.columns(p);
    } else {
      return null;
    }
    if (p < 0) return null;
    p = rd.after(p, RBRACE);
    if (p < 0) return null;
    if (rd.closed) break;
  }
  if (ws(b, p, end) !== end || form === null) return null;
  const mask = rd.mask;
  const rows = rd.rows;
  // A copy of the used slots (the lengths travel to a worker), then the checks against the
  // context: each field given in context or else in every row (every column), never both.
  const lengths = rd.lengths.slice(0, rows * F);
  if (form === 'columns') {
    for (let f = 0; f < F; f++) if (mask[f] === rd.inColumn[f]) return null;
  } else {
    for (let k = 0, f = 0; k < lengths.length; k++, f = f + 1 === F ? 0 : f + 1) if ((lengths[k]! >= 0) === (mask[f] === 1)) return null;
  }
  for (let k = 0; k < lengths.length; k++) if (lengths[k]! < 0) lengths[k] = 0;
  const values = packSlots(b, rd.starts, lengths, rd.total);
  if (values === null) return null;
  let context: PackedCandidates['context'] = null;
  if (rd.hasContext) {
    const cv = packSlots(b, rd.ctxStarts, rd.ctxLengths, rd.ctxTotal);
    if (cv === null) return null;
    context = { values: cv, mask };
  }
  return { rows, values, label: form, context };
}
