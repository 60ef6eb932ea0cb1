/**
 * Issue 16 acceptance: PyTorch models with an MPE embedding (three backbones: DNN, DCN, DeepFM)
 * and a plain fp32 nn.Embedding DNN, made and trained a few steps by test/interop/torch_fixture.py,
 * exported with tools/torch/export.py, imported with `mpe import` (function and CLI), served by
 * the real server: every stored code equals torch's integer code (planted .5 ties and clamped
 * values included), and the served probabilities of 1,000 rows equal torch's within 1e-5 over
 * gRPC and REST. Raw-value rows for vocabulary imports, bundle ids (through --id-map) for
 * ids-only imports. Skips with a message where /usr/bin/python3 has no torch.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { loadBundle } from '../../src/bundle/load.js';
import { unpackRow } from '../../src/codec/bitpack.js';
import { qMin } from '../../src/codec/quantize.js';
import { testConfig } from '../../src/config/config.js';
import { importTorchExport } from '../../src/interop/import.js';
import { createServer } from '../../src/app/create-server.js';
import { servingModelFromBundle } from '../../src/service/model.js';
import { grpcClient, httpJson } from '../server/clients.js';

const PYTHON = '/usr/bin/python3';
const HAS_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const skip = HAS_TORCH ? false : 'PyTorch not available for /usr/bin/python3 (apt-get install python3-torch): torch parity test skipped';
const TOL = 1e-5;
const ROWS_PER_REQUEST = 250;

interface Probe {
  ids: number[][];
  tokens: string[][];
  prob: number[];
  planted: number;
  codes?: number[][];
  bits?: number[];
}

let dir = '';
before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'mpe-torch-'));
  const r = spawnSync(PYTHON, [join('test', 'interop', 'torch_fixture.py'), dir], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `torch_fixture.py failed: ${r.stderr}`);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function probeOf(model: string): Probe {
  return JSON.parse(readFileSync(join(dir, model, 'probe.json'), 'utf8')) as Probe;
}

function readIdMap(path: string): Int32Array {
  const rows = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const idOf = new Int32Array(rows.length);
  for (const l of rows) {
    const [i, id] = l.split('\t').map(Number) as [number, number];
    idOf[i] = id;
  }
  return idOf;
}

/** Every stored code of the bundle equals torch's signed code of the same feature; returns how many codes were compared. */
async function assertCodesEqual(bundleDir: string, probe: Probe, idOf: Int32Array): Promise<number> {
  const b = await loadBundle(bundleDir);
  const spec = b.table.spec;
  assert.equal(spec.kind, 'grouped');
  if (spec.kind !== 'grouped') return 0;
  const layout = b.table.layout;
  const d = spec.d;
  const row = new Int32Array(d);
  let compared = 0;
  for (let i = 0; i < idOf.length; i++) {
    const id = idOf[i]!;
    const g = Math.floor(id / spec.groupSize);
    const bits: number = spec.bitsPerGroup[g]!;
    assert.equal(bits, probe.bits![i], `feature ${i} (bundle id ${id}): ${bits} bits, torch ${probe.bits![i]}`);
    if (bits === 0) continue;
    const rb = Math.ceil((bits * d) / 8);
    unpackRow(b.table.data, layout.groupOffsets[g]! + (id - g * spec.groupSize) * rb, bits, d, row);
    for (let j = 0; j < d; j++) {
      const q: number = row[j]! + qMin(bits);
      if (q !== probe.codes![i]![j]) assert.fail(`feature ${i} (id ${id}, ${bits} bits) code ${j}: stored ${q}, torch ${probe.codes![i]![j]}`);
      compared++;
    }
  }
  return compared;
}

/** Serves the bundle, scores the probe rows over gRPC and HTTP, returns the max |served - torch| per transport. */
async function servedDiff(bundleDir: string, probe: Probe, mode: 'raw' | 'ids', idOf: Int32Array): Promise<{ grpc: number; http: number }> {
  const bundle = await loadBundle(bundleDir);
  const names = bundle.fields.map((f) => f.name);
  const server = await createServer(testConfig({ workers: 1 }), { model: servingModelFromBundle(bundle), registry: new Registry() });
  const client = grpcClient(server.grpcPort);
  let maxG = 0;
  let maxH = 0;
  try {
    const n = probe.prob.length;
    for (let s = 0; s < n; s += ROWS_PER_REQUEST) {
      const e = Math.min(n, s + ROWS_PER_REQUEST);
      let greq: object;
      let hreq: object;
      if (mode === 'raw') {
        const rows = probe.tokens.slice(s, e);
        greq = { rows: rows.map((r) => ({ features: r.map((v, f) => ({ field: names[f]!, value: v })) })) };
        hreq = { rows: rows.map((r) => Object.fromEntries(r.map((v, f) => [names[f]!, v]))) };
      } else {
        const rows = probe.ids.slice(s, e).map((r) => r.map((i) => idOf[i]!));
        greq = { ids: rows.flat() };
        hreq = { ids: rows };
      }
      const g = await client.call<{ probabilities: number[] }>('Score', greq);
      assert.ok(g.ok, `gRPC Score rows ${s}..${e}: ${g.mpeCode} ${g.details}`);
      const h = await httpJson(server.httpPort, 'POST', '/v1/score', hreq);
      assert.equal(h.status, 200, JSON.stringify(h.json));
      const gp = g.value!.probabilities;
      const hp = h.json.probabilities as number[];
      assert.equal(gp.length, e - s);
      assert.equal(hp.length, e - s);
      for (let i = s; i < e; i++) {
        maxG = Math.max(maxG, Math.abs(gp[i - s]! - probe.prob[i]!));
        maxH = Math.max(maxH, Math.abs(hp[i - s]! - probe.prob[i]!));
      }
    }
  } finally {
    client.close();
    await server.close();
  }
  return { grpc: maxG, http: maxH };
}

const CASES = [
  { model: 'dnn', mode: 'raw', cli: false },
  { model: 'dcn', mode: 'ids', cli: true },
  { model: 'deepfm', mode: 'raw', cli: false },
  { model: 'fp32-dnn', mode: 'ids', cli: false },
] as const;

for (const c of CASES) {
  test(`torch ${c.model}: exported, imported (${c.mode === 'raw' ? '--vocab' : 'ids only'}${c.cli ? ', CLI' : ''}), served within ${TOL} of torch on 1,000 rows`, { skip }, async () => {
    const probe = probeOf(c.model);
    assert.equal(probe.prob.length, 1000);
    const out = join(dir, c.model, 'bundle');
    const idMap = join(dir, c.model, 'idmap.tsv');
    const exportDir = join(dir, c.model, 'export');
    const vocab = c.mode === 'raw' ? join(dir, 'vocab.tsv') : undefined;
    if (c.cli) {
      const args = ['--import', 'tsx', 'src/cli/main.ts', 'import', exportDir, '--out', out, '--id-map', idMap, ...(vocab ? ['--vocab', vocab] : [])];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /imported .* 600 features/);
    } else {
      await importTorchExport(exportDir, out, { vocabFile: vocab, idMapFile: idMap });
    }
    const idOf = readIdMap(idMap);
    assert.equal(idOf.length, 600);
    assert.equal(new Set(idOf).size, 600, 'the id map is a permutation');
    const m = (await loadBundle(out)).manifest;
    assert.equal(m.model.method, c.model === 'fp32-dnn' ? 'fp32' : 'mpe');
    if (probe.codes) {
      const compared = await assertCodesEqual(out, probe, idOf);
      assert.ok(compared > 3000 && probe.planted > 40, `${compared} codes compared, ${probe.planted} planted ties/clamps`);
      // Groups are contiguous and carry several widths (0..8 all present in the fixture).
      assert.deepEqual([...new Set(m.table.bitsPerGroup)].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    }
    const diff = await servedDiff(out, probe, c.mode, idOf);
    console.log(`torch ${c.model}: max |served - torch| over 1,000 rows: gRPC ${diff.grpc.toExponential(2)}, REST ${diff.http.toExponential(2)}`);
    assert.ok(diff.grpc <= TOL && diff.http <= TOL, `max |served - torch|: gRPC ${diff.grpc}, REST ${diff.http}`);
  });
}
