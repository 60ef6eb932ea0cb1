/**
 * Receives a JSON request body and checks its shape while it streams in (json-guard.ts): a body
 * nested too deep or holding too many containers is refused at the first byte past the limit,
 * and one larger than the limit at the first byte past it (or at once, from its Content-Length),
 * without buffering the rest. Replaces fastify's own body reader for application/json, which
 * buffered the whole body (up to MPE_MAX_MESSAGE_BYTES) before any check could run.
 */
import type { Readable } from 'node:stream';
import { MpeError } from '../errors.js';
import { type JsonShapeLimits, JsonShapeScanner } from './json-guard.js';

export interface JsonBodyLimits {
  /** Largest body (bytes): MPE_MAX_MESSAGE_BYTES. */
  readonly maxBytes: number;
  readonly shape: JsonShapeLimits;
}

function tooLarge(limit: number): MpeError {
  return new MpeError('MPE_ERR_REQ_TOO_LARGE', `body over ${limit} bytes (MPE_MAX_MESSAGE_BYTES)`);
}

/**
 * Reads `payload` to its end and resolves with its bytes, or rejects with MPE_ERR_REQ_TOO_LARGE
 * (declared or received length over the limit), MPE_ERR_REQ_JSON (shape) or MPE_ERR_REQ_INVALID
 * (length differs from Content-Length, body aborted) as soon as the fault is seen; from then on
 * the listeners are gone and the caller's reply decides what becomes of the connection.
 */
export function readJsonBody(payload: Readable, contentLength: string | undefined, limits: JsonBodyLimits): Promise<Buffer> {
  const declared = contentLength === undefined ? Number.NaN : Number(contentLength);
  if (declared > limits.maxBytes) return Promise.reject(tooLarge(limits.maxBytes));
  return new Promise<Buffer>((resolve, reject) => {
    const scanner = new JsonShapeScanner(limits.shape);
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = (): void => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
    };
    function onData(chunk: Buffer | string): void {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      received += b.length;
      try {
        if (received > limits.maxBytes) throw tooLarge(limits.maxBytes);
        scanner.push(b);
      } catch (e) {
        stop();
        reject(e);
        return;
      }
      chunks.push(b);
    }
    function onEnd(): void {
      stop();
      if (!Number.isNaN(declared) && received !== declared) reject(new MpeError('MPE_ERR_REQ_INVALID', `body of ${received} bytes, Content-Length ${declared}`));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    }
    function onError(e: Error): void {
      stop();
      reject(new MpeError('MPE_ERR_REQ_INVALID', 'request body not received whole', { cause: e }));
    }
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.resume();
  });
}
