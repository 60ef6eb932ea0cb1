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
import { DenseNet } from '../src/train/dense-net.js';
import { trainModel } from '../src/train/trainer.js';

const rows = Number(process.env.BENCH_TRAIN_ROWS ?? 200_000);
const epochs = Number(process.env.BENCH_TRAIN_EPOCHS ?? 1);
const threads = process.env.BENCH_TRAIN_THREADS ? Number(process.env.BENCH_TRAIN_THREADS) : undefined;
/** The dense step alone (train graph + dense Adam) at batch 2048: the ceiling of the whole loop. */
async function denseOnly(): Promise<{ graphMsPerStep: number; adamMsPerStep: number; samplesPerSecond: number }> {
  const B = 2048;
  const net = await DenseNet.create({ inputDim: 624, hidden: [1024, 512, 256], ...(threads !== undefined ? { intraOpThreads: threads } : {}) });
  const x = Float32Array.from({ length: B * 624 }, (_, i) => ((i * 7919) % 1000) * 1e-5);
  const y = Float32Array.from({ length: B }, (_, i) => (i % 5 === 0 ? 1 : 0));
  let graph = 0;
  let adam = 0;
  const steps = 10;
  for (let i = 0; i < steps + 2; i++) {
    const t0 = performance.now();
    const g = await net.gradients(x, y, B);
    const t1 = performance.now();
    net.applyGradients(g, B);
    if (i >= 2) {
      graph += t1 - t0;
      adam += performance.now() - t1;
    }
  }
  await net.close();
  return { graphMsPerStep: graph / steps, adamMsPerStep: adam / steps, samplesPerSecond: (1000 * B * steps) / (graph + adam) };
}

const dir = mkdtempSync(join(tmpdir(), 'mpe-bench-train-'));
try {
  const dense = await denseOnly();
  console.log(`dense step only: ${JSON.stringify(dense)}`);
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
    denseOnly: dense,
    loadAverage1m: (await import('node:os')).loadavg()[0],
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
