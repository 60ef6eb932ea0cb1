import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { GroupedTableSpec, TableSpec } from '../../src/codec/layout.js';
import { packTable } from '../../src/codec/pack-table.js';
import { PackedTable } from '../../src/codec/packed-table.js';
import { decodeTableHeader, encodeTableHeader, loadTableFromSharedBuffer, tableSections } from '../../src/bundle/table-file.js';
import { createRng } from '../../src/util/random.js';

function grouped(seed: number, featureCount: number, d: number, groupSize: number, bits: number[]): { spec: TableSpec; weights: Float32Array } {
  const rng = createRng(seed);
  const beta = new Float32Array(d);
  for (let j = 0; j < d; j++) beta[j] = rng.normal() * 0.01;
  const alpha = new Float32Array(9);
  for (let b = 1; b <= 8; b++) alpha[b] = 0.1 / 2 ** (b - 1);
  const weights = new Float32Array(featureCount * d);
  for (let i = 0; i < weights.length; i++) weights[i] = rng.normal() * 0.1;
  return { spec: { kind: 'grouped', d, featureCount, groupSize, bitsPerGroup: Uint8Array.from(bits), alpha, beta }, weights };
}

function fileOf(spec: TableSpec, data: Uint8Array): SharedArrayBuffer {
  const header = encodeTableHeader(spec);
  const sab = new SharedArrayBuffer(header.length + data.length);
  const u = new Uint8Array(sab);
  u.set(header, 0);
  u.set(data, header.length);
  return sab;
}

test('header layout: 64-byte sections at the offsets docs/format.md gives', () => {
  // d = 4, 3 groups: bits at 64, alpha at 128, beta at 192, group offsets at 256, data at 320.
  assert.deepEqual(tableSections(3, 4, 128), { bitsOffset: 64, alphaOffset: 128, betaOffset: 192, groupOffsetsOffset: 256, dataOffset: 320, dataBytes: 128, fileBytes: 448 });
  const { spec } = grouped(1, 10, 4, 4, [8, 4, 0]);
  const h = encodeTableHeader(spec);
  assert.equal(h.length, 320);
  assert.equal(new TextDecoder().decode(h.subarray(0, 8)), 'MPETABL1');
  const v = new DataView(h.buffer);
  assert.equal(v.getUint32(8, true), 1); // version
  assert.equal(v.getUint32(12, true), 64); // fixed header bytes
  assert.equal(v.getUint32(16, true), 1); // grouped
  assert.equal(v.getUint32(20, true), 4); // d
  assert.equal(v.getBigUint64(24, true), 10n); // featureCount
  assert.equal(v.getUint32(36, true), 3); // groups
  assert.equal(v.getBigUint64(48, true), 320n); // data offset
  assert.equal(v.getBigUint64(56, true), 128n); // data bytes: group 0 16 B -> 64, group 1 8 B -> 128, group 2 pruned
  assert.deepEqual([...h.subarray(64, 67)], [8, 4, 0]);
  assert.equal(v.getFloat32(128 + 4 * 8, true), Math.fround(0.1 / 128));
  assert.deepEqual([0, 1, 2, 3].map((i) => v.getFloat64(256 + 8 * i, true)), [0, 64, 128, 128]);
});

test('round trip through a SharedArrayBuffer, grouped (all widths) and row-wise, data viewed not copied', () => {
  const cases: { spec: TableSpec; weights: Float32Array }[] = [grouped(7, 1000, 16, 100, [32, 8, 7, 6, 5, 4, 3, 2, 1, 0]), grouped(8, 77, 3, 10, [6, 6, 0, 1, 2, 3, 4, 5])];
  const rw = grouped(9, 300, 16, 300, [8]);
  cases.push({ spec: { kind: 'rowwise', d: 16, featureCount: 300, bits: 4 }, weights: rw.weights });
  for (const { spec, weights } of cases) {
    const data = packTable(spec, weights);
    const sab = fileOf(spec, data);
    const loaded = loadTableFromSharedBuffer(sab);
    assert.equal(loaded.data.buffer, sab);
    assert.equal(loaded.data.byteOffset, loaded.header.sections.dataOffset);
    assert.equal(loaded.data.byteOffset % 64, 0);
    const ref = new PackedTable(spec, data);
    const n = spec.featureCount;
    const ids = Int32Array.from({ length: n }, (_, i) => i);
    const a = new Float32Array(n * spec.d);
    const b = new Float32Array(n * spec.d);
    ref.dequantize(ids, n, a);
    loaded.table.dequantize(ids, n, b);
    assert.deepEqual(b, a);
    assert.equal(loaded.header.spec.kind, spec.kind);
    if (spec.kind === 'grouped' && loaded.header.spec.kind === 'grouped') {
      assert.deepEqual(loaded.header.spec.alpha, spec.alpha);
      assert.deepEqual(loaded.header.spec.beta, spec.beta);
      assert.deepEqual(loaded.header.spec.bitsPerGroup, spec.bitsPerGroup);
    }
  }
});

test('bad headers get their own codes', () => {
  const { spec, weights } = grouped(3, 50, 8, 10, [4, 4, 2, 0, 32]);
  const good = new Uint8Array(fileOf(spec, packTable(spec, weights)));
  const code = (bytes: Uint8Array): string => {
    try {
      decodeTableHeader(bytes);
      return 'ok';
    } catch (e) {
      return (e as { code: string }).code;
    }
  };
  assert.equal(code(good), 'ok');
  const magic = good.slice();
  magic[3] ^= 0xff;
  assert.equal(code(magic), 'MPE_ERR_BUNDLE_MAGIC');
  const version = good.slice();
  new DataView(version.buffer).setUint32(8, 2, true);
  assert.equal(code(version), 'MPE_ERR_BUNDLE_VERSION');
  const flags = good.slice();
  new DataView(flags.buffer).setUint32(44, 2, true); // not defined
  assert.equal(code(flags), 'MPE_ERR_BUNDLE_VERSION');
  const padFlag = good.slice();
  new DataView(padFlag.buffer).setUint32(44, 1, true); // group pad flag with a pad of 0
  assert.equal(code(padFlag), 'MPE_ERR_BUNDLE_MISMATCH');
  const padNoFlag = good.slice();
  new DataView(padNoFlag.buffer).setUint32(40, 3, true); // a pad without its flag
  assert.equal(code(padNoFlag), 'MPE_ERR_BUNDLE_MISMATCH');
  const padTooBig = good.slice();
  new DataView(padTooBig.buffer).setUint32(40, 10, true); // pad must be < groupSize (10)
  new DataView(padTooBig.buffer).setUint32(44, 1, true);
  assert.equal(code(padTooBig), 'MPE_ERR_BUNDLE_MISMATCH');
  assert.equal(code(good.slice(0, good.length - 1)), 'MPE_ERR_BUNDLE_TRUNCATED');
  assert.equal(code(good.slice(0, 40)), 'MPE_ERR_BUNDLE_TRUNCATED');
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  assert.equal(code(longer), 'MPE_ERR_BUNDLE_MISMATCH');
  const bits = good.slice();
  bits[64 + 1] = 8; // group 1: 4 -> 8 bits; the data section no longer fits the layout
  assert.equal(code(bits), 'MPE_ERR_BUNDLE_MISMATCH');
  const offs = good.slice();
  new DataView(offs.buffer).setFloat64(tableSections(5, 8, 0).groupOffsetsOffset + 8, 1, true);
  assert.equal(code(offs), 'MPE_ERR_BUNDLE_MISMATCH');
});

test('a worker thread rebuilds the table from the posted SharedArrayBuffer without copying', async () => {
  const { spec, weights } = grouped(11, 500, 16, 50, [8, 6, 6, 4, 4, 3, 2, 1, 0, 32]);
  const data = packTable(spec, weights);
  const sab = fileOf(spec, data);
  const ids = new Int32Array(new SharedArrayBuffer(4 * 64));
  for (let i = 0; i < 64; i++) ids[i] = (i * 37) % 500;
  const out = new SharedArrayBuffer(4 * 64 * 16);
  // Node 20 does not apply --import hooks to a worker's entry file: register tsx, then import the .ts worker.
  const entry = new URL('./table-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: { buffer: sab, ids, out } });
  const reply = await new Promise<{ sameBuffer: boolean; dataOffset: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(reply.sameBuffer, true);
  assert.equal(reply.dataOffset, encodeTableHeader(spec).length);
  const expected = new Float32Array(64 * 16);
  new PackedTable(spec, data).dequantize(ids, 64, expected);
  assert.deepEqual(new Float32Array(out), expected);
});

test('group pad (MPE grouping, partial group first): flag 1 and the pad at offset 40; a table without a pad is byte-identical to before', () => {
  const { spec, weights } = grouped(11, 23, 4, 5, [8, 4, 0, 32, 2]);
  // 23 ids, groups of 5 with pad 2: group 0 = ids 0..2 (3 ids), then 3..7, 8..12, 13..17, 18..22.
  const padded: TableSpec = { ...(spec as GroupedTableSpec), groupPad: 2 };
  const plain = encodeTableHeader(spec);
  const pv = new DataView(plain.buffer);
  assert.equal(pv.getUint32(40, true), 0);
  assert.equal(pv.getUint32(44, true), 0);
  const data = packTable(padded, weights);
  const sab = fileOf(padded, data);
  const hv = new DataView(sab);
  assert.equal(hv.getUint32(40, true), 2);
  assert.equal(hv.getUint32(44, true), 1);
  const loaded = loadTableFromSharedBuffer(sab);
  assert.equal(loaded.header.groupPad, 2);
  assert.equal(loaded.header.spec.kind === 'grouped' && loaded.header.spec.groupPad, 2);
  // the data section of a padded table: group 0 holds 3 rows of 8 bits (3*4 bytes, padded to 64)
  assert.deepEqual([...loaded.header.groupOffsets], [0, 64, 128, 128, 256, 320]); // fp32 group: 5 x 16 B -> 128
  const ids = Int32Array.from({ length: 23 }, (_, i) => i);
  const a = new Float32Array(23 * 4);
  const b = new Float32Array(23 * 4);
  new PackedTable(padded, data).dequantize(ids, 23, a);
  loaded.table.dequantize(ids, 23, b);
  assert.deepEqual(b, a);
  // ids 13..17 are the fp32 group: stored exactly
  for (let j = 0; j < 4; j++) assert.equal(a[13 * 4 + j], weights[13 * 4 + j]);
  // ids 8..12 are pruned
  for (let j = 0; j < 5 * 4; j++) assert.equal(a[8 * 4 + j], 0);
});
