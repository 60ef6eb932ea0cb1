/**
 * A client in another language: Python grpcio (Debian python3-grpcio), stubs generated from
 * proto/ with grpc_tools.protoc (python3-grpc-tools), gets exactly the answers the Node client
 * gets (Lookup bytes identical, Score probabilities identical) and the same error code.
 * Skips with a message when /usr/bin/python3 lacks grpc or grpc_tools.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { protoRoot } from '../../src/server/proto.js';
import { createFixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';
import { grpcClient, type Json } from '../server/clients.js';

// Debian's python3 (the packages install there), not a pyenv shim.
const PYTHON = spawnSync('/usr/bin/python3', ['-c', 'import grpc, grpc_tools'], { encoding: 'utf8' }).status === 0 ? '/usr/bin/python3' : null;
const skip = PYTHON === null ? 'Python grpcio not available (apt-get install python3-grpcio python3-grpc-tools): interop test skipped' : false;

function runPython(args: string[], input: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'mpe-py-'));
let server: RunningServer;
before(async () => {
  if (skip) return;
  const gen = spawnSync(PYTHON!, ['-m', 'grpc_tools.protoc', `-I${protoRoot()}`, `--python_out=${tmp}`, `--grpc_python_out=${tmp}`, 'mpe/v1/embedding_service.proto'], { encoding: 'utf8' });
  assert.equal(gen.status, 0, gen.stderr);
  server = await createServer(testConfig({ workers: 1 }), { model: fixtureModel(createFixture({ seed: 51 })), registry: new Registry() });
});
after(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('Python grpcio client gets the same Lookup and Score answers as the Node client', { skip }, async () => {
  const fx = createFixture({ seed: 51 });
  const F = fx.fields.length;
  const { ids, raw } = randomRows(fx, 7, 3);
  const pairsOf = (row: Record<string, string | number>): [string, string][] => Object.entries(row).map(([f, v]) => [f, String(v)]);
  const job = {
    lookupIds: Array.from({ length: 120 }, (_, i) => i * 5),
    lookupFeatures: [...pairsOf(raw[0]!), ['C1', 'unseen-value'], ['I1', '']],
    scoreRows: raw.map(pairsOf),
    scoreIds: Array.from(ids.subarray(0, 3 * F)),
  };
  // Asynchronous: the server answering the Python client runs in this process's event loop.
  const py = await runPython([join(import.meta.dirname, 'python_client.py'), `127.0.0.1:${server.grpcPort}`, tmp], JSON.stringify(job));
  assert.equal(py.status, 0, py.stderr);
  const got = JSON.parse(py.stdout) as Json;

  const { call, close } = grpcClient(server.grpcPort);
  try {
    const a = await call<Json>('Lookup', { ids: job.lookupIds });
    assert.equal(got.lookupIds.embeddings, Buffer.from(a.value.embeddings).toString('hex'));
    assert.deepEqual(got.lookupIds.bits, a.value.bits);
    assert.deepEqual(got.lookupIds.pruned, a.value.pruned);
    assert.equal(got.lookupIds.d, fx.spec.d);
    const b = await call<Json>('Lookup', { features: job.lookupFeatures.map(([field, value]) => ({ field, value })) });
    assert.deepEqual(got.lookupFeatures.ids, b.value.ids);
    assert.deepEqual(got.lookupFeatures.oov, b.value.oov);
    assert.equal(got.lookupFeatures.oov.at(-2), true);
    assert.equal(got.lookupFeatures.embeddings, Buffer.from(b.value.embeddings).toString('hex'));
    const c = await call<Json>('Score', { rows: job.scoreRows.map((row) => ({ features: row.map(([field, value]) => ({ field, value })) })) });
    assert.deepEqual(got.scoreRows, c.value.probabilities);
    assert.equal(got.scoreRows.length, 7);
    const d = await call<Json>('Score', { ids: job.scoreIds });
    assert.deepEqual(got.scoreIds, d.value.probabilities);
    assert.deepEqual(got.emptyError, { status: 'INVALID_ARGUMENT', code: 'MPE_ERR_REQ_EMPTY' });
    assert.deepEqual(got.model, { version: 'fixture-1', d: fx.spec.d, fields: fx.fields.map((f) => f.name), provider: 'cpu' });
  } finally {
    close();
  }
});
