/**
 * Loads proto/mpe/v1/embedding_service.proto with @grpc/proto-loader (no generated code: the
 * .proto file is the single source of truth for the Node server, the Node client and other
 * languages' stubs).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const SERVICE_NAME = 'mpe.v1.EmbeddingService';

/** proto-loader options shared by server and client: camelCase fields, 64-bit ints as numbers, bytes as Buffers. */
export const LOADER_OPTIONS: protoLoader.Options = Object.freeze({ keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });

/** Absolute path of the repository's proto/ folder (from src/ under tsx, or from dist/src/). */
export function protoRoot(): string {
  for (const rel of ['../../proto/', '../../../proto/']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${p}mpe/v1/embedding_service.proto`)) return p;
  }
  throw new Error('proto/mpe/v1/embedding_service.proto not found next to the package');
}

let cached: { definition: protoLoader.PackageDefinition; service: grpc.ServiceDefinition; client: grpc.ServiceClientConstructor } | null = null;

/** The loaded package definition, the service definition and a client constructor (loaded once). */
export function embeddingProto(): { definition: protoLoader.PackageDefinition; service: grpc.ServiceDefinition; client: grpc.ServiceClientConstructor } {
  if (cached !== null) return cached;
  const definition = protoLoader.loadSync('mpe/v1/embedding_service.proto', { ...LOADER_OPTIONS, includeDirs: [protoRoot()] });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { mpe: { v1: { EmbeddingService: grpc.ServiceClientConstructor } } };
  const client = pkg.mpe.v1.EmbeddingService;
  cached = { definition, service: client.service, client };
  return cached;
}
