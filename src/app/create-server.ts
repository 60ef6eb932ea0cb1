/**
 * `createServer(config, deps)`: wires the served model's slot (service/model-slot.ts) to the gRPC
 * and HTTP adapters and the metrics. Without a model (registry mode before the first version is
 * loaded) it listens at once but is not ready: /readyz 503 and gRPC health NOT_SERVING, every
 * service call fails with MPE_ERR_NOT_READY, until the first {@link RunningServer.swapModel} (hot
 * reload) makes it ready. `close()` is the bounded graceful shutdown (see shutdown() below).
 */
import { Registry } from 'prom-client';
import type { ServeConfig } from '../config/config.js';
import { isMpeError, MpeError } from '../errors.js';
import { createServeMetrics, type ServeMetrics } from '../metrics/serve-metrics.js';
import type { ScorePool } from '../scorer/score-pool.js';
import { createGrpcServer } from '../server/grpc-server.js';
import { type AdminHooks, createHttpServer } from '../server/http-server.js';
import { connectionLimits } from '../server/connection-limits.js';
import { InFlight } from '../server/in-flight.js';
import { MAX_JSON_DEPTH, maxJsonContainers } from '../server/json-guard.js';
import { SERVICE_NAME } from '../server/proto.js';
import type { EmbeddingService } from '../service/embedding-service.js';
import { createModelSlot, type ModelSlot, type PreparedModel } from '../service/model-slot.js';
import type { ServingModel } from '../service/model.js';
import type { Logger } from '../util/log.js';

export type { PreparedModel } from '../service/model-slot.js';

export interface ServerDeps {
  /** Model to serve from the start; absent = listen not ready until the first swapModel. */
  readonly model?: ServingModel;
  /** Metrics registry (default: a fresh one; never prom-client's global registry). */
  readonly registry?: Registry;
  /** Admin routes (`POST /admin/reload`, `GET /admin/status`), registered when given; see app/hot-reload.ts. */
  readonly admin?: AdminHooks;
  /** The process logger; fastify logs through it (default: fastify's logger off). */
  readonly log?: Logger;
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
  /** Hot reload, step 1: {@link ModelSlot.prepare}. */
  prepareModel(model: ServingModel): Promise<PreparedModel>;
  /** Hot reload, step 2: {@link ModelSlot.swap}, and the server becomes ready. */
  swapModel(prepared: PreparedModel): void;
  /** {@link ModelSlot.discard}. */
  discardModel(prepared: PreparedModel): Promise<void>;
  /** Graceful shutdown (idempotent). */
  close(): Promise<void>;
}

/** Starts everything; rejects (after cleaning up) if the pool or a port cannot start. */
export async function createServer(config: ServeConfig, deps: ServerDeps): Promise<RunningServer> {
  const metrics = createServeMetrics(deps.registry ?? new Registry());
  const slot = createModelSlot({ config, metrics });
  if (deps.model !== undefined) {
    try {
      slot.swap(await slot.prepare(deps.model));
    } catch (e) {
      // At start-up there is no old version to keep serving: the model itself is invalid.
      if (isMpeError(e) && e.code === 'MPE_ERR_RELOAD_FAILED') throw new MpeError('MPE_ERR_MODEL_INVALID', e.detail, { cause: e });
      throw e;
    }
  }
  const { service } = slot;
  const inFlight = new InFlight();
  let ready = false;
  const limits = { maxMessageBytes: config.maxMessageBytes, defaultDeadlineMs: config.defaultDeadlineMs, connections: connectionLimits(config) };
  const grpc = createGrpcServer({ service, metrics: metrics.requests, stages: metrics.stages, inFlight, ...limits, windowBytes: config.grpcWindowBytes });
  const http = createHttpServer({
    service,
    metrics: metrics.requests,
    stages: metrics.stages,
    registry: metrics.registry,
    inFlight,
    ...limits,
    maxBodyBufferBytes: config.maxBodyBufferBytes,
    isReady: () => ready,
    jsonLimits: { maxDepth: MAX_JSON_DEPTH, maxContainers: maxJsonContainers(config.lookupFeatureLimit, config.requestRowLimit) },
    ...(deps.admin ? { admin: deps.admin } : {}),
    ...(deps.log ? { log: deps.log } : {}),
  });
  let grpcPort: number;
  let httpPort: number;
  try {
    grpcPort = await grpc.listen(config.host, config.grpcPort);
    httpPort = await http.listen(config.host, config.httpPort);
  } catch (e) {
    grpc.server.forceShutdown();
    await http.close().catch(() => {});
    await slot.close();
    throw e;
  }
  let closing: Promise<void> | null = null;
  const becomeReady = (): void => {
    if (ready || closing !== null) return;
    ready = true;
    grpc.health.setStatus('', 'SERVING');
    grpc.health.setStatus(SERVICE_NAME, 'SERVING');
  };
  if (slot.hasModel()) becomeReady();

  /**
   * Readiness false (Health.Watch streams are told NOT_SERVING), new work refused
   * (MPE_ERR_SHUTTING_DOWN; HTTP answers carry Connection: close), gRPC GOAWAY; then waits, at
   * most MPE_SHUTDOWN_GRACE_MS, for admitted requests, HTTP requests in progress and gRPC calls to
   * end; whatever is left then (Watch streams, half-sent bodies, idle keep-alive connections) is
   * closed. Always resolves, so the process can exit 0.
   */
  async function shutdown(): Promise<void> {
    ready = false;
    grpc.health.setStatus('', 'NOT_SERVING');
    grpc.health.setStatus(SERVICE_NAME, 'NOT_SERVING');
    http.drain();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((r) => {
      timer = setTimeout(r, config.shutdownGraceMs);
    });
    await Promise.race([Promise.all([inFlight.drain(), http.idle(), grpc.close()]), grace]);
    clearTimeout(timer);
    grpc.forceClose();
    await http.forceClose().catch(() => {});
    await slot.close();
  }
  return {
    grpcPort,
    httpPort,
    service,
    metrics,
    get pool() {
      return slot.pool;
    },
    isReady: () => ready,
    prepareModel: (model) => slot.prepare(model),
    swapModel(prepared) {
      slot.swap(prepared);
      becomeReady();
    },
    discardModel: (prepared) => slot.discard(prepared),
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
