/** `mpe serve` start-up errors as a user sees them: stable code on stderr, exit code 1, a message that says what to do. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cudaProviderInstalled } from '../../src/scorer/session.js';
import { createFixture, writeFixtureBundle } from '../helpers/bundle-fixture.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function serve(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('an invalid environment variable stops start-up with MPE_ERR_CONFIG_INVALID naming it', async () => {
  const r = await serve([], { MPE_WORKERS: 'many' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error MPE_ERR_CONFIG_INVALID: .*MPE_WORKERS \(--workers\) must be an integer/);
});

const cudaSkip = cudaProviderInstalled() ? 'the CUDA provider is installed here: nothing to refuse' : false;

test('--provider cuda without the CUDA provider stops start-up with MPE_ERR_SCORER_PROVIDER and install instructions', { skip: cudaSkip }, async () => {
  const dir = join(tmp, 'bundle');
  await writeFixtureBundle(createFixture({ seed: 71 }), dir);
  const r = await serve(['--model', dir, '--provider', 'cuda', '--workers', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error MPE_ERR_SCORER_PROVIDER: .*cuda/);
  assert.match(r.stderr, /onnxruntime-node-install=cuda12/);
});

test('a missing bundle directory stops start-up with MPE_ERR_BUNDLE_NOT_FOUND', async () => {
  const r = await serve(['--model', join(tmp, 'nothing-here')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error MPE_ERR_BUNDLE_NOT_FOUND/);
});
