/**
 * What a model must pass before it is served (start-up and every reload): every table value is
 * finite, and a full micro-batch of varied rows scores to finite probabilities in EVERY worker.
 * One warm-up row was not enough (issue 15): a scorer with a fixed batch of 1 passed it and then
 * failed every micro-batched Score, and a scorer or fp32 rows producing NaN/Inf passed it and then
 * answered NaN.
 */
import { type ErrorCode, MpeError } from '../errors.js';
import { createRng } from '../util/random.js';
import type { ServingModel } from './model.js';
import type { ScorePool } from '../scorer/score-pool.js';

/** Rows dequantized per event-loop turn while scanning the table (d floats each): well under a millisecond at d = 16, so requests of the version still served are not delayed. */
const SCAN_ROWS = 4096;

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Dequantizes every feature of the table, SCAN_ROWS rows per event-loop turn (the scan never
 * holds the loop of a server that keeps serving the old version), and throws
 * `code` (MPE_ERR_RELOAD_FAILED) naming the first feature id with a non-finite value.
 */
export async function checkTableFinite(model: ServingModel, code: ErrorCode = 'MPE_ERR_RELOAD_FAILED'): Promise<void> {
  const { table } = model;
  const n = table.featureCount;
  const d = table.d;
  const ids = new Int32Array(Math.min(SCAN_ROWS, Math.max(1, n)));
  const out = new Float32Array(ids.length * d);
  for (let start = 0; start < n; start += ids.length) {
    const count = Math.min(ids.length, n - start);
    for (let i = 0; i < count; i++) ids[i] = start + i;
    table.dequantize(ids, count, out, 0);
    const m = count * d;
    for (let k = 0; k < m; k++) {
      const v = out[k]!;
      // v - v is 0 for every finite v, NaN for NaN and +-Infinity.
      if (v - v !== 0) throw new MpeError(code, `table value of feature ${start + Math.floor(k / d)} (dimension ${k % d}) is ${v}: retrain or re-export the bundle`);
    }
    if (start + count < n) await nextTurn();
  }
}

/**
 * `rows` rows of feature ids that vary (seeded, so every check is reproducible): row 0 is every
 * field's OOV id, the others draw ids uniformly from the whole table, so every bit width and group
 * is touched.
 */
export function validationRows(model: ServingModel, rows: number, seed = 15): Int32Array {
  const F = model.fields.length;
  const n = model.table.featureCount;
  const ids = new Int32Array(rows * F);
  const rng = createRng(seed);
  for (let f = 0; f < F; f++) ids[f] = model.fields[f]!.oovId;
  for (let k = F; k < ids.length; k++) ids[k] = Math.floor(rng.next() * n) % n;
  return ids;
}

/**
 * Scores {@link validationRows} (`rows` rows: a full micro-batch) in every worker of `pool`, an idle
 * pool that serves nothing yet, and throws `code` (MPE_ERR_RELOAD_FAILED) when a worker fails, answers a
 * different number of probabilities, or any probability is not finite.
 */
export async function checkScorer(model: ServingModel, pool: ScorePool, rows: number, code: ErrorCode = 'MPE_ERR_RELOAD_FAILED'): Promise<void> {
  const ids = validationRows(model, rows);
  let outs: Float32Array[];
  try {
    outs = await pool.warmEach(ids, rows);
  } catch (e) {
    throw new MpeError(code, `the scorer failed on a micro-batch of ${rows} rows (${e instanceof Error ? e.message : String(e)}): export it with a dynamic batch dimension`, { cause: e });
  }
  for (let w = 0; w < outs.length; w++) {
    const p = outs[w]!;
    if (p.length !== rows) throw new MpeError(code, `the scorer answered ${p.length} probabilities for ${rows} rows`);
    for (let r = 0; r < rows; r++) {
      const v = p[r]!;
      if (v - v !== 0) throw new MpeError(code, `the scorer answered ${v} for validation row ${r} of ${rows}: retrain or re-export the scorer`);
    }
  }
}

/**
 * Both checks: the table first (cheap to explain), then the scorer on a full micro-batch. `code`:
 * MPE_ERR_RELOAD_FAILED for a reload (the old version keeps serving), MPE_ERR_MODEL_INVALID at
 * start-up (nothing to fall back to: the process exits).
 */
export async function validateModel(model: ServingModel, pool: ScorePool, rows: number, code: ErrorCode = 'MPE_ERR_RELOAD_FAILED'): Promise<void> {
  await checkTableFinite(model, code);
  await checkScorer(model, pool, rows, code);
}
