// Shared by the gRPC scripts: the proto, the connection and GetModel. Plain ECMAScript for k6.
import grpc from 'k6/net/grpc';
import { env, normaliseModel } from './common.js';

export const GRPC_ADDR = env('GRPC_ADDR', '127.0.0.1:50051');

// client.load() stays in each main script: k6 has resolved its relative paths against the main
// module rather than the calling one (grafana/k6#2781), so calling it there is right either way.

/** setup(): GetModel on a short-lived connection; returns { model (normalised), raw (the message) }. */
export function fetchModel(client) {
  client.connect(GRPC_ADDR, { plaintext: true, timeout: '10s' });
  const res = client.invoke('mpe.v1.EmbeddingService/GetModel', {});
  client.close();
  if (!res || res.status !== grpc.StatusOK) throw new Error(`GetModel failed: ${res?.error ? JSON.stringify(res.error) : 'no response'}`);
  return { model: normaliseModel(res.message), raw: res.message };
}

let connected = false;

/** Connects this VU's client once (k6 allows connect() only outside the init context). */
export function ensureConnected(client) {
  if (connected) return;
  client.connect(GRPC_ADDR, { plaintext: true, timeout: '10s' });
  connected = true;
}
