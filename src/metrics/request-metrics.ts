/**
 * Request metrics: counts and errors by method, transport and code, latency histograms.
 * Buckets start at 50 microseconds: a Lookup of a few ids takes tens of microseconds.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** Seconds: 50 us .. 2.5 s. */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
]);

export type Method = 'lookup' | 'score' | 'get_model';
export type Transport = 'grpc' | 'http';

export interface RequestMetrics {
  /** Records one finished request; `code` is 'OK' or the MPE_ERR_ code. */
  observe(method: Method, transport: Transport, code: string, seconds: number): void;
}

export function createRequestMetrics(registry: Registry): RequestMetrics {
  const registers = [registry];
  const requests = new Counter({ name: 'mpe_requests_total', help: 'Requests by method, transport and result code (OK or MPE_ERR_*)', labelNames: ['method', 'transport', 'code'], registers });
  const errors = new Counter({ name: 'mpe_request_errors_total', help: 'Failed requests by method, transport and error code', labelNames: ['method', 'transport', 'code'], registers });
  const latency = new Histogram({
    name: 'mpe_request_duration_seconds',
    help: 'Request latency inside the server, by method and transport (lookup and score)',
    labelNames: ['method', 'transport'],
    buckets: [...LATENCY_BUCKETS],
    registers,
  });
  return {
    observe(method, transport, code, seconds): void {
      requests.inc({ method, transport, code });
      if (code !== 'OK') errors.inc({ method, transport, code });
      latency.observe({ method, transport }, seconds);
    },
  };
}
