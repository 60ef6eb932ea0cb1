/**
 * Correctness checks on answers, so a run that returns fast garbage does not pass:
 * - every answer: the right count; Score probabilities in [0, 1]; Lookup ids echo the request
 *   and the embeddings hold count*d floats;
 * - a sample (every `sampleEvery`-th answer): the same body must give the same answer as the
 *   first time it was sent (within `tolerance`: micro-batching changes onnxruntime's batch size),
 *   and, when a local reference is given (the bundle's directory), equal the reference:
 *   Lookup bit for bit (PackedTable dequantization), Score within `tolerance` (onnxruntime run
 *   on the same dequantized rows).
 */
import type { Outcome } from './engine.js';
import type { PayloadPool } from './payloads.js';
import type { LookupAnswer, ScoreAnswer } from './targets.js';

/** Local expected answers for payload `p` of the pool. */
export interface Reference {
  score?(p: number): Float32Array;
  lookup?(p: number): Float32Array;
}

export interface CheckStats {
  /** Answers given the deep (sampled) check. */
  sampled: number;
  /** Sampled answers compared with the local reference. */
  referenceCompared: number;
  /** Largest |served - reference| seen on Score. */
  maxScoreDiff: number;
}

export interface Checker {
  score(p: number, i: number, a: ScoreAnswer): Outcome;
  lookup(p: number, i: number, a: LookupAnswer): Outcome;
  readonly stats: CheckStats;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Builds a checker over a payload pool; `d` is the model's embedding dimension. */
export function createChecker(pool: PayloadPool, d: number, opts: { sampleEvery: number; tolerance: number; reference?: Reference }): Checker {
  const { sampleEvery, tolerance, reference } = opts;
  const first: (Float32Array | undefined)[] = new Array(pool.bodies.length);
  const expected: (Float32Array | undefined)[] = new Array(pool.bodies.length);
  const stats: CheckStats = { sampled: 0, referenceCompared: 0, maxScoreDiff: 0 };
  const expectedOf = (p: number, fn: ((p: number) => Float32Array) | undefined): Float32Array | undefined => {
    if (fn === undefined) return undefined;
    let e = expected[p];
    if (e === undefined) expected[p] = e = fn(p);
    return e;
  };
  return {
    stats,
    score(p, i, a) {
      const probs = a.probabilities;
      if (probs === undefined || probs.length !== pool.size) return 'CHECK_SCORE_COUNT';
      for (let k = 0; k < probs.length; k++) {
        const v = probs[k]!;
        if (!(v >= 0 && v <= 1)) return 'CHECK_SCORE_RANGE';
      }
      if (typeof a.modelVersion !== 'string' || a.modelVersion === '') return 'CHECK_SCORE_VERSION';
      if (i % sampleEvery !== 0) return 'OK';
      stats.sampled++;
      const got = Float32Array.from(probs);
      const prev = first[p];
      if (prev === undefined) first[p] = got;
      else if (!(maxAbsDiff(prev, got) <= tolerance)) return 'CHECK_SCORE_UNSTABLE';
      const ref = expectedOf(p, reference?.score);
      if (ref !== undefined) {
        stats.referenceCompared++;
        const diff = maxAbsDiff(ref, got);
        if (diff > stats.maxScoreDiff || Number.isNaN(diff)) stats.maxScoreDiff = diff;
        if (!(diff <= tolerance)) return 'CHECK_SCORE_REFERENCE';
      }
      return 'OK';
    },
    lookup(p, i, a) {
      const ids = pool.ids![p]!;
      if (a.count !== ids.length || a.d !== d || a.embeddings.length !== ids.length * d) return 'CHECK_LOOKUP_COUNT';
      if (i % sampleEvery !== 0) return 'OK';
      stats.sampled++;
      for (let k = 0; k < ids.length; k++) {
        if (a.ids[k] !== ids[k]) return 'CHECK_LOOKUP_IDS';
        if ((a.bits[k] === 0) !== (a.pruned[k] === true)) return 'CHECK_LOOKUP_PRUNED';
      }
      const prev = first[p];
      if (prev === undefined) first[p] = Float32Array.from(a.embeddings);
      else if (!bitEqual(prev, a.embeddings)) return 'CHECK_LOOKUP_UNSTABLE';
      const ref = expectedOf(p, reference?.lookup);
      if (ref !== undefined) {
        stats.referenceCompared++;
        if (!bitEqual(ref, a.embeddings)) return 'CHECK_LOOKUP_REFERENCE';
      }
      return 'OK';
    },
  };
}
