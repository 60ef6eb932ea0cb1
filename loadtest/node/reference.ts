/**
 * Local expected answers from the bundle the server serves (`--bundle DIR`): Lookup rows from the
 * codec's PackedTable dequantization, Score probabilities from a local onnxruntime run on the
 * same dequantized rows. Computed once for the whole payload pool, before the run.
 */
import { fieldToken } from '../../src/features/token.js';
import type { ServingModel } from '../../src/service/model.js';
import { SCORER_INPUT, SCORER_OUTPUT } from '../../src/scorer/mlp.js';
import { createScorerSession } from '../../src/scorer/session.js';
import * as ort from 'onnxruntime-node';
import type { Reference } from './check.js';
import type { PayloadPool } from './payloads.js';

/** What the reference needs of a model: a loaded bundle or a test fixture both have it. */
export type ReferenceModel = Pick<ServingModel, 'table' | 'vocab' | 'fields' | 'scorerBytes'>;

/** Builds the expected answer of every body in `pool` from the bundle in `dir`. */
export async function buildReference(dir: string, pool: PayloadPool): Promise<Reference> {
  // Loaded on demand: runs against a server need the bundle loader (and its vocabulary module) only with --bundle.
  const { loadBundle } = await import('../../src/bundle/load.js');
  return referenceFromModel(await loadBundle(dir, { verify: false }), pool);
}

/** Builds the expected answer of every body in `pool` from an in-memory model. */
export async function referenceFromModel(model: ReferenceModel, pool: PayloadPool): Promise<Reference> {
  const { table, vocab, fields } = model;
  const d = table.d;
  if (pool.method === 'lookup') {
    const out = pool.ids!.map((ids) => {
      const e = new Float32Array(ids.length * d);
      table.dequantize(Int32Array.from(ids), ids.length, e, 0);
      return e;
    });
    return { lookup: (p) => out[p]! };
  }
  const F = fields.length;
  const { session } = await createScorerSession(model.scorerBytes, { provider: 'cpu', intraOpThreads: 1 });
  const out: Float32Array[] = [];
  for (const rows of pool.rows!) {
    // The service's mapping: token of the raw value, vocabulary id, the field's OOV id when unseen.
    const ids = new Int32Array(rows.length * F);
    for (let r = 0; r < rows.length; r++) {
      for (let f = 0; f < F; f++) {
        const field = fields[f]!;
        const token = fieldToken(field, rows[r]![field.name]);
        const id = token === null ? -1 : vocab.lookup(f, token);
        ids[r * F + f] = id < 0 ? field.oovId : id;
      }
    }
    const x = new Float32Array(ids.length * d);
    table.dequantize(ids, ids.length, x, 0);
    const res = await session.run({ [SCORER_INPUT]: new ort.Tensor('float32', x, [rows.length, F * d]) });
    out.push(Float32Array.from(res[SCORER_OUTPUT]!.data as Float32Array));
  }
  await session.release();
  return { score: (p) => out[p]! };
}
