/**
 * Score pool metrics: micro-batch sizes, queue depth and worker utilisation (read from the pool
 * at scrape time, so the hot path only pays for the batch histogram).
 */
import { Gauge, Histogram, type Registry } from 'prom-client';

/** Rows per micro-batch. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

/** What the metrics read from the pool. */
export interface PoolProbe {
  readonly queueDepth: number;
  readonly workerCount: number;
  busyNanoseconds(): bigint[];
}

export interface PoolMetrics {
  /** Pass as the pool's `onBatch`. */
  readonly onBatch: (rows: number) => void;
  /** Points the gauges at a (new) pool. */
  attach(pool: PoolProbe): void;
}

export function createPoolMetrics(registry: Registry): PoolMetrics {
  const registers = [registry];
  let probe: PoolProbe | null = null;
  let lastBusy: bigint[] = [];
  let lastAt = process.hrtime.bigint();
  const batch = new Histogram({ name: 'mpe_batch_rows', help: 'Rows per micro-batch sent to a score worker', buckets: BATCH_BUCKETS, registers });
  new Gauge({
    name: 'mpe_queue_depth',
    help: 'Score requests waiting for a worker',
    registers,
    collect() {
      this.set(probe?.queueDepth ?? 0);
    },
  });
  new Gauge({
    name: 'mpe_workers',
    help: 'Score worker threads',
    registers,
    collect() {
      this.set(probe?.workerCount ?? 0);
    },
  });
  new Gauge({
    name: 'mpe_worker_utilization_ratio',
    help: 'Fraction of time each score worker was busy since the previous scrape',
    labelNames: ['worker'],
    registers,
    collect() {
      if (probe === null) return;
      const now = process.hrtime.bigint();
      const busy = probe.busyNanoseconds();
      const span = Number(now - lastAt) || 1;
      for (let i = 0; i < busy.length; i++) {
        const delta = Number(busy[i]! - (lastBusy[i] ?? 0n));
        this.set({ worker: String(i) }, Math.min(1, Math.max(0, delta / span)));
      }
      lastBusy = busy;
      lastAt = now;
    },
  });
  return {
    onBatch: (rows) => batch.observe(rows),
    attach(pool): void {
      probe = pool;
      lastBusy = pool.busyNanoseconds();
      lastAt = process.hrtime.bigint();
    },
  };
}
