/** The standard gRPC services next to ours: grpc.health.v1 (serving state follows readiness) and server reflection (v1). */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { Registry } from 'prom-client';
import { testConfig } from '../../src/config/config.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { createFixture, fixtureModel } from '../helpers/bundle-fixture.js';

const require = createRequire(import.meta.url);
let server: RunningServer;
before(async () => {
  server = await createServer(testConfig({ workers: 1 }), { model: fixtureModel(createFixture({ seed: 61 })), registry: new Registry() });
});
after(async () => {
  await server.close();
});

test('grpc.health.v1 Check reports SERVING for the server and for mpe.v1.EmbeddingService', async () => {
  const Client = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure()) as unknown as Record<string, (r: object, cb: (e: grpc.ServiceError | null, v: { status: string }) => void) => void>;
  const check = (name: string): Promise<{ status: string }> => new Promise((res, rej) => client.check!.call(client, { service: name }, (e, v) => (e ? rej(e) : res(v))));
  assert.equal((await check('')).status, 'SERVING');
  assert.equal((await check('mpe.v1.EmbeddingService')).status, 'SERVING');
  await assert.rejects(check('nope.Service'), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
  (client as unknown as grpc.Client).close();
});

test('server reflection (grpc.reflection.v1) lists mpe.v1.EmbeddingService and serves its file descriptor', async () => {
  const protoPath = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
  const client = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  const ask = (req: object): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const call = (client as unknown as Record<string, () => grpc.ClientDuplexStream<object, Record<string, unknown>>>).ServerReflectionInfo!.call(client);
      call.on('data', (m) => {
        resolve(m);
        call.end();
      });
      call.on('error', reject);
      call.write(req);
    });
  const list = await ask({ list_services: '' });
  const names = (list.list_services_response as { service: { name: string }[] }).service.map((s) => s.name);
  assert.ok(names.includes('mpe.v1.EmbeddingService'), names.join(','));
  const file = await ask({ file_containing_symbol: 'mpe.v1.EmbeddingService' });
  const protos = (file.file_descriptor_response as { file_descriptor_proto: Buffer[] }).file_descriptor_proto;
  assert.ok(protos.length >= 1);
  assert.ok(Buffer.concat(protos).includes(Buffer.from('ScoreRequest')));
  client.close();
});
