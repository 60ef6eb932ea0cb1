/**
 * Training throughput benchmark (`npm run bench:train`): samples/s of the default model
 * (39 fields, d = 16, MLP 1024-512-256 with BatchNorm, batch 2048) on a synthetic Criteo-like
 * set, with the time split by stage: parse (ingestion), embedding gather, dense forward/backward
 * (onnxruntime train-step graph), scatter (duplicate merge + sparse Adam), dense optimiser
 * (Adam in TS), evaluation. Writes bench/results/train.json.
 *
 * Options (env): BENCH_TRAIN_ROWS (default 200000), BENCH_TRAIN_EPOCHS (default 1),
 * BENCH_TRAIN_THREADS (onnxruntime intra-op threads, default: one per core).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../src/data/synth.js';
import { trainModel } from '../src/train/trainer.js';

const rows = Number(process.env.BENCH_TRAIN_ROWS ?? 200_000);
const epochs = Number(process.env.BENCH_TRAIN_EPOCHS ?? 1);
const threads = process.env.BENCH_TRAIN_THREADS ? Number(process.env.BENCH_TRAIN_THREADS) : undefined;
const dir = mkdtempSync(join(tmpdir(), 'mpe-bench-train-'));
try {
  const file = join(dir, 'synth.txt');
  const s = synthesize({ rows, out: file, seed: 2022 });
  console.log(`synth: ${rows} rows in ${s.seconds.toFixed(1)} s, planted AUC ${s.ceilingAuc.toFixed(5)}`);
  const r = await trainModel({
    data: file,
    out: join(dir, 'bundle'),
    epochs,
    ...(threads !== undefined ? { intraOpThreads: threads } : {}),
    onEvent: (e) => {
      if (e.type === 'epoch-end') console.log(`epoch ${e.epoch}: ${Math.round(e.samplesPerSecond)} samples/s, valid AUC ${e.valid.auc.toFixed(5)}`);
    },
  });
  const t = r.times;
  const samples = r.phases.reduce((a, p) => a + p.samples, 0);
  const trainSeconds = r.phases.reduce((a, p) => a + p.trainSeconds, 0);
  const perSample = (sec: number) => (1e6 * sec) / samples; // microseconds per training sample
  const result = {
    name: 'train',
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    config: { rows, epochs, fields: r.dataset.fieldCount, d: 16, hidden: [1024, 512, 256], batchSize: 2048, intraOpThreads: threads ?? 'default' },
    featureCount: r.dataset.featureCount,
    samples,
    trainSeconds,
    samplesPerSecond: r.samplesPerSecond,
    parseRowsPerSecond: r.dataset.rows / t.parse,
    seconds: t,
    microsecondsPerSample: {
      gather: perSample(t.gather),
      denseForwardBackward: perSample(t.dense),
      scatter: perSample(t.scatter),
      optimizer: perSample(t.optimizer),
    },
    testAuc: r.metrics.test.auc,
    plantedAuc: s.ceilingAuc,
  };
  console.log(JSON.stringify(result, null, 2));
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'train.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
