/**
 * The admin endpoint (issue 15, item 9): reload errors name the bundle problem (code, file,
 * what is wrong) without echoing file contents, full paths, whether an arbitrary path exists, or
 * raw Node errors; the token check is digest-based and tokens shorter than 16 characters are a
 * configuration error.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Registry as PromRegistry } from 'prom-client';
import { loadBundle } from '../../src/bundle/load.js';
import { MIN_ADMIN_TOKEN_LENGTH, resolveConfig, testConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/util/log.js';
import { adminHooks, type HotReload, startHotReload } from '../../src/app/hot-reload.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { servingModelFromBundle } from '../../src/service/model.js';
import { writeVersion } from '../helpers/registry-bundles.js';
import { httpJson } from './clients.js';

const TOKEN = 'a-long-enough-admin-token';
let root: string;
let server: RunningServer;
let hot: HotReload | null = null;
let good: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mpe-admin-errors-'));
  good = (await writeVersion(root, 'v1', 11)).dir;
  server = await createServer(testConfig({ workers: 1 }), { model: servingModelFromBundle(await loadBundle(good)), registry: new PromRegistry(), admin: adminHooks(TOKEN, () => hot) });
  hot = startHotReload({ server, initial: { version: 'v1', location: good }, metrics: server.metrics.registry, log: silentLogger });
});
after(async () => {
  await hot?.close();
  await server.close();
  await rm(root, { recursive: true, force: true });
});

async function reload(dir: string): Promise<{ result: string; error: { code: string; message: string } | null }> {
  const r = await httpJson(server.httpPort, 'POST', '/admin/reload', { dir }, { authorization: `Bearer ${TOKEN}` });
  assert.equal(r.status, 200);
  return r.json;
}

async function copyOfGood(name: string): Promise<string> {
  const dir = join(root, name);
  await cp(good, dir, { recursive: true });
  return dir;
}

test('a manifest.json that is some other file is refused without quoting it', async () => {
  const dir = join(root, 'etc');
  await mkdir(dir);
  await writeFile(join(dir, 'manifest.json'), 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n');
  const o = await reload(dir);
  assert.equal(o.result, 'failure');
  assert.equal(o.error?.code, 'MPE_ERR_BUNDLE_MANIFEST');
  assert.doesNotMatch(o.error!.message, /root|daemon|bash/);
  assert.equal((await httpJson(server.httpPort, 'GET', '/v1/model')).json.version, 'v1');
});

test('a file, a missing path and a directory without a bundle are indistinguishable', async () => {
  const file = join(root, 'secret.txt');
  await writeFile(file, 'top secret');
  const answers = [];
  for (const p of [file, join(root, 'no-such-thing.txt'), join(root, 'empty-dir.txt')]) {
    if (p.endsWith('empty-dir.txt')) await mkdir(p);
    const o = await reload(p);
    assert.equal(o.error?.code, 'MPE_ERR_BUNDLE_NOT_FOUND', p);
    assert.ok(!o.error!.message.includes(root), `no full path: ${o.error!.message}`);
    answers.push(o.error!.message.replace(/secret\.txt|no-such-thing\.txt|empty-dir\.txt|manifest\.json/, 'X'));
  }
  assert.equal(answers[0], answers[1]);
  assert.equal(answers[1], answers[2]);
});

test('a directory in place of table.bin is MPE_ERR_BUNDLE_UNREADABLE, not a raw EISDIR as MPE_ERR_INTERNAL', async () => {
  const dir = await copyOfGood('dir-table');
  await rm(join(dir, 'table.bin'));
  await mkdir(join(dir, 'table.bin'));
  const o = await reload(dir);
  assert.equal(o.error?.code, 'MPE_ERR_BUNDLE_UNREADABLE');
  assert.doesNotMatch(o.error!.message, /EISDIR|illegal operation/);
  assert.match(o.error!.message, /table\.bin/);
  const status = await httpJson(server.httpPort, 'GET', '/admin/status', undefined, { authorization: `Bearer ${TOKEN}` });
  assert.equal(status.json.lastFailure.error.code, 'MPE_ERR_BUNDLE_UNREADABLE');
});

test('a FIFO in the bundle is refused at once and does not wedge the reloader: the next reload succeeds', async () => {
  const dir = await copyOfGood('fifo-table');
  await rm(join(dir, 'table.bin'));
  execFileSync('mkfifo', [join(dir, 'table.bin')]);
  let t: NodeJS.Timeout | undefined;
  const o = await Promise.race([reload(dir), new Promise<'hang'>((r) => (t = setTimeout(() => r('hang'), 10_000)))]);
  clearTimeout(t);
  assert.notEqual(o, 'hang');
  assert.equal(o !== 'hang' && o.error?.code, 'MPE_ERR_BUNDLE_UNREADABLE');
  const ok = await reload(good);
  assert.equal(ok.result, 'success');
  // Unblock a reader that may still wait on the FIFO (code that opens it blocking).
  try {
    closeSync(openSync(join(dir, 'table.bin'), constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // nobody waiting
  }
});

test('token: a prefix, an extension, another token of the same length and none are all 401', async () => {
  for (const auth of [`Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.replace('a', 'b')}`, 'Bearer ', TOKEN, '']) {
    const r = await httpJson(server.httpPort, 'GET', '/admin/status', undefined, auth === '' ? {} : { authorization: auth });
    assert.equal(r.status, 401, auth);
    assert.equal(r.json.error.code, 'MPE_ERR_UNAUTHORIZED');
  }
});

test(`MPE_ADMIN_TOKEN shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters is a configuration error that does not echo it`, () => {
  assert.throws(
    () => resolveConfig({}, { MPE_ADMIN_TOKEN: 'tok-123' }),
    (e: Error & { code?: string }) => e.code === 'MPE_ERR_CONFIG_INVALID' && /MPE_ADMIN_TOKEN .*at least 16/.test(e.message) && !e.message.includes('tok-123'),
  );
  assert.equal(resolveConfig({}, { MPE_ADMIN_TOKEN: TOKEN }).adminToken, TOKEN);
  assert.equal(resolveConfig({}, { MPE_ADMIN_TOKEN: '' }).adminToken, null);
});
