import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MpeError } from '../../src/errors.js';
import { createRng } from '../../src/util/random.js';
import { buildCompactIndex, CompactVocabulary, CompactVocabularyBuilder, compactIndexBytes } from '../../src/vocab/compact-index.js';
import { vocabularyFromBytes } from '../../src/vocab/decode.js';
import { hashToken } from '../../src/vocab/hash.js';

const isCode = (code: string) => (e: MpeError) => e.code === code;
const FIELDS = 7;

/** n keys spread over `runs` runs (random run per key), run r's ids starting at 1000 * r * n + r. */
function scenario(n: number, runs: number, seed: number) {
  const rng = createRng(seed);
  const b = new CompactVocabularyBuilder();
  const keys: Array<[number, string, number]> = [];
  for (let i = 0; i < n; i++) {
    const f = i % FIELDS;
    const t = `s${seed}-k${i}-${Math.floor(rng.next() * 1e9)}`;
    const r = Math.floor(rng.next() * runs);
    keys.push([f, t, r]);
    b.add(f, t, r);
  }
  const runFirst = Array.from({ length: runs }, (_, r) => r * (n + 5) + 3 * r);
  return { keys, runFirst, built: b.build(runFirst) };
}

test('every kept key resolves to its id, ids fill each run densely, unseen keys give -1 (many seeds and sizes, 0 and 1 key)', () => {
  const sizes = [0, 1, 2, 3, 63, 64, 65, 127, 128, 129, 1000, 4097, 30_000];
  let checked = 0;
  for (const n of sizes) {
    for (const runs of [1, 2, 5, 17]) {
      for (const seed of [1, 2, 3]) {
        const { keys, runFirst, built } = scenario(n, runs, seed * 7919 + n + runs);
        const { index, idOfKey } = built;
        assert.equal(index.size, n);
        // Ids of run r are exactly runFirst[r] .. runFirst[r] + keys_r - 1 (a permutation).
        const perRun: number[][] = Array.from({ length: runs }, () => []);
        for (let i = 0; i < n; i++) perRun[keys[i]![2]]!.push(idOfKey[i]!);
        for (let r = 0; r < runs; r++) {
          const ids = perRun[r]!.sort((a, b) => a - b);
          for (let k = 0; k < ids.length; k++) assert.equal(ids[k], runFirst[r]! + k);
        }
        for (let i = 0; i < n; i++) assert.equal(index.lookup(keys[i]![0], keys[i]![1]), idOfKey[i]);
        // The same through the serialised form, read back in place.
        const again = CompactVocabulary.fromBytes(index.toBytes());
        for (let i = 0; i < n; i += 3) assert.equal(again.lookup(keys[i]![0], keys[i]![1]), idOfKey[i]);
        for (let i = 0; i < Math.max(50, n); i++) {
          assert.equal(index.lookup(i % FIELDS, `unseen-${seed}-${i}`), -1);
          if (n > 0) assert.equal(index.lookup((keys[i % n]![0] + 1) % FIELDS, keys[i % n]![1]), -1); // right token, wrong field
        }
        assert.equal(index.byteLength, compactIndexBytes(n, runs));
        checked++;
      }
    }
  }
  assert.equal(checked, sizes.length * 12);
});

test('bytes per key: <= 5.1 with one run, <= 7.6 with 8 runs, <= 8 up to 14 runs (100k keys)', () => {
  const n = 100_000;
  assert.ok(compactIndexBytes(n, 1) / n <= 5.1, `${compactIndexBytes(n, 1) / n}`);
  assert.ok(compactIndexBytes(n, 8) / n <= 7.6, `${compactIndexBytes(n, 8) / n}`);
  assert.ok(compactIndexBytes(n, 14) / n <= 8, `${compactIndexBytes(n, 14) / n}`);
  const { built } = scenario(n, 8, 99);
  assert.equal(built.index.byteLength, compactIndexBytes(n, 8));
});

test('1M unknown keys against 100k kept keys: no false hit (expected rate 2^-32 per lookup)', () => {
  const { built } = scenario(100_000, 3, 5);
  let hits = 0;
  for (let i = 0; i < 1_000_000; i++) if (built.index.lookup(i % FIELDS, `never-${i}`) !== -1) hits++;
  assert.equal(hits, 0);
});

test('lookupBatch, a SharedArrayBuffer view and an unaligned copy give the same ids; decode picks by magic', () => {
  const { keys, built } = scenario(5000, 4, 11);
  const bytes = built.index.toBytes();
  const sab = new SharedArrayBuffer(bytes.length + 64);
  new Uint8Array(sab, 64).set(bytes);
  const unaligned = new Uint8Array(bytes.length + 1).subarray(1);
  unaligned.set(bytes);
  const views = [CompactVocabulary.fromBytes(new Uint8Array(sab, 64, bytes.length)), CompactVocabulary.fromBytes(unaligned), vocabularyFromBytes(bytes)];
  const fieldIdx = Int32Array.from(keys.slice(0, 100), (k) => k[0]);
  const tokens = keys.slice(0, 100).map((k) => k[1]);
  tokens.push('nope');
  const fi = Int32Array.from([...fieldIdx, 0]);
  for (const v of views) {
    const ids = new Int32Array(101);
    const found = new Uint8Array(101);
    v.lookupBatch(fi, tokens, ids, found);
    for (let i = 0; i < 100; i++) assert.equal(ids[i], built.idOfKey[i]);
    assert.equal(ids[100], -1);
    assert.equal(found[100], 0);
    assert.equal(found[0], 1);
  }
  assert.throws(() => views[0]!.lookupBatch([-1], ['x'], new Int32Array(1), new Uint8Array(1)), isCode('MPE_ERR_VOCAB_FIELD'));
  assert.throws(() => views[0]!.lookupBatch([0, 0], ['x', 'y'], new Int32Array(2), new Uint8Array(1)), isCode('MPE_ERR_CODEC_BUFFER'));
  // The pre-release layout's magic is refused as a version, never read as this layout; others are not a vocabulary.
  const pre = bytes.slice();
  pre[7] = 0x32; // "MPEVOCB2"
  assert.throws(() => vocabularyFromBytes(pre), (e: MpeError) => e.code === 'MPE_ERR_BUNDLE_VERSION' && /MPEVOCB2/.test(e.message + (e.detail ?? '')));
  pre[7] = 0x39;
  assert.throws(() => vocabularyFromBytes(pre), isCode('MPE_ERR_BUNDLE_MAGIC'));
});

test('duplicate keys and bad runs are refused with codes', () => {
  assert.throws(() => new CompactVocabularyBuilder().add(0, 'a').add(1, 'a').add(0, 'a').build(), isCode('MPE_ERR_VOCAB_DUPLICATE'));
  assert.throws(() => new CompactVocabularyBuilder().add(0, 'a', 2).build([0, 10]), isCode('MPE_ERR_VOCAB_FIELD'));
  assert.throws(() => new CompactVocabularyBuilder().add(-1, 'a'), isCode('MPE_ERR_VOCAB_FIELD'));
  const [hi, lo] = hashToken(0, 'x');
  assert.throws(() => buildCompactIndex(Uint32Array.of(hi), Uint32Array.of(lo), Int32Array.of(0), 1, new Array(300).fill(0)), isCode('MPE_ERR_VOCAB_FULL'));
});

test('corrupted or truncated payloads are refused with stable codes', () => {
  const { built } = scenario(3000, 3, 21);
  const bytes = built.index.toBytes();
  const L = bytes.length;
  const bad = (mut: (u: Uint8Array) => Uint8Array, code: string) => assert.throws(() => CompactVocabulary.fromBytes(mut(bytes.slice())), isCode(code));
  const set32 = (u: Uint8Array, at: number, v: number) => {
    new DataView(u.buffer, u.byteOffset).setUint32(at, v, true);
    return u;
  };
  bad((u) => {
    u[0] = 0x58;
    return u;
  }, 'MPE_ERR_BUNDLE_MAGIC');
  bad((u) => u.subarray(0, 20), 'MPE_ERR_BUNDLE_TRUNCATED');
  bad((u) => u.subarray(0, L - 8), 'MPE_ERR_BUNDLE_TRUNCATED');
  bad((u) => {
    const longer = new Uint8Array(L + 4);
    longer.set(u);
    return longer;
  }, 'MPE_ERR_BUNDLE_MISMATCH');
  bad((u) => set32(u, 8, 3001), 'MPE_ERR_BUNDLE_MISMATCH'); // key count vs buckets
  bad((u) => set32(u, 20, 0), 'MPE_ERR_BUNDLE_MISMATCH'); // no runs
  bad((u) => set32(u, 24, 1), 'MPE_ERR_BUNDLE_MISMATCH'); // reserved word
  bad((u) => set32(u, 32 + 12, 5), 'MPE_ERR_BUNDLE_MISMATCH'); // run key counts no longer sum to the count
  // Any single flipped byte in the directory, fingerprints, ranks or codes is either refused or
  // (a fingerprint changed, still in order) only changes which key hits: never an id out of its run.
  let refused = 0;
  const rng = createRng(3);
  for (let t = 0; t < 300; t++) {
    const u = bytes.slice();
    const at = 32 + Math.floor(rng.next() * (L - 32));
    u[at]! ^= 1 + Math.floor(rng.next() * 255);
    try {
      const v = CompactVocabulary.fromBytes(u);
      for (let i = 0; i < 200; i++) {
        const id = v.lookup(i % FIELDS, `s21-probe-${i}`);
        assert.ok(id === -1 || (id >= 0 && id < 3 * 3005 + 6), `id ${id}`);
      }
    } catch (e) {
      assert.ok(['MPE_ERR_BUNDLE_MISMATCH', 'MPE_ERR_BUNDLE_TRUNCATED'].includes((e as MpeError).code), (e as MpeError).code);
      refused++;
    }
  }
  assert.ok(refused > 100, `${refused} of 300 corruptions refused`);
});

test('runs made of several segments (groups of one bit width): ids fill the segments in order, across seeds', () => {
  for (const seed of [1, 2, 3, 4]) {
    const rng = createRng(seed);
    const groupSize = 37;
    const groups = 20;
    // Groups cycle through 3 bit widths -> 3 runs of ~7 segments each; keys fill 80% of each run.
    const space: Array<Array<[number, number]>> = [[], [], []];
    for (let g = 0; g < groups; g++) space[g % 3]!.push([g * groupSize, groupSize]);
    const b = new CompactVocabularyBuilder();
    const runOf: number[] = [];
    const toks: string[] = [];
    const fieldOf: number[] = [];
    for (let r = 0; r < 3; r++) {
      const cap = space[r]!.reduce((a, s) => a + s[1], 0);
      for (let k = 0; k < Math.floor(cap * 0.8); k++) {
        const t = `s${seed}-r${r}-k${k}-${Math.floor(rng.next() * 1e6)}`;
        b.add(k % FIELDS, t, r);
        fieldOf.push(k % FIELDS);
        runOf.push(r);
        toks.push(t);
      }
    }
    const { index, idOfKey } = b.build(space);
    // Only the segments the keys reach are stored: ceil(0.8 * capacity / 37) per run.
    assert.equal(index.segmentCount, space.reduce((a, segs) => a + Math.ceil(Math.floor(segs.length * groupSize * 0.8) / groupSize), 0));
    const seen = new Set<number>();
    for (let i = 0; i < toks.length; i++) {
      const id = idOfKey[i]!;
      assert.equal(Math.floor(id / groupSize) % 3, runOf[i], `key ${i} id ${id} outside its run`);
      assert.ok(!seen.has(id));
      seen.add(id);
    }
    // Keys fill each run's segments from the first: the first 80% of the run's positions.
    for (let r = 0; r < 3; r++) {
      const ids = [...seen].filter((id) => Math.floor(id / groupSize) % 3 === r).sort((a, c) => a - c);
      const positions: number[] = [];
      for (const [a, len] of space[r]!) for (let id = a; id < a + len; id++) positions.push(id);
      assert.deepEqual(ids, positions.slice(0, ids.length));
    }
    const again = CompactVocabulary.fromBytes(index.toBytes());
    for (let i = 0; i < toks.length; i++) {
      assert.equal(index.lookup(fieldOf[i]!, toks[i]!), idOfKey[i]);
      assert.equal(again.lookup(fieldOf[i]!, toks[i]!), idOfKey[i]);
      assert.equal(index.lookup((fieldOf[i]! + 1) % FIELDS, toks[i]!), -1);
    }
  }
  assert.throws(() => new CompactVocabularyBuilder().add(0, 'a').add(0, 'b').build([[[5, 1]]]), isCode('MPE_ERR_VOCAB_FULL'));
});
