import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import { fieldToken } from '../../src/features/token.js';
import { SPLIT_TRAIN, ingest } from '../../src/data/ingest.js';
import { synthesize } from '../../src/data/synth.js';

const dir = mkdtempSync(join(tmpdir(), 'mpe-ingest-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const synthFile = join(dir, 'synth.txt');
synthesize({ rows: 4000, out: synthFile, seed: 3 });

test('criteo ingestion: split, min-count on train, OOV per field, ids are global frequency ranks', async () => {
  const ds = await ingest({ path: synthFile, format: 'criteo', seed: 1 });
  assert.equal(ds.rows, 4000);
  assert.equal(ds.fieldCount, 39);
  const [tr, va, te] = ds.stats.rowsPerSplit;
  assert.equal(tr + va + te, 4000);
  assert.ok(Math.abs(tr / 4000 - 0.8) < 0.03 && Math.abs(va / 4000 - 0.1) < 0.02);
  for (let i = 1; i < ds.featureCount; i++) assert.ok(ds.trainCounts[i - 1]! >= ds.trainCounts[i]!);
  // Recount train occurrences of each id from the matrix: equals trainCounts.
  const counts = new Float64Array(ds.featureCount);
  for (let r = 0; r < ds.rows; r++) {
    if (ds.split[r] !== SPLIT_TRAIN) continue;
    for (let f = 0; f < 39; f++) counts[ds.ids[r * 39 + f]!]!++;
  }
  assert.deepEqual(Array.from(counts), Array.from(ds.trainCounts));
  // Raw text: a value seen >= 2 times in train has its own id, others map to the OOV id.
  const lines = readFileSync(synthFile, 'latin1').split('\n');
  const f = 20; // a categorical field (column 21)
  const rawCount = new Map<string, number>();
  for (let r = 0; r < ds.rows; r++) {
    if (ds.split[r] !== SPLIT_TRAIN) continue;
    const v = lines[r]!.split('\t')[1 + f]!;
    rawCount.set(v, (rawCount.get(v) ?? 0) + 1);
  }
  const tokenId = new Map(ds.vocab[f]!.tokens.map((t, i) => [t, ds.vocab[f]!.ids[i]!]));
  for (let r = 0; r < ds.rows; r++) {
    const v = lines[r]!.split('\t')[1 + f]!;
    const id = ds.ids[r * 39 + f]!;
    if ((rawCount.get(v) ?? 0) >= 2) assert.equal(id, tokenId.get(v));
    else assert.equal(id, ds.fields[f]!.oovId);
  }
  // Numeric fields store bucketed tokens: I1's vocabulary = buckets with >= 2 train rows.
  const bucketCount = new Map<string, number>();
  for (let r = 0; r < ds.rows; r++) {
    if (ds.split[r] !== SPLIT_TRAIN) continue;
    const t = fieldToken(ds.fields[0]!, lines[r]!.split('\t')[1]!)!;
    bucketCount.set(t, (bucketCount.get(t) ?? 0) + 1);
  }
  const kept = [...bucketCount].filter(([, n]) => n >= 2).map(([t]) => t);
  assert.deepEqual([...ds.vocab[0]!.tokens].sort(), kept.sort());
  // Deterministic.
  const again = await ingest({ path: synthFile, format: 'criteo', seed: 1 });
  assert.deepEqual(again.ids, ds.ids);
});

test('gzip input gives the same encoding as plain text', async () => {
  const gz = join(dir, 'synth.txt.gz');
  writeFileSync(gz, gzipSync(readFileSync(synthFile)));
  const a = await ingest({ path: synthFile, format: 'criteo' });
  const b = await ingest({ path: gz, format: 'criteo' });
  assert.deepEqual(b.ids, a.ids);
  assert.deepEqual(b.labels, a.labels);
});

const good = (y: string) => `${y}\t1\t2\t\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13${'\tabcdef01'.repeat(26)}`;

const badCases: [string, string, string][] = [
  ['wrong column count', `${good('0')}\n${good('1')}\n1\t2\t3\n${good('0')}\n`, 'MPE_ERR_DATA_COLUMNS'],
  ['non-numeric label', `${good('0')}\n${good('1')}\n${good('yes')}\n`, 'MPE_ERR_DATA_LABEL'],
  ['non-numeric integer field', `${good('0')}\n${good('1')}\n${good('0').replace('\t5\t', '\tfive\t')}\n`, 'MPE_ERR_DATA_NUMERIC'],
  ['malformed line (NUL byte)', `${good('0')}\n${good('1')}\n${good('0').replace('abcdef01', 'ab\0')}\n`, 'MPE_ERR_DATA_MALFORMED'],
];

for (const [name, text, code] of badCases) {
  test(`bad data: ${name} -> ${code} naming file and line 3; --skip-bad-lines counts it`, async () => {
    const p = join(dir, `${code}.txt`);
    writeFileSync(p, text);
    await assert.rejects(ingest({ path: p, format: 'criteo' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, code);
      assert.ok(e.message.includes(`${p}:3:`), e.message);
      return true;
    });
    const ds = await ingest({ path: p, format: 'criteo', skipBadLines: true, split: [1, 0] });
    assert.equal(ds.stats.skipped[code as 'MPE_ERR_DATA_LABEL'], 1);
    assert.equal(ds.rows, text.split('\n').filter((l) => l).length - 1);
  });
}

test('bad data: empty file -> MPE_ERR_DATA_EMPTY; missing file -> MPE_ERR_DATA_NOT_FOUND', async () => {
  const p = join(dir, 'empty.txt');
  writeFileSync(p, '');
  await assert.rejects(ingest({ path: p, format: 'criteo' }), (e: Error & { code?: string }) => e.code === 'MPE_ERR_DATA_EMPTY' && e.message.includes(p));
  await assert.rejects(ingest({ path: join(dir, 'nope.txt'), format: 'criteo' }), { code: 'MPE_ERR_DATA_NOT_FOUND' });
  const allBad = join(dir, 'allbad.txt');
  writeFileSync(allBad, 'x\ny\n');
  await assert.rejects(ingest({ path: allBad, format: 'criteo', skipBadLines: true }), { code: 'MPE_ERR_DATA_EMPTY' });
});

test('delimited text with a header, quoted fields, named columns', async () => {
  const p = join(dir, 'data.csv');
  const rows = ['click,city,age,"device, model",unused'];
  for (let i = 0; i < 300; i++) rows.push(`${i % 3 === 0 ? 1 : 0},${['"Paris, FR"', 'Rome', 'Oslo'][i % 3]},${i % 7},"m""${i % 4}",x`);
  writeFileSync(p, `${rows.join('\r\n')}\r\n`);
  const ds = await ingest({ path: p, format: 'csv', csv: { label: 'click', categorical: ['city', 'device, model'], numeric: ['age'], sep: ',' }, split: [1, 0] });
  assert.equal(ds.rows, 300);
  assert.deepEqual(ds.fields.map((f) => [f.name, f.kind, f.transform]), [
    ['city', 'categorical', 'none'],
    ['device, model', 'categorical', 'none'],
    ['age', 'numeric', 'criteo-log2'],
  ]);
  assert.deepEqual([...ds.vocab[0]!.tokens].sort(), ['Oslo', 'Paris, FR', 'Rome']);
  assert.deepEqual([...ds.vocab[1]!.tokens].sort(), ['m"0', 'm"1', 'm"2', 'm"3']);
  // age 0..6 -> tokens 0,1,2 stay, 3..6 bucket to floor(ln(v)^2) = 1,1,2,3
  assert.deepEqual([...ds.vocab[2]!.tokens].sort(), ['0', '1', '2', '3']);
  assert.equal(ds.labels.reduce((s, y) => s + y, 0), 100);
  const bad = join(dir, 'bad.csv');
  writeFileSync(bad, 'click,city\n1,"Paris\n');
  await assert.rejects(ingest({ path: bad, format: 'csv', csv: { label: 'click', categorical: ['city'], numeric: [], sep: ',' } }), (e: Error & { code?: string }) => e.code === 'MPE_ERR_DATA_MALFORMED' && e.message.includes(`${bad}:2:`));
  await assert.rejects(ingest({ path: p, format: 'csv', csv: { label: 'click', categorical: ['nope'], numeric: [], sep: ',' } }), { code: 'MPE_ERR_DATA_SCHEMA' });
});

test('--split-column: each row\'s split from a column (train/valid/test or 0/1/2), no random draw; bad values are MPE_ERR_DATA_SPLIT', async () => {
  const p = join(dir, 'split-col.csv');
  const rows = ['y,a,b,part'];
  const parts = ['train', 'valid', 'test', '0', '1', '2', 'TRAIN', 'validation'];
  for (let i = 0; i < 40; i++) rows.push(`${i % 2},a${i % 3},b${i % 5},${parts[i % parts.length]}`);
  writeFileSync(p, `${rows.join('\n')}\n`);
  const csv = { label: 'y', categorical: ['a', 'b'], numeric: [], sep: ',', splitColumn: 'part' };
  const ds = await ingest({ path: p, format: 'csv', csv });
  const want = [0, 1, 2, 0, 1, 2, 0, 1];
  for (let r = 0; r < 40; r++) assert.equal(ds.split[r], want[r % 8], `row ${r}`);
  assert.deepEqual(ds.stats.rowsPerSplit, [15, 15, 10]);
  assert.deepEqual(ds.fields.map((f) => f.name), ['a', 'b']); // the split column is not a feature
  writeFileSync(p, `${rows.join('\n')}\n1,a1,b1,holdout\n`);
  await assert.rejects(ingest({ path: p, format: 'csv', csv }), (e: { code: string; message: string }) => e.code === 'MPE_ERR_DATA_SPLIT' && e.message.includes(`${p}:42`));
  const skipped = await ingest({ path: p, format: 'csv', csv, skipBadLines: true });
  assert.equal(skipped.stats.skipped.MPE_ERR_DATA_SPLIT, 1);
  await assert.rejects(ingest({ path: p, format: 'csv', csv: { ...csv, splitColumn: 'a' } }), { code: 'MPE_ERR_DATA_SCHEMA' });
  await assert.rejects(ingest({ path: p, format: 'csv', csv: { ...csv, splitColumn: 'nope' } }), { code: 'MPE_ERR_DATA_SCHEMA' });
  await assert.rejects(ingest({ path: synthFile, format: 'criteo', csv: { ...csv } }), { code: 'MPE_ERR_TRAIN_CONFIG' });
});

test('--train/--valid/--test files: one file per split, same header required, counts from the train file only', async () => {
  const mk = (name: string, lines: string[], header = 'y,a') => {
    const p = join(dir, name);
    writeFileSync(p, `${[header, ...lines].join('\n')}\n`);
    return p;
  };
  const train = mk('tr.csv', ['1,x', '0,x', '1,y', '0,y', '1,z']);
  const valid = mk('va.csv', ['1,x', '0,w']);
  const test = mk('te.csv', ['0,z', '1,z', '1,z']);
  const csv = { label: 'y', categorical: ['a'], numeric: [], sep: ',' };
  const ds = await ingest({ files: { train, valid, test }, format: 'csv', csv });
  assert.deepEqual([...ds.split], [0, 0, 0, 0, 0, 1, 1, 2, 2, 2]);
  assert.deepEqual(ds.stats.rowsPerSplit, [5, 2, 3]);
  // z appears once in train (3 times in test): below min-count 2, so it is OOV
  const z = ds.ids[4]!;
  assert.equal(z, ds.fields[0]!.oovId);
  assert.deepEqual([...ds.trainCounts].sort(), [1, 2, 2]);
  const only = await ingest({ files: { train }, format: 'csv', csv });
  assert.deepEqual(only.stats.rowsPerSplit, [5, 0, 0]);
  const other = mk('va2.csv', ['1,x'], 'y,b');
  await assert.rejects(ingest({ files: { train, valid: other }, format: 'csv', csv }), (e: { code: string; message: string }) => e.code === 'MPE_ERR_DATA_SCHEMA' && e.message.includes('va2.csv:1'));
  await assert.rejects(ingest({ path: train, files: { train }, format: 'csv', csv }), { code: 'MPE_ERR_TRAIN_CONFIG' });
  await assert.rejects(ingest({ files: { train, valid }, format: 'csv', csv: { ...csv, splitColumn: 'a' } }), { code: 'MPE_ERR_TRAIN_CONFIG' });
});
