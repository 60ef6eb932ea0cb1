/**
 * The served model: one slot holding the current {@link EmbeddingService} and its worker pool.
 * Hot reload goes prepare (start a pool for the new model, score once in every worker, not yet
 * served) -> swap (one assignment between requests) -> the old pool stops once its admitted
 * requests finish; a prepared model that will not be served is discarded.
 *
 * Before the first swap the slot holds {@link NOT_READY}: every call fails the same way, with
 * MPE_ERR_NOT_READY and the same message (a throw for the synchronous calls, a rejection for
 * the asynchronous ones). The front the transports hold reads the current service once per call,
 * so a request never mixes two models and no call branches on "is there a model".
 */
import { validateModel } from './model-check.js';
import type { ServeConfig } from '../config/config.js';
import { MpeError } from '../errors.js';
import type { ServeMetrics } from '../metrics/serve-metrics.js';
import { ScorePool } from '../scorer/score-pool.js';
import { createFrequencySampler, type FrequencySampler } from '../stats/sampler.js';
import { createEmbeddingService, driftModelOf, type EmbeddingService } from './embedding-service.js';
import type { ServingModel } from './model.js';

/** The one not-ready error (code and message). */
const notReady = (): MpeError => new MpeError('MPE_ERR_NOT_READY', 'waiting for a model to be loaded (registry mode: for the registry to name a version)');

/** The service of an empty slot: every operation fails with {@link notReady}. */
export const NOT_READY: EmbeddingService = Object.freeze({
  lookup: () => {
    throw notReady();
  },
  score: () => Promise.reject(notReady()),
  // Nothing to shed: the call goes on and fails with MPE_ERR_NOT_READY.
  overloaded: () => null,
  getModel: () => {
    throw notReady();
  },
  warmUp: () => Promise.reject(notReady()),
  get stats(): never {
    throw notReady();
  },
  live: null,
} satisfies EmbeddingService);

/** A model started in its own pool and warmed up in every worker, not yet served. */
export interface PreparedModel {
  readonly service: EmbeddingService;
  readonly pool: ScorePool;
}

export interface ModelSlotOptions {
  readonly config: ServeConfig;
  /** Pool and model gauges follow the served model. */
  readonly metrics: ServeMetrics;
}

export interface ModelSlot {
  /** The front the transports hold: calls go to the served model's service, or fail not ready. */
  readonly service: EmbeddingService;
  /** The served model's pool; null before the first model. */
  readonly pool: ScorePool | null;
  hasModel(): boolean;
  /** Starts a pool for `model` and runs a real score in every worker, without serving it. */
  prepare(model: ServingModel): Promise<PreparedModel>;
  /**
   * Serves `prepared` from the next request on. Requests already admitted finish on the previous
   * model (they hold its service and pool); its pool stops once they have. After {@link close},
   * stops `prepared` instead.
   */
  swap(prepared: PreparedModel): void;
  /** Stops a prepared model that will not be served. */
  discard(prepared: PreparedModel): Promise<void>;
  /** Stops the served model's pool (after the transports have drained). */
  close(): Promise<void>;
}

/** Creates an empty slot. */
export function createModelSlot(opts: ModelSlotOptions): ModelSlot {
  const { config, metrics } = opts;
  const startPool = (model: ServingModel): Promise<ScorePool> =>
    ScorePool.create({
      workers: config.workers,
      maxBatchRows: config.maxBatchRows,
      maxWaitUs: config.maxWaitUs,
      splitMinRows: config.splitMinRows,
      queueLimit: config.queueLimit,
      maxQueueMs: config.maxQueueMs,
      onBatch: metrics.pool.onBatch,
      init: {
        tableBuffer: model.tableBuffer,
        scorerBytes: model.scorerBytes,
        fields: model.fields.length,
        ...(model.vocabBuffer !== undefined ? { vocabBuffer: model.vocabBuffer, fieldSpecs: model.fields } : {}),
        provider: config.provider,
        intraOpThreads: config.intraOpThreads,
      },
    });
  const newSampler = (model: ServingModel): FrequencySampler | null =>
    config.statsSampleRate > 0 ? createFrequencySampler({ rate: config.statsSampleRate, groupSize: driftModelOf(model).groupSize, groupPad: driftModelOf(model).groupPad ?? 0, featureCount: model.table.featureCount, oovIds: model.fields.map((f) => f.oovId) }) : null;
  let pool: ScorePool | null = null;
  let current: EmbeddingService = NOT_READY;
  let closed = false;
  const service: EmbeddingService = Object.freeze({
    lookup: (req, ctx) => current.lookup(req, ctx),
    score: (req, ctx) => current.score(req, ctx),
    overloaded: () => current.overloaded(),
    getModel: () => current.getModel(),
    warmUp: () => current.warmUp(),
    get stats() {
      return current.stats;
    },
    get live() {
      return current.live;
    },
  } satisfies EmbeddingService);
  return {
    service,
    get pool() {
      return pool;
    },
    hasModel: () => current !== NOT_READY,
    async prepare(model) {
      const p = await startPool(model);
      try {
        const s = createEmbeddingService({ model, pool: p, config, sampler: newSampler(model) });
        // A full micro-batch of varied rows in every worker, every table value finite (model-check.ts).
        await validateModel(model, p, config.maxBatchRows);
        return { service: s, pool: p };
      } catch (e) {
        await p.close();
        throw e;
      }
    },
    swap(prepared) {
      // A reload that finishes after close() (shutdown mid-reload): its pool would outlive the server.
      if (closed) {
        void prepared.pool.close();
        return;
      }
      const old = pool;
      pool = prepared.pool;
      current = prepared.service;
      metrics.pool.attach(pool);
      metrics.model.set(current.getModel());
      void old?.close();
    },
    discard: (prepared) => prepared.pool.close(),
    async close() {
      closed = true;
      await pool?.close();
    },
  };
}
