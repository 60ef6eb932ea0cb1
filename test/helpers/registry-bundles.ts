/** Writes real bundles (random weights, one seed per version) for the hot-reload tests, with the reference scorer of each. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeBundle } from '../../src/bundle/write.js';
import { mlpForwardReference } from '../../src/scorer/mlp.js';
import { VocabularyBuilder } from '../../src/vocab/vocabulary.js';
import { createFixture, type Fixture } from './bundle-fixture.js';

export interface VersionFixture {
  readonly version: string;
  readonly dir: string;
  readonly fx: Fixture;
  /** Reference probabilities of `rows` rows of ids (float64 forward pass over the codec's dequantized rows). */
  reference(ids: Int32Array, rows: number): Float64Array;
}

export const SHAPE = { fields: 4, d: 8, featureCount: 400, groupSize: 32, hidden: [16] } as const;

/** Writes bundle `version` under `root`, weights from `seed`. */
export async function writeVersion(root: string, version: string, seed: number, shape: { fields: number; d: number; featureCount: number; groupSize: number; hidden: readonly number[] } = SHAPE): Promise<VersionFixture> {
  const fx = createFixture({ ...shape, seed });
  const vb = new VocabularyBuilder();
  for (const [key, id] of fx.vocabEntries) {
    const [field, token] = key.split('\u0000') as [string, string];
    vb.add(Number(field), token, id);
  }
  const dir = join(root, version);
  const { packTable } = await import('../../src/codec/pack-table.js');
  await writeBundle(dir, {
    manifest: { model: { name: 'ctr', version, createdAt: '2026-01-01T00:00:00.000Z', method: 'mpe' }, fields: fx.fields, metrics: { auc: 0.8 } },
    tableSpec: fx.spec,
    tableData: packTable(fx.spec, fx.weights),
    vocabBytes: vb.build().toBytes(),
    scorerBytes: fx.scorerBytes,
  });
  const F = fx.fields.length;
  return {
    version,
    dir,
    fx,
    reference(ids, rows) {
      const x = new Float32Array(rows * F * fx.spec.d);
      fx.table.dequantize(ids, rows * F, x, 0);
      return mlpForwardReference(fx.mlp, x, rows);
    },
  };
}

/** Flips one byte in the middle of the bundle's table.bin (the checksum in the manifest no longer matches). */
export async function corrupt(dir: string): Promise<void> {
  const p = join(dir, 'table.bin');
  const b = await readFile(p);
  b[b.length >> 1]! ^= 0x01;
  await writeFile(p, b);
}
