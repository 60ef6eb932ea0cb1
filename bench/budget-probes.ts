/**
 * How well does a short lambda probe predict the full search? (`npm run bench:budget-probes`)
 * For each lambda, ONE search phase (the one `mpe train` runs: same net init, same table init,
 * same shuffles) is trained to the end with early stopping, and after every epoch the selection
 * it would make is recorded, both at that epoch and at the best validation epoch so far (what a
 * k-epoch probe keeps: the trainer restores the best checkpoint). The full search's selection is
 * the one at its best epoch. A k-epoch probe IS the first k epochs of this run (same seeds), so
 * one run per lambda gives every probe length.
 *
 * Writes `--out` (JSON) and prints a table. Data: `--data FILE` (Criteo text, or `--format csv
 * --label COL --categorical A,B`), or `--synth ROWS` (synthetic, seed 2022).
 *
 *   npx tsx bench/budget-probes.ts --data ../shared/data/criteo-10k/train.txt --lambdas 1e-4,3e-4,1e-3,3e-3,1e-2 --out /tmp/p.json
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ingest } from '../src/data/ingest.js';
import { synthesize } from '../src/data/synth.js';
import { resolveMpeOptions } from '../src/mpe/options.js';
import { MpeSearchStage } from '../src/mpe/search-stage.js';
import { DenseNet } from '../src/train/dense-net.js';
import { fitPhase } from '../src/train/loop.js';
import { SPLIT_TRAIN } from '../src/data/ingest.js';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string' },
    synth: { type: 'string' },
    format: { type: 'string', default: 'criteo' },
    label: { type: 'string' },
    categorical: { type: 'string' },
    lambdas: { type: 'string', default: '1e-4,3e-4,1e-3,3e-3,1e-2' },
    epochs: { type: 'string', default: '8' },
    patience: { type: 'string', default: '3' },
    hidden: { type: 'string', default: '1024,512,256' },
    'batch-size': { type: 'string', default: '2048' },
    groups: { type: 'string', default: '128' },
    threads: { type: 'string', default: '1' },
    seed: { type: 'string', default: '2022' },
    out: { type: 'string' },
  },
});

const seed = Number(a.seed);
const tmp = mkdtempSync(join(tmpdir(), 'mpe-budget-probes-'));
try {
  let path = a.data;
  if (path === undefined) {
    path = join(tmp, 'synth.txt');
    synthesize({ rows: Number(a.synth ?? 40000), out: path, seed });
  }
  const ds = await ingest({
    path,
    format: a.format === 'csv' ? 'csv' : 'criteo',
    ...(a.format === 'csv' ? { csv: { label: a.label!, categorical: a.categorical!.split(','), numeric: [], sep: ',' } } : {}),
    seed,
  });
  const batchSize = Number(a['batch-size']);
  const hidden = a.hidden.split(',').map(Number);
  const d = 16;
  let trainRows = 0;
  for (let i = 0; i < ds.rows; i++) if (ds.split[i] === SPLIT_TRAIN) trainRows++;
  const stepsPerEpoch = Math.ceil(trainRows / batchSize);
  const runs = [];
  for (const lambda of a.lambdas.split(',').map(Number)) {
    const net = await DenseNet.create({ inputDim: ds.fieldCount * d, hidden, lr: 1e-3, weightDecay: 3e-6, seed });
    const mo = resolveMpeOptions({ groups: Number(a.groups), lambda });
    const stage = new MpeSearchStage(ds.rankCounts ?? ds.trainCounts, d, batchSize * ds.fieldCount, mo, { lr: 1e-3, initStd: 0.003, seed });
    const epochs: { epoch: number; validAuc: number; bits: number; probeBits: number; expectedBits: number }[] = [];
    let bestAuc = Number.NEGATIVE_INFINITY;
    let probeBits = 0;
    const t0 = performance.now();
    const r = await fitPhase(ds, stage, net, {
      name: 'search',
      epochs: Number(a.epochs),
      patience: Number(a.patience),
      batchSize,
      seed: seed + 1, // the trainer's seed for its first phase
      intraOpThreads: Number(a.threads),
      afterEpoch: (epoch, valid) => {
        const bits = stage.selectedBits();
        if (valid.auc > bestAuc) {
          bestAuc = valid.auc;
          probeBits = bits;
        }
        epochs.push({ epoch, validAuc: valid.auc, bits, probeBits, expectedBits: stage.expectedBits() });
      },
    });
    await net.close();
    const run = { lambda, bestEpoch: r.bestEpoch, fullBits: stage.selectedBits(), seconds: (performance.now() - t0) / 1000, epochs };
    runs.push(run);
    console.log(
      `lambda ${lambda.toExponential(1)}: full ${run.fullBits.toFixed(3)} bits (best epoch ${r.bestEpoch}); per epoch [selection, best-so-far]: ` +
        epochs.map((e) => `${e.epoch}:${e.bits.toFixed(3)}/${e.probeBits.toFixed(3)}`).join(' ') +
        ` (${run.seconds.toFixed(0)} s, load ${loadavg()[0]!.toFixed(1)})`,
    );
  }
  const result = { data: a.data ?? `synth ${a.synth ?? 40000} rows`, rows: ds.rows, trainRows, featureCount: ds.featureCount, batchSize, stepsPerEpoch, hidden, groups: Number(a.groups), load: loadavg(), runs };
  if (a.out) writeFileSync(a.out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
