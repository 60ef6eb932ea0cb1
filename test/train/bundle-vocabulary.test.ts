import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GroupedTableSpec } from '../../src/codec/layout.js';
import type { FieldSpec } from '../../src/features/token.js';
import { buildBundleVocabulary, tableRuns } from '../../src/train/bundle-vocabulary.js';
import { CompactVocabulary } from '../../src/vocab/compact-index.js';
import { createRng } from '../../src/util/random.js';

/** n features over F fields: ids 0..F-1 are OOV features, id i >= F is token `t<i>` of field i % F. */
function dataset(n: number, F: number) {
  const fields: FieldSpec[] = Array.from({ length: F }, (_, f) => ({ name: `c${f}`, kind: 'categorical', transform: 'none', oovId: f }));
  const vocab = Array.from({ length: F }, () => ({ tokens: [] as string[], ids: [] as number[] }));
  for (let i = F; i < n; i++) {
    vocab[i % F]!.tokens.push(`t${i}`);
    vocab[i % F]!.ids.push(i);
  }
  return { fields, vocab: vocab.map((v) => ({ tokens: v.tokens, ids: Int32Array.from(v.ids) })) };
}

test('tableRuns: one run per bit width, adjacent groups merged, the group pad respected', () => {
  const spec: GroupedTableSpec = { kind: 'grouped', d: 2, featureCount: 23, groupSize: 5, groupPad: 2, bitsPerGroup: Uint8Array.of(8, 4, 0, 4, 4), alpha: new Float32Array(9), beta: new Float32Array(2) };
  assert.deepEqual(tableRuns(spec), { bits: [0, 4, 8], segments: [[[8, 5]], [[3, 5], [13, 10]], [[0, 3]]] });
});

test('buildBundleVocabulary: every token reaches its own weights, pruned tokens leave (or stay), OOV ids follow their rows', () => {
  for (const seed of [1, 2, 3]) {
    const rng = createRng(seed);
    const F = 4;
    const n = 500 + seed * 37;
    const groupSize = 16;
    const pad = seed % 2 === 0 ? 0 : 5;
    const G = Math.ceil((n + pad) / groupSize);
    const bits = Uint8Array.from({ length: G }, () => [0, 2, 4, 6][rng.int(4)]!);
    bits[0] = 8; // the OOV ids 0..F-1 live in group 0
    const spec: GroupedTableSpec = { kind: 'grouped', d: 3, featureCount: n, groupSize, groupPad: pad, bitsPerGroup: bits, alpha: new Float32Array(9), beta: new Float32Array(3) };
    const ds = dataset(n, F);
    const weights = Float32Array.from({ length: n * 3 }, (_, k) => k); // row i = [3i, 3i+1, 3i+2]
    const groupOf = (id: number) => Math.floor((id + pad) / groupSize);
    for (const drop of [true, false]) {
      const bv = buildBundleVocabulary(ds, spec, weights, drop);
      const index = CompactVocabulary.fromBytes(bv.vocabBytes);
      assert.equal(new Set(bv.newId).size, n, 'newId is a permutation');
      let kept = 0;
      for (let i = F; i < n; i++) {
        const id = index.lookup(i % F, `t${i}`);
        const pruned = bits[groupOf(i)] === 0;
        if (drop && pruned) {
          assert.equal(id, -1, `pruned token t${i} must leave the vocabulary`);
          continue;
        }
        kept++;
        assert.equal(id, bv.newId[i]);
        assert.equal(bits[groupOf(id)], bits[groupOf(i)], 'a row moves only between groups of its bit width');
        assert.deepEqual([...bv.weights.subarray(id * 3, id * 3 + 3)], [3 * i, 3 * i + 1, 3 * i + 2]);
      }
      assert.equal(bv.keys, kept);
      assert.equal(bv.allKeys, n - F);
      for (let f = 0; f < F; f++) assert.deepEqual([...bv.weights.subarray(bv.fields[f]!.oovId * 3, bv.fields[f]!.oovId * 3 + 3)], [3 * f, 3 * f + 1, 3 * f + 2]);
      assert.ok(bv.runs <= 5);
    }
  }
});
