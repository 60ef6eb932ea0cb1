import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeTableHeader } from '../../src/bundle/table-file.js';
import { VOCAB_HEADER_BYTES } from '../../src/bundle/vocab-file.js';
import { packTable } from '../../src/codec/pack-table.js';
import { type Dataset, ingest } from '../../src/data/ingest.js';
import { synthesize } from '../../src/data/synth.js';
import { buildFrequencyGroups } from '../../src/mpe/groups.js';
import { groupedSpec } from '../../src/mpe/spec.js';
import { buildBundleVocabulary } from '../../src/train/bundle-vocabulary.js';
import { bundleSizeOf, keysPerGroup } from '../../src/train/bundle-size.js';
import { createRng } from '../../src/util/random.js';

let dir = '';
let ds: Dataset;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpe-bundle-size-'));
  const file = join(dir, 'synth.txt');
  synthesize({ rows: 3000, out: file, seed: 5 });
  ds = await ingest({ path: file, format: 'criteo', seed: 5 });
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** table.bin and vocab.bin bytes as the trainer writes them: header + packed rows, header + index built over the kept keys. */
function written(bits: Uint8Array, d: number, groupSize: number, groupPad: number, drop: boolean): { table: number; vocab: number } {
  const alpha = new Float32Array(9).fill(0.1);
  const spec = groupedSpec(d, ds.featureCount, groupSize, bits, alpha, new Float32Array(d), groupPad);
  const weights = new Float32Array(ds.featureCount * d);
  const bv = buildBundleVocabulary(ds, spec, weights, drop);
  return { table: encodeTableHeader(spec).byteLength + packTable(spec, bv.weights).byteLength, vocab: VOCAB_HEADER_BYTES + bv.vocabBytes.byteLength };
}

test('bundle size model = the bytes of the table and vocabulary actually built, for many selections, d, group counts and --pruned', () => {
  const rng = createRng(17);
  const widths = [0, 1, 2, 3, 4, 5, 6, 8, 32];
  let checked = 0;
  let distinctRuns = 0;
  // Tiny groups (G near the feature count) give runs whose last segments are keyless OOV rows: left out of the index.
  for (const G of [1, 7, 64, Math.floor(ds.featureCount / 2), ds.featureCount]) {
    const g = buildFrequencyGroups(ds.trainCounts, G);
    const keys = keysPerGroup(ds.vocab, g.groupOf, g.groups);
    assert.equal(keys.reduce((a, b) => a + b, 0), ds.vocab.reduce((a, f) => a + f.tokens.length, 0));
    for (const d of [3, 8]) {
      for (const drop of [true, false]) {
        const sizeOf = bundleSizeOf({ featureCount: ds.featureCount, d, groupSize: g.groupSize, groupPad: g.groupPad, keysPerGroup: keys, dropPruned: drop });
        const selections: Uint8Array[] = [new Uint8Array(g.groups), new Uint8Array(g.groups).fill(6), new Uint8Array(g.groups).fill(32)];
        for (let k = 0; k < 6; k++) {
          // a few widths, in runs of random length: runs split into several segments, partly filled by keys
          const sel = new Uint8Array(g.groups);
          const palette = [widths[Math.floor(rng.next() * widths.length)]!, widths[Math.floor(rng.next() * widths.length)]!, widths[Math.floor(rng.next() * widths.length)]!];
          for (let i = 0; i < g.groups; i++) sel[i] = palette[Math.floor(rng.next() * palette.length)]!;
          selections.push(sel);
        }
        for (const sel of selections) {
          const want = written(sel, d, g.groupSize, g.groupPad, drop);
          const got = sizeOf(sel);
          assert.deepEqual({ table: got.table, vocab: got.vocab }, want, `G ${G} d ${d} drop ${drop} bits ${sel.join(',')}`);
          assert.equal(got.total, want.table + want.vocab);
          if (new Set(sel).size > 2) distinctRuns++;
          checked++;
        }
      }
    }
  }
  assert.ok(checked >= 100 && distinctRuns > 10, `${checked} selections, ${distinctRuns} with 3+ widths`);
});

test('bundle size model: lowering a group never grows the table; pruning with --pruned oov drops its keys from vocab.bin', () => {
  const g = buildFrequencyGroups(ds.trainCounts, 16);
  const keys = keysPerGroup(ds.vocab, g.groupOf, g.groups);
  const shape = { featureCount: ds.featureCount, d: 8, groupSize: g.groupSize, groupPad: g.groupPad, keysPerGroup: keys };
  const oov = bundleSizeOf({ ...shape, dropPruned: true });
  const zero = bundleSizeOf({ ...shape, dropPruned: false });
  const all4 = new Uint8Array(g.groups).fill(4);
  const last0 = all4.slice();
  last0[g.groups - 1] = 0;
  assert.ok(oov(last0).table < oov(all4).table);
  assert.ok(oov(last0).vocab < oov(all4).vocab, 'the pruned group\'s keys left the index');
  assert.ok(zero(last0).vocab > zero(all4).vocab, 'kept keys in a second run: a 2-byte code per key more');
  // No key: payload header 32, one run (runSeg 8 + runKeys 4), one segment (8), one block base (4),
  // padding to 64, one block of 64 end offsets.
  assert.equal(oov(new Uint8Array(g.groups)).vocab, VOCAB_HEADER_BYTES + 64 + 64, 'no key: header, one run, one segment, one block');
});
