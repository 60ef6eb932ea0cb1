import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ingest } from '../../src/data/ingest.js';
import { synthesize } from '../../src/data/synth.js';
import { bitsBars, bitsSvg, compareMarkdown, parseMethods, runComparison } from '../../src/mpe/compare.js';
import { parseRowwiseBits } from '../../src/mpe/rowwise.js';

test('method list parsing and its stable error codes', () => {
  assert.deepEqual(
    parseMethods('fp32, uniform4,mpe,rowwise-int8,int4').map((m) => m.method),
    [{ kind: 'fp32' }, { kind: 'uniform', bits: 4 }, { kind: 'mpe' }, { kind: 'rowwise', bits: 8 }, { kind: 'rowwise', bits: 4 }],
  );
  assert.throws(() => parseMethods('fp16'), { code: 'MPE_ERR_MPE_METHOD' });
  assert.throws(() => parseMethods('uniform9'), { code: 'MPE_ERR_MPE_METHOD' });
  assert.throws(() => parseMethods('mpe,mpe'), { code: 'MPE_ERR_MPE_METHOD' });
  assert.equal(parseRowwiseBits('int4'), 4);
  assert.throws(() => parseRowwiseBits('int2'), { code: 'MPE_ERR_MPE_CONFIG' });
});

test('text bars merge runs of equal widths; the SVG chart has one bar per group', () => {
  assert.equal(bitsBars([6, 6, 3, 0]), ['groups 0-1       ██████   6 bits', 'group 2          ███      3 bits', 'group 3                   0 bits'].join('\n'));
  const svg = bitsSvg('t', [6, 4, 0, 1]);
  assert.match(svg, /^<svg[^>]*width="720"/);
  assert.equal((svg.match(/<path d="M\d/g) ?? []).length >= 3, true);
});

test('comparison on tiny synthetic data: one row per method, ratios consistent with the bundles', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mpe-cmp-'));
  try {
    const file = join(dir, 's.txt');
    synthesize({ rows: 3000, out: file, seed: 5 });
    const ds = await ingest({ path: file, format: 'criteo', seed: 5 });
    const rep = await runComparison({
      name: 'tiny',
      dataset: ds,
      outDir: join(dir, 'out'),
      methods: 'fp32,uniform2,rowwise-int4',
      train: { epochs: 1, hidden: [16], batchSize: 256, d: 8, intraOpThreads: 1 },
    });
    assert.deepEqual(rep.results.map((r) => r.method), ['fp32', 'uniform2', 'rowwise-int4']);
    const [fp, u2, rw] = rep.results as [typeof rep.results[0], typeof rep.results[0], typeof rep.results[0]];
    assert.equal(fp.avgBits, 32);
    assert.equal(fp.weightsRatio, 1);
    assert.equal(u2.avgBits, 2);
    assert.equal(u2.weightsRatio, 16);
    assert.equal(rw.avgBits, ((8 / 2 + 4) * 8) / 8); // 4 code bytes + 4 bytes scale/bias per 8 weights
    // all-in: (4*d*n + vocab) / (table.bin + vocab); fp32's table.bin carries a small header
    assert.ok(fp.allInRatio < 1 && fp.allInRatio > 0.9);
    assert.ok(u2.allInRatio > 1 && u2.allInRatio < u2.weightsRatio);
    assert.equal(u2.allInRatio, (4 * 8 * ds.featureCount + u2.vocabBytes) / (u2.tableBytes + u2.vocabBytes));
    for (const r of rep.results) assert.ok(r.testAuc > 0.5 && r.bundleBytes > r.tableBytes + r.vocabBytes);
    const md = compareMarkdown(rep);
    assert.match(md, /\| uniform2 \| 0\.\d{5} \|/);
    assert.equal(md.split('\n').length, 4 + 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
