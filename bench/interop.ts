/**
 * `npm run bench:interop` (not in CI; needs /usr/bin/python3 with torch + sklearn, the authors'
 * code under ../shared/tools/mperef and the criteo-10k sample under ../shared/data):
 * the project's ingestion of criteo-10k feeds the authors' MPE code (optfp embedding, DNN
 * backbone, 1 epoch of search + 1 of retraining, through the unchanged run_official.py harness),
 * the trained model is exported with tools/torch/export.py, imported with `mpe import` (with a
 * raw-value vocabulary), served by the real server, and every test row is scored over gRPC and
 * REST by its RAW values. Prints test AUC from torch and from the served bundle side by side,
 * with the bundle's bits and all-in size. Writes bench/results/interop.json and docs/benchmarks.md.
 *
 * Options (env): MPE_DATA_DIR (default ../shared/data), MPE_MPEREF_DIR (default
 * ../shared/tools/mperef), BENCH_INTEROP_EPOCHS (default 1), BENCH_INTEROP_L2_GAMMA (default 3e-5).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { loadBundle } from '../src/bundle/load.js';
import { summarizeBundle } from '../src/bundle/summary.js';
import { testConfig } from '../src/config/config.js';
import { ingest, SPLIT_TEST } from '../src/data/ingest.js';
import { fieldToken } from '../src/features/token.js';
import { importTorchExport } from '../src/interop/import.js';
import { createServer } from '../src/app/create-server.js';
import { servingModelFromBundle } from '../src/service/model.js';
import { exactAuc } from '../src/stats/auc.js';
import { grpcClient, httpJson } from '../test/server/clients.js';
import { benchCommand, describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const PYTHON = '/usr/bin/python3';
const dataDir = resolve(process.env.MPE_DATA_DIR ?? '../shared/data');
const mperef = resolve(process.env.MPE_MPEREF_DIR ?? '../shared/tools/mperef');
const epochs = Number(process.env.BENCH_INTEROP_EPOCHS ?? 1);
const l2Gamma = process.env.BENCH_INTEROP_L2_GAMMA ?? '3e-5';
const dataFile = join(dataDir, 'criteo-10k', 'train.txt');

function need(ok: boolean, why: string): void {
  if (!ok) {
    console.error(`bench:interop: ${why}`);
    process.exit(2);
  }
}
need(existsSync(dataFile), `${dataFile} not found (set MPE_DATA_DIR)`);
need(existsSync(join(mperef, 'run_official.py')), `${mperef}/run_official.py not found (set MPE_MPEREF_DIR)`);
need(spawnSync(PYTHON, ['-c', 'import torch, sklearn, numpy'], { encoding: 'utf8' }).status === 0, `${PYTHON} lacks torch/sklearn (apt-get install python3-torch python3-sklearn)`);

const dir = mkdtempSync(join(tmpdir(), 'mpe-bench-interop-'));
const load0 = loadavg()[0]!;
try {
  // 1. The project's own ingestion: ids, train counts and split shared by both sides.
  const ds = await ingest({ path: dataFile, format: 'criteo', seed: 2022 });
  const F = ds.fieldCount;
  const raw = join(dir, 'raw');
  spawnSync('mkdir', ['-p', raw]);
  writeFileSync(join(raw, 'X.i32'), new Uint8Array(ds.ids.buffer, ds.ids.byteOffset, ds.ids.byteLength));
  writeFileSync(join(raw, 'y.u8'), ds.labels);
  writeFileSync(join(raw, 'split.u8'), ds.split);
  writeFileSync(join(raw, 'feat_cnt.f64'), new Uint8Array(ds.trainCounts.buffer, ds.trainCounts.byteOffset, ds.trainCounts.byteLength));
  writeFileSync(join(raw, 'meta.json'), JSON.stringify({ rows: ds.rows, fields: ds.fields }));

  // 2. The authors' code, 1 epoch per phase, then export and torch's own test probabilities.
  const out = join(dir, 'torch');
  const t0 = performance.now();
  const py = spawnSync(PYTHON, ['tools/torch/bench_reference.py', '--mperef', mperef, '--raw', raw, '--out', out, '--epoch', String(epochs), '--l2_gamma', l2Gamma], {
    encoding: 'utf8',
    timeout: 1_800_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  need(py.status === 0, `bench_reference.py failed (${py.status}): ${py.stderr.slice(-3000)}`);
  const pySeconds = (performance.now() - t0) / 1000;
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { torch_test_auc: number; record: Record<string, number>; avg_bits_per_feature: number; group_hist: Record<string, number>; test_rows: number; train_wall_s: number };
  const torchProb = new Float32Array(readFileSync(join(out, 'torch_test_prob.f32')).buffer.slice(0));

  // 3. Vocabulary from the data file's RAW values (several raw numerics share a token).
  const lines = readFileSync(dataFile, 'latin1').split('\n');
  const tokenIds = ds.vocab.map((v) => new Map(v.tokens.map((t, k) => [t, v.ids[k]!])));
  const seen = ds.fields.map(() => new Set<string>());
  const tsv: string[] = ['# field\tvalue\tindex'];
  for (let r = 0; r < ds.rows; r++) {
    const cols = lines[r]!.split('\t');
    for (let f = 0; f < F; f++) {
      const v = cols[1 + f]!;
      if (seen[f]!.has(v)) continue;
      seen[f]!.add(v);
      const id = tokenIds[f]!.get(fieldToken(ds.fields[f]!, v) ?? '\u0000');
      if (id !== undefined) tsv.push(`${ds.fields[f]!.name}\t${v}\t${id}`);
    }
  }
  const vocabFile = join(dir, 'vocab.tsv');
  writeFileSync(vocabFile, `${tsv.join('\n')}\n`);

  // 4. Import and serve.
  const bundleDir = join(dir, 'bundle');
  const t1 = performance.now();
  await importTorchExport(join(out, 'export'), bundleDir, { vocabFile });
  const importSeconds = (performance.now() - t1) / 1000;
  const bundle = await loadBundle(bundleDir);
  const summary = await summarizeBundle(bundle);
  const names = bundle.fields.map((f) => f.name);
  const testRows: number[] = [];
  for (let r = 0; r < ds.rows; r++) if (ds.split[r] === SPLIT_TEST) testRows.push(r);
  need(testRows.length === result.test_rows, `test rows: ${testRows.length} here, ${result.test_rows} in torch`);
  const server = await createServer(testConfig({ workers: 1 }), { model: servingModelFromBundle(bundle), registry: new Registry() });
  const client = grpcClient(server.grpcPort);
  const served = { grpc: new Float64Array(testRows.length), http: new Float64Array(testRows.length) };
  const labels = new Float64Array(testRows.length);
  try {
    for (let s = 0; s < testRows.length; s += 500) {
      const e = Math.min(testRows.length, s + 500);
      const gRows: { features: { field: string; value: string }[] }[] = [];
      const hRows: Record<string, string>[] = [];
      for (let i = s; i < e; i++) {
        const cols = lines[testRows[i]!]!.split('\t');
        labels[i] = ds.labels[testRows[i]!]!;
        gRows.push({ features: names.map((n, f) => ({ field: n, value: cols[1 + f]! })) });
        hRows.push(Object.fromEntries(names.map((n, f) => [n, cols[1 + f]!])));
      }
      const g = await client.call<{ probabilities: number[] }>('Score', { rows: gRows });
      need(g.ok, `gRPC Score: ${g.mpeCode} ${g.details}`);
      const h = await httpJson(server.httpPort, 'POST', '/v1/score', { rows: hRows });
      need(h.status === 200, `REST score: ${JSON.stringify(h.json)}`);
      for (let i = s; i < e; i++) {
        served.grpc[i] = g.value!.probabilities[i - s]!;
        served.http[i] = (h.json.probabilities as number[])[i - s]!;
      }
    }
  } finally {
    client.close();
    await server.close();
  }
  let maxDiff = 0;
  for (let i = 0; i < testRows.length; i++) maxDiff = Math.max(maxDiff, Math.abs(served.grpc[i]! - torchProb[i]!), Math.abs(served.http[i]! - torchProb[i]!));
  const n = testRows.length;
  const aucTorch = result.torch_test_auc;
  const aucGrpc = exactAuc(served.grpc, labels, n);
  const aucHttp = exactAuc(served.http, labels, n);
  const r = summary.ratios;
  const hist = summary.bitsHistogram.map((h) => `${h.bits}:${h.features}`).join(' ');
  const md = [
    `criteo-10k (${ds.rows.toLocaleString('en-US')} rows, ${ds.featureCount.toLocaleString('en-US')} features after min-count 2, split 8:1:1 seed 2022 by the project's ingestion), the authors' code (optfp embedding, DNN 1024-512-256 + BatchNorm, d = 16, G = 128, bits 0..6, l2_gamma ${l2Gamma}, ${epochs} epoch search + ${epochs} epoch retrain, torch ${(result as unknown as { torch: string }).torch}, 2 threads) -> tools/torch/export.py -> mpe import --vocab -> served; ${n} test rows sent as raw values. Load average ${load0.toFixed(1)} at start.`,
    '',
    '| | test AUC |',
    '|---|---:|',
    `| torch (reference model, its own forward pass) | ${aucTorch.toFixed(4)} |`,
    `| reference harness record (test_auc) | ${Number(result.record.test_auc).toFixed(4)} |`,
    `| served bundle, gRPC Score | ${aucGrpc.toFixed(4)} |`,
    `| served bundle, REST /v1/score | ${aucHttp.toFixed(4)} |`,
    '',
    `Max |served - torch| per row: ${maxDiff.toExponential(2)}. Bundle: average ${summary.averageBits.toFixed(3)} bits per feature (bits:features ${hist}), ${summary.table.groupCount} groups of ${summary.table.groupSize}; all-in ${r.allInBytes.toLocaleString('en-US')} bytes (table.bin + vocab.bin) vs fp32 ${r.fp32AllInBytes.toLocaleString('en-US')} (${r.allIn.toFixed(2)}x); weights-only ${r.weightsOnly === null ? 'inf' : `${r.weightsOnly.toFixed(1)}x`}. Reference training + export ${pySeconds.toFixed(0)} s (training ${result.train_wall_s} s), import ${importSeconds.toFixed(1)} s.`,
  ].join('\n');
  console.log(md);
  writeResult({
    name: 'interop',
    title: 'PyTorch interop: the authors\u2019 code trained, exported, imported and served',
    command: benchCommand('bench:interop', ['MPE_DATA_DIR', 'MPE_MPEREF_DIR', 'BENCH_INTEROP_EPOCHS', 'BENCH_INTEROP_L2_GAMMA']),
    date: new Date().toISOString(),
    machine: describeMachine(),
    markdown: md,
    data: { aucTorch, aucGrpc, aucHttp, recordTestAuc: result.record.test_auc, maxDiff, averageBits: summary.averageBits, bitsHistogram: summary.bitsHistogram, ratios: r, testRows: n, load0 },
  });
  writeBenchmarksDoc();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
