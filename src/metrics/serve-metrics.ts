/**
 * All metrics of `mpe serve` on ONE injected registry (never prom-client's global one), plus the
 * default process metrics.
 */
import { collectDefaultMetrics, type Registry } from 'prom-client';
import { createModelMetrics, type ModelMetrics } from './model-metrics.js';
import { createPoolMetrics, type PoolMetrics } from './pool-metrics.js';
import { createRequestMetrics, type RequestMetrics } from './request-metrics.js';

export interface ServeMetrics {
  readonly registry: Registry;
  readonly model: ModelMetrics;
  readonly requests: RequestMetrics;
  readonly pool: PoolMetrics;
}

export function createServeMetrics(registry: Registry): ServeMetrics {
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    model: createModelMetrics(registry),
    requests: createRequestMetrics(registry),
    pool: createPoolMetrics(registry),
  };
}
