/**
 * Receives a JSON request body and checks its shape while it streams in (json-guard.ts): a body
 * nested too deep or holding too many containers is refused at the first byte past the limit,
 * and one larger than the limit at the first byte past it (or at once, from its Content-Length),
 * without buffering the rest. Replaces fastify's own body reader for application/json, which
 * buffered the whole body (up to MPE_MAX_MESSAGE_BYTES) before any check could run. All bodies
 * being received share one {@link BodyBudget} (MPE_MAX_BODY_BUFFER_BYTES).
 */
import type { Readable } from 'node:stream';
import { MpeError } from '../errors.js';
import type { BodyBudget } from './body-budget.js';
import { type JsonShapeLimits, JsonShapeScanner } from './json-guard.js';

export interface JsonBodyLimits {
  /** Largest body (bytes): MPE_MAX_MESSAGE_BYTES. */
  readonly maxBytes: number;
  readonly shape: JsonShapeLimits;
}

function overBudget(budget: BodyBudget): MpeError {
  return new MpeError('MPE_ERR_OVERLOADED', `request bodies being received hold ${budget.heldBytes} of ${budget.maxBytes} bytes (MPE_MAX_BODY_BUFFER_BYTES)`);
}

function tooLarge(limit: number): MpeError {
  return new MpeError('MPE_ERR_REQ_TOO_LARGE', `body over ${limit} bytes (MPE_MAX_MESSAGE_BYTES)`);
}

/**
 * Reads `payload` to its end and resolves with its bytes, or rejects with MPE_ERR_REQ_TOO_LARGE
 * (declared or received length over the limit), MPE_ERR_REQ_JSON (shape), MPE_ERR_OVERLOADED
 * (the bodies in flight would exceed `budget`: a declared length is reserved before anything is
 * read, a body of unknown length takes its chunks as they come) or MPE_ERR_REQ_INVALID (length
 * differs from Content-Length, body aborted) as soon as the fault is seen; from then on the
 * listeners are gone and the caller's reply decides what becomes of the connection. What was
 * taken from `budget` is given back when the promise settles.
 */
export function readJsonBody(payload: Readable, contentLength: string | undefined, limits: JsonBodyLimits, budget: BodyBudget): Promise<Buffer> {
  const declared = contentLength === undefined ? Number.NaN : Number(contentLength);
  if (declared > limits.maxBytes) return Promise.reject(tooLarge(limits.maxBytes));
  const reserved = Number.isNaN(declared) ? 0 : declared;
  if (!budget.take(reserved)) return Promise.reject(overBudget(budget));
  return new Promise<Buffer>((resolve, reject) => {
    const scanner = new JsonShapeScanner(limits.shape);
    const chunks: Buffer[] = [];
    let received = 0;
    let taken = reserved;
    const settle = (): void => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      payload.removeListener('close', onClose);
      budget.give(taken);
      taken = 0;
    };
    function onData(chunk: Buffer | string): void {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      received += b.length;
      try {
        if (received > limits.maxBytes) throw tooLarge(limits.maxBytes);
        if (received > taken) {
          if (!budget.take(received - taken)) throw overBudget(budget);
          taken = received;
        }
        scanner.push(b);
      } catch (e) {
        settle();
        reject(e);
        return;
      }
      chunks.push(b);
    }
    function onEnd(): void {
      settle();
      if (!Number.isNaN(declared) && received !== declared) reject(new MpeError('MPE_ERR_REQ_INVALID', `body of ${received} bytes, Content-Length ${declared}`));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    }
    function onError(e: Error): void {
      settle();
      reject(new MpeError('MPE_ERR_REQ_INVALID', 'request body not received whole', { cause: e }));
    }
    // The client went away before the end ('end' comes before 'close' otherwise).
    function onClose(): void {
      settle();
      reject(new MpeError('MPE_ERR_REQ_INVALID', 'request body not received whole'));
    }
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.on('close', onClose);
    payload.resume();
  });
}
