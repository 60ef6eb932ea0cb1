/**
 * Training throughput benchmark (`npm run bench:train`): samples/s of the default model
 * (39 fields, d = 16, MLP 1024-512-256 with BatchNorm, batch 2048) on a synthetic Criteo-like
 * set, with the time split by stage: parse (ingestion), embedding gather, dense forward/backward
 * (onnxruntime train-step graph), scatter (duplicate merge + sparse Adam), dense optimiser
 * (Adam in TS), evaluation. Writes bench/results/train.json and its section of docs/benchmarks.md.
 *
 * Options (env): BENCH_TRAIN_ROWS (default 200000), BENCH_TRAIN_EPOCHS (default 1),
 * BENCH_TRAIN_THREADS (onnxruntime intra-op threads, default: one per core).
 * `--quick` (`npm run bench:train -- --quick`): 3000 rows and 2 timed dense steps, to check that the
 * benchmark runs; it prints its figures but writes neither bench/results/train.json nor the doc.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../src/data/synth.js';
import { DenseNet } from '../src/train/dense-net.js';
import { trainModel } from '../src/train/trainer.js';
import { benchCommand, describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const quick = process.argv.includes('--quick');
const rows = Number(process.env.BENCH_TRAIN_ROWS ?? (quick ? 3000 : 200_000));
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
  const steps = quick ? 2 : 10;
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
  const data = {
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
    loadAverage1m: loadavg()[0],
    testAuc: r.metrics.test.auc,
    plantedAuc: s.ceilingAuc,
  };
  console.log(JSON.stringify(data, null, 2));
  const us = data.microsecondsPerSample;
  const markdown = [
    `Default model (39 fields, d = 16, MLP 1024-512-256 + BatchNorm, batch 2048) on ${rows} synthetic rows, ${epochs} epoch(s); 1-minute load average at the end: ${data.loadAverage1m.toFixed(1)} (the box is shared: figures scale with it).`,
    '',
    '| stage | us per training sample |',
    '| --- | ---: |',
    `| embedding gather | ${us.gather.toFixed(1)} |`,
    `| dense forward + backward (onnxruntime train-step graph) | ${us.denseForwardBackward.toFixed(1)} |`,
    `| scatter (duplicate merge + sparse Adam) | ${us.scatter.toFixed(1)} |`,
    `| dense Adam (TypeScript) | ${us.optimizer.toFixed(1)} |`,
    '',
    `- whole loop: **${Math.round(data.samplesPerSecond)} samples/s**; dense step alone in the same run: ${Math.round(dense.samplesPerSecond)} samples/s (graph ${dense.graphMsPerStep.toFixed(0)} ms + Adam ${dense.adamMsPerStep.toFixed(0)} ms per step)`,
    `- parse: ${Math.round(data.parseRowsPerSecond)} rows/s; evaluation ${t.evaluation.toFixed(1)} s`,
    `- test AUC ${data.testAuc.toFixed(4)} vs planted ${data.plantedAuc.toFixed(4)}`,
  ].join('\n');
  if (quick) {
    console.log(`${markdown}\n\n--quick: bench/results/train.json and docs/benchmarks.md left as they are`);
  } else {
    const command = benchCommand('bench:train', ['BENCH_TRAIN_ROWS', 'BENCH_TRAIN_EPOCHS', 'BENCH_TRAIN_THREADS']);
    writeResult({ name: 'train', title: 'Training throughput (fp32, default model)', command, date: new Date().toISOString(), machine: describeMachine(), markdown, data });
    console.log(`wrote ${writeBenchmarksDoc()}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
