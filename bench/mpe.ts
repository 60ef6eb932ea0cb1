/**
 * MPE search speed (`npm run bench:mpe`): training samples/s of the MPE search phase against
 * the fp32 trainer on the same data, model and machine, in ONE process one after the other
 * (target: search >= 0.7x fp32). Also reports the retraining phase and the embedding-stage
 * split (forward = "gather", backward + optimiser step of the stage = "scatter").
 * Writes bench/results/mpe.json and regenerates docs/benchmarks.md.
 *
 * Options (env): BENCH_MPE_ROWS (default 200000), BENCH_MPE_THREADS (onnxruntime intra-op threads).
 * `--quick` (`npm run bench:mpe -- --quick`): 3000 rows, to check that the benchmark runs; it prints
 * its table but writes neither bench/results/mpe.json nor the doc.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingest } from '../src/data/ingest.js';
import { synthesize } from '../src/data/synth.js';
import { TRAINING_METHODS } from '../src/mpe/methods.js';
import type { PhaseResult } from '../src/train/loop.js';
import { trainModel } from '../src/train/trainer.js';
import { benchCommand, describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const quick = process.argv.includes('--quick');
const rows = Number(process.env.BENCH_MPE_ROWS ?? (quick ? 3000 : 200_000));
const threads = process.env.BENCH_MPE_THREADS ? Number(process.env.BENCH_MPE_THREADS) : undefined;
const dir = mkdtempSync(join(tmpdir(), 'mpe-bench-mpe-'));

function sps(p: PhaseResult): number {
  return p.samples / p.trainSeconds;
}

try {
  const file = join(dir, 'synth.txt');
  synthesize({ rows, out: file, seed: 2022 });
  const ds = await ingest({ path: file, format: 'criteo', seed: 2022 });
  const common = { dataset: ds, methods: TRAINING_METHODS, epochs: 1, ...(threads !== undefined ? { intraOpThreads: threads } : {}) };
  const fp = await trainModel({ ...common, out: join(dir, 'fp32'), method: 'fp32' });
  const mpe = await trainModel({ ...common, out: join(dir, 'mpe'), method: 'mpe' });
  const f = fp.phases[0]!;
  const s = mpe.phases.find((p) => p.name === 'search')!;
  const r = mpe.phases.find((p) => p.name === 'retrain')!;
  const ratio = sps(s) / sps(f);
  const stageMs = (p: PhaseResult) => ({ forward: (1000 * p.times.gather) / (p.samples / 2048), backward: (1000 * p.times.scatter) / (p.samples / 2048), dense: (1000 * p.times.dense) / (p.samples / 2048) });
  const rowsOut = [
    ['fp32 train', sps(f), stageMs(f)],
    ['mpe search', sps(s), stageMs(s)],
    ['mpe retrain', sps(r), stageMs(r)],
  ] as const;
  const md = [
    `${rows.toLocaleString('en-US')} synthetic rows (${ds.featureCount.toLocaleString('en-US')} features), default model (39 fields, d = 16, 1024-512-256 + BatchNorm, batch 2048), 1 epoch per phase, same process.`,
    '',
    '| phase | samples/s | embedding forward ms/batch | embedding backward+step ms/batch | dense fwd/bwd ms/batch |',
    '|---|---:|---:|---:|---:|',
    ...rowsOut.map(([n, v, t]) => `| ${n} | ${Math.round(v)} | ${t.forward.toFixed(1)} | ${t.backward.toFixed(1)} | ${t.dense.toFixed(1)} |`),
    '',
    `Search / fp32 samples/s: **${ratio.toFixed(2)}x** (target >= 0.7x).`,
  ].join('\n');
  console.log(md);
  if (quick) {
    console.log('--quick: bench/results/mpe.json and docs/benchmarks.md left as they are');
  } else {
    writeResult({
      name: 'mpe',
      title: 'MPE search speed vs the fp32 trainer',
      command: benchCommand('bench:mpe', ['BENCH_MPE_ROWS', 'BENCH_MPE_THREADS']),
      date: new Date().toISOString(),
      machine: describeMachine(),
      markdown: md,
      data: { rows, featureCount: ds.featureCount, fp32: sps(f), search: sps(s), retrain: sps(r), ratio, stages: Object.fromEntries(rowsOut.map(([n, , t]) => [n, t])) },
    });
    writeBenchmarksDoc();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
