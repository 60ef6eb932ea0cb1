/**
 * `npx tsx bench/serve-memory.ts [--features N]`: proves the score workers share the table
 * instead of copying it. Writes a bundle with a large table (default 5M features, d = 16, mostly
 * 8-bit groups plus some fp32 ones), starts `mpe serve` with 1 and then 4 workers, scores a few
 * batches, and reads the server's own /metrics: resident set size and external memory. A copy
 * per worker would add about the table's size per extra worker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GroupedTableSpec } from '../src/codec/layout.js';
import { packTable } from '../src/codec/pack-table.js';
import { writeBundle } from '../src/bundle/write.js';
import type { FieldSpec } from '../src/features/token.js';
import { buildMlpScorer, randomMlpWeights } from '../src/scorer/mlp.js';
import { createRng } from '../src/util/random.js';
import { VocabularyBuilder } from '../src/vocab/vocabulary.js';
import { spawnServe } from '../test/helpers/spawn-serve.js';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const args = process.argv.slice(2);
const at = args.indexOf('--features');
const N = at >= 0 ? Number(args[at + 1]) : 5_000_000;
const D = 16;
const F = 39;
const GROUP = 65_536;

const groups = Math.ceil(N / GROUP);
const bitsPerGroup = new Uint8Array(groups).fill(8);
for (let g = 0; g < groups; g += 8) bitsPerGroup[g] = 32;
const alpha = new Float32Array(9);
for (let b = 1; b <= 8; b++) alpha[b] = 0.2 / 2 ** (b - 1);
const spec: GroupedTableSpec = { kind: 'grouped', d: D, featureCount: N, groupSize: GROUP, bitsPerGroup, alpha, beta: new Float32Array(D) };
const rng = createRng(5);
const weights = new Float32Array(N * D);
for (let i = 0; i < weights.length; i++) weights[i] = 0.3 * (rng.next() - 0.5);
const fields: FieldSpec[] = Array.from({ length: F }, (_, f) => ({ name: `C${f + 1}`, kind: 'categorical', transform: 'none', oovId: f }));
const vb = new VocabularyBuilder();
for (let f = 0; f < F; f++) vb.add(f, 'x', F + f);
const tmp = mkdtempSync(join(tmpdir(), 'mpe-bench-mem-'));
const dir = join(tmp, 'bundle');
const tableData = packTable(spec, weights);
await writeBundle(dir, {
  manifest: { model: { name: 'memory', version: 'mem-1', method: 'mpe' }, fields },
  tableSpec: spec,
  tableData,
  vocabBytes: vb.build().toBytes(),
  scorerBytes: buildMlpScorer(randomMlpWeights(F * D, [1024, 512, 256], 3, { batchNorm: true })),
});
const tableMiB = tableData.byteLength / 2 ** 20;
console.log(`table data: ${tableMiB.toFixed(1)} MiB (${N} features)`);

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function measure(workers: number): Promise<{ workers: number; rssMiB: number; externalMiB: number; arrayBuffersMiB: number }> {
  const server = await spawnServe(['--model', dir, '--workers', String(workers)]);
  const http = server.http;
  try {
    const ids = Array.from({ length: 100 }, (_, r) => Array.from({ length: F }, (_, f) => (r * 7919 + f * 104729) % N));
    // Enough concurrent batches that every worker runs (and touches its session and buffers).
    await Promise.all(Array.from({ length: 4 * workers }, () => fetch(`http://127.0.0.1:${http}/v1/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids }) }).then((r) => r.json())));
    const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
    const mib = (x: number): number => x / 2 ** 20;
    return { workers, rssMiB: mib(metric(text, 'process_resident_memory_bytes')), externalMiB: mib(metric(text, 'nodejs_external_memory_bytes')), arrayBuffersMiB: Number.NaN };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

const one = await measure(1);
const four = await measure(4);
rmSync(tmp, { recursive: true, force: true });
const perWorker = (four.rssMiB - one.rssMiB) / 3;
for (const r of [one, four]) console.log(`${r.workers} worker(s): RSS ${r.rssMiB.toFixed(1)} MiB, external ${r.externalMiB.toFixed(1)} MiB`);
console.log(`RSS per extra worker: ${perWorker.toFixed(1)} MiB (table data ${tableMiB.toFixed(1)} MiB)`);
let md = `Table of ${N} features, d = ${D} (8-bit groups, every 8th group fp32): **${tableMiB.toFixed(1)} MiB** of table data in one SharedArrayBuffer. `;
md += '`mpe serve` read back from its own /metrics after scoring on every worker (default DNN 1024-512-256 per worker session).\n\n';
md += '| workers | RSS | external memory |\n|---|---|---|\n';
for (const r of [one, four]) md += `| ${r.workers} | ${r.rssMiB.toFixed(1)} MiB | ${r.externalMiB.toFixed(1)} MiB |\n`;
md += `\nRSS per extra worker: ${perWorker.toFixed(1)} MiB (an onnxruntime session, a V8 isolate and its buffers), against ${tableMiB.toFixed(1)} MiB per worker if the table were copied.\n`;
writeResult({ name: 'serve-memory', title: 'Serving: memory with 1 and 4 score workers (shared table)', command: 'npx tsx bench/serve-memory.ts', date: new Date().toISOString(), machine: describeMachine(), markdown: md, data: { features: N, tableMiB, one, four, perWorker } });
console.log(`wrote ${writeBenchmarksDoc()}`);
