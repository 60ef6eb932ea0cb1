/**
 * Shutdown is bounded (issue 15, item 3): with a gRPC Health.Watch stream and a half-sent HTTP
 * body held open, SIGTERM still ends in exit 0 once MPE_SHUTDOWN_GRACE_MS has passed; the Watch
 * stream is told NOT_SERVING first; a keep-alive client's next request during the drain gets
 * 503 MPE_ERR_SHUTTING_DOWN with Connection: close, not a reset.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { createFixture, writeFixtureBundle } from '../helpers/bundle-fixture.js';
import { spawnServe } from '../helpers/spawn-serve.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-shutdown-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `req` on `s` and resolves with the raw answer once the server has closed the socket (or 'reset' on an error). */
function exchange(s: Socket, req: string): Promise<string> {
  let data = '';
  return new Promise((resolve) => {
    s.on('data', (b: Buffer) => {
      data += b.toString();
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(`reset: ${e.code}`));
    s.once('close', () => resolve(data));
    s.write(req);
  });
}

test('SIGTERM with a Watch stream, a half-sent body and an idle keep-alive connection: clean answers, exit 0 after the grace', async () => {
  const fx = createFixture({ seed: 43 });
  const dir = join(tmp, 'bundle');
  await writeFixtureBundle(fx, dir, 'shutdown-1');
  const srv = await spawnServe(['--model', dir, '--workers', '1', '--shutdown-grace-ms', '4000']);
  const Client = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Client(`127.0.0.1:${srv.grpc}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { watch(r: object): grpc.ClientReadableStream<{ status: string }> };
  try {
    const watch = client.watch({ service: '' });
    const statuses: string[] = [];
    watch.on('error', () => {});
    const serving = new Promise<void>((r) =>
      watch.on('data', (m: { status: string }) => {
        statuses.push(m.status);
        if (m.status === 'SERVING') r();
      }),
    );
    const notServing = new Promise<void>((r) => watch.on('data', (m: { status: string }) => m.status === 'NOT_SERVING' && r()));
    await serving;
    // A body announced and never sent.
    const half = await open(srv.http);
    half.on('error', () => {});
    half.write('POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"rows":');
    // A keep-alive connection, used once, then idle.
    const ka = await open(srv.http);
    const first = await new Promise<string>((resolve) => {
      ka.once('data', (b: Buffer) => resolve(b.toString()));
      ka.write('GET /v1/model HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    assert.match(first, /^HTTP\/1\.1 200/);
    assert.match(first, /connection: keep-alive/i);

    srv.child.kill('SIGTERM');
    await notServing;
    // The idle keep-alive connection's next request, during the drain.
    const next = await exchange(ka, 'POST /v1/lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ids":[1]}');
    assert.match(next, /^HTTP\/1\.1 503/);
    assert.match(next, /connection: close/i);
    assert.match(next, /MPE_ERR_SHUTTING_DOWN/);

    // Guard only: on code without a bounded shutdown the Watch stream holds the process forever.
    const code = await Promise.race([srv.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 60_000).unref())]);
    assert.equal(code, 0, srv.stderr());
    assert.deepEqual(statuses.slice(0, 2), ['SERVING', 'NOT_SERVING']);
  } finally {
    client.close();
    if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
  }
});
