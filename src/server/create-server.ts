/**
 * `createServer(config, deps)`: starts the score pool, warms it up, then serves gRPC and HTTP.
 * Without a model (registry mode before the first version is loaded) it listens at once but is
 * not ready: /readyz 503 and gRPC health NOT_SERVING, Lookup/Score/GetModel fail with
 * MPE_ERR_NOT_READY, until the first {@link RunningServer.swapModel} (hot reload) makes it ready.
 * `close()` is the graceful shutdown: readiness false, new requests refused, in-flight requests
 * finish, then the transports and the workers stop.
 */
import { Registry } from 'prom-client';
import type { ServeConfig } from '../config/config.js';
import { MpeError } from '../errors.js';
import { createServeMetrics, type ServeMetrics } from '../metrics/serve-metrics.js';
import { createEmbeddingService, driftModelOf, type EmbeddingService } from '../service/embedding-service.js';
import type { ServingModel } from '../service/model.js';
import { ScorePool } from '../service/score-pool.js';
import { createFrequencySampler, type FrequencySampler } from '../stats/sampler.js';
import { createGrpcServer } from './grpc-server.js';
import { type AdminHooks, createHttpServer } from './http-server.js';
import { InFlight } from './in-flight.js';
import { SERVICE_NAME } from './proto.js';

export interface ServerDeps {
  /** Model to serve from the start; absent = listen not ready until the first swapModel. */
  readonly model?: ServingModel;
  /** Metrics registry (default: a fresh one; never prom-client's global registry). */
  readonly registry?: Registry;
  /** Admin routes (`POST /admin/reload`, `GET /admin/status`), registered when given; see registry/hot-reload.ts. */
  readonly admin?: AdminHooks;
}

/** A model started in its own pool and warmed up in every worker, not yet served (hot reload). */
export interface PreparedModel {
  readonly service: EmbeddingService;
  readonly pool: ScorePool;
}

export interface RunningServer {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The served model's service (changes on {@link RunningServer.swapModel}); the transports call through to it. */
  readonly service: EmbeddingService;
  readonly metrics: ServeMetrics;
  /** The served model's pool; null before the first model. */
  readonly pool: ScorePool | null;
  /** True once a model is loaded and warm, false again while draining. */
  isReady(): boolean;
  /** Hot reload, step 1: start a pool for `model` and run a real score in every worker, without serving it. */
  prepareModel(model: ServingModel): Promise<PreparedModel>;
  /**
   * Hot reload, step 2: serve `prepared` from the next request on. Requests already admitted
   * finish on the previous model (they hold its service and pool); its pool stops once they have.
   */
  swapModel(prepared: PreparedModel): void;
  /** Stops a prepared model that will not be served. */
  discardModel(prepared: PreparedModel): Promise<void>;
  /** Graceful shutdown (idempotent). */
  close(): Promise<void>;
}

/** Starts everything; rejects (after cleaning up) if the pool or a port cannot start. */
export async function createServer(config: ServeConfig, deps: ServerDeps): Promise<RunningServer> {
  const metrics = createServeMetrics(deps.registry ?? new Registry());
  const startPool = (model: ServingModel): Promise<ScorePool> =>
    ScorePool.create({
      workers: config.workers,
      maxBatchRows: config.maxBatchRows,
      maxWaitUs: config.maxWaitUs,
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
  const newService = (model: ServingModel, p: ScorePool): EmbeddingService => createEmbeddingService({ model, pool: p, config, sampler: newSampler(model) });
  let pool: ScorePool | null = null;
  let current: EmbeddingService | null = null;
  if (deps.model !== undefined) {
    pool = await startPool(deps.model);
    metrics.pool.attach(pool);
    current = newService(deps.model, pool);
    metrics.model.set(current.getModel());
  }
  const served = (): EmbeddingService => {
    if (current === null) throw new MpeError('MPE_ERR_NOT_READY', 'no model loaded yet: waiting for the registry to name a version');
    return current;
  };
  // The transports hold this front; it reads `current` once per call, so a swap is one assignment
  // between requests and a request never mixes two models.
  const service: EmbeddingService = Object.freeze({
    lookup: (req, ctx) => served().lookup(req, ctx),
    score: (req, ctx) => (current === null ? Promise.reject(new MpeError('MPE_ERR_NOT_READY', 'no model loaded yet')) : current.score(req, ctx)),
    overloaded: () => (current === null ? null : current.overloaded()),
    getModel: () => served().getModel(),
    warmUp: () => (current === null ? Promise.reject(new MpeError('MPE_ERR_NOT_READY')) : current.warmUp()),
    get stats() {
      return served().stats;
    },
    get live() {
      return current?.live ?? null;
    },
  } satisfies EmbeddingService);
  const inFlight = new InFlight();
  let ready = false;
  const limits = { maxMessageBytes: config.maxMessageBytes, defaultDeadlineMs: config.defaultDeadlineMs };
  const grpc = createGrpcServer({ service, metrics: metrics.requests, inFlight, ...limits, windowBytes: config.grpcWindowBytes });
  const http = createHttpServer({ service, metrics: metrics.requests, registry: metrics.registry, inFlight, ...limits, isReady: () => ready, ...(deps.admin ? { admin: deps.admin } : {}) });
  let grpcPort: number;
  let httpPort: number;
  try {
    if (current !== null) await current.warmUp();
    grpcPort = await grpc.listen(config.host, config.grpcPort);
    httpPort = await http.listen(config.host, config.httpPort);
  } catch (e) {
    grpc.server.forceShutdown();
    await http.close().catch(() => {});
    await pool?.close();
    throw e;
  }
  let closing: Promise<void> | null = null;
  const becomeReady = (): void => {
    if (ready || closing !== null) return;
    ready = true;
    grpc.health.setStatus('', 'SERVING');
    grpc.health.setStatus(SERVICE_NAME, 'SERVING');
  };
  if (current !== null) becomeReady();

  async function shutdown(): Promise<void> {
    ready = false;
    grpc.health.setStatus('', 'NOT_SERVING');
    grpc.health.setStatus(SERVICE_NAME, 'NOT_SERVING');
    const drained = inFlight.drain();
    const grace = new Promise<void>((r) => setTimeout(r, config.shutdownGraceMs).unref());
    await Promise.race([drained, grace]);
    await Promise.all([grpc.close(), http.close()]);
    await pool?.close();
  }
  return {
    grpcPort,
    httpPort,
    service,
    metrics,
    get pool() {
      return pool;
    },
    isReady: () => ready,
    async prepareModel(model) {
      const p = await startPool(model);
      try {
        const s = newService(model, p);
        await p.warmEach(Int32Array.from(model.fields, (f) => f.oovId), 1);
        return { service: s, pool: p };
      } catch (e) {
        await p.close();
        throw e;
      }
    },
    swapModel(prepared) {
      const old = pool;
      pool = prepared.pool;
      current = prepared.service;
      metrics.pool.attach(pool);
      metrics.model.set(current.getModel());
      void old?.close();
      becomeReady();
    },
    discardModel: (prepared) => prepared.pool.close(),
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}

