/**
 * A fast path for the commonest gRPC Score request: the flat raw-values form (`rows`, each row
 * every field once as `{field, value}`), read straight from the protobuf wire bytes into the
 * packed form the score workers take (vocab/packed-values.ts: one string plus a length per
 * (row, field) slot), without building 3,900 message objects and 7,800 strings per 100 x 39
 * request as the generic decoder does.
 *
 * It accepts only messages it can map exactly: top-level field 1 (`rows`) only, every RawFeature
 * with a `field` that names a model field once per row, every field present in every row, ASCII
 * values (so bytes = UTF-16 code units), no unknown or repeated tags. Anything else returns null
 * and the request takes the generic path (proto-loader's decoder, then the service's checks),
 * which gives the exact error code and message; so this path changes speed, never answers.
 * Measured with bench/serve.ts (issue 14): see the comment on {@link scanFlatScore}.
 */

/** The packed values of vocab/packed-values.ts (structurally; server/ imports only service/): slot k is text[start_k, start_k + lengths[k]). */
export interface PackedValues {
  readonly text: string;
  readonly lengths: Int32Array;
}

/** The model's field names prepared for matching wire bytes. */
export interface WireFields {
  readonly names: readonly string[];
  /** UTF-8 bytes of each name. */
  readonly bytes: readonly Uint8Array[];
  /** latin1 reading of each name's UTF-8 bytes -> field index (out-of-order rows). */
  readonly index: ReadonlyMap<string, number>;
}

/** Prepares `names` (the served model's fields, in order) for {@link scanFlatScore}. */
export function wireFields(names: readonly string[]): WireFields {
  const bytes = names.map((n) => Buffer.from(n, 'utf8'));
  const index = new Map<string, number>();
  for (let i = 0; i < bytes.length; i++) index.set(bytes[i]!.toString('latin1'), i);
  return Object.freeze({ names: Object.freeze([...names]), bytes, index });
}

/**
 * The served model's fields for the fast paths, prepared once per model (the identity of the
 * object `getModel()` returns changes with the model), or null while none is ready.
 */
export function currentWireFields(getModel: () => { readonly fields: readonly { readonly name: string }[] }): () => WireFields | null {
  let last: { info: object; fields: WireFields } | null = null;
  return () => {
    let info: { readonly fields: readonly { readonly name: string }[] };
    try {
      info = getModel();
    } catch {
      return null;
    }
    if (last === null || last.info !== info) last = { info, fields: wireFields(info.fields.map((f) => f.name)) };
    return last.fields;
  };
}

/** Rows of a flat Score request in packed form. */
export interface PackedRows {
  readonly rows: number;
  readonly values: PackedValues;
}

const TAG_LEN_1 = 0x0a; // field 1, length-delimited
const TAG_LEN_2 = 0x12; // field 2, length-delimited

/**
 * Reads the flat `rows` form of a ScoreRequest from its wire bytes, or returns null when the
 * message is anything else (see the module comment). Rows may list their fields in any order;
 * the model's order is matched first (one byte comparison per feature), a map lookup otherwise.
 */
export function scanFlatScore(buf: Uint8Array, fields: WireFields): PackedRows | null {
  const F = fields.names.length;
  const end = buf.length;
  if (F === 0 || end === 0) return null;
  // Pass 1: count the rows (top-level tags and lengths only).
  let rows = 0;
  let pos = 0;
  while (pos < end) {
    if (buf[pos] !== TAG_LEN_1) return null;
    pos++;
    const len = varint(buf, pos, end);
    if (len < 0) return null;
    pos = nextPos + len;
    if (pos > end) return null;
    rows++;
  }
  const slots = rows * F;
  const starts = new Int32Array(slots);
  const lengths = new Int32Array(slots).fill(-1);
  const names = fields.bytes;
  let total = 0;
  pos = 0;
  for (let r = 0; r < rows; r++) {
    const rowLen = varint(buf, pos + 1, end);
    pos = nextPos;
    const rowEnd = pos + rowLen;
    const base = r * F;
    let expected = 0;
    let present = 0;
    while (pos < rowEnd) {
      if (buf[pos] !== TAG_LEN_1) return null;
      const featLen = varint(buf, pos + 1, rowEnd);
      if (featLen < 0) return null;
      pos = nextPos;
      const featEnd = pos + featLen;
      if (featEnd > rowEnd) return null;
      let nameAt = -1;
      let nameLen = 0;
      let valueAt = -1;
      let valueLen = 0;
      while (pos < featEnd) {
        const tag = buf[pos];
        if (tag !== TAG_LEN_1 && tag !== TAG_LEN_2) return null;
        const l = varint(buf, pos + 1, featEnd);
        if (l < 0 || nextPos + l > featEnd) return null;
        if (tag === TAG_LEN_1) {
          if (nameAt >= 0) return null;
          nameAt = nextPos;
          nameLen = l;
        } else {
          if (valueAt >= 0) return null;
          valueAt = nextPos;
          valueLen = l;
        }
        pos = nextPos + l;
      }
      if (nameAt < 0) return null;
      let f = expected < F && sameBytes(buf, nameAt, nameLen, names[expected]!) ? expected : -1;
      if (f < 0) {
        const i = fields.index.get(Buffer.from(buf.buffer, buf.byteOffset + nameAt, nameLen).toString('latin1'));
        if (i === undefined) return null;
        f = i;
      }
      const k = base + f;
      if (lengths[k]! >= 0) return null; // the field twice in this row
      starts[k] = valueAt;
      lengths[k] = valueAt < 0 ? 0 : valueLen;
      total += lengths[k]!;
      present++;
      expected = f + 1;
    }
    if (pos !== rowEnd || present !== F) return null;
  }
  const values = packSlots(buf, starts, lengths, total);
  return values === null ? null : { rows, values };
}

/** The last RawFeature or Column read by {@link readPair} (one object: no allocation per message). */
export const wirePair = { nameAt: -1, nameLen: 0, valueAt: -1, valueLen: 0, values: 0 };

/**
 * Reads a RawFeature (`repeated` false: field 1 the name, field 2 at most one value) or a Column
 * (`repeated` true: field 2 any number of values, counted) in [pos, end) into {@link wirePair}: the
 * name exactly once and nothing else, or false.
 */
export function readPair(buf: Uint8Array, pos: number, end: number, repeated: boolean): boolean {
  const w = wirePair;
  w.nameAt = -1;
  w.valueAt = -1;
  w.valueLen = 0;
  w.values = 0;
  while (pos < end) {
    const tag = buf[pos];
    if (tag !== TAG_LEN_1 && tag !== TAG_LEN_2) return false;
    const l = varint(buf, pos + 1, end);
    if (l < 0 || nextPos + l > end) return false;
    if (tag === TAG_LEN_1) {
      if (w.nameAt >= 0) return false;
      w.nameAt = nextPos;
      w.nameLen = l;
    } else {
      if (w.values > 0 && !repeated) return false;
      w.valueAt = nextPos;
      w.valueLen = l;
      w.values++;
    }
    pos = nextPos + l;
  }
  return w.nameAt >= 0;
}

/**
 * Index of the field named by the `len` bytes of `buf` at `at`, or -1: `expected` first (one byte
 * comparison when fields come in the model's order), a map lookup otherwise.
 */
export function fieldAt(buf: Uint8Array, at: number, len: number, fields: WireFields, expected: number): number {
  if (expected < fields.bytes.length && sameBytes(buf, at, len, fields.bytes[expected]!)) return expected;
  const i = fields.index.get(Buffer.from(buf.buffer, buf.byteOffset + at, len).toString('latin1'));
  return i === undefined ? -1 : i;
}

/**
 * The values at `starts[k]`, `lengths[k]` bytes of `buf` for k < lengths.length, in slot order, as one string (ASCII
 * only: bytes = UTF-16 code units); null if a byte is not ASCII.
 */
export function packSlots(buf: Uint8Array, starts: Int32Array, lengths: Int32Array, total: number): PackedValues | null {
  const out = Buffer.allocUnsafe(total);
  const slots = lengths.length;
  let o = 0;
  for (let k = 0; k < slots; k++) {
    const s = starts[k]!;
    const n = lengths[k]!;
    // A byte loop, not buf.copy per value: values are a few bytes (8-hex-digit hashes, small
    // integers) and the copy call's fixed cost exceeds the copy.
    for (let j = 0; j < n; j++) {
      const b = buf[s + j]!;
      if (b > 0x7f) return null;
      out[o++] = b;
    }
  }
  return { text: out.toString('latin1', 0, total), lengths };
}

/** Whether `len` bytes of `buf` at `at` are `name`. */
export function sameBytes(buf: Uint8Array, at: number, len: number, name: Uint8Array): boolean {
  if (len !== name.length) return false;
  for (let i = 0; i < len; i++) if (buf[at + i] !== name[i]) return false;
  return true;
}

/** Position after the last varint read (module state: avoids an allocation per read on the hot path). */
let nextPos = 0;

/** Position after the last {@link varint} read. */
export function varintEnd(): number {
  return nextPos;
}

/** Reads a varint of at most 4 bytes (lengths below 2^28) at `pos`; -1 if truncated or longer. Its end: {@link varintEnd}. */
export function varint(buf: Uint8Array, pos: number, end: number): number {
  let x = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) return -1;
    const b = buf[pos++]!;
    x |= (b & 0x7f) << shift;
    if (b < 0x80) {
      nextPos = pos;
      return x;
    }
  }
  return -1;
}
