/**
 * (field, token) -> feature id, in typed arrays only: open addressing with linear probing over
 * the 64-bit key of `hash.ts`, power-of-two capacity, load factor <= 0.5, Int32 ids (-1 = empty).
 * No strings are kept: memory is 12 bytes per slot, at most 24 bytes per key.
 *
 * Serialised form (`toBytes`, little-endian; the bundle's vocab.bin wraps it, docs/format.md):
 *   offset 0   8 bytes  magic "MPEVOCB1"
 *   offset 8   uint32   capacity (a power of two, >= 2 * count, >= 16)
 *   offset 12  uint32   count (occupied slots)
 *   offset 16  uint32[capacity] key hi
 *   then       uint32[capacity] key lo
 *   then       int32[capacity]  id (-1 = empty slot; an empty slot's key words are 0)
 * total 16 + 12 * capacity bytes. Slot of a key: `slotHash(hi, lo) & (capacity - 1)`, then +1
 * (mod capacity) until the key or an empty slot is found.
 */
import { MpeError } from '../errors.js';
import type { FieldSpec } from '../features/token.js';
import { lookupBatchWith } from './lookup-batch.js';
import { hashHi, hashInto, hashLo, slotHash } from './hash.js';

/** "MPEVOCB1" */
/** "MPEVOCB1" */
export const HASH_TABLE_MAGIC = Uint8Array.of(0x4d, 0x50, 0x45, 0x56, 0x4f, 0x43, 0x42, 0x31);
const HEADER_BYTES = 16;
const MIN_CAPACITY = 16;
const IS_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function checkField(field: number): void {
  if (!Number.isInteger(field) || field < 0 || field > 0xffffffff) throw new MpeError('MPE_ERR_VOCAB_FIELD', `field index ${field}`);
}

/** Read-only hash table from (field, token) to feature id. Build with {@link VocabularyBuilder} or {@link Vocabulary.fromBytes}. */
export class Vocabulary {
  /** Number of keys. */
  readonly size: number;
  /** Number of slots (power of two). */
  readonly capacity: number;
  private readonly mask: number;
  private readonly keyHi: Uint32Array;
  private readonly keyLo: Uint32Array;
  private readonly ids: Int32Array;

  private constructor(capacity: number, size: number, keyHi: Uint32Array, keyLo: Uint32Array, ids: Int32Array) {
    this.capacity = capacity;
    this.size = size;
    this.mask = capacity - 1;
    this.keyHi = keyHi;
    this.keyLo = keyLo;
    this.ids = ids;
  }

  /** Bytes of the serialised form (and, within a few dozen bytes, of memory held). */
  get byteLength(): number {
    return HEADER_BYTES + 12 * this.capacity;
  }

  /** Id of (field, token), or -1 if absent (the caller maps -1 to the field's OOV id, see {@link resolveIds}). */
  lookup(field: number, token: string): number {
    hashInto(field, token);
    return this.find(hashHi(), hashLo());
  }

  /** Id of the key whose 64-bit hash (`hash.ts`) is (hi, lo), or -1. */
  find(hi: number, lo: number): number {
    const { keyHi, keyLo, ids, mask } = this;
    let s = slotHash(hi, lo) & mask;
    for (;;) {
      const id = ids[s]!;
      if (id === -1) return -1;
      if (keyHi[s] === hi && keyLo[s] === lo) return id;
      s = (s + 1) & mask;
    }
  }

  /**
   * Looks up `tokens[i]` of field `fieldIdx[i]` for i < tokens.length: `outIds[i]` = id or -1,
   * `outFound[i]` = 1 or 0. Throws MPE_ERR_VOCAB_FIELD on a bad field index, MPE_ERR_CODEC_BUFFER
   * if an array is too short.
   */
  lookupBatch(fieldIdx: Int32Array | readonly number[], tokens: readonly string[], outIds: Int32Array, outFound: Uint8Array): void {
    lookupBatchWith((hi, lo) => this.find(hi, lo), fieldIdx, tokens, outIds, outFound);
  }


  /** Serialises to the layout in the file comment (always a fresh, 4-byte aligned buffer). */
  toBytes(): Uint8Array {
    const cap = this.capacity;
    const out = new Uint8Array(HEADER_BYTES + 12 * cap);
    out.set(HASH_TABLE_MAGIC, 0);
    const v = new DataView(out.buffer);
    v.setUint32(8, cap, true);
    v.setUint32(12, this.size, true);
    if (IS_LE) {
      out.set(new Uint8Array(this.keyHi.buffer, this.keyHi.byteOffset, 4 * cap), HEADER_BYTES);
      out.set(new Uint8Array(this.keyLo.buffer, this.keyLo.byteOffset, 4 * cap), HEADER_BYTES + 4 * cap);
      out.set(new Uint8Array(this.ids.buffer, this.ids.byteOffset, 4 * cap), HEADER_BYTES + 8 * cap);
    } else {
      for (let s = 0; s < cap; s++) {
        v.setUint32(HEADER_BYTES + 4 * s, this.keyHi[s]!, true);
        v.setUint32(HEADER_BYTES + 4 * (cap + s), this.keyLo[s]!, true);
        v.setInt32(HEADER_BYTES + 4 * (2 * cap + s), this.ids[s]!, true);
      }
    }
    return out;
  }

  /**
   * Reads the serialised form. The typed arrays are views on `bytes` (no copy) when it is
   * 4-byte aligned on a little-endian host, so a vocabulary in a SharedArrayBuffer stays shared.
   * Throws MPE_ERR_BUNDLE_MAGIC (wrong magic), MPE_ERR_BUNDLE_TRUNCATED (shorter than its header
   * says), MPE_ERR_BUNDLE_MISMATCH (longer than its header says, capacity not a power of two,
   * count above capacity / 2 or not equal to the occupied slots).
   */
  static fromBytes(bytes: Uint8Array): Vocabulary {
    for (let i = 0; i < Math.min(HASH_TABLE_MAGIC.length, bytes.length); i++) {
      if (bytes[i] !== HASH_TABLE_MAGIC[i]) throw new MpeError('MPE_ERR_BUNDLE_MAGIC', 'vocabulary does not start with MPEVOCB1');
    }
    if (bytes.length < HEADER_BYTES) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `vocabulary has ${bytes.length} bytes, header needs ${HEADER_BYTES}`);
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const cap = v.getUint32(8, true);
    const count = v.getUint32(12, true);
    if (cap < MIN_CAPACITY || (cap & (cap - 1)) !== 0) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `vocabulary capacity ${cap} is not a power of two >= ${MIN_CAPACITY}`);
    if (count > cap / 2) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `vocabulary count ${count} exceeds capacity ${cap} / 2`);
    const expected = HEADER_BYTES + 12 * cap;
    if (bytes.length < expected) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `vocabulary has ${bytes.length} bytes, its header says ${expected}`);
    if (bytes.length > expected) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `vocabulary has ${bytes.length} bytes, its header says ${expected}`);
    let keyHi: Uint32Array;
    let keyLo: Uint32Array;
    let ids: Int32Array;
    const base = bytes.byteOffset + HEADER_BYTES;
    if (IS_LE && base % 4 === 0) {
      keyHi = new Uint32Array(bytes.buffer, base, cap);
      keyLo = new Uint32Array(bytes.buffer, base + 4 * cap, cap);
      ids = new Int32Array(bytes.buffer, base + 8 * cap, cap);
    } else {
      keyHi = new Uint32Array(cap);
      keyLo = new Uint32Array(cap);
      ids = new Int32Array(cap);
      for (let s = 0; s < cap; s++) {
        keyHi[s] = v.getUint32(HEADER_BYTES + 4 * s, true);
        keyLo[s] = v.getUint32(HEADER_BYTES + 4 * (cap + s), true);
        ids[s] = v.getInt32(HEADER_BYTES + 4 * (2 * cap + s), true);
      }
    }
    let occupied = 0;
    for (let s = 0; s < cap; s++) {
      const id = ids[s]!;
      if (id >= 0) occupied++;
      else if (id !== -1) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `vocabulary slot ${s} holds id ${id}`);
    }
    if (occupied !== count) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `vocabulary header says ${count} keys, ${occupied} slots are occupied`);
    return new Vocabulary(cap, count, keyHi, keyLo, ids);
  }

  /** @internal used by {@link VocabularyBuilder}. */
  static fromArrays(capacity: number, size: number, keyHi: Uint32Array, keyLo: Uint32Array, ids: Int32Array): Vocabulary {
    return new Vocabulary(capacity, size, keyHi, keyLo, ids);
  }
}

/** Collects (field, token, id) triples (as hashes: no strings are kept) and builds a {@link Vocabulary}. */
export class VocabularyBuilder {
  private hi = new Uint32Array(1024);
  private lo = new Uint32Array(1024);
  private id = new Int32Array(1024);
  private n = 0;

  /** Number of keys added so far. */
  get size(): number {
    return this.n;
  }

  /** Adds a key. Throws MPE_ERR_VOCAB_FIELD (bad field index), MPE_ERR_CODEC_ID_RANGE (id not in 0..2^31-1). */
  add(field: number, token: string, id: number): this {
    checkField(field);
    hashInto(field, token);
    return this.addHash(hashHi(), hashLo(), id);
  }

  /** Adds a key by its 64-bit hash (hi, lo) (see `hash.ts`). */
  addHash(hi: number, lo: number, id: number): this {
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) throw new MpeError('MPE_ERR_CODEC_ID_RANGE', `vocabulary id ${id}`);
    if (this.n === this.hi.length) {
      const grow = <T extends Uint32Array | Int32Array>(x: T, make: (k: number) => T): T => {
        const y = make(x.length * 2);
        y.set(x);
        return y;
      };
      this.hi = grow(this.hi, (k) => new Uint32Array(k));
      this.lo = grow(this.lo, (k) => new Uint32Array(k));
      this.id = grow(this.id, (k) => new Int32Array(k));
    }
    this.hi[this.n] = hi >>> 0;
    this.lo[this.n] = lo >>> 0;
    this.id[this.n] = id;
    this.n++;
    return this;
  }

  /**
   * Builds the table (capacity = smallest power of two >= max(16, 2 * size)). Throws
   * MPE_ERR_VOCAB_DUPLICATE when two added keys have the same 64-bit hash (the same (field, token)
   * twice, or a true collision), MPE_ERR_VOCAB_FULL above 2^30 keys.
   */
  build(): Vocabulary {
    const n = this.n;
    if (n > 2 ** 30) throw new MpeError('MPE_ERR_VOCAB_FULL', `${n} keys`);
    let cap = MIN_CAPACITY;
    while (cap < 2 * n) cap *= 2;
    const mask = cap - 1;
    const keyHi = new Uint32Array(cap);
    const keyLo = new Uint32Array(cap);
    const ids = new Int32Array(cap).fill(-1);
    for (let i = 0; i < n; i++) {
      const hi = this.hi[i]!;
      const lo = this.lo[i]!;
      let s = slotHash(hi, lo) & mask;
      while (ids[s] !== -1) {
        if (keyHi[s] === hi && keyLo[s] === lo) {
          throw new MpeError('MPE_ERR_VOCAB_DUPLICATE', `key #${i} (id ${this.id[i]}) has the same 64-bit hash as id ${ids[s]}`);
        }
        s = (s + 1) & mask;
      }
      keyHi[s] = hi;
      keyLo[s] = lo;
      ids[s] = this.id[i]!;
    }
    return Vocabulary.fromArrays(cap, n, keyHi, keyLo, ids);
  }
}

/**
 * Maps a batch of (field index, token) to feature ids, unknown tokens to their field's OOV id
 * (`fields[f].oovId`): `outIds[i]` is always a valid id, `outFound[i]` says whether the token was
 * in the vocabulary (0 = OOV). Throws MPE_ERR_VOCAB_FIELD for a field index outside `fields`.
 */
export function resolveIds(vocab: Vocabulary, fields: readonly FieldSpec[], fieldIdx: Int32Array | readonly number[], tokens: readonly string[], outIds: Int32Array, outFound: Uint8Array): void {
  const n = tokens.length;
  const F = fields.length;
  for (let i = 0; i < n; i++) {
    const f = fieldIdx[i]!;
    if (!(f >= 0 && f < F && f === Math.floor(f))) throw new MpeError('MPE_ERR_VOCAB_FIELD', `field index ${f} at ${i}, model has ${F} fields`);
  }
  vocab.lookupBatch(fieldIdx, tokens, outIds, outFound);
  for (let i = 0; i < n; i++) if (outFound[i] === 0) outIds[i] = fields[fieldIdx[i]!]!.oovId;
}
