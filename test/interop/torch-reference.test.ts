/**
 * The exporter on the MPE authors' own model objects (their OptFP embedding with their dnn, dcn
 * and deepfm backbones, from ../shared/tools/mperef, or MPE_MPEREF_DIR): an embedding still in
 * its search stage is refused; after discrete_gamma() and retraining, every code of the imported
 * bundle equals torch's and the bundle's scorer on the bundle's embeddings gives torch's
 * probabilities within 1e-5 (the served path itself is covered by torch-parity.test.ts).
 * Skips with a message when torch or the reference code is absent (CI has no ../shared).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { loadBundle } from '../../src/bundle/load.js';
import { unpackRow } from '../../src/codec/bitpack.js';
import { qMin } from '../../src/codec/quantize.js';
import { importTorchExport } from '../../src/interop/import.js';
import { createScorerSession, scoreBatch } from '../../src/scorer/session.js';

const PYTHON = '/usr/bin/python3';
const official = join(resolve(process.env.MPE_MPEREF_DIR ?? '../shared/tools/mperef'), 'official');
const skip = !existsSync(join(official, 'model', 'embedding.py'))
  ? `the authors' reference code is not at ${official} (set MPE_MPEREF_DIR): reference-model export test skipped`
  : spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0
    ? 'PyTorch not available for /usr/bin/python3 (apt-get install python3-torch): reference-model export test skipped'
    : false;

let dir = '';
before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'mpe-ref-'));
  const r = spawnSync(PYTHON, [join('test', 'interop', 'reference_fixture.py'), official, dir], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `reference_fixture.py failed: ${r.stderr}`);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const model of ['dnn', 'dcn', 'deepfm']) {
  test(`reference optfp + ${model}: search stage refused; retrained model imports with torch's codes and probabilities`, { skip }, async () => {
    const p = JSON.parse(readFileSync(join(dir, `${model}.probe.json`), 'utf8')) as { ids: number[][]; prob: number[]; codes: number[][]; bits: number[]; search_refused: string | null };
    assert.match(p.search_refused ?? 'exported', /still searching/);
    const out = join(dir, `${model}-bundle`);
    const r = await importTorchExport(join(dir, model), out);
    const b = await loadBundle(out);
    const spec = b.table.spec;
    assert.ok(spec.kind === 'grouped');
    const d = spec.d;
    const row = new Int32Array(d);
    let compared = 0;
    for (let i = 0; i < p.codes.length; i++) {
      const id = r.plan.idOf[i]!;
      const g = Math.floor(id / spec.groupSize);
      const bits: number = spec.bitsPerGroup[g]!;
      assert.equal(bits, p.bits[i], `feature ${i}: bits`);
      if (bits === 0) continue;
      unpackRow(b.table.data, b.table.layout.groupOffsets[g]! + (id - g * spec.groupSize) * Math.ceil((bits * d) / 8), bits, d, row);
      for (let j = 0; j < d; j++) assert.equal(row[j]! + qMin(bits), p.codes[i]![j], `feature ${i} code ${j}`);
      compared += d;
    }
    assert.ok(compared >= 2000, `${compared} codes compared`);
    const F = p.ids[0]!.length;
    const n = p.ids.length;
    const ids = Int32Array.from(p.ids.flat(), (i) => r.plan.idOf[i]!);
    const x = new Float32Array(n * F * d);
    b.table.dequantize(ids, ids.length, x);
    const s = await createScorerSession(b.scorerBytes, { provider: 'cpu', intraOpThreads: 1 });
    const prob = await scoreBatch(s.session, x, n, F * d);
    let max = 0;
    for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(prob[i]! - p.prob[i]!));
    console.log(`reference optfp + ${model}: ${compared} codes equal, max |bundle - torch| ${max.toExponential(2)} over ${n} rows`);
    assert.ok(max <= 1e-5, `max |bundle - torch| ${max}`);
    await s.session.release();
  });
}
