/**
 * Large JSON answers written in slices, one slice per event-loop turn, so that serialising them
 * never holds the loop: a 65,536-id Lookup at d = 16 is 1,048,576 floats, which
 * fast-json-stringify wrote in one synchronous call of ~0.85 s (issue 15), stalling every other
 * request and /healthz meanwhile.
 */
import { Readable } from 'node:stream';
import type { LookupOutput } from '../service/embedding-service.js';

/** Numbers written per event-loop turn (about 1-3 ms of formatting on this repo's box). */
export const JSON_SLICE = 8192;

/** Answers with more numbers than this are streamed; smaller ones go through the route's serializer. */
export const STREAM_THRESHOLD = 2 * JSON_SLICE;

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** `v[from..to)` comma-separated as JSON.stringify writes numbers and booleans (a comma first unless from = 0). */
function slice(v: ArrayLike<number | boolean>, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += i === 0 ? `${v[i]}` : `,${v[i]}`;
  return s;
}

async function* arrayChunks(name: string, v: ArrayLike<number | boolean>, last: boolean): AsyncGenerator<string> {
  yield `"${name}":[`;
  for (let i = 0; i < v.length; i += JSON_SLICE) {
    yield slice(v, i, Math.min(v.length, i + JSON_SLICE));
    await nextTurn();
  }
  yield last ? ']' : '],';
}

/**
 * The JSON body of a Lookup answer, byte for byte what the route's schema serializer writes
 * (same key order, same number formatting), as a stream of slices with an event-loop turn
 * between slices. Values must be finite (the service guarantees it).
 */
export function lookupJsonStream(r: LookupOutput): Readable {
  async function* body(): AsyncGenerator<string> {
    yield `{"d":${r.d},"count":${r.count},`;
    yield* arrayChunks('embeddings', r.embeddings, false);
    yield* arrayChunks('ids', r.ids, false);
    yield* arrayChunks('bits', r.bits, false);
    yield* arrayChunks('pruned', r.pruned, false);
    yield* arrayChunks('oov', r.oov, true);
    yield '}';
  }
  return Readable.from(body(), { objectMode: false });
}
