/**
 * The demo bundle of `npm start` (no model configured): synthetic Criteo-like data from the
 * trainer's generator, a tiny network trained once with MPE (search, selection, retraining: the
 * product's point is serving a mixed-precision table), cached under the config's `demoDir`.
 * Rebuilt only when the cache has no manifest.json.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { synthesize } from '../data/synth.js';
import type { Logger } from '../util/log.js';
import { TRAINING_METHODS } from '../mpe/methods.js';
import { trainModel } from '../train/trainer.js';

/** Rows of synthetic data and the tiny network: trains in well under a minute on 2 cores. */
const DEMO = Object.freeze({ rows: 20_000, seed: 2022, hidden: [64, 32], epochs: 2, batchSize: 1024, d: 8 });

/** Returns the cached demo bundle directory, building it first if needed. */
export async function ensureDemoBundle(demoDir: string, log: Logger): Promise<string> {
  const root = resolve(demoDir);
  const bundle = join(root, 'bundle');
  if (existsSync(join(bundle, 'manifest.json'))) return bundle;
  const t0 = performance.now();
  log.info({ dir: bundle }, 'no model configured (MPE_MODEL / --model): building the demo bundle (once)');
  mkdirSync(root, { recursive: true });
  const data = join(root, 'synthetic.tsv');
  synthesize({ rows: DEMO.rows, out: data, seed: DEMO.seed });
  rmSync(bundle, { recursive: true, force: true });
  const r = await trainModel({
    data,
    out: bundle,
    method: 'mpe',
    methods: TRAINING_METHODS,
    methodOptions: { groups: 32 },
    modelName: 'demo',
    modelVersion: 'demo-1',
    epochs: DEMO.epochs,
    hidden: DEMO.hidden,
    batchSize: DEMO.batchSize,
    d: DEMO.d,
    seed: DEMO.seed,
  });
  rmSync(data, { force: true });
  log.info({ dir: bundle, seconds: Math.round(performance.now() - t0) / 1000, testAuc: r.metrics.test.auc }, 'demo bundle ready');
  return bundle;
}
