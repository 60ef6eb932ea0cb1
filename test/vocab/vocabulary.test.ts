import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MpeError } from '../../src/errors.js';
import type { FieldSpec } from '../../src/features/token.js';
import { resolveIds, Vocabulary, VocabularyBuilder } from '../../src/vocab/vocabulary.js';

const N = 100_000;
const FIELDS = 26;
const token = (i: number): string => `t${(i * 2654435761) >>> 0}`;

function build(): Vocabulary {
  const b = new VocabularyBuilder();
  for (let i = 0; i < N; i++) b.add(i % FIELDS, token(i), i);
  return b.build();
}

const isCode = (code: string) => (e: MpeError) => e.code === code;

function set8(u: Uint8Array, at: number, value: number): Uint8Array {
  u[at] = value;
  return u;
}

function set32(u: Uint8Array, at: number, value: number): Uint8Array {
  new DataView(u.buffer, u.byteOffset).setUint32(at, value, true);
  return u;
}

test('100k tokens: all found with their ids, absent ones give -1, load <= 0.5', () => {
  const v = build();
  assert.equal(v.size, N);
  assert.equal(v.capacity, 262144);
  for (let i = 0; i < N; i++) assert.equal(v.lookup(i % FIELDS, token(i)), i);
  for (let i = 0; i < 20000; i++) {
    assert.equal(v.lookup((i + 1) % FIELDS, token(i)), -1); // right token, wrong field
    assert.equal(v.lookup(i % FIELDS, `absent-${i}`), -1);
  }
});

test('lookupBatch and resolveIds: ids, found flags, OOV ids per field', () => {
  const v = build();
  const fieldIdx = Int32Array.of(0, 1, 2, 1);
  const tokens = [token(0), token(1), 'nope', 'never'];
  const ids = new Int32Array(4);
  const found = new Uint8Array(4);
  v.lookupBatch(fieldIdx, tokens, ids, found);
  assert.deepEqual([...ids], [0, 1, -1, -1]);
  assert.deepEqual([...found], [1, 1, 0, 0]);
  const fields: FieldSpec[] = Array.from({ length: 3 }, (_, f) => ({ name: `C${f}`, kind: 'categorical', transform: 'none', oovId: 1000 + f }));
  resolveIds(v, fields, [0, 1, 2, 1], tokens, ids, found);
  assert.deepEqual([...ids], [0, 1, 1002, 1001]);
  assert.deepEqual([...found], [1, 1, 0, 0]);
  assert.throws(() => resolveIds(v, fields, [3], ['x'], ids, found), isCode('MPE_ERR_VOCAB_FIELD'));
  assert.throws(() => v.lookupBatch([-1], ['x'], ids, found), isCode('MPE_ERR_VOCAB_FIELD'));
  assert.throws(() => v.lookupBatch([0, 0], ['x', 'y'], ids, new Uint8Array(1)), isCode('MPE_ERR_CODEC_BUFFER'));
});

test('toBytes / fromBytes round trip, also from an unaligned copy and a SharedArrayBuffer view', () => {
  const v = build();
  const bytes = v.toBytes();
  assert.equal(bytes.length, 16 + 12 * v.capacity);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), 'MPEVOCB1');
  const dv = new DataView(bytes.buffer);
  assert.equal(dv.getUint32(8, true), 262144);
  assert.equal(dv.getUint32(12, true), N);
  const sab = new SharedArrayBuffer(bytes.length + 64);
  new Uint8Array(sab, 64).set(bytes);
  const unaligned = new Uint8Array(bytes.length + 1).subarray(1);
  unaligned.set(bytes);
  for (const copy of [Vocabulary.fromBytes(new Uint8Array(sab, 64, bytes.length)), Vocabulary.fromBytes(unaligned)]) {
    assert.equal(copy.size, N);
    for (let i = 0; i < N; i += 7) assert.equal(copy.lookup(i % FIELDS, token(i)), i);
    assert.equal(copy.lookup(0, 'absent'), -1);
    assert.deepEqual(copy.toBytes(), bytes);
  }
});

test('corrupted or truncated serialisations are refused with codes', () => {
  const b = new VocabularyBuilder();
  for (let i = 0; i < 100; i++) b.add(0, `k${i}`, i);
  const bytes = b.build().toBytes();
  const bad = (mut: (u: Uint8Array) => Uint8Array, code: string) => assert.throws(() => Vocabulary.fromBytes(mut(bytes.slice())), isCode(code));
  bad((u) => set8(u, 0, 0x58), 'MPE_ERR_BUNDLE_MAGIC');
  bad((u) => set8(u, 7, 0x32), 'MPE_ERR_BUNDLE_MAGIC');
  bad((u) => u.subarray(0, 12), 'MPE_ERR_BUNDLE_TRUNCATED');
  bad((u) => u.subarray(0, u.length - 4), 'MPE_ERR_BUNDLE_TRUNCATED');
  bad((u) => u.subarray(0, 3), 'MPE_ERR_BUNDLE_TRUNCATED');
  bad((u) => {
    const longer = new Uint8Array(u.length + 4);
    longer.set(u);
    return longer;
  }, 'MPE_ERR_BUNDLE_MISMATCH');
  bad((u) => set32(u, 8, 300), 'MPE_ERR_BUNDLE_MISMATCH'); // capacity not a power of two
  bad((u) => set32(u, 8, 1 << 20), 'MPE_ERR_BUNDLE_TRUNCATED'); // capacity larger than the bytes
  bad((u) => set32(u, 12, 101), 'MPE_ERR_BUNDLE_MISMATCH'); // count disagrees with the slots
  bad((u) => set32(u, 12, 1000), 'MPE_ERR_BUNDLE_MISMATCH'); // count above capacity / 2
  bad((u) => set32(u, 16 + 8 * 256, -7 >>> 0), 'MPE_ERR_BUNDLE_MISMATCH'); // invalid id in a slot
});

test('builder refuses duplicates, bad fields and bad ids with codes', () => {
  const b = new VocabularyBuilder().add(0, 'a', 0).add(1, 'a', 1).add(0, 'a', 2);
  assert.throws(() => b.build(), isCode('MPE_ERR_VOCAB_DUPLICATE'));
  assert.throws(() => new VocabularyBuilder().add(-1, 'a', 0), isCode('MPE_ERR_VOCAB_FIELD'));
  assert.throws(() => new VocabularyBuilder().add(1.5, 'a', 0), isCode('MPE_ERR_VOCAB_FIELD'));
  assert.throws(() => new VocabularyBuilder().add(0, 'a', -1), isCode('MPE_ERR_CODEC_ID_RANGE'));
  const empty = new VocabularyBuilder().build();
  assert.equal(empty.capacity, 16);
  assert.equal(empty.lookup(0, ''), -1);
  assert.equal(Vocabulary.fromBytes(empty.toBytes()).size, 0);
});
