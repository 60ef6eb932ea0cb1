// Bundle files that could hold the loader (issue 15): FIFOs, devices, directories, huge sparse
// files. Each must be refused from open()/fstat, before any read or allocation.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { loadBundle } from '../../src/bundle/load.js';
import { manifestHashText } from '../../src/bundle/manifest.js';
import { writeBundle } from '../../src/bundle/write.js';
import { xxh64Hex } from '../../src/util/checksum.js';
import { makeFixture } from './fixture.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HELPERS = fileURLToPath(new URL('../helpers', import.meta.url));
let root: string;
const fifos: string[] = [];
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-bundle-files-'));
});
after(async () => {
  // Unblock any open() still waiting on a FIFO (only on code that opens FIFOs blocking).
  for (const f of fifos) {
    try {
      closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader waiting: nothing to unblock
    }
  }
  await rm(root, { recursive: true, force: true });
});

const fx = makeFixture({ seed: 9, d: 8, fields: 3, perField: 40, groupSize: 16 });
let n = 0;
async function fresh(): Promise<string> {
  const dir = join(root, `b${n++}`);
  await writeBundle(dir, fx.parts);
  return dir;
}

/** The load's error code, or 'hang' when it has not settled within `ms` (a blocked open). */
async function codeWithin(p: Promise<unknown>, ms = 5000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<string>((r) => {
    timer = setTimeout(() => r('hang'), ms);
  });
  const settled = p.then(
    () => 'ok',
    (e: unknown) => (e as { code?: string }).code ?? `raw: ${String(e)}`,
  );
  try {
    return await Promise.race([settled, hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function replaceWithFifo(path: string): Promise<void> {
  await rm(path);
  execFileSync('mkfifo', [path]);
  fifos.push(path);
}

test('a FIFO in place of table.bin or manifest.json is refused at once (MPE_ERR_BUNDLE_UNREADABLE), not waited on', async () => {
  const a = await fresh();
  await replaceWithFifo(join(a, 'table.bin'));
  assert.equal(await codeWithin(loadBundle(a)), 'MPE_ERR_BUNDLE_UNREADABLE');
  const b = await fresh();
  await replaceWithFifo(join(b, 'manifest.json'));
  assert.equal(await codeWithin(loadBundle(b)), 'MPE_ERR_BUNDLE_UNREADABLE');
  // The refusal names the file, never its contents.
  await assert.rejects(loadBundle(a), (e: Error) => /table\.bin: is not a regular file/.test(e.message));
});

test('a device or a directory in place of a bundle file is MPE_ERR_BUNDLE_UNREADABLE', async () => {
  const a = await fresh();
  await rm(join(a, 'vocab.bin'));
  await symlink('/dev/zero', join(a, 'vocab.bin'));
  assert.equal(await codeWithin(loadBundle(a)), 'MPE_ERR_BUNDLE_UNREADABLE');
  const b = await fresh();
  await rm(join(b, 'scorer.onnx'));
  await mkdir(join(b, 'scorer.onnx'));
  assert.equal(await codeWithin(loadBundle(b)), 'MPE_ERR_BUNDLE_UNREADABLE');
  // A symlink to a regular file is a regular file: still loads.
  const c = await fresh();
  const real = join(root, `scorer-${n}.onnx`);
  await writeFile(real, await readFile(join(c, 'scorer.onnx')));
  await rm(join(c, 'scorer.onnx'));
  await symlink(real, join(c, 'scorer.onnx'));
  assert.equal(await codeWithin(loadBundle(c)), 'ok');
});

test('an 8 TiB sparse table.bin is refused from its fstat size, before any allocation', async () => {
  const a = await fresh();
  const huge = 8 * 1024 ** 4;
  await truncate(join(a, 'table.bin'), huge);
  // The manifest still says the real size: MISMATCH from fstat.
  assert.equal(await codeWithin(loadBundle(a)), 'MPE_ERR_BUNDLE_MISMATCH');
  // The manifest fixed up to agree: still refused (larger than memory), not a RangeError from new SharedArrayBuffer.
  const m = JSON.parse(await readFile(join(a, 'manifest.json'), 'utf8')) as { files: Record<string, { bytes: number }>; manifestXxh64: string };
  m.files['table.bin']!.bytes = huge;
  m.manifestXxh64 = await xxh64Hex(new TextEncoder().encode(manifestHashText(m as never)));
  await writeFile(join(a, 'manifest.json'), JSON.stringify(m));
  assert.equal(await codeWithin(loadBundle(a)), 'MPE_ERR_BUNDLE_MISMATCH');
  await assert.rejects(loadBundle(a), (e: Error) => /table\.bin has 8796093022208 bytes, more than this process's memory/.test(e.message));
});

/** Records `bytes` as the size of `name` in the manifest (checksum of the file left as it was) and re-signs the manifest. */
async function claimSize(dir: string, name: string, bytes: number): Promise<void> {
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { files: Record<string, { bytes: number }>; manifestXxh64: string };
  m.files[name]!.bytes = bytes;
  m.manifestXxh64 = await xxh64Hex(new TextEncoder().encode(manifestHashText(m as never)));
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
}

const GIB = 1024 ** 3;

test('a manifest that lies about a huge table.bin or vocab.bin (sparse file of that size) is refused from the file header, before the file is read', async () => {
  // table.bin: its real header, then a 1 GiB sparse tail; the manifest claims 1 GiB (re-signed).
  // Before: 1 GiB allocated and read, then MPE_ERR_BUNDLE_CHECKSUM. Now: the header says another size.
  const a = await fresh();
  await truncate(join(a, 'table.bin'), GIB);
  await claimSize(a, 'table.bin', GIB);
  assert.equal(await codeWithin(loadBundle(a)), 'MPE_ERR_BUNDLE_MISMATCH');
  await assert.rejects(loadBundle(a, { verify: false }), (e: Error) => /table\.bin has 1073741824 bytes, its header says \d+/.test(e.message));
  // vocab.bin: 1 GiB of zeros (no header at all).
  const b = await fresh();
  await truncate(join(b, 'vocab.bin'), 0);
  await truncate(join(b, 'vocab.bin'), GIB);
  await claimSize(b, 'vocab.bin', GIB);
  assert.equal(await codeWithin(loadBundle(b)), 'MPE_ERR_BUNDLE_MAGIC');
  // A manifest edited without its checksum is refused before any binary file is opened.
  const c = await fresh();
  const text = await readFile(join(c, 'manifest.json'), 'utf8');
  const m = JSON.parse(text) as { files: Record<string, { bytes: number }> };
  m.files['table.bin']!.bytes = GIB;
  await writeFile(join(c, 'manifest.json'), JSON.stringify(m));
  await truncate(join(c, 'table.bin'), GIB);
  assert.equal(await codeWithin(loadBundle(c)), 'MPE_ERR_BUNDLE_CHECKSUM');
});

test('start-up (mpe serve) with such a bundle exits with the file error and never holds the claimed size in memory', async () => {
  const a = await fresh();
  await truncate(join(a, 'table.bin'), GIB);
  await claimSize(a, 'table.bin', GIB);
  const r = spawnSync(process.execPath, ['--require', join(HELPERS, 'report-max-rss.cjs'), '--import', 'tsx', 'src/cli/main.ts', 'serve', '--model', a, '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--workers', '1'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /MPE_ERR_BUNDLE_MISMATCH/);
  const rss = /maxRssKiB=(\d+)/.exec(r.stderr);
  assert.ok(rss, r.stderr);
  // Before: the claimed 1 GiB was allocated and read (peak RSS over 1.1 GiB). A node process with tsx stays far below 512 MiB.
  assert.ok(Number(rss[1]) < 512 * 1024, `peak RSS ${rss[1]} KiB`);
});

test('a manifest that is not JSON is refused without quoting the file', async () => {
  const a = await fresh();
  await writeFile(join(a, 'manifest.json'), 'root:x:0:0:root:/root:/bin/bash\n');
  await assert.rejects(loadBundle(a), (e: Error & { code?: string }) => e.code === 'MPE_ERR_BUNDLE_MANIFEST' && !e.message.includes('root'));
});
