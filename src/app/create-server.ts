/**
 * `createServer(config, deps)`: wires the served model's slot (service/model-slot.ts) to the gRPC
 * and HTTP adapters and the metrics. Without a model (registry mode before the first version is
 * loaded) it listens at once but is not ready: /readyz 503 and gRPC health NOT_SERVING, every
 * service call fails with MPE_ERR_NOT_READY, until the first {@link RunningServer.swapModel} (hot
 * reload) makes it ready. `close()` is the graceful shutdown: readiness false, new requests
 * refused, in-flight requests finish, then the transports and the workers stop.
 */
import { Registry } from 'prom-client';
import type { ServeConfig } from '../config/config.js';
import { createServeMetrics, type ServeMetrics } from '../metrics/serve-metrics.js';
import type { ScorePool } from '../scorer/score-pool.js';
import { createGrpcServer } from '../server/grpc-server.js';
import { type AdminHooks, createHttpServer } from '../server/http-server.js';
import { InFlight } from '../server/in-flight.js';
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
  if (deps.model !== undefined) slot.swap(await slot.prepare(deps.model));
  const { service } = slot;
  const inFlight = new InFlight();
  let ready = false;
  const limits = { maxMessageBytes: config.maxMessageBytes, defaultDeadlineMs: config.defaultDeadlineMs };
  const grpc = createGrpcServer({ service, metrics: metrics.requests, inFlight, ...limits, windowBytes: config.grpcWindowBytes });
  const http = createHttpServer({
    service,
    metrics: metrics.requests,
    registry: metrics.registry,
    inFlight,
    ...limits,
    isReady: () => ready,
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

  async function shutdown(): Promise<void> {
    ready = false;
    grpc.health.setStatus('', 'NOT_SERVING');
    grpc.health.setStatus(SERVICE_NAME, 'NOT_SERVING');
    const drained = inFlight.drain();
    const grace = new Promise<void>((r) => setTimeout(r, config.shutdownGraceMs).unref());
    await Promise.race([drained, grace]);
    await Promise.all([grpc.close(), http.close()]);
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
