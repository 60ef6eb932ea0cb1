/**
 * Memory the default process metrics leave out: `process.memoryUsage().arrayBuffers` (ArrayBuffers
 * and SharedArrayBuffers: the served tables, request ids), which is how a model retained after a hot
 * reload shows up. `external` is prom-client's default `nodejs_external_memory_bytes`. Read at scrape
 * time only.
 */
import { Gauge, type Registry } from 'prom-client';

/** Registers `nodejs_array_buffers_bytes` on `registry`. */
export function createMemoryMetrics(registry: Registry): void {
  new Gauge({
    name: 'nodejs_array_buffers_bytes',
    help: 'Memory allocated for ArrayBuffers and SharedArrayBuffers (process.memoryUsage().arrayBuffers), bytes',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().arrayBuffers);
    },
  });
}
