/** Small promise wrappers over a real @grpc/grpc-js client and fetch, for the server tests. */
import * as grpc from '@grpc/grpc-js';
import { embeddingProto } from '../../src/server/proto.js';

export interface GrpcResult<T> {
  readonly ok: boolean;
  readonly value?: T;
  readonly status?: number;
  readonly mpeCode?: string;
  readonly details?: string;
}

export type Rpc = <T>(method: 'Lookup' | 'Score' | 'GetModel', req: object, opts?: { deadline?: number; metadata?: Record<string, string> }) => Promise<GrpcResult<T>>;

export function grpcClient(port: number): { call: Rpc; close(): void } {
  const Ctor = embeddingProto().client;
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  const call: Rpc = (method, req, opts = {}) =>
    new Promise((resolve) => {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
      const options: grpc.CallOptions = opts.deadline !== undefined ? { deadline: opts.deadline } : {};
      const fn = (client as unknown as Record<string, (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: unknown) => void) => void>)[method]!;
      fn.call(client, req, md, options, (err, value) => {
        if (err) {
          const code = err.metadata?.get('mpe-error-code')[0];
          resolve({ ok: false, status: err.code, mpeCode: code === undefined ? undefined : String(code), details: err.details });
        } else resolve({ ok: true, value: value as never });
      });
    });
  return { call, close: () => client.close() };
}

// biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
export type Json = any;

export async function httpJson(port: number, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Json }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}
