/**
 * Lookup benchmark (`npm run bench:lookup [-- --quick]`): rows/s of dequantizing gathers, one
 * thread, d = 16, batches of 4096 ids from a Zipf(1.05) stream over frequency-ranked ids
 * (id 0 = most frequent, as in the bundle), at 1M and 10M features:
 *   - fp32 gather: plain Float32Array rows (64 B/row), copied by an unrolled indexed loop;
 *   - row-wise int4: FBGEMM/TorchRec layout, 8 B of codes + fp16 scale + fp16 bias per row (12 B);
 *   - MPE: 128 groups, about 2.7 bits/feature, frequent groups more bits (PackedTable).
 * Repetitions interleave the layouts (rotating order) so machine noise hits them alike; the
 * median is reported. Writes bench/results/lookup.json and regenerates docs/benchmarks.md.
 * Table contents are random codes: decode cost does not depend on the values.
 * Then the resolve section (bench/resolve.ts; alone with `--resolve-only`).
 */
import { computeLayout, type GroupedTableSpec, type RowwiseTableSpec } from '../src/codec/layout.js';
import { PackedTable } from '../src/codec/packed-table.js';
import { toFloat16Bits } from '../src/codec/quantize.js';
import { createRng } from '../src/util/random.js';
import { cpus, loadavg } from 'node:os';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';
import { runResolveBench } from './resolve.js';

const quick = process.argv.includes('--quick');
const D = 16;
const BATCH = 4096;
const GROUPS = 128;
const ZIPF_S = 1.05;
const SIZES = quick ? [1_000_000] : [1_000_000, 10_000_000];
const STREAM_ROWS = quick ? 1 << 19 : 1 << 21;
const REPS = quick ? 5 : 9;

/** Bits per group, group 0 = most frequent: 17 x 6, 8 x 5, 12 x 4, 20 x 3, 35 x 2, 28 x 1, 8 x 0 (pruned). */
const MIX: Array<[bits: number, groups: number]> = [[6, 17], [5, 8], [4, 12], [3, 20], [2, 35], [1, 28], [0, 8]];

function mixBits(): Uint8Array {
  const out = new Uint8Array(GROUPS);
  let g = 0;
  for (const [b, n] of MIX) for (let k = 0; k < n; k++) out[g++] = b;
  if (g !== GROUPS) throw new Error('bit mix must cover 128 groups');
  return out;
}

/** Zipf(s) ranks in [0, n) by inverse CDF (binary search over the cumulative weights). */
function zipfStream(n: number, rows: number, seed: number): Int32Array {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let k = 0; k < n; k++) cdf[k] = acc += (k + 1) ** -ZIPF_S;
  const rng = createRng(seed);
  const ids = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const u = rng.next() * acc;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    ids[i] = lo;
  }
  return ids;
}

function fillRandomBytes(u8: Uint8Array, seed: number): void {
  const u32 = new Uint32Array(u8.buffer, u8.byteOffset, u8.byteLength >> 2);
  let x = seed | 1;
  for (let i = 0; i < u32.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    u32[i] = x;
  }
}

type Lookup = (ids: Int32Array, count: number, out: Float32Array, outOffset: number) => void;

/**
 * The fp32 baseline: bounds check + 16 copies per row, unrolled. Unrolling is the strongest form
 * we found: on this box (1M rows, 2^19 Zipf-like ids, 7 interleaved runs, load ~8) the unrolled
 * copy ran at 13.9 M rows/s median vs 9.3 for a `for (j < 16)` loop and 8.9 for a Uint32 copy,
 * so the baseline is not handicapped.
 */
function fp32Gather(t: Float32Array, n: number): Lookup {
  return (ids, count, out, o) => {
    for (let i = 0; i < count; i++, o += 16) {
      const id = ids[i]!;
      if (id < 0 || id >= n) throw new RangeError(`id ${id}`);
      const p = id * 16;
      out[o] = t[p]!;
      out[o + 1] = t[p + 1]!;
      out[o + 2] = t[p + 2]!;
      out[o + 3] = t[p + 3]!;
      out[o + 4] = t[p + 4]!;
      out[o + 5] = t[p + 5]!;
      out[o + 6] = t[p + 6]!;
      out[o + 7] = t[p + 7]!;
      out[o + 8] = t[p + 8]!;
      out[o + 9] = t[p + 9]!;
      out[o + 10] = t[p + 10]!;
      out[o + 11] = t[p + 11]!;
      out[o + 12] = t[p + 12]!;
      out[o + 13] = t[p + 13]!;
      out[o + 14] = t[p + 14]!;
      out[o + 15] = t[p + 15]!;
    }
  };
}

interface Candidate {
  readonly name: string;
  readonly bytes: number;
  readonly run: Lookup;
  /** Rows per CPU-second, one per repetition. */
  readonly samples: number[];
  /** Rows per wall-clock second, one per repetition. */
  readonly wall: number[];
}

function buildCandidates(n: number): Candidate[] {
  const rng = createRng(n);
  const f32 = new Float32Array(new SharedArrayBuffer(n * D * 4));
  for (let i = 0; i < f32.length; i++) f32[i] = ((i & 1023) - 512) * 1e-4; // touches every page, like the other tables

  const rw: RowwiseTableSpec = { kind: 'rowwise', d: D, featureCount: n, bits: 4 };
  const rwData = new Uint8Array(new SharedArrayBuffer(computeLayout(rw).dataBytes));
  fillRandomBytes(rwData, 2);
  const scale = toFloat16Bits(0.01);
  const bias = toFloat16Bits(-0.075);
  for (let p = 8; p < rwData.length; p += 12) {
    rwData[p] = scale & 0xff;
    rwData[p + 1] = scale >>> 8;
    rwData[p + 2] = bias & 0xff;
    rwData[p + 3] = bias >>> 8;
  }

  const alpha = new Float32Array(9);
  for (let b = 1; b <= 8; b++) alpha[b] = Math.fround(0.02 / Math.sqrt(2 ** (b - 1)));
  const beta = new Float32Array(D);
  for (let j = 0; j < D; j++) beta[j] = Math.fround(rng.normal() * 0.01);
  const mpe: GroupedTableSpec = { kind: 'grouped', d: D, featureCount: n, groupSize: Math.ceil(n / GROUPS), bitsPerGroup: mixBits(), alpha, beta };
  const mpeData = new Uint8Array(new SharedArrayBuffer(computeLayout(mpe).dataBytes));
  fillRandomBytes(mpeData, 3);

  const rwTable = new PackedTable(rw, rwData);
  const mpeTable = new PackedTable(mpe, mpeData);
  const mpeArith = new PackedTable(mpe, mpeData, { lut: false });
  const mpeGeneric = new PackedTable(mpe, mpeData, { unrolled: false });
  return [
    { name: 'fp32 gather', bytes: f32.byteLength, run: fp32Gather(f32, n), samples: [], wall: [] },
    { name: 'row-wise int4 (fp16 scale+bias)', bytes: rwData.byteLength, run: (i, c, o, off) => rwTable.dequantize(i, c, o, off), samples: [], wall: [] },
    { name: 'MPE (default: unrolled, table lookup)', bytes: mpeData.byteLength, run: (i, c, o, off) => mpeTable.dequantize(i, c, o, off), samples: [], wall: [] },
    { name: 'MPE (unrolled, alpha*q+beta arithmetic)', bytes: mpeData.byteLength, run: (i, c, o, off) => mpeArith.dequantize(i, c, o, off), samples: [], wall: [] },
    { name: 'MPE (generic loop decoder)', bytes: mpeData.byteLength, run: (i, c, o, off) => mpeGeneric.dequantize(i, c, o, off), samples: [], wall: [] },
  ];
}

/**
 * Runs the whole stream once; returns rows per CPU-second of this process (user + system) and
 * rows per wall-clock second. On this shared 2-core box (load average 7-14 during development)
 * wall time mostly measures how long the scheduler left us off the CPU; CPU time does not, so
 * the ratios use CPU time. The loop allocates nothing, so GC threads add no CPU time.
 */
function timeOnce(c: Candidate, stream: Int32Array, out: Float32Array): { cpu: number; wall: number } {
  const batch = new Int32Array(BATCH);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let s = 0; s + BATCH <= stream.length; s += BATCH) {
    batch.set(stream.subarray(s, s + BATCH));
    c.run(batch, BATCH, out, 0);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const cu = process.cpuUsage(c0);
  const cpuUs = Math.max(1, cu.user + cu.system);
  return { cpu: (stream.length / cpuUs) * 1e6, wall: (stream.length / ns) * 1e9 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (x: number): string => (x / 1e6).toFixed(1);

function main(): void {
  const t0 = Date.now();
  const out = new Float32Array(BATCH * D);
  const rows: string[] = [];
  const data: Record<string, unknown>[] = [];
  const notes: string[] = [];
  for (const n of SIZES) {
    const stream = zipfStream(n, STREAM_ROWS, 2022);
    const cands = buildCandidates(n);
    // Share of looked-up rows per bit width (MPE), from the stream itself.
    const gs = Math.ceil(n / GROUPS);
    const bits = mixBits();
    const hits = new Map<number, number>();
    for (let i = 0; i < stream.length; i++) {
      const b = bits[Math.floor(stream[i]! / gs)]!;
      hits.set(b, (hits.get(b) ?? 0) + 1);
    }
    for (const c of cands) timeOnce(c, stream, out); // warm-up: JIT and page faults
    for (let r = 0; r < REPS; r++) {
      for (let k = 0; k < cands.length; k++) {
        const c = cands[(k + r) % cands.length]!;
        const t = timeOnce(c, stream, out);
        c.samples.push(t.cpu);
        c.wall.push(t.wall);
      }
    }
    const base = median(cands[0]!.samples);
    for (const c of cands) {
      const med = median(c.samples);
      rows.push(`| ${n / 1e6}M | ${c.name} | ${(c.bytes / 2 ** 20).toFixed(1)} | ${(c.bytes / n).toFixed(2)} | ${fmt(med)} | ${fmt(Math.min(...c.samples))} - ${fmt(Math.max(...c.samples))} | ${(med / base).toFixed(2)}x | ${fmt(median(c.wall))} |`);
      data.push({ features: n, layout: c.name, tableBytes: c.bytes, medianRowsPerCpuSecond: Math.round(med), medianRowsPerWallSecond: Math.round(median(c.wall)), cpuSamples: c.samples.map(Math.round), wallSamples: c.wall.map(Math.round), ratioVsFp32: med / base });
    }
    const mpe = median(cands[2]!.samples) / base;
    const target = n >= 10_000_000 ? 1.5 : 0.8;
    const share = [...hits.entries()].sort((a, b) => b[0] - a[0]).map(([b, h]) => `${b} bits ${((100 * h) / stream.length).toFixed(1)}%`).join(', ');
    notes.push(`- ${n / 1e6}M features: MPE / fp32 = ${mpe.toFixed(2)}x, target >= ${target}x: ${mpe >= target ? 'met' : 'MISSED'}. Looked-up rows by bit width: ${share}.`);
    console.log(`${n} features done (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const avgBits = MIX.reduce((s, [b, g]) => s + b * g, 0) / GROUPS;
  const markdown = [
    `Single thread (rows/s per core), d = ${D}, batches of ${BATCH} ids, Zipf(${ZIPF_S}) stream of ${STREAM_ROWS} ids over frequency-ranked ids (id 0 most frequent), ${REPS} interleaved repetitions after one warm-up pass; rows per CPU-second of the process (process.cpuUsage, robust to time-sharing) with median and range over repetitions, plus the median wall-clock rate; ratios use CPU time.${quick ? ' QUICK RUN (--quick): 1M only, fewer repetitions.' : ''}`,
    '',
    `MPE bit mix over ${GROUPS} equal groups (group 0 most frequent): ${MIX.map(([b, g]) => `${g} x ${b} bits`).join(', ')}; average ${avgBits.toFixed(2)} bits/feature, ${((100 * 8) / GROUPS).toFixed(1)}% of groups pruned, ${((100 * 17) / GROUPS).toFixed(1)}% at 6 bits.`,
    '',
    '| features | layout | table MiB | bytes/feature | median M rows per CPU-s | range | vs fp32 (CPU) | median M rows per wall-s |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...notes,
    `- Load average at the end of the run: ${loadavg().map((x) => x.toFixed(1)).join(' / ')} (1/5/15 min) on ${cpus().length} cores.`,
    `- Total run time ${((Date.now() - t0) / 1000).toFixed(0)} s. The machine is shared (2 cores, other engineers' jobs running): compare ratios within this run, not absolute figures across runs.`,
  ].join('\n');
  writeResult({ name: 'lookup', title: 'Embedding lookup: fp32 vs row-wise int4 vs MPE', command: `npm run bench:lookup${quick ? ' -- --quick' : ''}`, date: new Date().toISOString(), machine: describeMachine(), markdown, data });
  console.log(markdown);
  console.log(`wrote ${writeBenchmarksDoc()}`);
}

if (!process.argv.includes('--resolve-only')) main();
runResolveBench(quick);
