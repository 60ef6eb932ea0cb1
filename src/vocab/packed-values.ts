/**
 * Raw Score values on their way from the main thread to a score worker, and their resolution to
 * feature ids there.
 *
 * The main thread only places each value in its (row, field) slot and packs the values as ONE
 * string plus the UTF-16 length of each value ({@link PackedValues}): a string crosses
 * `postMessage` as one copy, where an array of 3,900 short strings costs a structured clone per
 * element (measured on this box: placing + packing 100 x 39 values 0.43-0.5 ms + 0.6 ms, cloning
 * the string array 1.5 ms, resolving them on the main thread 8.1-8.7 ms, all at load ~19). The
 * worker turns each value into its token (`fieldToken`, the trainer's transform) and looks it up
 * in the vocabulary, which it reads from the same SharedArrayBuffer as the main thread.
 *
 * Values are text: numbers are sent as `String(n)` (which round-trips exactly through `Number`),
 * null / undefined / '' as '' (the missing value). Context fields (given once for all rows) are
 * packed once, resolved once, and their ids broadcast to every row.
 */
import { MpeError } from '../errors.js';
import { type FieldSpec, fieldToken } from '../features/token.js';

/** A raw value as the transports decode it. */
export type RawScalar = string | number | null | undefined;

/** All values of `lengths.length` slots concatenated into `text`; slot k is text[start_k, start_k + lengths[k]). */
export interface PackedValues {
  readonly text: string;
  readonly lengths: Int32Array;
}

/** How an error names a row: `rows[3]`, `candidates[3]` or `columns.C1[3]`. */
export type RowLabel = 'rows' | 'candidates' | 'columns';

/** Raw values of `rows` rows, row-major, F slots per row; slots of context fields are empty and ignored. */
export interface RawPart {
  readonly rows: number;
  readonly values: PackedValues;
  /** Shared fields: F slots (`mask[f]` = 1 when field f is given once for every row), or null. */
  readonly context: { readonly values: PackedValues; readonly mask: Uint8Array } | null;
  readonly label: RowLabel;
  /** Row of the request the part starts at (a request split over workers): error messages count from it. */
  readonly rowOffset: number;
}

/** (field index, token) -> id, or -1 when unseen: the vocabulary's public lookup. */
export interface TokenLookup {
  lookup(field: number, token: string): number;
}

/** Text of a raw value: numbers as `String(n)`, missing values as ''. */
export function valueText(v: RawScalar): string {
  return v === null || v === undefined ? '' : typeof v === 'string' ? v : String(v);
}

/** Collects slot values and packs them ({@link PackedValues}). */
export class ValuePacker {
  private readonly pieces: string[];
  readonly lengths: Int32Array;

  constructor(slots: number) {
    this.pieces = new Array<string>(slots).fill('');
    this.lengths = new Int32Array(slots);
  }

  set(slot: number, v: RawScalar): void {
    const s = valueText(v);
    this.pieces[slot] = s;
    this.lengths[slot] = s.length;
  }

  pack(): PackedValues {
    return { text: this.pieces.join(''), lengths: this.lengths };
  }
}

/** Start offset in `text` of slot `slot` (sum of the earlier lengths). */
function startOf(v: PackedValues, slot: number): number {
  let off = 0;
  for (let k = 0; k < slot; k++) off += v.lengths[k]!;
  return off;
}

/** Rows [r0, r1) of a part as a part of their own (a request split over workers). */
export function sliceRawPart(part: RawPart, F: number, r0: number, r1: number): RawPart {
  const a = startOf(part.values, r0 * F);
  const lengths = part.values.lengths.slice(r0 * F, r1 * F);
  let n = 0;
  for (let k = 0; k < lengths.length; k++) n += lengths[k]!;
  return { rows: r1 - r0, values: { text: part.values.text.slice(a, a + n), lengths }, context: part.context, label: part.label, rowOffset: part.rowOffset + r0 };
}

function numericError(part: RawPart, fields: readonly FieldSpec[], slot: number, F: number, value: string, inContext: boolean): MpeError {
  const f = slot % F;
  const name = fields[f]!.name;
  const r = part.rowOffset + Math.floor(slot / F);
  const where = inContext ? 'context' : part.label === 'columns' ? `columns.${name}[${r}]` : `${part.label}[${r}]`;
  return new MpeError('MPE_ERR_REQ_NUMERIC', `${where}: field ${name} value ${JSON.stringify(value)}`);
}

/** Id of one value of field f: its token's id, or the field's OOV id when unseen. */
function idOf(vocab: TokenLookup, field: FieldSpec, f: number, token: string): number {
  const id = vocab.lookup(f, token);
  return id < 0 ? field.oovId : id;
}

/**
 * Resolves a part into `out[0 .. rows * F)`: each value through `fieldToken` and the vocabulary
 * (unseen -> the field's OOV id), the context once, broadcast to every row.
 * @throws MpeError MPE_ERR_REQ_NUMERIC naming the row (or `context`) and field of a numeric value that is not a finite number
 */
export function resolveRawPart(part: RawPart, fields: readonly FieldSpec[], vocab: TokenLookup, out: Int32Array): void {
  const F = fields.length;
  const mask = part.context?.mask ?? null;
  if (part.context !== null) {
    const { text, lengths } = part.context.values;
    for (let f = 0, off = 0; f < F; off += lengths[f]!, f++) {
      if (mask![f] === 0) continue;
      const s = text.slice(off, off + lengths[f]!);
      const token = fieldToken(fields[f]!, s);
      if (token === null) throw numericError(part, fields, f, F, s, true);
      const id = idOf(vocab, fields[f]!, f, token);
      for (let k = f; k < part.rows * F; k += F) out[k] = id;
    }
  }
  const { text, lengths } = part.values;
  for (let r = 0, k = 0, off = 0; r < part.rows; r++) {
    for (let f = 0; f < F; f++, k++) {
      const len = lengths[k]!;
      if (mask !== null && mask[f] === 1) {
        off += len;
        continue;
      }
      const s = text.slice(off, off + len);
      off += len;
      const field = fields[f]!;
      const token = fieldToken(field, s);
      if (token === null) throw numericError(part, fields, k, F, s, false);
      out[k] = idOf(vocab, field, f, token);
    }
  }
}
