/**
 * `npx tsx bench/deploy-sizing.ts [--features 1000000,4000000] [--workers 2] [--vocab v1,v2]`: the memory a
 * replica needs, measured the way the container runs it (src/ compiled by tsc, `node
 * dist/src/cli/main.js serve`, NODE_ENV=production, CPU provider), for docs/operations.md#sizing
 * and the Deployment's memory request. Bundles: 39 fields, d = 16, the default DNN 1024-512-256
 * with BatchNorm, an example MPE bit mix by frequency rank, and the vocabulary in format v1 (every
 * feature, hash table) and/or v2 (compact index, pruned keys out), side by side.
 * Writes bench/results/deploy-sizing.json and its section of docs/benchmarks.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBundle } from '../src/bundle/write.js';
import { type GroupedTableSpec, rowBytes } from '../src/codec/layout.js';
import { packTable } from '../src/codec/pack-table.js';
import type { FieldSpec } from '../src/features/token.js';
import { buildMlpScorer, randomMlpWeights } from '../src/scorer/mlp.js';
import { createRng } from '../src/util/random.js';
import { VocabularyBuilder } from '../src/vocab/vocabulary.js';
import { compactIndexBytes } from '../src/vocab/compact-index.js';
import { buildBundleVocabulary } from '../src/train/bundle-vocabulary.js';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const SIZES = opt('--features', '1000000,4000000').split(',').map(Number);
const WORKERS = Number(opt('--workers', '2'));
/** Vocabulary formats to size, side by side in one run: v1 (every key, hash table) and/or v2 (compact index, pruned keys out). */
const VOCABS = opt('--vocab', 'v1,v2').split(',') as Array<'v1' | 'v2'>;
const F = 39;
const D = 16;
const GROUP = 1024;
/** Example MPE mix by frequency rank (share of features, bits): the most frequent get the most bits. */
const MIX: readonly [number, number][] = [
  [0.02, 6],
  [0.05, 4],
  [0.08, 3],
  [0.1, 2],
  [0.2, 1],
  [0.55, 0],
];

function bitsForGroups(groups: number): Uint8Array {
  const out = new Uint8Array(groups);
  let g = 0;
  let acc = 0;
  for (const [share, bits] of MIX) {
    acc += share;
    const end = Math.min(groups, Math.round(acc * groups));
    for (; g < end; g++) out[g] = bits;
  }
  return out;
}

async function makeBundle(dir: string, n: number, vocabFormat: 'v1' | 'v2'): Promise<{ tableBytes: number; vocabBytes: number; predictedTable: number; predictedVocab: number; avgBits: number }> {
  const groups = Math.ceil(n / GROUP);
  const bitsPerGroup = bitsForGroups(groups);
  const alpha = new Float32Array(9);
  for (let b = 1; b <= 8; b++) alpha[b] = 0.2 / 2 ** (b - 1);
  const spec: GroupedTableSpec = { kind: 'grouped', d: D, featureCount: n, groupSize: GROUP, bitsPerGroup, alpha, beta: new Float32Array(D) };
  const rng = createRng(9);
  const weights = new Float32Array(n * D);
  for (let i = 0; i < weights.length; i++) weights[i] = 0.3 * (rng.next() - 0.5);
  const fields: FieldSpec[] = Array.from({ length: F }, (_, f) => ({ name: `C${f + 1}`, kind: 'categorical', transform: 'none', oovId: f }));
  const scorerBytes = buildMlpScorer(randomMlpWeights(F * D, [1024, 512, 256], 3, { batchNorm: true }));
  const manifest = { model: { name: 'sizing', version: `n${n}`, method: 'mpe' as const }, fields };
  if (vocabFormat === 'v1') {
    const vb = new VocabularyBuilder();
    for (let id = F; id < n; id++) vb.add(id % F, `t${id}`, id);
    for (let f = 0; f < F; f++) vb.add(f, '__oov_key__', f);
    await writeBundle(dir, { manifest, tableSpec: spec, tableData: packTable(spec, weights), vocabBytes: vb.build().toBytes(), scorerBytes, formatVersion: 1 });
  } else {
    // As the trainer writes it: compact index, pruned keys out, rows reordered per bit width.
    const vocab = Array.from({ length: F }, () => ({ tokens: [] as string[], ids: [] as number[] }));
    for (let id = F; id < n; id++) {
      vocab[id % F]!.tokens.push(`t${id}`);
      vocab[id % F]!.ids.push(id);
    }
    const bv = buildBundleVocabulary({ fields, vocab: vocab.map((v) => ({ tokens: v.tokens, ids: Int32Array.from(v.ids) })) }, spec, weights, true);
    await writeBundle(dir, { manifest: { ...manifest, fields: bv.fields }, tableSpec: spec, tableData: packTable(spec, bv.weights), vocabBytes: bv.vocabBytes, vocabAllKeys: bv.allKeys, scorerBytes });
  }
  let predictedTable = 0;
  let bitsSum = 0;
  for (let g = 0; g < groups; g++) {
    const rows = Math.min(GROUP, n - g * GROUP);
    predictedTable += rows * rowBytes(bitsPerGroup[g]!, D);
    bitsSum += rows * bitsPerGroup[g]!;
  }
  const capacity = 2 ** Math.ceil(Math.log2(Math.max(16, 2 * n)));
  let keptKeys = 0;
  for (let id = F; id < n; id++) if (bitsPerGroup[Math.floor(id / GROUP)]! > 0) keptKeys++;
  const runs = new Set(bitsPerGroup).size - (bitsPerGroup.includes(0) ? 1 : 0);
  return {
    tableBytes: statSync(join(dir, 'table.bin')).size,
    vocabBytes: statSync(join(dir, 'vocab.bin')).size,
    predictedTable,
    predictedVocab: vocabFormat === 'v1' ? 64 + 16 + 12 * capacity : 64 + compactIndexBytes(keptKeys, runs, runs),
    avgBits: bitsSum / n,
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Starts the compiled CLI as the image does, scores on every worker, reads VmRSS / VmHWM. */
async function measure(app: string, model: string): Promise<{ rssMiB: number; hwmMiB: number; startMs: number }> {
  const [http, grpc] = [await freePort(), await freePort()];
  const t0 = performance.now();
  const child = spawn('node', ['dist/src/cli/main.js', 'serve'], {
    cwd: app,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', MPE_PROVIDER: 'cpu', MPE_HOST: '127.0.0.1', MPE_MODEL: model, MPE_HTTP_PORT: String(http), MPE_GRPC_PORT: String(grpc), MPE_WORKERS: String(WORKERS) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${err}`);
      const r = await fetch(`http://127.0.0.1:${http}/readyz`).catch(() => null);
      if (r?.status === 200) break;
      await new Promise((r2) => setTimeout(r2, 100));
    }
    const startMs = performance.now() - t0;
    const rows = Array.from({ length: 100 }, (_, r) => Array.from({ length: F }, (_, f) => (r * 7919 + f * 104729) % 1000));
    for (let k = 0; k < 3; k++) {
      await Promise.all(
        Array.from({ length: 4 * WORKERS }, () =>
          fetch(`http://127.0.0.1:${http}/v1/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: rows }) }).then((r) => r.json()),
        ),
      );
    }
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const kib = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
    return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024, startMs };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'mpe-sizing-'));
try {
  const app = join(tmp, 'app');
  const tsconfig = join(tmp, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), compilerOptions: { outDir: join(app, 'dist'), rootDir: ROOT, typeRoots: [join(ROOT, 'node_modules', '@types')], declaration: false, sourceMap: false }, include: [join(ROOT, 'src')] }),
  );
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { encoding: 'utf8' });
  if (tsc.status !== 0) throw new Error(`tsc: ${tsc.stdout}${tsc.stderr}`);
  for (const p of ['package.json', 'proto', 'node_modules']) spawnSync('ln', ['-s', join(ROOT, p), join(app, p)]);

  type SizingRow = { vocab: 'v1' | 'v2'; features: number; avgBits: number; tableMiB: number; vocabMiB: number; predictedTableMiB: number; predictedVocabMiB: number; rssMiB: number; hwmMiB: number; startMs: number };
  const rows: SizingRow[] = [];
  // Sizes outer, formats inner: v1 and v2 of one size run back to back under the same machine load.
  for (const n of [F * 2, ...SIZES]) {
    for (const vocab of VOCABS) {
      const dir = join(tmp, `b${n}-${vocab}`);
      const b = await makeBundle(dir, n, vocab);
      const m = await measure(app, dir);
      const mib = (x: number): number => Math.round((x / 2 ** 20) * 10) / 10;
      const row: SizingRow = { vocab, features: n, avgBits: Math.round(b.avgBits * 1000) / 1000, tableMiB: mib(b.tableBytes), vocabMiB: mib(b.vocabBytes), predictedTableMiB: mib(b.predictedTable), predictedVocabMiB: mib(b.predictedVocab), rssMiB: Math.round(m.rssMiB * 10) / 10, hwmMiB: Math.round(m.hwmMiB * 10) / 10, startMs: Math.round(m.startMs) };
      console.log(JSON.stringify(row));
      rows.push(row);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const perMillion: Record<string, number> = {};
  for (const v of VOCABS) {
    const rs = rows.filter((r) => r.vocab === v);
    const first = rs[1]!;
    const last = rs[rs.length - 1]!;
    perMillion[v] = ((last.rssMiB - first.rssMiB) / (last.features - first.features)) * 1e6;
  }
  let md = `\`node dist/src/cli/main.js serve\` as in the image (tsc output, NODE_ENV=production, CPU provider, ${WORKERS} workers), `;
  md += `39 fields, d = ${D}, default DNN 1024-512-256 with BatchNorm, example MPE mix `;
  md += `${MIX.map(([s, b]) => `${Math.round(s * 100)}% at ${b} bits`).join(', ')} (most frequent first). RSS after scoring on every worker. `;
  md += 'Vocabulary v1 = format v1: every feature in the 12-byte-slot hash table; v2 = format v2 as the trainer writes it: compact index, pruned keys left out, rows reordered per bit width. Both formats of one size run back to back.\n\n';
  md += '| vocabulary | features | avg bits/weight | table.bin MiB (formula) | vocab.bin MiB (formula) | RSS MiB | peak RSS MiB | start to ready ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n';
  for (const r of rows) md += `| ${r.vocab} | ${r.features} | ${r.avgBits} | ${r.tableMiB} (${r.predictedTableMiB}) | ${r.vocabMiB} (${r.predictedVocabMiB}) | ${r.rssMiB} | ${r.hwmMiB} | ${r.startMs} |\n`;
  md += `\nRSS grows by ${VOCABS.map((v) => `**${perMillion[v]!.toFixed(1)} MiB per million features with ${v}**`).join(', ')} at this mix (between ${SIZES[0]} and ${SIZES[SIZES.length - 1]} features). Load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' / ')}.\n`;
  writeResult({ name: 'deploy-sizing', title: 'Deployment sizing: RSS of the container start command by table size', command: `npx tsx bench/deploy-sizing.ts --vocab ${VOCABS.join(',')} --features ${SIZES.join(',')}`, date: new Date().toISOString(), machine: describeMachine(), markdown: md, data: { workers: WORKERS, d: D, fields: F, mix: MIX, rows, perMillionMiB: perMillion } });
  console.log(`wrote ${writeBenchmarksDoc()}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
