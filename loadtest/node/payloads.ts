/**
 * Request bodies for the driver: the same generator as the k6 scripts (loadtest/k6/lib/common.js),
 * so both send the same traffic. A fixed pool of distinct bodies is built once, before the run;
 * request i sends body i % pool (which also lets the checker compare repeated answers).
 */
import { defaultShared, type LoadModel, lookupPayloads, normaliseModel, type ScoreForm, scorePayloads } from '../k6/lib/common.js';

export type Method = 'score' | 'lookup';

export interface PayloadPool {
  readonly method: Method;
  /** What the transport sends: objects for gRPC, JSON strings for HTTP. */
  readonly bodies: readonly unknown[];
  /** Raw rows of each Score body, field name -> value (for the local reference), or null for Lookup. */
  readonly rows: readonly (readonly Record<string, string | number>[])[] | null;
  /** Ids of each Lookup body, or null for Score. */
  readonly ids: readonly (readonly number[])[] | null;
  /** Rows per Score request or ids per Lookup request. */
  readonly size: number;
}

export { normaliseModel, type LoadModel, type ScoreForm };

/**
 * Builds `pool` bodies of `size` candidates (Score) or ids (Lookup) for `transport`; Score bodies in
 * `form` with the first `shared` fields equal in every row (default: see defaultShared).
 */
export function buildPayloads(model: LoadModel, method: Method, transport: 'grpc' | 'http', size: number, pool: number, seed = 42, form: ScoreForm = 'flat', shared = defaultShared(model, form)): PayloadPool {
  if (method === 'lookup') {
    const bodies = lookupPayloads(model, size, pool, seed);
    return { method, bodies: transport === 'http' ? bodies.map((b) => JSON.stringify(b)) : bodies, rows: null, ids: bodies.map((b) => b.ids), size };
  }
  // The HTTP shape is the canonical one (row = {field: value}); the gRPC one is derived from the same draw.
  const rows = scorePayloads(model, size, pool, seed, 'http', 'flat', shared).map((b) => b.rows!);
  const bodies = transport === 'http' ? scorePayloads(model, size, pool, seed, 'http', form, shared).map((b) => JSON.stringify(b)) : scorePayloads(model, size, pool, seed, 'grpc', form, shared);
  return { method, bodies, rows, ids: null, size };
}
