/**
 * The gRPC Score wire fast path for the candidate forms (score-wire.ts reads the flat one): the
 * columnar form (`columns`: per field one Column of values) and the context + candidates form
 * (`context`: the shared fields once, then `candidates` or `columns` holding the other fields),
 * read straight from the protobuf wire bytes into the packed values the score workers take, the
 * context fields once with their mask, exactly as the generic path packs them (service rawPart).
 *
 * Like the flat reader it accepts only messages it maps exactly: top-level fields 3, 4 and 5
 * only (in any order, interleaved), `candidates` or `columns` but not both, every field named
 * once in context and once per candidate (or column), none in both, columns all of one non-zero
 * length, ASCII values, no unknown or repeated tags inside the messages. Anything else (every bad
 * input among them) returns null and the request takes the generic path (proto-loader's decoder,
 * then the service's checks), which gives the exact error code and message.
 */
import { fieldAt, type PackedValues, packSlots, readPair, varint, varintEnd, type WireFields, wirePair } from './score-wire.js';

/** A candidates / columns request in packed form (service PackedScore less `fields`). */
export interface PackedCandidates {
  readonly rows: number;
  readonly values: PackedValues;
  readonly label: 'candidates' | 'columns';
  /** The shared fields: F slots, `mask[f]` = 1 for a field given in context; null without one. */
  readonly context: { readonly values: PackedValues; readonly mask: Uint8Array } | null;
}

const TAG_LEN_1 = 0x0a; // field 1, length-delimited
const TAG_LEN_2 = 0x12; // field 2, length-delimited
const TAG_CONTEXT = 0x1a; // ScoreRequest.context (3)
const TAG_CANDIDATES = 0x22; // ScoreRequest.candidates (4)
const TAG_COLUMNS = 0x2a; // ScoreRequest.columns (5)

/** nextFree[f] = the first field >= f not in context (F past the last): the field expected next in a row or after a column. */
export function nextFreeFields(mask: Uint8Array): Int32Array {
  const F = mask.length;
  const next = new Int32Array(F + 1);
  next[F] = F;
  for (let f = F - 1; f >= 0; f--) next[f] = mask[f] === 1 ? next[f + 1]! : f;
  return next;
}

/** Reads the candidates / columns forms of a ScoreRequest from its wire bytes, or returns null (see the module comment). */
export function scanCandidatesScore(buf: Uint8Array, fields: WireFields): PackedCandidates | null {
  const F = fields.names.length;
  const end = buf.length;
  if (F === 0 || end === 0) return null;
  // Pass 1: the context (read whole) and the number of candidates or columns.
  const mask = new Uint8Array(F);
  const ctxStarts = new Int32Array(F);
  const ctxLengths = new Int32Array(F);
  let ctxCount = 0;
  let ctxTotal = 0;
  let ctxExpected = 0;
  let candidates = 0;
  let columns = 0;
  let pos = 0;
  while (pos < end) {
    const tag = buf[pos];
    const len = varint(buf, pos + 1, end);
    if (len < 0) return null;
    const at = varintEnd();
    const next = at + len;
    if (next > end) return null;
    if (tag === TAG_CONTEXT) {
      if (!readPair(buf, at, next, false)) return null;
      const f = fieldAt(buf, wirePair.nameAt, wirePair.nameLen, fields, ctxExpected);
      if (f < 0 || mask[f] === 1) return null;
      ctxExpected = f + 1;
      mask[f] = 1;
      ctxStarts[f] = wirePair.valueAt;
      ctxLengths[f] = wirePair.valueLen;
      ctxTotal += ctxLengths[f]!;
      ctxCount++;
    } else if (tag === TAG_CANDIDATES) {
      candidates++;
    } else if (tag === TAG_COLUMNS) {
      columns++;
    } else {
      return null;
    }
    pos = next;
  }
  if ((candidates > 0) === (columns > 0)) return null;
  let context: PackedCandidates['context'] = null;
  if (ctxCount > 0) {
    const values = packSlots(buf, ctxStarts, ctxLengths, ctxTotal);
    if (values === null) return null;
    context = { values, mask };
  }
  const nextFree = nextFreeFields(mask);
  const values = candidates > 0 ? readCandidates(buf, fields, candidates, mask, F - ctxCount, nextFree) : readColumns(buf, fields, columns, mask, nextFree);
  if (values === null) return null;
  return { rows: candidates > 0 ? candidates : values.lengths.length / F, values, label: candidates > 0 ? 'candidates' : 'columns', context };
}

/** Start and end of the contents of each of the `count` top-level messages with tag `tag` (lengths checked by pass 1), in pairs. */
function messagesOf(buf: Uint8Array, tag: number, count: number): Int32Array {
  const out = new Int32Array(2 * count);
  const end = buf.length;
  for (let pos = 0, i = 0; pos < end; ) {
    const t = buf[pos];
    const len = varint(buf, pos + 1, end);
    const at = varintEnd();
    pos = at + len;
    if (t !== tag) continue;
    out[i++] = at;
    out[i++] = pos;
  }
  return out;
}

/** The `rows` candidates, each exactly the `perRow` fields not in context, packed row-major (context slots empty). */
function readCandidates(buf: Uint8Array, fields: WireFields, rows: number, mask: Uint8Array, perRow: number, nextFree: Int32Array): PackedValues | null {
  const F = fields.names.length;
  const starts = new Int32Array(rows * F);
  const lengths = new Int32Array(rows * F).fill(-1);
  let total = 0;
  const at = messagesOf(buf, TAG_CANDIDATES, rows);
  for (let r = 0; r < rows; r++) {
    const rowEnd = at[2 * r + 1]!;
    const base = r * F;
    let expected = nextFree[0]!;
    let present = 0;
    let p = at[2 * r]!;
    while (p < rowEnd) {
      if (buf[p] !== TAG_LEN_1) return null;
      const featLen = varint(buf, p + 1, rowEnd);
      if (featLen < 0) return null;
      const featAt = varintEnd();
      const featEnd = featAt + featLen;
      if (featEnd > rowEnd || !readPair(buf, featAt, featEnd, false)) return null;
      const f = fieldAt(buf, wirePair.nameAt, wirePair.nameLen, fields, expected);
      if (f < 0 || mask[f] === 1) return null;
      const k = base + f;
      if (lengths[k]! >= 0) return null; // the field twice in this candidate
      starts[k] = wirePair.valueAt;
      lengths[k] = wirePair.valueLen;
      total += lengths[k]!;
      present++;
      expected = nextFree[f + 1]!;
      p = featEnd;
    }
    if (present !== perRow) return null;
  }
  // The slots left are exactly the context fields' (present === perRow, none in context): empty, as the generic packer leaves them.
  for (let k = 0; k < lengths.length; k++) if (lengths[k]! < 0) lengths[k] = 0;
  return packSlots(buf, starts, lengths, total);
}

/** The `count` columns, each a field not in context, together every such field, all of one non-zero length; packed row-major. */
function readColumns(buf: Uint8Array, fields: WireFields, count: number, mask: Uint8Array, nextFree: Int32Array): PackedValues | null {
  const F = fields.names.length;
  const at = messagesOf(buf, TAG_COLUMNS, count);
  const colField = new Int32Array(count);
  const inColumn = new Uint8Array(F);
  let n = -1;
  let expected = nextFree[0]!;
  // Pass 2: each column's field and length.
  for (let c = 0; c < count; c++) {
    if (!readPair(buf, at[2 * c]!, at[2 * c + 1]!, true)) return null;
    const values = wirePair.values;
    const f = fieldAt(buf, wirePair.nameAt, wirePair.nameLen, fields, expected);
    if (f < 0 || mask[f] === 1 || inColumn[f] === 1) return null;
    if (n < 0) n = values;
    else if (values !== n) return null;
    inColumn[f] = 1;
    colField[c] = f;
    expected = nextFree[f + 1]!;
  }
  if (n <= 0) return null;
  for (let f = 0; f < F; f++) if (mask[f] === 0 && inColumn[f] === 0) return null;
  // Pass 3: the values into their (row, field) slots; context slots stay empty.
  const starts = new Int32Array(n * F);
  const lengths = new Int32Array(n * F);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const stop = at[2 * i + 1]!;
    let k = colField[i]!;
    let p = at[2 * i]!;
    while (p < stop) {
      const t = buf[p];
      const l = varint(buf, p + 1, stop);
      const a = varintEnd();
      if (t === TAG_LEN_2) {
        starts[k] = a;
        lengths[k] = l;
        total += l;
        k += F;
      }
      p = a + l;
    }
  }
  return packSlots(buf, starts, lengths, total);
}
