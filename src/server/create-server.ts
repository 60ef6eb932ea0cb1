/**
 * `createServer(config, deps)`: starts the score pool, warms it up, then serves gRPC and HTTP.
 * `close()` is the graceful shutdown: readiness false, new requests refused, in-flight requests
 * finish, then the transports and the workers stop.
 */
import { Registry } from 'prom-client';
import type { ServeConfig } from '../config/config.js';
import { createServeMetrics, type ServeMetrics } from '../metrics/serve-metrics.js';
import { createEmbeddingService, type EmbeddingService } from '../service/embedding-service.js';
import type { ServingModel } from '../service/model.js';
import { ScorePool } from '../service/score-pool.js';
import { createGrpcServer } from './grpc-server.js';
import { createHttpServer } from './http-server.js';
import { InFlight } from './in-flight.js';
import { SERVICE_NAME } from './proto.js';

export interface ServerDeps {
  readonly model: ServingModel;
  /** Metrics registry (default: a fresh one; never prom-client's global registry). */
  readonly registry?: Registry;
}

export interface RunningServer {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly service: EmbeddingService;
  readonly metrics: ServeMetrics;
  readonly pool: ScorePool;
  /** Graceful shutdown (idempotent). */
  close(): Promise<void>;
}

/** Starts everything; rejects (after cleaning up) if the pool or a port cannot start. */
export async function createServer(config: ServeConfig, deps: ServerDeps): Promise<RunningServer> {
  const metrics = createServeMetrics(deps.registry ?? new Registry());
  const pool = await ScorePool.create({
    workers: config.workers,
    maxBatchRows: config.maxBatchRows,
    maxWaitUs: config.maxWaitUs,
    queueLimit: config.queueLimit,
    onBatch: metrics.pool.onBatch,
    init: {
      tableBuffer: deps.model.tableBuffer,
      scorerBytes: deps.model.scorerBytes,
      fields: deps.model.fields.length,
      provider: config.provider,
      intraOpThreads: config.intraOpThreads,
    },
  });
  metrics.pool.attach(pool);
  const service = createEmbeddingService({ model: deps.model, pool, config });
  metrics.model.set(service.getModel());
  const inFlight = new InFlight();
  let ready = false;
  const grpc = createGrpcServer({ service, metrics: metrics.requests, inFlight, maxMessageBytes: config.maxMessageBytes });
  const http = createHttpServer({ service, metrics: metrics.requests, registry: metrics.registry, inFlight, maxMessageBytes: config.maxMessageBytes, isReady: () => ready });
  let grpcPort: number;
  let httpPort: number;
  try {
    await service.warmUp();
    grpcPort = await grpc.listen(config.host, config.grpcPort);
    httpPort = await http.listen(config.host, config.httpPort);
  } catch (e) {
    grpc.server.forceShutdown();
    await http.close().catch(() => {});
    await pool.close();
    throw e;
  }
  ready = true;
  grpc.health.setStatus('', 'SERVING');
  grpc.health.setStatus(SERVICE_NAME, 'SERVING');

  let closing: Promise<void> | null = null;
  async function shutdown(): Promise<void> {
    ready = false;
    grpc.health.setStatus('', 'NOT_SERVING');
    grpc.health.setStatus(SERVICE_NAME, 'NOT_SERVING');
    const drained = inFlight.drain();
    const grace = new Promise<void>((r) => setTimeout(r, config.shutdownGraceMs).unref());
    await Promise.race([drained, grace]);
    await Promise.all([grpc.close(), http.close()]);
    await pool.close();
  }
  return {
    grpcPort,
    httpPort,
    service,
    metrics,
    pool,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
