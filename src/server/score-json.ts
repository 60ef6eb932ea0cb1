/**
 * The REST twin of score-wire.ts: the flat raw-values body of POST /v1/score
 * (`{"rows":[{"C1":"68fd1e64","I1":3,...},...]}`) read straight from its bytes into the workers'
 * packed form, instead of JSON.parse building 100 objects and 3,900 strings that the service then
 * walks again (JSON.parse was the largest item of the HTTP main thread in a cpu-profile of
 * `npm run loadtest -- --target http --form flat`).
 *
 * It accepts only bodies it maps exactly as the generic path would: the one key `rows`, rows that
 * are objects holding every model field once, keys without escapes, values that are strings
 * without escapes or control characters, `null` (the missing value, ''), or numbers written the
 * way `String(n)` writes them (so the text sent is the text the generic path packs). Anything else
 * (another key or form, an unknown, repeated or missing field, an escape, non-ASCII, a number like
 * `1.50` or `1e3`, booleans, nesting, bad JSON) returns null and the body takes fastify's JSON
 * parser, the schema and the service's checks: errors and answers are unchanged.
 */
import { type PackedRows, packSlots, sameBytes, type WireFields } from './score-wire.js';

export const QUOTE = 0x22;
const BACKSLASH = 0x5c;
export const COLON = 0x3a;
export const COMMA = 0x2c;
export const LBRACE = 0x7b;
export const RBRACE = 0x7d;
export const LBRACKET = 0x5b;
export const RBRACKET = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const ROWS_KEY = Buffer.from('"rows"', 'latin1');
const NULL = Buffer.from('null', 'latin1');

/** Position of the first non-whitespace byte at or after `p`. */
export function ws(b: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const c = b[p]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    p++;
  }
  return p;
}

/** End of a string's contents starting after its opening quote, or -1 (escape, control character, unterminated). */
export function stringEnd(b: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const c = b[p]!;
    if (c === QUOTE) return p;
    if (c === BACKSLASH || c < 0x20) return -1;
    p++;
  }
  return -1;
}

/**
 * End of a number token at `p` if `String(Number(token)) === token`, else -1. Accepted: an
 * integer of at most 15 digits without leading zeros, optionally with a fraction that does not
 * end in 0, at most 15 significant digits in all, no exponent, not -0, and not below 1e-6 (where
 * String() switches to exponent notation).
 */
export function canonicalNumberEnd(b: Uint8Array, p: number, end: number): number {
  const start = p;
  if (b[p] === MINUS) p++;
  const intStart = p;
  while (p < end && b[p]! >= ZERO && b[p]! <= NINE) p++;
  const intLen = p - intStart;
  if (intLen === 0 || (intLen > 1 && b[intStart] === ZERO)) return -1;
  let digits = intLen;
  let fracZeros = 0;
  if (p < end && b[p] === DOT) {
    p++;
    const fracStart = p;
    while (p < end && b[p]! >= ZERO && b[p]! <= NINE) p++;
    const fracLen = p - fracStart;
    if (fracLen === 0 || b[p - 1] === ZERO) return -1;
    while (fracZeros < fracLen && b[fracStart + fracZeros] === ZERO) fracZeros++;
    digits += fracLen;
    if (intLen === 1 && b[intStart] === ZERO) {
      digits -= 1 + fracZeros; // 0.00xyz: the significant digits are xyz
      if (fracZeros >= 6) return -1;
    }
  } else if (intLen === 1 && b[intStart] === ZERO && start !== intStart) {
    return -1; // -0
  }
  if (digits > 15) return -1;
  const c = p < end ? b[p]! : 0;
  if (c === 0x65 || c === 0x45) return -1; // exponent
  return p;
}

/**
 * The value at `p` into slot `k` (`starts[k]`, `lengths[k]`: its text as the generic path packs
 * it): a string without escapes (its contents), a canonical number (its text), or null (empty).
 * Returns the position after it, or -1 for anything else.
 */
export function readScalar(b: Uint8Array, p: number, end: number, starts: Int32Array, lengths: Int32Array, k: number): number {
  const c = b[p];
  if (c === QUOTE) {
    const e = stringEnd(b, p + 1, end);
    if (e < 0) return -1;
    starts[k] = p + 1;
    lengths[k] = e - p - 1;
    return e + 1;
  }
  if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) {
    const e = canonicalNumberEnd(b, p, end);
    if (e < 0) return -1;
    starts[k] = p;
    lengths[k] = e - p;
    return e;
  }
  if (sameBytes(b, p, 4, NULL)) {
    starts[k] = p;
    lengths[k] = 0;
    return p + 4;
  }
  return -1;
}

/** Position of the first member of the body's object (past `{` and whitespace), or -1 when the body is no object. */
export function bodyStart(b: Uint8Array, end: number): number {
  const p = ws(b, 0, end);
  return b[p] === LBRACE ? ws(b, p + 1, end) : -1;
}

/** Reads the flat `rows` body, or returns null (see the module comment). */
export function scanFlatJson(b: Uint8Array, fields: WireFields): PackedRows | null {
  const F = fields.names.length;
  const end = b.length;
  if (F === 0) return null;
  let p = ws(b, 0, end);
  if (b[p] !== LBRACE) return null;
  p = ws(b, p + 1, end);
  if (!sameBytes(b, p, ROWS_KEY.length, ROWS_KEY)) return null;
  p = ws(b, p + ROWS_KEY.length, end);
  if (b[p] !== COLON) return null;
  p = ws(b, p + 1, end);
  if (b[p] !== LBRACKET) return null;
  p = ws(b, p + 1, end);
  let cap = 64 * F;
  let starts = new Int32Array(cap);
  let lengths = new Int32Array(cap).fill(-1);
  const names = fields.bytes;
  let rows = 0;
  let total = 0;
  if (b[p] === RBRACKET) return null; // no rows: the generic path says so
  for (;;) {
    if (b[p] !== LBRACE) return null;
    if ((rows + 1) * F > cap) {
      const s2 = new Int32Array(cap * 2);
      s2.set(starts);
      const l2 = new Int32Array(cap * 2).fill(-1);
      l2.set(lengths);
      starts = s2;
      lengths = l2;
      cap *= 2;
    }
    const base = rows * F;
    let expected = 0;
    let present = 0;
    p = ws(b, p + 1, end);
    if (b[p] === RBRACE) return null; // an empty row: missing fields
    for (;;) {
      if (b[p] !== QUOTE) return null;
      const keyEnd = stringEnd(b, p + 1, end);
      if (keyEnd < 0) return null;
      const keyAt = p + 1;
      const keyLen = keyEnd - keyAt;
      let f = expected < F && sameBytes(b, keyAt, keyLen, names[expected]!) ? expected : -1;
      if (f < 0) {
        const i = fields.index.get(Buffer.from(b.buffer, b.byteOffset + keyAt, keyLen).toString('latin1'));
        if (i === undefined) return null;
        f = i;
      }
      const k = base + f;
      if (lengths[k]! >= 0) return null; // repeated key: JSON.parse keeps the last, leave that to it
      p = ws(b, keyEnd + 1, end);
      if (b[p] !== COLON) return null;
      p = ws(b, p + 1, end);
      const c = b[p];
      if (c === QUOTE) {
        const e = stringEnd(b, p + 1, end);
        if (e < 0) return null;
        starts[k] = p + 1;
        lengths[k] = e - p - 1;
        p = e + 1;
      } else if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) {
        const e = canonicalNumberEnd(b, p, end);
        if (e < 0) return null;
        starts[k] = p;
        lengths[k] = e - p;
        p = e;
      } else if (sameBytes(b, p, 4, NULL)) {
        starts[k] = p;
        lengths[k] = 0;
        p += 4;
      } else {
        return null;
      }
      total += lengths[k]!;
      present++;
      expected = f + 1;
      p = ws(b, p, end);
      if (b[p] === COMMA) {
        p = ws(b, p + 1, end);
        continue;
      }
      if (b[p] !== RBRACE) return null;
      break;
    }
    if (present !== F) return null;
    rows++;
    p = ws(b, p + 1, end);
    if (b[p] === COMMA) {
      p = ws(b, p + 1, end);
      continue;
    }
    if (b[p] !== RBRACKET) return null;
    break;
  }
  p = ws(b, p + 1, end);
  if (b[p] !== RBRACE) return null;
  if (ws(b, p + 1, end) !== end) return null;
  // A copy of the used slots: the lengths travel to a worker, and a view would take the whole grown buffer along.
  const values = packSlots(b, starts, lengths.slice(0, rows * F), total);
  return values === null ? null : { rows, values };
}
