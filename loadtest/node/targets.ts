/**
 * Clients the driver sends through: gRPC (@grpc/grpc-js, the repository's proto) and HTTP
 * (node:http with a keep-alive agent). Each turns a request into an {@link Outcome}: 'OK' or an
 * error name such as `RESOURCE_EXHAUSTED/MPE_ERR_OVERLOADED`, `HTTP_503/MPE_ERR_OVERLOADED`,
 * `NET_ECONNREFUSED`, or a `CHECK_*` name when the answer arrived but failed its check.
 */
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { embeddingProto } from '../../src/server/proto.js';
import type { Outcome } from './engine.js';

/** Decoded Score answer. */
export interface ScoreAnswer {
  readonly probabilities: ArrayLike<number>;
  readonly modelVersion: string;
}

/** Decoded Lookup answer; `embeddings` holds count*d float32 values. */
export interface LookupAnswer {
  readonly d: number;
  readonly count: number;
  readonly embeddings: Float32Array;
  readonly ids: ArrayLike<number>;
  readonly bits: ArrayLike<number>;
  readonly pruned: ArrayLike<boolean>;
}

/** Result of one call: an answer, or the outcome name of its failure. */
export type CallResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: Outcome };

/** One transport, three calls. Requests are the transport's own body shapes (see payloads.ts). */
export interface Transport {
  readonly name: 'grpc' | 'http';
  getModel(): Promise<unknown>;
  score(body: unknown, timeoutMs: number): Promise<CallResult<ScoreAnswer>>;
  lookup(body: unknown, timeoutMs: number): Promise<CallResult<LookupAnswer>>;
  close(): void;
}

type UnaryFn = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** gRPC status number -> name, built once. */
const STATUS_NAME: string[] = [];
for (const [name, value] of Object.entries(grpc.status)) if (typeof value === 'number') STATUS_NAME[value] = name;

function grpcCode(err: grpc.ServiceError): Outcome {
  const mpe = err.metadata?.get('mpe-error-code')[0];
  const name = STATUS_NAME[err.code] ?? `GRPC_${err.code}`;
  return mpe === undefined ? name : `${name}/${String(mpe)}`;
}

/** Reinterprets bytes as float32 (copies when the Buffer is not 4-byte aligned, as pooled Buffers may not be; Buffer#slice would not copy). */
function floatsOf(b: Uint8Array): Float32Array {
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new Float32Array(copy.buffer);
}

/**
 * A gRPC transport to `address` (host:port) over `channels` HTTP/2 connections, used round-robin
 * (each client gets its own subchannel pool, so its own connection and flow-control window).
 */
export function grpcTransport(address: string, channels = 1): Transport {
  const { client: Client } = embeddingProto();
  type Stub = grpc.Client & Record<'score' | 'lookup' | 'getModel', UnaryFn>;
  const clients: Stub[] = [];
  for (let c = 0; c < channels; c++) {
    clients.push(
      new Client(address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
        'grpc.use_local_subchannel_pool': 1,
      }) as unknown as Stub,
    );
  }
  let next = 0;
  const pick = (): Stub => {
    const c = clients[next]!;
    next = next + 1 === channels ? 0 : next + 1;
    return c;
  };
  const call = <T>(fn: UnaryFn, body: unknown, timeoutMs: number, map: (res: never) => T): Promise<CallResult<T>> =>
    new Promise((resolve) => {
      fn.call(pick(), body, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) resolve({ ok: false, code: grpcCode(err) });
        else resolve({ ok: true, value: map(res as never) });
      });
    });
  return {
    name: 'grpc',
    async getModel() {
      const r = await call(clients[0]!.getModel, {}, 10_000, (m: unknown) => m);
      if (!r.ok) throw new Error(`GetModel failed: ${r.code}`);
      return r.value;
    },
    score: (body, timeoutMs) => call(clients[0]!.score, body, timeoutMs, (m: ScoreAnswer) => m),
    lookup: (body, timeoutMs) =>
      call(clients[0]!.lookup, body, timeoutMs, (m: { d: number; count: number; embeddings: Uint8Array; ids: number[]; bits: number[]; pruned: boolean[] }) => ({
        d: m.d,
        count: m.count,
        embeddings: floatsOf(m.embeddings),
        ids: m.ids,
        bits: m.bits,
        pruned: m.pruned,
      })),
    close: () => {
      for (const c of clients) c.close();
    },
  };
}

/** An HTTP transport to `baseUrl` (http://host:port), keep-alive sockets up to `maxSockets`. */
export function httpTransport(baseUrl: string, maxSockets: number): Transport {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const request = (method: 'GET' | 'POST', path: string, body: string | null, timeoutMs: number): Promise<CallResult<unknown>> =>
    new Promise((resolve) => {
      const req = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method,
          path,
          timeout: timeoutMs,
          // The deadline travels like gRPC's: the server drops work whose client has given up (x-mpe-deadline-ms, docs/api.md).
          headers: body === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-mpe-deadline-ms': String(timeoutMs) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              resolve({ ok: false, code: `HTTP_${res.statusCode}/NOT_JSON` });
              return;
            }
            if (res.statusCode === 200) resolve({ ok: true, value: json });
            else resolve({ ok: false, code: `HTTP_${res.statusCode}/${(json as { error?: { code?: string } }).error?.code ?? 'NO_CODE'}` });
          });
          res.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, code: `NET_${e.code ?? 'ERROR'}` }));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, code: `NET_${e.code ?? 'ERROR'}` }));
      req.end(body ?? undefined);
    });
  return {
    name: 'http',
    async getModel() {
      const r = await request('GET', '/v1/model', null, 10_000);
      if (!r.ok) throw new Error(`GET /v1/model failed: ${r.code}`);
      return r.value;
    },
    // Bodies are pre-serialised JSON strings (payloads.ts): the driver spends its CPU sending, not stringifying.
    score: (body, timeoutMs) => request('POST', '/v1/score', body as string, timeoutMs) as Promise<CallResult<ScoreAnswer>>,
    async lookup(body, timeoutMs) {
      const r = (await request('POST', '/v1/lookup', body as string, timeoutMs)) as CallResult<{ d: number; count: number; embeddings: number[]; ids: number[]; bits: number[]; pruned: boolean[] }>;
      if (!r.ok) return r;
      const m = r.value;
      return { ok: true, value: { d: m.d, count: m.count, embeddings: Float32Array.from(m.embeddings), ids: m.ids, bits: m.bits, pruned: m.pruned } };
    },
    close: () => agent.destroy(),
  };
}
