// Bundle files that could hold the loader (issue 15): FIFOs, devices, directories, huge sparse
// files. Each must be refused from open()/fstat, before any read or allocation.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadBundle } from '../../src/bundle/load.js';
import { manifestHashText } from '../../src/bundle/manifest.js';
import { writeBundle } from '../../src/bundle/write.js';
import { xxh64Hex } from '../../src/util/checksum.js';
import { makeFixture } from './fixture.js';

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

test('a manifest that is not JSON is refused without quoting the file', async () => {
  const a = await fresh();
  await writeFile(join(a, 'manifest.json'), 'root:x:0:0:root:/root:/bin/bash\n');
  await assert.rejects(loadBundle(a), (e: Error & { code?: string }) => e.code === 'MPE_ERR_BUNDLE_MANIFEST' && !e.message.includes('root'));
});
