/**
 * `npm run bench:load`: what loading a bundle costs (issue 2: "one read plus checksum: report
 * MB/s"). Writes an fp32 bundle and an MPE-mix bundle of the same vocabulary size (default 1M
 * features, d = 16), then loads each with checksum verification on and off, interleaved, warm
 * page cache, and reports MB/s over every byte of the bundle plus the hashing throughput alone,
 * and (why hash-wasm's xxh64) xxh64 vs node:crypto sha256 over the same 64 MiB buffer.
 * Options (env): BENCH_LOAD_FEATURES (default 1000000), BENCH_LOAD_REPS (default 5).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle } from '../src/bundle/load.js';
import { writeBundle } from '../src/bundle/write.js';
import type { GroupedTableSpec } from '../src/codec/layout.js';
import { packTable } from '../src/codec/pack-table.js';
import type { FieldSpec } from '../src/features/token.js';
import { buildMlpScorer, randomMlpWeights } from '../src/scorer/mlp.js';
import { initChecksum, xxh64HexSync } from '../src/util/checksum.js';
import { createRng } from '../src/util/random.js';
import { VocabularyBuilder } from '../src/vocab/vocabulary.js';
import { benchCommand, describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const N = Number(process.env.BENCH_LOAD_FEATURES ?? 1_000_000);
const REPS = Number(process.env.BENCH_LOAD_REPS ?? 5);
const D = 16;
const F = 39;
const G = 128;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

const groupSize = Math.ceil(N / G);
const groups = Math.ceil(N / groupSize);
// The lookup benchmark's MPE mix (frequent groups more bits): about 2.7 bits per feature.
const mix = [6, 6, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2, 1, 1, 0];
const mpeBits = new Uint8Array(groups);
for (let g = 0; g < groups; g++) mpeBits[g] = mix[Math.min(mix.length - 1, Math.floor((g / groups) * mix.length))]!;
const alpha = new Float32Array(9);
for (let b = 1; b <= 8; b++) alpha[b] = 0.02 / 2 ** (b - 1);
const rng = createRng(11);
const weights = new Float32Array(N * D);
for (let i = 0; i < weights.length; i++) weights[i] = 0.01 * rng.normal();
const fields: FieldSpec[] = Array.from({ length: F }, (_, f) => ({ name: `C${f + 1}`, kind: 'categorical', transform: 'none', oovId: f }));
const vb = new VocabularyBuilder();
for (let id = F; id < N; id++) vb.add(id % F, `v${id}`, id);
const vocabBytes = vb.build().toBytes();
const scorerBytes = buildMlpScorer(randomMlpWeights(F * D, [1024, 512, 256], 3, { batchNorm: true }));

const tmp = mkdtempSync(join(tmpdir(), 'mpe-bench-load-'));
const variants: { name: string; dir: string; bytes: number }[] = [];
for (const [name, bits] of [
  ['fp32', new Uint8Array(groups).fill(32)],
  ['mpe mix', mpeBits],
] as const) {
  const spec: GroupedTableSpec = { kind: 'grouped', d: D, featureCount: N, groupSize, bitsPerGroup: bits, alpha, beta: new Float32Array(D) };
  const dir = join(tmp, name.replace(' ', '-'));
  const m = await writeBundle(dir, {
    manifest: { model: { name: 'load-bench', version: name, method: name === 'fp32' ? 'fp32' : 'mpe' }, fields },
    tableSpec: spec,
    tableData: packTable(spec, weights),
    vocabBytes,
    scorerBytes,
  });
  let bytes = 0;
  for (const f of Object.values(m.files)) bytes += f.bytes;
  variants.push({ name, dir, bytes });
}

const runs = new Map<string, { ms: number[]; verifyMs: number[] }>();
await loadBundle(variants[0]!.dir); // warm-up: page cache, wasm hasher
for (let r = 0; r < REPS; r++) {
  for (const v of variants) {
    for (const verify of [true, false]) {
      const key = `${v.name}|${verify}`;
      const b = await loadBundle(v.dir, { verify });
      const e = runs.get(key) ?? { ms: [], verifyMs: [] };
      e.ms.push(b.loadStats.ms);
      e.verifyMs.push(b.loadStats.verifyMs);
      runs.set(key, e);
    }
  }
}
rmSync(tmp, { recursive: true, force: true });

// Checksum choice: xxh64 (hash-wasm) vs node:crypto sha256 on one 64 MiB buffer, interleaved, best of REPS.
await initChecksum();
const buf = new Uint8Array(64 * 2 ** 20);
for (let i = 0; i < buf.length; i += 4096) buf[i] = i & 255;
let bestXxh = Infinity;
let bestSha = Infinity;
for (let r = 0; r < REPS; r++) {
  let t = performance.now();
  xxh64HexSync(buf);
  bestXxh = Math.min(bestXxh, performance.now() - t);
  t = performance.now();
  createHash('sha256').update(buf).digest('hex');
  bestSha = Math.min(bestSha, performance.now() - t);
}
const mbps = (ms: number): number => buf.length / 1e6 / (ms / 1000);

const rows: string[] = [];
const data: Record<string, unknown>[] = [];
for (const v of variants) {
  for (const verify of [true, false]) {
    const e = runs.get(`${v.name}|${verify}`)!;
    const ms = median(e.ms);
    const vms = median(e.verifyMs);
    const mb = v.bytes / 1e6;
    const hashing = verify ? `${(mb / (vms / 1000)).toFixed(0)} MB/s` : '-';
    rows.push(`| ${v.name} | ${mb.toFixed(1)} | ${verify ? 'on' : 'off'} | ${ms.toFixed(1)} | ${(mb / (ms / 1000)).toFixed(0)} | ${hashing} |`);
    data.push({ variant: v.name, bytes: v.bytes, verify, medianMs: ms, medianVerifyMs: vms, mbPerS: mb / (ms / 1000) });
  }
}
const markdown = [
  `${N.toLocaleString('en-US')} features, d = ${D}, ${F} fields, every feature in the vocabulary, default 1024-512-256 scorer; ${REPS} interleaved loads per variant after one warm-up (warm page cache), medians. MB/s counts every byte of the bundle's four files; "hashing" is xxh64 (hash-wasm) over the same bytes.`,
  '',
  '| bundle | MB | checksums | load ms | load MB/s | hashing |',
  '|---|---:|---|---:|---:|---:|',
  ...rows,
  '',
  `Checksum algorithm (64 MiB buffer, best of ${REPS}): xxh64 (hash-wasm) ${mbps(bestXxh).toFixed(0)} MB/s, node:crypto sha256 ${mbps(bestSha).toFixed(0)} MB/s.`,
].join('\n');
console.log(markdown);
writeResult({
  name: 'load',
  title: 'Bundle load: one read per file plus xxh64 verification',
  command: benchCommand('bench:load', ['BENCH_LOAD_FEATURES', 'BENCH_LOAD_REPS']),
  date: new Date().toISOString(),
  machine: describeMachine(),
  markdown,
  data: { loads: data, xxh64MBps: mbps(bestXxh), sha256MBps: mbps(bestSha) },
});
console.log(`wrote ${writeBenchmarksDoc()}`);
