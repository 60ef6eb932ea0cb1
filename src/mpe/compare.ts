/**
 * The comparison report: several methods trained on the SAME ingested data set and split, one
 * row per method: test AUC and LogLoss (from the bundle as served for row-wise methods, from the
 * trainer's evaluation otherwise — the e2e tests check those agree within 1e-5), average bits per
 * weight, weights-only ratio (32 / bits), all-in ratio, bundle bytes and training time.
 *
 * All-in ratio (docs/mpe.md "Accounting in the comparison"): (fp32 rows 4*d*n + vocab.bin bytes) / (table.bin bytes, i.e.
 * packed codes + header + per-group bits/alpha/beta/offsets, + vocab.bin bytes): every byte the
 * service holds to turn a request's raw feature values into embeddings. The ONNX scorer is the
 * same for every method and is counted in "bundle bytes" only.
 * Row-wise rows carry their fp16 scale and bias, so their bits per weight are (d/2 or d, + 4) * 8 / d.
 *
 * The bits chosen per group are drawn as text bars (terminal) and as an SVG bar chart rendered
 * with echarts' server-side SVG renderer (already a dependency; no DOM needed).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as echarts from 'echarts';
import { loadBundle } from '../bundle/load.js';
import { rowwiseRowBytes } from '../codec/layout.js';
import { type Dataset, SPLIT_TEST } from '../data/ingest.js';
import { MpeError } from '../errors.js';
import type { TrainEvent } from '../train/loop.js';
import { TRAIN_DEFAULTS } from '../train/options.js';
import { type TrainOptions, trainModel } from '../train/trainer.js';
import { type BudgetReport, budgetTargetText, TRAINING_METHODS, validateMpeMethodOptions } from './methods.js';
import { quantizeBundleRowwise } from './rowwise.js';
import { scoreBundleOnSplit } from './score-bundle.js';
import { averageBitsPerFeature } from './selection.js';

/** A parsed method name: fp32, mpe, uniform<b> (1..8), rowwise-int8 / rowwise-int4. */
export type CompareMethod = { kind: 'fp32' } | { kind: 'mpe' } | { kind: 'uniform'; bits: number } | { kind: 'rowwise'; bits: 4 | 8 };

/** Parses "fp32,uniform4,mpe,rowwise-int8" (MPE_ERR_MPE_METHOD on an unknown name). */
export function parseMethods(list: string): { name: string; method: CompareMethod }[] {
  const out: { name: string; method: CompareMethod }[] = [];
  for (const raw of list.split(',')) {
    const name = raw.trim();
    let m: CompareMethod;
    const u = /^uniform([1-8])$/.exec(name);
    if (name === 'fp32') m = { kind: 'fp32' };
    else if (name === 'mpe') m = { kind: 'mpe' };
    else if (u) m = { kind: 'uniform', bits: Number(u[1]) };
    else if (name === 'rowwise-int8' || name === 'int8') m = { kind: 'rowwise', bits: 8 };
    else if (name === 'rowwise-int4' || name === 'int4') m = { kind: 'rowwise', bits: 4 };
    else throw new MpeError('MPE_ERR_MPE_METHOD', `"${name}"`);
    if (out.some((o) => o.name === name)) throw new MpeError('MPE_ERR_MPE_METHOD', `"${name}" listed twice`);
    out.push({ name, method: m });
  }
  if (out.length === 0) throw new MpeError('MPE_ERR_MPE_METHOD', 'no method given');
  return out;
}

export interface CompareRow {
  readonly method: string;
  readonly testAuc: number;
  readonly testLogLoss: number;
  /** Stored bits per weight (the paper's "average bits per feature"). */
  readonly avgBits: number;
  readonly weightsRatio: number;
  readonly allInRatio: number;
  /** All files of the bundle (manifest, table, vocabulary, scorer). */
  readonly bundleBytes: number;
  readonly tableBytes: number;
  readonly vocabBytes: number;
  /** Wall seconds to train (all phases, evaluation included) and write the bundle; row-wise: its fp32 run plus quantization. */
  readonly trainSeconds: number;
  /** Training samples per second over all phases (evaluation excluded); absent for row-wise. */
  readonly samplesPerSecond: number | null;
  readonly bundleDir: string;
  /** Grouped tables: bits of each group (group 0 = most frequent). */
  readonly bitsPerGroup: number[] | null;
  /** MPE: the lambda used. */
  readonly lambda: number | null;
  /** MPE budget mode: target, lambda, bits of the search's selection and after enforcement, groups lowered. */
  readonly budget: BudgetReport | null;
}

export interface CompareReport {
  readonly dataset: string;
  readonly rows: number;
  readonly featureCount: number;
  readonly d: number;
  readonly results: CompareRow[];
}

export interface CompareOptions {
  /** Label of the data set in the report. */
  readonly name: string;
  readonly dataset: Dataset;
  /** Directory for one bundle per method (`<outDir>/<method>`). */
  readonly outDir: string;
  readonly methods: string;
  /** Common trainer options (epochs, batch size, hidden, d, seed, threads...). */
  readonly train?: Omit<TrainOptions, 'data' | 'dataset' | 'out' | 'method' | 'methodOptions' | 'onEvent'>;
  /** MPE options (groups, bits list, tau, lambda, targetBits, ...). */
  readonly mpe?: Readonly<Record<string, unknown>>;
  readonly onEvent?: (e: TrainEvent) => void;
}

function dirBytes(dir: string): number {
  let s = 0;
  for (const f of readdirSync(dir)) s += statSync(join(dir, f)).size;
  return s;
}

async function describe(dir: string, ds: Dataset): Promise<{ avgBits: number; tableBytes: number; vocabBytes: number; bitsPerGroup: number[] | null }> {
  const b = await loadBundle(dir, { verify: false });
  const spec = b.table.spec;
  const tableBytes = b.manifest.files['table.bin'].bytes;
  const vocabBytes = b.manifest.files['vocab.bin'].bytes;
  if (spec.kind === 'rowwise') return { avgBits: (rowwiseRowBytes(spec.bits, spec.d) * 8) / spec.d, tableBytes, vocabBytes, bitsPerGroup: null };
  return { avgBits: averageBitsPerFeature(spec.bitsPerGroup, ds.featureCount, spec.groupSize, spec.groupPad), tableBytes, vocabBytes, bitsPerGroup: [...spec.bitsPerGroup] };
}

/** Trains every method on `o.dataset` and returns the table's rows (bundles stay in `o.outDir`). */
export async function runComparison(o: CompareOptions): Promise<CompareReport> {
  const methods = parseMethods(o.methods);
  if (methods.some((m) => m.method.kind === 'mpe')) validateMpeMethodOptions(o.mpe ?? {}); // before any training
  const ds = o.dataset;
  const d = o.train?.d ?? TRAIN_DEFAULTS.d;
  const results: CompareRow[] = [];
  let fp32: { dir: string; seconds: number; sps: number } | null = null;
  const trainOne = async (name: string, method: string, methodOptions: Readonly<Record<string, unknown>>) => {
    const out = join(o.outDir, name);
    const t0 = performance.now();
    const r = await trainModel({ ...(o.train ?? {}), dataset: ds, out, method, methods: TRAINING_METHODS, methodOptions, ...(o.onEvent ? { onEvent: o.onEvent } : {}) });
    return { r, out, seconds: (performance.now() - t0) / 1000 };
  };
  const row = async (name: string, dir: string, auc: number, ll: number, seconds: number, sps: number | null, lambda: number | null, budget: BudgetReport | null = null): Promise<CompareRow> => {
    const info = await describe(dir, ds);
    const vocab = info.vocabBytes;
    return {
      method: name,
      testAuc: auc,
      testLogLoss: ll,
      avgBits: info.avgBits,
      weightsRatio: 32 / info.avgBits,
      allInRatio: (4 * d * ds.featureCount + vocab) / (info.tableBytes + vocab),
      bundleBytes: dirBytes(dir),
      tableBytes: info.tableBytes,
      vocabBytes: vocab,
      trainSeconds: seconds,
      samplesPerSecond: sps,
      bundleDir: dir,
      bitsPerGroup: info.bitsPerGroup,
      lambda,
      budget,
    };
  };
  const ensureFp32 = async () => {
    if (fp32) return fp32;
    const { r, out, seconds } = await trainOne('fp32', 'fp32', {});
    fp32 = { dir: out, seconds, sps: r.samplesPerSecond };
    return { ...fp32, r };
  };
  for (const { name, method } of methods) {
    o.onEvent?.({ type: 'log', message: `compare: ${name}` });
    if (method.kind === 'fp32') {
      const f = await ensureFp32();
      const s = 'r' in f ? f.r.metrics.test : (await scoreBundleOnSplit(f.dir, ds, SPLIT_TEST)) as { auc: number; logLoss: number };
      results.push(await row(name, f.dir, s.auc, s.logLoss, f.seconds, f.sps, null));
    } else if (method.kind === 'rowwise') {
      const f = await ensureFp32();
      const out = join(o.outDir, name);
      const t0 = performance.now();
      await quantizeBundleRowwise(f.dir, out, method.bits);
      const s = await scoreBundleOnSplit(out, ds, SPLIT_TEST);
      results.push(await row(name, out, s.auc, s.logLoss, f.seconds + (performance.now() - t0) / 1000, null, null));
    } else {
      const extra = method.kind === 'uniform' ? { bits: method.bits } : (o.mpe ?? {});
      const { r, out, seconds } = await trainOne(name, method.kind, extra);
      const info = method.kind === 'mpe' ? (r.manifest.training as { mpe?: { lambda?: number; budget?: BudgetReport | null } }).mpe : undefined;
      results.push(await row(name, out, r.metrics.test.auc, r.metrics.test.logLoss, seconds, r.samplesPerSecond, info?.lambda ?? null, info?.budget ?? null));
    }
  }
  return { dataset: o.name, rows: ds.rows, featureCount: ds.featureCount, d, results };
}

function fmtBytes(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** The report's markdown table (one data set). */
export function compareMarkdown(rep: CompareReport): string {
  const lines = [
    `### ${rep.dataset} (${rep.rows.toLocaleString('en-US')} rows, ${rep.featureCount.toLocaleString('en-US')} features, d = ${rep.d})`,
    '',
    '| method | test AUC | test LogLoss | avg bits/weight | weights-only ratio | all-in ratio | bundle bytes | training time |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rep.results) {
    const held = r.budget
      ? `; budget ${budgetTargetText(r.budget)} ${r.budget.hit ? 'hit' : 'MISSED'}: search ${r.budget.searchBits.toFixed(3)} -> ${r.budget.bits.toFixed(3)} bits, ${r.budget.searchBytes} -> ${r.budget.bytes} bytes, ${r.budget.groupsLowered} groups lowered`
      : '';
    const lam = r.lambda !== null ? ` (lambda ${r.lambda.toExponential(2)}${held})` : '';
    lines.push(
      `| ${r.method}${lam} | ${r.testAuc.toFixed(5)} | ${r.testLogLoss.toFixed(5)} | ${r.avgBits.toFixed(3)} | ${r.weightsRatio.toFixed(1)}x | ${r.allInRatio.toFixed(2)}x | ${fmtBytes(r.bundleBytes)} | ${r.trainSeconds.toFixed(1)} s |`,
    );
  }
  return lines.join('\n');
}

/**
 * Text bars of the bits per group, consecutive groups with the same width merged into one line
 * (group 0 = most frequent features).
 */
export function bitsBars(bitsPerGroup: readonly number[]): string {
  const lines: string[] = [];
  let start = 0;
  for (let g = 1; g <= bitsPerGroup.length; g++) {
    if (g === bitsPerGroup.length || bitsPerGroup[g] !== bitsPerGroup[start]) {
      const b = bitsPerGroup[start]!;
      const label = g - 1 === start ? `group ${start}` : `groups ${start}-${g - 1}`;
      lines.push(`${label.padEnd(16)} ${'█'.repeat(b).padEnd(8)} ${b} bit${b === 1 ? '' : 's'}`);
      start = g;
    }
  }
  return lines.join('\n');
}

/** An SVG bar chart of the bits per group (echarts, server-side SVG renderer). */
export function bitsSvg(title: string, bitsPerGroup: readonly number[]): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: 720, height: 260 });
  try {
    chart.setOption({
      animation: false,
      title: { text: title, left: 'center', textStyle: { fontSize: 13 } },
      grid: { left: 50, right: 20, top: 40, bottom: 45 },
      xAxis: { type: 'category', name: 'group (0 = most frequent)', nameLocation: 'middle', nameGap: 28, data: bitsPerGroup.map((_, g) => String(g)) },
      yAxis: { type: 'value', name: 'bits', min: 0, max: Math.max(6, ...bitsPerGroup), interval: 1 },
      series: [{ type: 'bar', data: [...bitsPerGroup], barCategoryGap: '10%' }],
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
