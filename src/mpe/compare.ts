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

/**
 * A parsed method name: fp32, mpe, mpe:<b> (budget mode at b bits per weight, the MPE flags
 * otherwise), uniform<b> (1..8), rowwise-int8 / rowwise-int4.
 */
export type CompareMethod = { kind: 'fp32' } | { kind: 'mpe'; targetBits?: number } | { kind: 'uniform'; bits: number } | { kind: 'rowwise'; bits: 4 | 8 };

/** Parses "fp32,uniform4,mpe,mpe:2,rowwise-int8" (MPE_ERR_MPE_METHOD on an unknown name). */
export function parseMethods(list: string): { name: string; method: CompareMethod }[] {
  const out: { name: string; method: CompareMethod }[] = [];
  for (const raw of list.split(',')) {
    const name = raw.trim();
    let m: CompareMethod;
    const u = /^uniform([1-8])$/.exec(name);
    const budget = /^mpe:(\d+(?:\.\d+)?)$/.exec(name);
    if (name === 'fp32') m = { kind: 'fp32' };
    else if (name === 'mpe') m = { kind: 'mpe' };
    else if (budget) m = { kind: 'mpe', targetBits: Number(budget[1]) };
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

/**
 * The MPE options of one compare row: `mpe` takes the MPE flags as given; `mpe:<b>` takes them
 * with budget mode at b bits per weight in place of --lambda and the --target-* flags.
 */
export function mpeRowOptions(method: { kind: 'mpe'; targetBits?: number }, mpe: Readonly<Record<string, unknown>> = {}): Readonly<Record<string, unknown>> {
  if (method.targetBits === undefined) return mpe;
  const rest = Object.entries(mpe).filter(([k]) => k !== 'lambda' && k !== 'targetBits' && k !== 'targetRatio' && k !== 'targetBytes');
  return { ...Object.fromEntries(rest), targetBits: method.targetBits };
}

/** Trains every method on `o.dataset` and returns the table's rows (bundles stay in `o.outDir`). */
export async function runComparison(o: CompareOptions): Promise<CompareReport> {
  const methods = parseMethods(o.methods);
  for (const m of methods) if (m.method.kind === 'mpe') validateMpeMethodOptions(mpeRowOptions(m.method, o.mpe)); // before any training
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
      const extra = method.kind === 'uniform' ? { bits: method.bits } : mpeRowOptions(method, o.mpe);
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

/** One trained model on an AUC-vs-bits chart. */
export interface ParetoPoint {
  /** Average bits per weight (the paper's average bits per feature). */
  readonly bits: number;
  readonly auc: number;
  /** What the point is, e.g. "mpe:2" or "lambda 3e-4, seed 2022". */
  readonly label?: string;
}

/** A named set of points; `line` joins them in order of bits (e.g. means per setting), else a scatter. */
export interface ParetoSeries {
  readonly name: string;
  readonly points: readonly ParetoPoint[];
  readonly line?: boolean;
}

/** Colours of the AUC-vs-bits chart's series, in order (then again from the first). */
export const PARETO_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'] as const;

/**
 * An SVG chart of test AUC against average bits per weight (echarts, server-side SVG renderer):
 * one scatter or line per series, and a dashed horizontal line per baseline (e.g. fp32's AUC).
 */
export function paretoSvg(title: string, series: readonly ParetoSeries[], baselines: readonly { name: string; auc: number }[] = []): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: 720, height: 400 });
  const symbols = ['circle', 'diamond', 'triangle', 'rect'];
  try {
    const all = series.flatMap((s) => s.points);
    const maxBits = Math.max(4, ...all.map((p) => p.bits));
    // The AUC axis spans every point and baseline (echarts' own extent leaves mark lines out), with a margin.
    const aucs = [...all.map((p) => p.auc), ...baselines.map((b) => b.auc)];
    const lo = Math.min(...aucs);
    const hi = Math.max(...aucs);
    const margin = Math.max(0.1 * (hi - lo), 0.002);
    chart.setOption({
      animation: false,
      color: [...PARETO_COLORS],
      title: { text: title, left: 'center', textStyle: { fontSize: 13 } },
      legend: { top: 26, data: series.map((s) => s.name) },
      grid: { left: 70, right: 30, top: 70, bottom: 50 },
      xAxis: { type: 'value', name: 'average bits per weight', nameLocation: 'middle', nameGap: 30, min: 0, max: Math.ceil(maxBits) },
      yAxis: { type: 'value', name: 'test AUC', nameLocation: 'middle', nameGap: 52, min: Math.floor((lo - margin) * 1000) / 1000, max: Math.ceil((hi + margin) * 1000) / 1000 },
      series: [
        ...series.map((s, i) => ({
          name: s.name,
          type: s.line ? 'line' : 'scatter',
          symbol: symbols[i % symbols.length],
          symbolSize: s.line ? 7 : 9,
          data: [...s.points].sort((a, b) => a.bits - b.bits).map((p) => [p.bits, p.auc]),
        })),
        ...(baselines.length > 0
          ? [
              {
                name: 'baselines',
                type: 'line',
                data: [],
                color: '#666666',
                markLine: { symbol: 'none', lineStyle: { type: 'dashed' }, label: { formatter: '{b}' }, data: baselines.map((b) => ({ name: b.name, yAxis: b.auc })) },
              },
            ]
          : []),
      ],
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/**
 * Reference points for the AUC-vs-bits chart from parsed JSON: either an array of `{bits, auc,
 * label?}` or a `npm run bench:fidelity` result (bench/results/fidelity-*.json: every run's
 * reference side, labelled with its lambda and seed). Throws MPE_ERR_TRAIN_CONFIG otherwise.
 */
export function referencePointsFrom(json: unknown, source: string): ParetoPoint[] {
  const bad = (why: string): never => {
    throw new MpeError('MPE_ERR_TRAIN_CONFIG', `--reference ${source}: ${why}; give [{"bits": B, "auc": A}, ...] or a bench:fidelity result JSON`);
  };
  const point = (x: unknown, label?: string): ParetoPoint => {
    const o = x as { bits?: unknown; auc?: unknown; label?: unknown } | null;
    if (typeof o?.bits !== 'number' || typeof o.auc !== 'number' || !Number.isFinite(o.bits) || !Number.isFinite(o.auc)) bad(`a point lacks numeric bits and auc: ${JSON.stringify(x)?.slice(0, 80)}`);
    const l = label ?? (typeof o!.label === 'string' ? o!.label : undefined);
    return { bits: o!.bits as number, auc: o!.auc as number, ...(l !== undefined ? { label: l } : {}) };
  };
  if (Array.isArray(json)) return json.map((x) => point(x));
  const runs = (json as { data?: { runs?: unknown } } | null)?.data?.runs;
  if (!Array.isArray(runs)) return bad('neither an array of points nor a result with data.runs');
  const out: ParetoPoint[] = [];
  for (const r of runs as { lambda?: number; seed?: number; ref?: unknown }[]) if (r.ref) out.push(point(r.ref, `lambda ${r.lambda}, seed ${r.seed}`));
  if (out.length === 0) bad('the result holds no reference runs');
  return out;
}

/** The files of a comparison report (name -> content) and the text the CLI prints after the table. */
export interface CompareReportFiles {
  readonly files: Readonly<Record<string, string>>;
  /** Text bars of the bits per group of each grouped mixed-precision row. */
  readonly bars: string;
}

/**
 * A comparison report: compare.json, compare.md (the table, then the charts), one SVG of the
 * bits per group per grouped mixed-precision row (bits-<method>.svg) and, when some row has at
 * most 8 bits per weight or reference points are given, pareto.svg: test AUC against bits per
 * weight, ours per kind of method (fp32 as a dashed line) and the reference's points.
 */
export function compareReport(rep: CompareReport, reference: readonly ParetoPoint[] = []): CompareReportFiles {
  const files: Record<string, string> = {};
  let md = `${compareMarkdown(rep)}\n`;
  let bars = '';
  for (const r of rep.results) {
    const bpg = r.bitsPerGroup;
    if (!bpg?.some((b) => b !== bpg[0])) continue;
    const svgName = `bits-${r.method.replace(/[^a-z0-9-]/gi, '_')}.svg`;
    files[svgName] = bitsSvg(`${rep.dataset}: bits per group, ${r.method}`, bpg);
    md += `\n![bits per group, ${r.method}](${svgName})\n`;
    bars += `\nbits per group, ${r.method} (group 0 = most frequent):\n${bitsBars(bpg)}\n`;
  }
  const kinds: [string, (m: string) => boolean][] = [
    ['ours: mpe', (m) => m === 'mpe' || m.startsWith('mpe:')],
    ['ours: uniform', (m) => m.startsWith('uniform')],
    ['ours: row-wise', (m) => m.startsWith('rowwise') || m === 'int8' || m === 'int4'],
  ];
  const series: ParetoSeries[] = [];
  for (const [name, is] of kinds) {
    const points = rep.results.filter((r) => is(r.method) && r.avgBits <= 8).map((r) => ({ bits: r.avgBits, auc: r.testAuc, label: r.method }));
    if (points.length > 0) series.push({ name, points, line: name === 'ours: mpe' && points.length > 1 });
  }
  if (reference.length > 0) series.push({ name: 'reference', points: reference });
  if (series.length > 0) {
    const baselines = rep.results.filter((r) => r.method === 'fp32').map((r) => ({ name: 'fp32', auc: r.testAuc }));
    files['pareto.svg'] = paretoSvg(`${rep.dataset}: test AUC vs bits per weight`, series, baselines);
    md += '\n![test AUC vs bits per weight](pareto.svg)\n';
  }
  files['compare.json'] = `${JSON.stringify(rep, null, 2)}\n`;
  files['compare.md'] = md;
  return { files, bars };
}
