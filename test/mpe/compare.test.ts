import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ingest } from '../../src/data/ingest.js';
import { synthesize } from '../../src/data/synth.js';
import { bitsBars, bitsSvg, type CompareReport, type CompareRow, compareMarkdown, compareReport, mpeRowOptions, PARETO_COLORS, parseMethods, referencePointsFrom, runComparison } from '../../src/mpe/compare.js';
import { parseRowwiseBits } from '../../src/mpe/rowwise.js';

test('method list parsing and its stable error codes', () => {
  assert.deepEqual(
    parseMethods('fp32, uniform4,mpe,rowwise-int8,int4').map((m) => m.method),
    [{ kind: 'fp32' }, { kind: 'uniform', bits: 4 }, { kind: 'mpe' }, { kind: 'rowwise', bits: 8 }, { kind: 'rowwise', bits: 4 }],
  );
  assert.throws(() => parseMethods('fp16'), { code: 'MPE_ERR_MPE_METHOD' });
  assert.throws(() => parseMethods('uniform9'), { code: 'MPE_ERR_MPE_METHOD' });
  assert.throws(() => parseMethods('mpe,mpe'), { code: 'MPE_ERR_MPE_METHOD' });
  // mpe:<b>: budget mode at b bits per weight, in place of --lambda / --target-*.
  assert.deepEqual(parseMethods('mpe,mpe:1,mpe:2.5').map((m) => m.method), [{ kind: 'mpe' }, { kind: 'mpe', targetBits: 1 }, { kind: 'mpe', targetBits: 2.5 }]);
  assert.throws(() => parseMethods('mpe:x'), { code: 'MPE_ERR_MPE_METHOD' });
  assert.deepEqual(mpeRowOptions({ kind: 'mpe', targetBits: 2 }, { lambda: 3e-5, targetRatio: 8, targetBytes: '1MB', tau: 0.01 }), { tau: 0.01, targetBits: 2 });
  assert.deepEqual(mpeRowOptions({ kind: 'mpe' }, { lambda: 3e-5 }), { lambda: 3e-5 });
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

function fakeRow(method: string, avgBits: number, testAuc: number, bitsPerGroup: number[] | null = null): CompareRow {
  return { method, testAuc, testLogLoss: 0.5, avgBits, weightsRatio: 32 / avgBits, allInRatio: 1, bundleBytes: 1, tableBytes: 1, vocabBytes: 1, trainSeconds: 1, samplesPerSecond: null, bundleDir: '', bitsPerGroup, lambda: null, budget: null };
}

/** How many of the SVG's shapes are filled with `color` (a series' point marks and its legend icon). */
function marksOfColor(svg: string, color: string): number {
  return (svg.match(new RegExp(`fill="${color}"`, 'g')) ?? []).length;
}

test('the report carries an AUC-vs-bits chart with our points and the reference points', () => {
  const rep: CompareReport = {
    dataset: 'tiny',
    rows: 10,
    featureCount: 10,
    d: 4,
    results: [fakeRow('fp32', 32, 0.71), fakeRow('mpe:1', 1.02, 0.695, [2, 0]), fakeRow('mpe:2', 1.98, 0.7, [3, 1]), fakeRow('uniform4', 4, 0.705)],
  };
  const fidelityResult = { data: { runs: [{ lambda: 3e-4, seed: 1, ref: { bits: 2.4, auc: 0.7 } }, { lambda: 3e-5, seed: 1, ref: { bits: 4.2, auc: 0.69 } }, { lambda: 3e-6, seed: 1, ref: null }] } };
  const reference = referencePointsFrom(fidelityResult, 'f.json');
  assert.deepEqual(reference, [
    { bits: 2.4, auc: 0.7, label: 'lambda 0.0003, seed 1' },
    { bits: 4.2, auc: 0.69, label: 'lambda 0.00003, seed 1' },
  ]);
  const { files, bars } = compareReport(rep, reference);
  assert.deepEqual(Object.keys(files).sort(), ['bits-mpe_1.svg', 'bits-mpe_2.svg', 'compare.json', 'compare.md', 'pareto.svg']);
  assert.match(files['compare.md']!, /\n!\[test AUC vs bits per weight\]\(pareto\.svg\)\n/);
  assert.match(bars, /bits per group, mpe:2/);
  const svg = files['pareto.svg']!;
  assert.match(svg, /^<svg[^>]*width="720"/);
  for (const name of ['ours: mpe', 'ours: uniform', 'reference', 'fp32']) assert.ok(svg.includes(`>${name}</text>`), `${name} is labelled`);
  assert.ok(!svg.includes('ours: row-wise'), 'no row-wise rows, no row-wise series');
  // Series in order ours: mpe, ours: uniform, reference; each draws one mark per point plus its legend icon.
  assert.equal(marksOfColor(svg, PARETO_COLORS[0]), 2 + 1);
  assert.equal(marksOfColor(svg, PARETO_COLORS[1]), 1 + 1);
  assert.equal(marksOfColor(svg, PARETO_COLORS[2]), reference.length + 1);
  // Without reference points and with no row at 8 bits or fewer, there is no chart.
  const plain = compareReport({ ...rep, results: [rep.results[0]!] });
  assert.equal(plain.files['pareto.svg'], undefined);
  assert.doesNotMatch(plain.files['compare.md']!, /pareto/);
  assert.throws(() => referencePointsFrom({ runs: [] }, 'x.json'), { code: 'MPE_ERR_TRAIN_CONFIG' });
  assert.throws(() => referencePointsFrom([{ bits: '2', auc: 0.7 }], 'x.json'), { code: 'MPE_ERR_TRAIN_CONFIG' });
  assert.deepEqual(referencePointsFrom([{ bits: 2, auc: 0.7 }], 'x.json'), [{ bits: 2, auc: 0.7 }]);
});
