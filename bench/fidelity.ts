/**
 * MPE fidelity against the authors' code (`npm run bench:fidelity`): our ingestion of a data set
 * is written to the npz the reference runner reads (shared/tools/mperef/README.md), then for each
 * lambda x seed the reference (Debian python3-torch, `/usr/bin/python3`) and ours train on the
 * SAME ids, counts and split, one after the other in this process (so their speeds are a ratio
 * measured under the same load). Prints one table per data set: test AUC and average bits per
 * feature of both, means and spreads over seeds, training samples/s of both, and the issue's
 * targets. Writes bench/results/fidelity-<data>.json and regenerates docs/benchmarks.md.
 *
 * Data (`--data`, comma-separated):
 *  - `criteo-10k`: <data-dir>/criteo-10k/train.txt, Criteo format;
 *  - `movielens-100k`: a CTR set built here from <data-dir>/movielens-100k (u.data joined with
 *    u.user and u.item): click = rating >= 4; fields user, item, age, gender, occupation, zip,
 *    release year, genres (the item's genre flags as one token), weekday and hour of the rating
 *    (UTC). Written to the work directory, never into the repository.
 * The split is ours (random 8:1:1, `--split-seed`, default 2022) and the same for every run; the
 * seeds change initialisation (and our shuffles) only. The reference feeds train rows in file order.
 *
 * Flags: --data LIST (default criteo-10k), --lambdas LIST (3e-4,3e-5,3e-6), --seeds LIST
 * (2022,2023,2024), --epochs N (15), --patience N (2), --batch-size N (2048), --split-seed N,
 * --data-dir DIR (env MPE_DATA_DIR, default ../shared/data), --mperef DIR (env MPE_REF_DIR,
 * default ../shared/tools/mperef), --work DIR (default a temp dir), --trace (write per-epoch search
 * traces of both sides, JSON lines, into the work dir and keep it), --no-ref (ours only), --no-write
 * (print only), --timeout S (per reference run, default 3600), --reuse (take a run's results from
 * the work dir when an earlier invocation left them there: ref-<tag>.json, ours-<tag>.json),
 * --cached-only (with --reuse: tabulate only the runs found, run nothing), --pareto LIST (after the
 * grid, ours in budget mode at each of these bits per weight, e.g. 1,2,3,4, for every seed of
 * --pareto-seeds, default --seeds: a second table and an SVG chart of test AUC against bits per
 * weight, ours against the reference's lambda-grid runs, docs/fidelity-pareto-<data>.svg; cached
 * in the work dir as pareto-<data>-b<bits>-s<seed>.json like the grid's runs).
 * Runs go seed by seed (every lambda of a seed, then the next seed), each reference run followed
 * by ours on the same configuration, so that a run cut short still has whole seeds.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Dataset, ingest } from '../src/data/ingest.js';
import { writeNpz } from '../src/data/npz.js';
import { type ParetoPoint, type ParetoSeries, paretoSvg } from '../src/mpe/compare.js';
import { type BudgetReport, TRAINING_METHODS } from '../src/mpe/methods.js';
import type { TrainEvent } from '../src/train/loop.js';
import { trainModel } from '../src/train/trainer.js';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PY = '/usr/bin/python3';

const { values: flags } = parseArgs({
  options: {
    data: { type: 'string', default: 'criteo-10k' },
    lambdas: { type: 'string', default: '3e-4,3e-5,3e-6' },
    seeds: { type: 'string', default: '2022,2023,2024' },
    epochs: { type: 'string', default: '15' },
    patience: { type: 'string', default: '2' },
    'batch-size': { type: 'string', default: '2048' },
    'split-seed': { type: 'string', default: '2022' },
    'data-dir': { type: 'string' },
    mperef: { type: 'string' },
    work: { type: 'string' },
    trace: { type: 'boolean', default: false },
    'no-ref': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    reuse: { type: 'boolean', default: false },
    'cached-only': { type: 'boolean', default: false },
    pareto: { type: 'string' },
    'pareto-seeds': { type: 'string' },
    timeout: { type: 'string', default: '3600' },
  },
});

const list = (s: string): number[] => s.split(',').map((x) => Number(x.trim()));
const lambdas = list(flags.lambdas!);
const seeds = list(flags.seeds!);
const paretoTargets = flags.pareto ? list(flags.pareto) : [];
const paretoSeeds = flags['pareto-seeds'] ? list(flags['pareto-seeds']) : seeds;
const epochs = Number(flags.epochs);
const patience = Number(flags.patience);
const batchSize = Number(flags['batch-size']);
const splitSeed = Number(flags['split-seed']);
const dataDir = resolve(ROOT, flags['data-dir'] ?? process.env.MPE_DATA_DIR ?? '../shared/data');
const refDir = resolve(ROOT, flags.mperef ?? process.env.MPE_REF_DIR ?? '../shared/tools/mperef');
const work = flags.work ? resolve(flags.work) : mkdtempSync(join(tmpdir(), 'mpe-fidelity-'));
mkdirSync(work, { recursive: true });
const keepWork = flags.trace || flags.work !== undefined;

/** One side's result of one run. */
interface Side {
  readonly auc: number;
  readonly logLoss: number;
  readonly bits: number;
  /** Training samples/s: search phase, retrain phase, and all training batches. */
  readonly searchSps: number;
  readonly retrainSps: number;
  readonly wallSeconds: number;
  readonly searchEpoch: number;
  readonly bitsPerGroup: readonly number[];
}

interface Run {
  readonly lambda: number;
  readonly seed: number;
  readonly ref: Side | null;
  readonly ours: Side;
  /** 1-minute load average before the reference run and after ours. */
  readonly loads: readonly [number, number];
}

function refAvailable(): string | null {
  if (flags['no-ref']) return 'skipped (--no-ref)';
  if (!existsSync(PY)) return `${PY} not found`;
  const r = spawnSync(PY, ['-c', 'import torch, sklearn, numpy'], { encoding: 'utf8' });
  if (r.status !== 0) return `torch/sklearn not importable by ${PY} (apt-get install -y python3-torch python3-sklearn): ${r.stderr.trim().split('\n').pop()}`;
  if (!existsSync(join(refDir, 'run_official.py'))) return `${join(refDir, 'run_official.py')} not found (--mperef)`;
  return null;
}

/** MovieLens-100k as a CTR csv (see the file comment); returns its path. */
function movielensCsv(dir: string): string {
  const src = join(dataDir, 'movielens-100k');
  const users = new Map<string, string[]>();
  for (const l of readFileSync(join(src, 'u.user'), 'latin1').split('\n')) {
    const p = l.split('|');
    if (p.length >= 5) users.set(p[0]!, [p[1]!, p[2]!, p[3]!, p[4]!]);
  }
  const items = new Map<string, string[]>();
  for (const l of readFileSync(join(src, 'u.item'), 'latin1').split('\n')) {
    const p = l.split('|');
    if (p.length < 24) continue;
    const year = /(\d{4})$/.exec(p[2]!)?.[1] ?? 'none';
    items.set(p[0]!, [year, p.slice(5, 24).join('')]);
  }
  const out = ['click,user,item,age,gender,occupation,zip,year,genres,weekday,hour'];
  for (const l of readFileSync(join(src, 'u.data'), 'latin1').split('\n')) {
    const p = l.split('\t');
    if (p.length < 4) continue;
    const u = users.get(p[0]!);
    const it = items.get(p[1]!);
    if (!u || !it) throw new Error(`movielens: unknown user ${p[0]} or item ${p[1]}`);
    const t = new Date(Number(p[3]) * 1000);
    out.push([Number(p[2]) >= 4 ? 1 : 0, p[0], p[1], u[0], u[1], u[2], u[3], it[0], it[1], t.getUTCDay(), t.getUTCHours()].join(','));
  }
  const path = join(dir, 'movielens-100k-ctr.csv');
  writeFileSync(path, `${out.join('\n')}\n`);
  return path;
}

async function load(name: string): Promise<Dataset> {
  if (name === 'criteo-10k') return ingest({ path: join(dataDir, 'criteo-10k', 'train.txt'), format: 'criteo', seed: splitSeed });
  if (name === 'movielens-100k') {
    const csv = { label: 'click', categorical: ['user', 'item', 'age', 'gender', 'occupation', 'zip', 'year', 'genres', 'weekday', 'hour'], numeric: [], sep: ',' };
    return ingest({ path: movielensCsv(work), format: 'csv', csv, seed: splitSeed });
  }
  throw new Error(`--data: unknown data set '${name}' (criteo-10k, movielens-100k)`);
}

/** The npz of shared/tools/mperef/README.md from our ingestion: same ids, counts (train split) and split. */
function writeDatasetNpz(ds: Dataset, path: string): void {
  const cnt = new BigInt64Array(ds.featureCount);
  for (let i = 0; i < ds.featureCount; i++) cnt[i] = BigInt(ds.trainCounts[i]!);
  writeNpz(path, {
    X: { data: ds.ids, shape: [ds.rows, ds.fieldCount] },
    y: { data: ds.labels, shape: [ds.rows] },
    split: { data: ds.split, shape: [ds.rows] },
    feat_cnt: { data: cnt, shape: [ds.featureCount] },
  });
}

/**
 * G for the reference: the number of groups G = 128 forms, ceil(n / ceil(n / 128)). When
 * s * (G - 1) >= n (s = ceil(n / G)) the authors' code leaves the last G - ceil(n / s) groups EMPTY;
 * their zero count sum becomes the normaliser (group_cnt / group_cnt.min()), so every real group
 * gets f_g = inf, its regulariser term is 0 and lambda has no effect (the empty groups' logits turn
 * NaN, unused). Given ceil(n / s) groups it forms exactly our groups (same s, same partial group)
 * with finite weights. docs/mpe.md "Fidelity to the authors' code"; criteo-10k: 128 either way.
 */
function refGroups(featureCount: number): number {
  return Math.ceil(featureCount / Math.ceil(featureCount / 128));
}

function runRef(npz: string, name: string, lambda: number, seed: number, featureCount: number): Side {
  const tag = `${name}-l${lambda}-s${seed}`;
  const out = join(work, `ref-${tag}.json`);
  if (!(flags.reuse && existsSync(out))) runRefProcess(npz, name, lambda, seed, refGroups(featureCount), tag, out);
  const j = JSON.parse(readFileSync(out, 'utf8')) as {
    wall_s: number;
    record: { test_auc: number; test_loss: number; search_epoch: number };
    phases: Record<string, { train_samples_per_s: number }>;
    avg_bits_per_feature: number;
    bits_per_group: number[];
  };
  return {
    auc: j.record.test_auc,
    logLoss: j.record.test_loss,
    bits: j.avg_bits_per_feature,
    searchSps: j.phases.search?.train_samples_per_s ?? Number.NaN,
    retrainSps: j.phases.retrain?.train_samples_per_s ?? Number.NaN,
    wallSeconds: j.wall_s,
    searchEpoch: j.record.search_epoch,
    // reference order: group 0 = rarest; ours: group 0 = most frequent
    bitsPerGroup: [...j.bits_per_group].reverse(),
  };
}

function runRefProcess(npz: string, name: string, lambda: number, seed: number, groups: number, tag: string, out: string): void {
  const args = [
    join(refDir, 'run_official.py'),
    '--code',
    join(refDir, 'official'),
    '--npz',
    npz,
    '--dataset',
    name.replace(/[^a-z0-9]/gi, ''),
    '--emb_type',
    'optfp',
    '--l2_gamma',
    String(lambda),
    '--epoch',
    String(epochs),
    '--early_stop',
    String(patience),
    '--batch_size',
    String(batchSize),
    '--l2',
    '0',
    '--seed',
    String(seed),
    '--group',
    String(groups),
    '--out',
    out,
    '--work',
    join(work, 'ref-work', tag),
  ];
  const argv = flags.trace ? [join(ROOT, 'bench', 'fidelity-trace.py'), '--trace', join(work, `trace-ref-${tag}.jsonl`), ...args] : args;
  const r = spawnSync(PY, argv, { encoding: 'utf8', timeout: Number(flags.timeout) * 1000, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`reference run ${tag} failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
}

/** Ours at `lambda`, or in budget mode at `{ targetBits }`; the search's per-epoch trace with --trace (lambda runs only). */
async function runOurs(ds: Dataset, name: string, setting: number | { targetBits: number }, seed: number): Promise<Side & { lambda: number; budget: BudgetReport | null }> {
  const budget = typeof setting !== 'number';
  const tag = budget ? `${name}-b${setting.targetBits}-s${seed}` : `${name}-l${setting}-s${seed}`;
  const trace = flags.trace && !budget;
  const tracePath = join(work, `trace-ours-${tag}.jsonl`);
  if (trace) writeFileSync(tracePath, '');
  const onEvent = (e: TrainEvent): void => {
    if (!trace || e.type !== 'search-epoch') return;
    // Same record as bench/fidelity-trace.py, in the reference's group order (rarest first).
    const G = e.bitsPerGroup.length;
    const K = e.logits.length / G;
    const rev = <T>(a: ArrayLike<T>, k: number): T[] => {
      const o: T[] = [];
      for (let g = G - 1; g >= 0; g--) for (let j = 0; j < k; j++) o.push(a[g * k + j]!);
      return o;
    };
    appendFileSync(
      tracePath,
      `${JSON.stringify({ epoch: e.epoch, validAuc: e.validAuc, bitsPerGroup: rev(e.bitsPerGroup, 1), logits: rev(e.logits, K), probabilities: rev(e.probabilities, K), selectedBits: e.selectedBits, expectedBits: e.expectedBits })}\n`,
    );
  };
  const t0 = performance.now();
  const r = await trainModel({
    dataset: ds,
    out: join(work, `ours-${tag}`),
    method: 'mpe',
    methods: TRAINING_METHODS,
    methodOptions: budget ? { targetBits: setting.targetBits } : { lambda: setting },
    epochs,
    patience,
    batchSize,
    weightDecay: 0,
    seed,
    onEvent,
  });
  const wall = (performance.now() - t0) / 1000;
  rmSync(join(work, `ours-${tag}`), { recursive: true, force: true });
  const phase = (n: string) => r.phases.find((p) => p.name === n)!;
  const mpe = r.manifest.training.mpe as { averageBits: number; searchBestEpoch: number; bitsPerGroup: number[]; lambda: number; budget?: BudgetReport | null };
  return {
    auc: r.metrics.test.auc,
    logLoss: r.metrics.test.logLoss,
    bits: mpe.averageBits,
    searchSps: phase('search').samples / phase('search').trainSeconds,
    retrainSps: phase('retrain').samples / phase('retrain').trainSeconds,
    wallSeconds: wall,
    searchEpoch: mpe.searchBestEpoch,
    bitsPerGroup: mpe.bitsPerGroup,
    lambda: mpe.lambda,
    budget: mpe.budget ?? null,
  };
}

const mean = (a: readonly number[]) => a.reduce((s, x) => s + x, 0) / a.length;
const spread = (a: readonly number[]) => Math.max(...a) - Math.min(...a);
const ratio = (a: readonly number[]) => Math.max(...a) / Math.max(Math.min(...a), 1e-9);
const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

function table(name: string, ds: Dataset, runs: readonly Run[], refNote: string | null, loads: readonly number[]): string {
  const lines: string[] = [];
  lines.push(
    `Data: ${name}, ${ds.rows.toLocaleString('en-US')} rows (train/valid/test ${ds.stats.rowsPerSplit.join('/')}), ${ds.fieldCount} fields, ${ds.featureCount.toLocaleString('en-US')} features; split seed ${splitSeed}; ` +
      `${epochs} epochs, patience ${patience}, batch ${batchSize}, weight decay 0, G 128 (${refGroups(ds.featureCount)} groups formed; the reference is given --group ${refGroups(ds.featureCount)}, see docs/mpe.md), tau 3e-3, bits 0..6; ${runs.length} of ${lambdas.length * seeds.length} runs (lambdas ${lambdas.join(', ')} x seeds ${seeds.join(', ')}; seeds run: ${[...new Set(runs.map((r) => r.seed))].join(', ')}). Load average (1 min) during the runs: ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)}.`,
  );
  if (refNote) lines.push('', `Reference: ${refNote}.`);
  lines.push('', '| lambda | seed | ref AUC | ours AUC | ref bits | ours bits | ref search samples/s | ours search samples/s | ref retrain samples/s | ours retrain samples/s |', '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of runs) {
    lines.push(
      `| ${r.lambda} | ${r.seed} | ${f4(r.ref?.auc ?? Number.NaN)} | ${f4(r.ours.auc)} | ${f2(r.ref?.bits ?? Number.NaN)} | ${f2(r.ours.bits)} | ${Math.round(r.ref?.searchSps ?? Number.NaN) || '-'} | ${Math.round(r.ours.searchSps)} | ${Math.round(r.ref?.retrainSps ?? Number.NaN) || '-'} | ${Math.round(r.ours.retrainSps)} |`,
    );
  }
  lines.push(
    '',
    '| lambda | ref AUC mean (spread) | ours AUC mean (spread) | ref bits mean (max/min) | ours bits mean (max/min) | bits ours/ref | AUC ours-ref | speed ours/ref (search) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  const targets: string[] = [];
  const oursMeans: number[] = [];
  for (const l of lambdas) {
    const rs = runs.filter((r) => r.lambda === l);
    if (rs.length === 0) continue;
    const oa = rs.map((r) => r.ours.auc);
    const ob = rs.map((r) => r.ours.bits);
    oursMeans.push(mean(ob));
    const refs = rs.map((r) => r.ref).filter((x): x is Side => x !== null);
    const ra = refs.map((r) => r.auc);
    const rb = refs.map((r) => r.bits);
    const has = refs.length > 0;
    const bitsRatio = has ? mean(ob) / mean(rb) : Number.NaN;
    const dAuc = has ? mean(oa) - mean(ra) : Number.NaN;
    const speed = has ? mean(rs.map((r) => r.ours.searchSps)) / mean(refs.map((r) => r.searchSps)) : Number.NaN;
    lines.push(
      `| ${l} | ${has ? `${f4(mean(ra))} (${f4(spread(ra))})` : '-'} | ${f4(mean(oa))} (${f4(spread(oa))}) | ${has ? `${f2(mean(rb))} (${f2(ratio(rb))}x)` : '-'} | ${f2(mean(ob))} (${f2(ratio(ob))}x) | ${f2(bitsRatio)} | ${has ? (dAuc >= 0 ? '+' : '') + dAuc.toFixed(4) : '-'} | ${f2(speed)}x |`,
    );
    if (has) {
      const within = bitsRatio <= 1.25 && bitsRatio >= 1 / 1.25;
      targets.push(`lambda ${l}: bits within 1.25x of the reference: ${within ? 'yes' : 'NO'} (${f2(bitsRatio)}x); AUC >= ref - 0.003: ${dAuc >= -0.003 ? 'yes' : 'NO'} (${dAuc.toFixed(4)})`);
      if (rs.length > 1) {
        const ok = ratio(ob) <= 1.5 * ratio(rb);
        targets.push(`lambda ${l}: seed spread of bits ${f2(ratio(ob))}x vs the reference's ${f2(ratio(rb))}x: ${ok ? 'within' : 'NOT within'} 1.5x of it`);
      }
    }
  }
  const sortedByLambda = lambdas
    .map((l, i) => [l, oursMeans[i]] as const)
    .filter(([, b]) => b !== undefined)
    .sort((a, b) => a[0] - b[0]);
  let decreasing = sortedByLambda.length > 1;
  for (let i = 1; i < sortedByLambda.length; i++) if (!(sortedByLambda[i]![1]! < sortedByLambda[i - 1]![1]!)) decreasing = false;
  targets.push(`our mean bits strictly decreasing as lambda grows: ${decreasing ? 'yes' : 'NO'} (${sortedByLambda.map(([l, b]) => `${l}: ${f2(b!)}`).join(', ')})`);
  lines.push('', 'Targets (issue 12):', '', ...targets.map((t) => `- ${t}`));
  return lines.join('\n');
}

/** One budget-mode run of ours (--pareto). */
interface ParetoRun {
  readonly targetBits: number;
  readonly seed: number;
  readonly ours: Side & { lambda: number; budget: BudgetReport | null };
  readonly loads: readonly [number, number];
}

/** Linear interpolation of y at x on points sorted by x; NaN outside their range (no extrapolation). */
function interpolate(points: readonly (readonly [number, number])[], x: number): number {
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1]!;
    const [x1, y1] = points[i]!;
    if (x >= x0 && x <= x1) return x1 === x0 ? (y0 + y1) / 2 : y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
  }
  return Number.NaN;
}

/**
 * The Pareto table: ours in budget mode per target (means over seeds), then each reference
 * lambda (means over seeds) with our AUC at the same bits, interpolated between our budget
 * means. Returns the markdown and the chart's series.
 */
function paretoTable(name: string, grid: readonly Run[], pareto: readonly ParetoRun[]): { md: string; series: ParetoSeries[] } {
  const lines: string[] = [];
  const loads = pareto.flatMap((p) => [...p.loads]);
  lines.push(
    `AUC vs bits per weight (issue 12 item 4): ours in budget mode (\`--target-bits\`, bisection over 7 calibrated lambda probes, then the budget held by lowering groups) at ${paretoTargets.join(', ')} bits, seeds ${[...new Set(pareto.map((p) => p.seed))].join(', ')} (${pareto.length} of ${paretoTargets.length * paretoSeeds.length} runs); the reference's points are its lambda-grid runs above. Same data, split and protocol. Load average (1 min) during our budget runs: ${loads.length ? `${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)}` : '-'}.`,
    '',
    '| target bits | runs | ours bits mean (min-max) | ours AUC mean (spread) | lambda found (min-max) | search bits before holding the budget | groups lowered (mean) |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  );
  const curve: [number, number][] = [];
  for (const t of paretoTargets) {
    const rs = pareto.filter((p) => p.targetBits === t);
    if (rs.length === 0) continue;
    const b = rs.map((r) => r.ours.bits);
    const a = rs.map((r) => r.ours.auc);
    const l = rs.map((r) => r.ours.lambda);
    const sb = rs.map((r) => r.ours.budget?.searchBits ?? Number.NaN);
    const gl = rs.map((r) => r.ours.budget?.groupsLowered ?? Number.NaN);
    curve.push([mean(b), mean(a)]);
    lines.push(
      `| ${t} | ${rs.length} | ${f2(mean(b))} (${f2(Math.min(...b))}-${f2(Math.max(...b))}) | ${f4(mean(a))} (${f4(spread(a))}) | ${Math.min(...l).toExponential(2)}-${Math.max(...l).toExponential(2)} | ${f2(mean(sb))} | ${f2(mean(gl))} |`,
    );
  }
  curve.sort((x, y) => x[0] - y[0]);
  if (!grid.some((r) => r.ref !== null)) lines.push('', 'No reference runs to compare with.');
  else lines.push('', '| reference lambda | runs | ref bits mean | ref AUC mean | ours AUC at the same bits (budget curve) | ours - ref |', '|---|---:|---:|---:|---:|---:|');
  for (const l of lambdas) {
    const refs = grid.filter((r) => r.lambda === l && r.ref !== null).map((r) => r.ref!);
    if (refs.length === 0) continue;
    const rb = mean(refs.map((r) => r.bits));
    const ra = mean(refs.map((r) => r.auc));
    const ours = interpolate(curve, rb);
    const d = ours - ra;
    lines.push(`| ${l} | ${refs.length} | ${f2(rb)} | ${f4(ra)} | ${Number.isFinite(ours) ? f4(ours) : 'outside our targets'} | ${Number.isFinite(d) ? (d >= 0 ? '+' : '') + d.toFixed(4) : '-'} |`);
  }
  const runPoint = (s: Side, label: string): ParetoPoint => ({ bits: s.bits, auc: s.auc, label });
  const series: ParetoSeries[] = [
    { name: 'ours, budget mode (runs)', points: pareto.map((p) => runPoint(p.ours, `target ${p.targetBits}, seed ${p.seed}`)) },
    { name: 'ours, budget mode (mean per target)', points: curve.map(([bits, auc]) => ({ bits, auc })), line: true },
    { name: 'ours, lambda grid (runs)', points: grid.map((r) => runPoint(r.ours, `lambda ${r.lambda}, seed ${r.seed}`)) },
    { name: 'reference, lambda grid (runs)', points: grid.filter((r) => r.ref !== null).map((r) => runPoint(r.ref!, `lambda ${r.lambda}, seed ${r.seed}`)) },
  ];
  const svg = `fidelity-pareto-${name}.svg`;
  lines.push('', `![test AUC vs bits per weight, ${name}: ours in budget mode and the reference's lambda grid](${svg})`);
  return { md: lines.join('\n'), series: series.filter((x) => x.points.length > 0) };
}

/**
 * One run through the work dir's cache: with --reuse a run an earlier invocation left there is
 * read back; otherwise (unless --cached-only: null) `make` runs, given the load average before
 * it, and its result is cached.
 */
async function cachedRun<T>(file: string, make: (loadBefore: number) => Promise<T>): Promise<T | null> {
  const cache = join(work, file);
  if (flags.reuse && existsSync(cache)) return JSON.parse(readFileSync(cache, 'utf8')) as T;
  if (flags['cached-only']) return null;
  const run = await make(loadavg()[0]!);
  writeFileSync(cache, JSON.stringify(run));
  return run;
}

const refMissing = refAvailable();
if (refMissing) console.log(`bench:fidelity: the reference will not run: ${refMissing}`);
try {
  for (const name of flags.data!.split(',').map((s) => s.trim())) {
    const ds = await load(name);
    const npz = join(work, `${name}.npz`);
    writeDatasetNpz(ds, npz);
    console.log(`${name}: ${ds.rows} rows, ${ds.featureCount} features; npz ${npz}`);
    const runs: Run[] = [];
    const loads: number[] = [];
    for (const seed of seeds) {
      for (const lambda of lambdas) {
        const run = await cachedRun<Run>(`run-${name}-l${lambda}-s${seed}.json`, async (l0) => {
          const ref = refMissing ? null : runRef(npz, name, lambda, seed, ds.featureCount);
          const ours = await runOurs(ds, name, lambda, seed);
          return { lambda, seed, ref, ours, loads: [l0, loadavg()[0]!] };
        });
        if (run === null) continue;
        const { ref, ours } = run;
        loads.push(...run.loads);
        runs.push(run);
        console.log(
          `${name} lambda ${lambda} seed ${seed}: ref AUC ${f4(ref?.auc ?? Number.NaN)} bits ${f2(ref?.bits ?? Number.NaN)} (${f2(ref?.wallSeconds ?? Number.NaN)} s) | ours AUC ${f4(ours.auc)} bits ${f2(ours.bits)} (${f2(ours.wallSeconds)} s) | load ${loadavg()[0]!.toFixed(2)}`,
        );
      }
    }
    runs.sort((a, b) => b.lambda - a.lambda || a.seed - b.seed);
    const pareto: ParetoRun[] = [];
    for (const seed of paretoSeeds) {
      for (const targetBits of paretoTargets) {
        const run = await cachedRun<ParetoRun>(`pareto-${name}-b${targetBits}-s${seed}.json`, async (l0) => {
          const ours = await runOurs(ds, name, { targetBits }, seed);
          return { targetBits, seed, ours, loads: [l0, loadavg()[0]!] };
        });
        if (run === null) continue;
        pareto.push(run);
        console.log(
          `${name} budget ${targetBits} bits seed ${seed}: ours AUC ${f4(run.ours.auc)} bits ${f2(run.ours.bits)} lambda ${run.ours.lambda.toExponential(2)} (${f2(run.ours.wallSeconds)} s) | load ${loadavg()[0]!.toFixed(2)}`,
        );
      }
    }
    let md = table(name, ds, runs, refMissing, loads);
    let svg: string | null = null;
    if (pareto.length > 0) {
      const p = paretoTable(name, runs, pareto);
      md += `\n\n${p.md}`;
      svg = paretoSvg(`${name}: test AUC vs bits per weight (ours in budget mode, the reference's lambda grid)`, p.series);
    }
    console.log(`\n${md}\n`);
    const args = process.argv.slice(2).join(' ');
    if (!flags['no-write']) {
      writeResult({
        name: `fidelity-${name}`,
        title: `MPE fidelity vs the authors' code: ${name}`,
        command: `npm run bench:fidelity${args ? ` -- ${args}` : ''}`,
        date: new Date().toISOString(),
        machine: describeMachine(),
        markdown: md,
        data: { name, rows: ds.rows, featureCount: ds.featureCount, epochs, patience, batchSize, splitSeed, lambdas, seeds, loads, runs, paretoTargets, pareto },
      });
      if (svg !== null) writeFileSync(join(ROOT, 'docs', `fidelity-pareto-${name}.svg`), svg);
    }
  }
  if (!flags['no-write']) writeBenchmarksDoc();
} finally {
  if (keepWork) console.log(`work directory kept: ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
