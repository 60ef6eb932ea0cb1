import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadBundle } from '../../src/bundle/load.js';
import { writeBundle } from '../../src/bundle/write.js';
import { PackedTable } from '../../src/codec/packed-table.js';
import { xxh64Hex } from '../../src/util/checksum.js';
import { makeFixture } from './fixture.js';
import { codeOf, editManifest, type Json } from '../helpers/bundle-edit.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-bundle-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const fx = makeFixture({ seed: 5, d: 8, fields: 3, perField: 40, groupSize: 16 });
let n = 0;
async function fresh(): Promise<string> {
  const dir = join(root, `b${n++}`);
  await writeBundle(dir, fx.parts);
  return dir;
}

/** Changes bytes of a binary file and records its new size and checksum in the manifest. */
async function editBinary(dir: string, name: string, edit: (b: Uint8Array) => Uint8Array | undefined): Promise<void> {
  const bytes = new Uint8Array(await readFile(join(dir, name)));
  const out = edit(bytes) ?? bytes;
  await writeFile(join(dir, name), out);
  const h = await xxh64Hex(out);
  await editManifest(dir, (m) => {
    m.files[name] = { bytes: out.length, xxh64: h };
  });
}
async function flipByte(path: string, at: number): Promise<void> {
  const b = await readFile(path);
  b[at] = b[at]! ^ 0x01;
  await writeFile(path, b);
}

test('write + load round trip: rows, vocabulary, scorer and manifest come back equal', async () => {
  for (const f of [fx, makeFixture({ seed: 6, d: 16, fields: 2, perField: 50, groupSize: 1, rowwise: 4 })]) {
    const dir = join(root, `rt${n++}`);
    const written = await writeBundle(dir, f.parts);
    const b = await loadBundle(dir);
    assert.deepEqual(b.manifest, written);
    assert.equal(b.manifest.featureCount, f.parts.tableSpec.featureCount);
    assert.equal(b.manifest.scorer.inputDim, f.parts.manifest.fields.length * f.parts.tableSpec.d);
    assert.deepEqual(b.fields, f.parts.manifest.fields);
    assert.ok(b.tableBuffer instanceof SharedArrayBuffer);
    assert.equal(b.table.data.buffer, b.tableBuffer);
    const count = f.parts.tableSpec.featureCount;
    const d = f.parts.tableSpec.d;
    const ids = Int32Array.from({ length: count }, (_, i) => count - 1 - i);
    const got = new Float32Array(count * d);
    const want = new Float32Array(count * d);
    b.table.dequantize(ids, count, got);
    new PackedTable(f.parts.tableSpec, f.parts.tableData).dequantize(ids, count, want);
    assert.deepEqual(got, want);
    for (const k of f.keys) assert.equal(b.vocab.lookup(k.field, k.token), k.id);
    assert.equal(b.vocab.lookup(0, 'never-seen'), -1);
    assert.equal(b.vocab.size, f.keys.length);
    assert.deepEqual(b.scorerBytes, new Uint8Array(f.parts.scorerBytes)); // buildMlpScorer may return a Buffer (protobufjs); compare the bytes
    assert.ok(b.scorerBytes.buffer instanceof ArrayBuffer, 'scorer bytes must not be shared memory');
    const onDisk = (await Promise.all(['manifest.json', 'table.bin', 'vocab.bin', 'scorer.onnx'].map((x) => readFile(join(dir, x))))).map((x) => x.length);
    assert.equal(b.loadStats.bytes, onDisk[0]! + onDisk[1]! + onDisk[2]! + onDisk[3]!);
    assert.equal(b.bytesBySection.tableHeader + b.bytesBySection.tableData, onDisk[1]);
    assert.deepEqual(b.checksums, { 'manifest.json': 'ok', 'table.bin': 'ok', 'vocab.bin': 'ok', 'scorer.onnx': 'ok' });
  }
});

test('writer: replaces a bundle, fills an empty dir, refuses a non-bundle dir, leaves no temp dirs', async () => {
  const parent = join(root, 'w');
  await mkdir(parent);
  const dir = join(parent, 'model');
  await writeBundle(dir, fx.parts);
  const other = makeFixture({ seed: 9, d: 8, fields: 3, perField: 40, groupSize: 16 });
  await writeBundle(dir, other.parts);
  assert.equal((await loadBundle(dir)).manifest.model.version, 'v9');
  assert.deepEqual(await readdir(parent), ['model']);
  const empty = join(parent, 'empty');
  await mkdir(empty);
  await writeBundle(empty, fx.parts);
  assert.equal((await loadBundle(empty)).manifest.model.version, 'v5');
  const foreign = join(parent, 'foreign');
  await mkdir(foreign);
  await writeFile(join(foreign, 'notes.txt'), 'keep me');
  assert.equal(await codeOf(writeBundle(foreign, fx.parts)), 'MPE_ERR_BUNDLE_WRITE');
  assert.deepEqual(await readdir(foreign), ['notes.txt']);
  assert.equal(await codeOf(writeBundle(join(parent, 'short'), { ...fx.parts, tableData: fx.parts.tableData.subarray(1) })), 'MPE_ERR_BUNDLE_WRITE');
  assert.deepEqual((await readdir(parent)).sort(), ['empty', 'foreign', 'model']);
});

test('a flipped byte in any file is MPE_ERR_BUNDLE_CHECKSUM (and loads without verify when the structure allows)', async () => {
  for (const [name, at] of [
    ['table.bin', -1],
    ['vocab.bin', -1],
    ['scorer.onnx', 10],
    ['table.bin', 100], // inside bitsPerGroup/alpha padding region of the header
  ] as const) {
    const dir = await fresh();
    const size = (await readFile(join(dir, name))).length;
    await flipByte(join(dir, name), at < 0 ? size - 1 : at);
    assert.equal(await codeOf(loadBundle(dir)), 'MPE_ERR_BUNDLE_CHECKSUM', `${name} @ ${at}`);
  }
  const dir = await fresh();
  await flipByte(join(dir, 'table.bin'), (await readFile(join(dir, 'table.bin'))).length - 1);
  assert.equal(await codeOf(loadBundle(dir, { verify: false })), 'ok');
  // manifest.json: flip a letter of the model name ("fixture" -> "gixture").
  const md = await fresh();
  const text = await readFile(join(md, 'manifest.json'), 'utf8');
  await writeFile(join(md, 'manifest.json'), text.replace('"fixture"', '"gixture"'));
  assert.equal(await codeOf(loadBundle(md)), 'MPE_ERR_BUNDLE_CHECKSUM');
  assert.equal(await codeOf(loadBundle(md, { verify: false })), 'ok');
});

test('truncated files are MPE_ERR_BUNDLE_TRUNCATED, also when the manifest was fixed up to match', async () => {
  const dir = await fresh();
  const size = (await readFile(join(dir, 'table.bin'))).length;
  await truncate(join(dir, 'table.bin'), size - 7);
  assert.equal(await codeOf(loadBundle(dir)), 'MPE_ERR_BUNDLE_TRUNCATED');
  assert.equal(await codeOf(loadBundle(dir, { verify: false })), 'MPE_ERR_BUNDLE_TRUNCATED');
  const dir2 = await fresh();
  await editBinary(dir2, 'table.bin', (b) => b.slice(0, b.length - 7));
  assert.equal(await codeOf(loadBundle(dir2)), 'MPE_ERR_BUNDLE_TRUNCATED');
  const dir3 = await fresh();
  await editBinary(dir3, 'vocab.bin', (b) => b.slice(0, b.length - 4));
  assert.equal(await codeOf(loadBundle(dir3)), 'MPE_ERR_BUNDLE_TRUNCATED');
  const dir4 = await fresh();
  await editBinary(dir4, 'table.bin', (b) => b.slice(0, 30));
  assert.equal(await codeOf(loadBundle(dir4)), 'MPE_ERR_BUNDLE_TRUNCATED');
});

test('an unknown format version in the manifest, table.bin or vocab.bin is MPE_ERR_BUNDLE_VERSION', async () => {
  const a = await fresh();
  await editManifest(a, (m) => {
    m.formatVersion = 3;
  });
  assert.equal(await codeOf(loadBundle(a)), 'MPE_ERR_BUNDLE_VERSION');
  const b = await fresh();
  await editBinary(b, 'table.bin', (x) => {
    new DataView(x.buffer, x.byteOffset).setUint32(8, 3, true);
    return undefined;
  });
  assert.equal(await codeOf(loadBundle(b)), 'MPE_ERR_BUNDLE_VERSION');
  const c = await fresh();
  await editBinary(c, 'vocab.bin', (x) => {
    new DataView(x.buffer, x.byteOffset).setUint32(8, 7, true);
    return undefined;
  });
  assert.equal(await codeOf(loadBundle(c)), 'MPE_ERR_BUNDLE_VERSION');
});

test('bad magic is MPE_ERR_BUNDLE_MAGIC (checksum fixed up, or verify off)', async () => {
  const a = await fresh();
  await editBinary(a, 'table.bin', (x) => {
    x[0] = 0x58;
    return undefined;
  });
  assert.equal(await codeOf(loadBundle(a)), 'MPE_ERR_BUNDLE_MAGIC');
  const b = await fresh();
  await flipByte(join(b, 'vocab.bin'), 2);
  assert.equal(await codeOf(loadBundle(b, { verify: false })), 'MPE_ERR_BUNDLE_MAGIC');
  // The fixed header is checked against the file's size before the file is read (and hashed): MAGIC first.
  assert.equal(await codeOf(loadBundle(b)), 'MPE_ERR_BUNDLE_MAGIC');
});

test('vocab.bin holds the file magic MPEVOCF1 at 0 and the payload magic MPEVOCB1 at 64 (docs/format.md); each is checked', async () => {
  const a = await fresh();
  const bytes = await readFile(join(a, 'vocab.bin'));
  assert.equal(bytes.subarray(0, 8).toString('latin1'), 'MPEVOCF1');
  assert.equal(bytes.subarray(64, 72).toString('latin1'), 'MPEVOCB1');
  await editBinary(a, 'vocab.bin', (x) => {
    x[64 + 6] = 0x46; // payload magic "MPEVOCB1" -> "MPEVOCF1"
    return undefined;
  });
  assert.equal(await codeOf(loadBundle(a)), 'MPE_ERR_BUNDLE_MAGIC');
  const b = await fresh();
  await editBinary(b, 'vocab.bin', (x) => {
    x[12] = 63; // header length 63 instead of 64
    return undefined;
  });
  assert.equal(await codeOf(loadBundle(b)), 'MPE_ERR_BUNDLE_MISMATCH');
});

test('manifest that disagrees with the binary files is MPE_ERR_BUNDLE_MISMATCH', async () => {
  const edits: [string, (m: Json) => void][] = [
    ['bits', (m) => (m.table.bitsPerGroup[0] = 4)],
    ['alpha', (m) => (m.table.alpha[3] = m.table.alpha[3] * 1.5)],
    ['beta', (m) => (m.table.beta[0] = 0.25)],
    ['featureCount', (m) => (m.featureCount += 1)],
    ['groupSize', (m) => (m.table.groupSize = 17)],
    ['inputDim', (m) => (m.scorer.inputDim += 1)],
    ['fields', (m) => m.fields.push({ name: 'extra', kind: 'categorical', transform: 'none', oovId: 0 })],
  ];
  for (const [what, edit] of edits) {
    const dir = await fresh();
    await editManifest(dir, edit);
    assert.equal(await codeOf(loadBundle(dir)), 'MPE_ERR_BUNDLE_MISMATCH', what);
  }
  // d changed in the manifest with beta resized to match: the table header still says 8.
  const dd = await fresh();
  await editManifest(dd, (m) => {
    m.d = 9;
    m.table.beta.push(0);
    m.scorer.inputDim = 27;
  });
  assert.equal(await codeOf(loadBundle(dd)), 'MPE_ERR_BUNDLE_MISMATCH');
  // Bits changed inside table.bin (checksum recomputed): its data section no longer fits.
  const tb = await fresh();
  await editBinary(tb, 'table.bin', (x) => {
    x[64] = x[64] === 8 ? 4 : 8;
    return undefined;
  });
  assert.equal(await codeOf(loadBundle(tb)), 'MPE_ERR_BUNDLE_MISMATCH');
  // A file longer than the manifest says.
  const lg = await fresh();
  const s = await readFile(join(lg, 'scorer.onnx'));
  await writeFile(join(lg, 'scorer.onnx'), Buffer.concat([s, Buffer.of(0)]));
  assert.equal(await codeOf(loadBundle(lg)), 'MPE_ERR_BUNDLE_MISMATCH');
});

test('missing directory or file is MPE_ERR_BUNDLE_NOT_FOUND; broken manifest is MPE_ERR_BUNDLE_MANIFEST', async () => {
  assert.equal(await codeOf(loadBundle(join(root, 'does-not-exist'))), 'MPE_ERR_BUNDLE_NOT_FOUND');
  const a = await fresh();
  await rm(join(a, 'scorer.onnx'));
  assert.equal(await codeOf(loadBundle(a)), 'MPE_ERR_BUNDLE_NOT_FOUND');
  const b = await fresh();
  await rm(join(b, 'manifest.json'));
  assert.equal(await codeOf(loadBundle(b)), 'MPE_ERR_BUNDLE_NOT_FOUND');
  const c = await fresh();
  await writeFile(join(c, 'manifest.json'), '{"format": "mpe-bundle", ');
  assert.equal(await codeOf(loadBundle(c)), 'MPE_ERR_BUNDLE_MANIFEST');
  const d = await fresh();
  await editManifest(d, (m) => {
    delete m.model.method;
  });
  assert.equal(await codeOf(loadBundle(d)), 'MPE_ERR_BUNDLE_MANIFEST');
});
