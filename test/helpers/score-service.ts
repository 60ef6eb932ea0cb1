/** A real service over a real one-worker ScorePool (onnxruntime), for tests that call the service without a transport. */
import assert from 'node:assert/strict';
import type { ServeConfig } from '../../src/config/config.js';
import { isMpeError } from '../../src/errors.js';
import { ScorePool } from '../../src/scorer/score-pool.js';
import { createEmbeddingService, type EmbeddingService } from '../../src/service/embedding-service.js';
import type { ServingModel } from '../../src/service/model.js';

/** Runs `fn` with a service of `model` and closes its pool after. */
export async function withService<T>(model: ServingModel, config: ServeConfig, fn: (s: EmbeddingService) => Promise<T>): Promise<T> {
  const pool = await ScorePool.create({
    workers: 1,
    maxBatchRows: 64,
    maxWaitUs: 0,
    queueLimit: 8,
    maxQueueMs: 1000,
    init: { tableBuffer: model.tableBuffer, scorerBytes: model.scorerBytes, fields: model.fields.length, vocabBuffer: model.vocabBuffer!, fieldSpecs: model.fields, provider: 'cpu', intraOpThreads: 1 },
  });
  try {
    return await fn(createEmbeddingService({ model, pool, config }));
  } finally {
    await pool.close();
  }
}

/** The outcome of a score call as one comparable string: the probabilities, or the error's code and message. */
export async function outcome(p: Promise<{ probabilities: Float32Array }>): Promise<string> {
  try {
    return JSON.stringify([...(await p).probabilities]);
  } catch (e) {
    assert.ok(isMpeError(e), String(e));
    return `${e.code}: ${e.message}`;
  }
}
