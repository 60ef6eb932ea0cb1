/**
 * Issue 4 acceptance: the bundle served by the real server scores the test split exactly as the
 * trainer evaluated it (1e-5), for mpe, uniform and row-wise int8 bundles. Every test row is sent
 * as its RAW field values (the data file's line, split on tabs), so the service's own vocabulary
 * mapping, table dequantization and pooled ONNX scorer are all on the path; both gRPC and HTTP.
 * The row-wise bundle was never evaluated by the trainer: its reference is scoreBundleOnSplit.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { loadBundle } from '../../src/bundle/load.js';
import { testConfig } from '../../src/config/config.js';
import { type Dataset, ingest, SPLIT_TEST } from '../../src/data/ingest.js';
import { synthesize } from '../../src/data/synth.js';
import { TRAINING_METHODS } from '../../src/mpe/methods.js';
import { quantizeBundleRowwise } from '../../src/mpe/rowwise.js';
import { scoreBundleOnSplit } from '../../src/mpe/score-bundle.js';
import { createServer } from '../../src/app/create-server.js';
import { servingModelFromBundle } from '../../src/service/model.js';
import { trainModel } from '../../src/train/trainer.js';
import { grpcClient, httpJson } from '../server/clients.js';

// The fast settings of test/mpe/train-e2e.test.ts: 6k synthetic rows, a 32-wide net.
const SMALL = { hidden: [32], epochs: 2, patience: 2, batchSize: 256, d: 8, intraOpThreads: 1 } as const;
/** Rows per Score request: the server's limit, so the test split takes several requests. */
const ROW_LIMIT = 256;
const TOL = 1e-5;

interface Reference {
  readonly rowIndex: Int32Array;
  readonly probabilities: Float32Array;
}

let dir = '';
let ds: Dataset;
let lines: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpe-served-'));
  const file = join(dir, 'synth.txt');
  synthesize({ rows: 6000, out: file, seed: 13 });
  ds = await ingest({ path: file, format: 'criteo', seed: 13 });
  // Dataset row r is line r of the file (no header), as test/train/trainer.test.ts relies on.
  lines = readFileSync(file, 'latin1').split('\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Serves `bundleDir` on port 0, scores the reference's rows (raw values) over gRPC and HTTP in
 * requests of ROW_LIMIT rows, and asserts every probability is within TOL of the reference.
 */
async function assertServedMatches(bundleDir: string, ref: Reference, what: string): Promise<void> {
  const bundle = await loadBundle(bundleDir, { verify: true });
  const names = bundle.fields.map((f) => f.name);
  const F = names.length;
  const n = ref.rowIndex.length;
  assert.ok(n > 2 * ROW_LIMIT, `${what}: the test split (${n} rows) spans several requests`);
  const server = await createServer(testConfig({ workers: 1, requestRowLimit: ROW_LIMIT }), { model: servingModelFromBundle(bundle), registry: new Registry() });
  const client = grpcClient(server.grpcPort);
  try {
    let maxGrpc = 0;
    let maxHttp = 0;
    let worst = '';
    for (let start = 0; start < n; start += ROW_LIMIT) {
      const end = Math.min(n, start + ROW_LIMIT);
      const grpcRows: { features: { field: string; value: string }[] }[] = [];
      const httpRows: Record<string, string>[] = [];
      for (let i = start; i < end; i++) {
        const cols = lines[ref.rowIndex[i]!]!.split('\t');
        assert.equal(cols.length, 1 + F, `${what}: line ${ref.rowIndex[i]} has label + ${F} fields`);
        const features: { field: string; value: string }[] = [];
        const obj: Record<string, string> = {};
        for (let f = 0; f < F; f++) {
          features.push({ field: names[f]!, value: cols[1 + f]! });
          obj[names[f]!] = cols[1 + f]!;
        }
        grpcRows.push({ features });
        httpRows.push(obj);
      }
      const g = await client.call<{ probabilities: number[] }>('Score', { rows: grpcRows });
      assert.ok(g.ok, `${what}: gRPC Score rows ${start}..${end}: ${g.mpeCode} ${g.details}`);
      const h = await httpJson(server.httpPort, 'POST', '/v1/score', { rows: httpRows });
      assert.equal(h.status, 200, `${what}: HTTP /v1/score rows ${start}..${end}: ${JSON.stringify(h.json)}`);
      const gp = g.value!.probabilities;
      const hp = h.json.probabilities as number[];
      assert.equal(gp.length, end - start);
      assert.equal(hp.length, end - start);
      for (let i = start; i < end; i++) {
        const want = ref.probabilities[i]!;
        const dg = Math.abs(gp[i - start]! - want);
        const dh = Math.abs(hp[i - start]! - want);
        if (dg > maxGrpc) maxGrpc = dg;
        if (dh > maxHttp) maxHttp = dh;
        if (Math.max(dg, dh) > TOL && worst === '') worst = `row ${ref.rowIndex[i]}: reference ${want}, gRPC ${gp[i - start]}, HTTP ${hp[i - start]}`;
      }
    }
    assert.ok(maxGrpc <= TOL && maxHttp <= TOL, `${what}: max |served - reference| gRPC ${maxGrpc}, HTTP ${maxHttp}; first beyond ${TOL}: ${worst}`);
    console.log(`${what}: ${n} test rows served, max |served - reference| gRPC ${maxGrpc}, HTTP ${maxHttp}`);
  } finally {
    client.close();
    await server.close();
  }
}

test('served mpe bundle (gRPC + HTTP, raw rows) scores the test split as the trainer evaluated it', async () => {
  const out = join(dir, 'mpe');
  const r = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out, method: 'mpe', ...SMALL, methodOptions: { groups: 16, lambda: 3e-4 } });
  assert.equal(r.manifest.model.method, 'mpe');
  assert.equal(r.testPredictions.probabilities.length, ds.stats.rowsPerSplit[SPLIT_TEST]);
  await assertServedMatches(out, r.testPredictions, 'mpe');
});

test('served uniform 4-bit bundle (gRPC + HTTP, raw rows) scores the test split as the trainer evaluated it', async () => {
  const out = join(dir, 'u4');
  const r = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out, method: 'uniform', ...SMALL, epochs: 1, methodOptions: { bits: 4 } });
  const b = await loadBundle(out);
  assert.equal(b.table.spec.kind, 'grouped');
  if (b.table.spec.kind === 'grouped') assert.ok(b.table.spec.bitsPerGroup.every((x) => x === 4));
  await assertServedMatches(out, r.testPredictions, 'uniform4');
});

test('served row-wise int8 bundle (gRPC + HTTP, raw rows) scores the test split as scoreBundleOnSplit does', async () => {
  const fp = join(dir, 'fp32');
  const r = await trainModel({ dataset: ds, methods: TRAINING_METHODS, out: fp, method: 'fp32', ...SMALL, epochs: 1 });
  const out = join(dir, 'rw8');
  const m = await quantizeBundleRowwise(fp, out, 8);
  assert.equal(m.model.method, 'rowwise-int8');
  const s = await scoreBundleOnSplit(out, ds, SPLIT_TEST, 1);
  assert.deepEqual(s.rowIndex, r.testPredictions.rowIndex);
  // The int8 rows really differ from fp32 (else this would only re-test the fp32 bundle).
  let moved = 0;
  for (let i = 0; i < s.rows; i++) moved = Math.max(moved, Math.abs(s.probabilities[i]! - r.testPredictions.probabilities[i]!));
  assert.ok(moved > 0, 'row-wise int8 scores differ from fp32 somewhere');
  await assertServedMatches(out, s, 'rowwise-int8');
});
