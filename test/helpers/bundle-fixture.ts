/**
 * Deterministic serving fixtures from random weights: a mixed-precision grouped table (every bit
 * width the codec supports, pruned groups included), a small vocabulary, and an MLP scorer from
 * `randomMlpWeights`. Shared by the server, service and interop tests (and free for other areas).
 *
 * Feature ids: ids 0..F-1 are the fields' OOV features (id f = OOV of field f); id i >= F belongs
 * to field i % F with raw value `c<i>` (categorical fields) or the number i (numeric fields).
 */
import type { GroupedTableSpec } from '../../src/codec/layout.js';
import { packTable } from '../../src/codec/pack-table.js';
import { PackedTable } from '../../src/codec/packed-table.js';
import type { FieldSpec } from '../../src/features/token.js';
import { encodeTableHeader } from '../../src/bundle/table-file.js';
import { writeBundle } from '../../src/bundle/write.js';
import { type Vocabulary, VocabularyBuilder } from '../../src/vocab/vocabulary.js';
import { vocabularyOfFile } from '../../src/bundle/shared-vocab.js';
import { encodeVocabHeader } from '../../src/bundle/vocab-file.js';
import { buildMlpScorer, type MlpWeights, randomMlpWeights } from '../../src/scorer/mlp.js';
import type { ServingModel, VocabLookup } from '../../src/service/model.js';
import { createRng } from '../../src/util/random.js';

export interface FixtureOptions {
  /** Fields (default 6: the first two numeric, the rest categorical). */
  readonly fields?: number;
  readonly d?: number;
  readonly featureCount?: number;
  readonly groupSize?: number;
  /** Hidden layer widths of the scorer (default [32, 16]). */
  readonly hidden?: readonly number[];
  readonly seed?: number;
}

export interface Fixture {
  readonly fields: readonly FieldSpec[];
  readonly spec: GroupedTableSpec;
  readonly weights: Float32Array;
  /** The whole table.bin (header + data) in one SharedArrayBuffer. */
  readonly tableBuffer: SharedArrayBuffer;
  /** Codec reference over the same bytes. */
  readonly table: PackedTable;
  readonly mlp: MlpWeights;
  readonly scorerBytes: Uint8Array;
  /** (field index, token) -> id. */
  readonly vocabEntries: ReadonlyMap<string, number>;
  /** Raw value of feature id (id >= F). */
  rawValue(id: number): string | number;
  /** Field index of feature id. */
  fieldOf(id: number): number;
}

/** The bit widths the fixture cycles through, group by group. */
export const FIXTURE_BITS = [8, 32, 6, 0, 4, 5, 3, 2, 1, 7, 0, 4];

export function createFixture(o: FixtureOptions = {}): Fixture {
  const F = o.fields ?? 6;
  const d = o.d ?? 8;
  const featureCount = o.featureCount ?? 600;
  const groupSize = o.groupSize ?? 32;
  const rng = createRng(o.seed ?? 7);
  const fields: FieldSpec[] = [];
  for (let f = 0; f < F; f++) {
    fields.push(f < 2 ? { name: `I${f + 1}`, kind: 'numeric', transform: 'none', oovId: f } : { name: `C${f - 1}`, kind: 'categorical', transform: 'none', oovId: f });
  }
  const groups = Math.ceil(featureCount / groupSize);
  const bitsPerGroup = new Uint8Array(groups);
  for (let g = 0; g < groups; g++) bitsPerGroup[g] = FIXTURE_BITS[g % FIXTURE_BITS.length]!;
  bitsPerGroup[0] = 8; // the OOV ids live in group 0: keep them non-zero so scores depend on them
  const alpha = new Float32Array(9);
  for (let b = 1; b <= 8; b++) alpha[b] = 0.2 / 2 ** (b - 1);
  const beta = new Float32Array(d);
  for (let j = 0; j < d; j++) beta[j] = 0.01 * rng.normal();
  const spec: GroupedTableSpec = { kind: 'grouped', d, featureCount, groupSize, bitsPerGroup, alpha, beta };
  const weights = new Float32Array(featureCount * d);
  for (let i = 0; i < weights.length; i++) weights[i] = 0.3 * rng.normal();
  const header = encodeTableHeader(spec);
  const data = packTable(spec, weights);
  const tableBuffer = new SharedArrayBuffer(header.length + data.length);
  new Uint8Array(tableBuffer).set(header, 0);
  new Uint8Array(tableBuffer).set(data, header.length);
  const table = new PackedTable(spec, new Uint8Array(tableBuffer, header.length, data.length));
  const mlp = randomMlpWeights(F * d, o.hidden ?? [32, 16], (o.seed ?? 7) + 1, { batchNorm: true });
  const scorerBytes = buildMlpScorer(mlp);
  const fieldOf = (id: number): number => (id < F ? id : id % F);
  const rawValue = (id: number): string | number => (fieldOf(id) < 2 ? id : `c${id}`);
  const vocabEntries = new Map<string, number>();
  for (let id = F; id < featureCount; id++) vocabEntries.set(`${fieldOf(id)}\u0000${String(rawValue(id))}`, id);
  return { fields, spec, weights, tableBuffer, table, mlp, scorerBytes, vocabEntries, rawValue, fieldOf };
}

/** The fixture's vocabulary as a real vocab.bin in a SharedArrayBuffer (built once per fixture). */
const vocabFiles = new WeakMap<Fixture, SharedArrayBuffer>();
function fixtureVocabFile(fx: Fixture): SharedArrayBuffer {
  let buf = vocabFiles.get(fx);
  if (buf === undefined) {
    const payload = fixtureVocabulary(fx).toBytes();
    const header = encodeVocabHeader(payload.length, fx.fields.length);
    buf = new SharedArrayBuffer(header.length + payload.length);
    new Uint8Array(buf).set(header, 0);
    new Uint8Array(buf).set(payload, header.length);
    vocabFiles.set(fx, buf);
  }
  return buf;
}

function fixtureVocabulary(fx: Fixture): Vocabulary {
  const vb = new VocabularyBuilder();
  for (const [key, id] of fx.vocabEntries) {
    const at = key.indexOf('\u0000');
    vb.add(Number(key.slice(0, at)), key.slice(at + 1), id);
  }
  return vb.build();
}

/**
 * A ServingModel over the fixture, in memory (no bundle files). Its vocabulary is a real vocab.bin
 * in a SharedArrayBuffer, so score workers resolve raw values as with a loaded bundle;
 * `{ workerVocab: false }` leaves it out (raw values resolved on the main thread).
 */
export function fixtureModel(fx: Fixture, version = 'fixture-1', opts: { workerVocab?: boolean } = {}): ServingModel {
  const vocabBuffer = fixtureVocabFile(fx);
  const vocab: VocabLookup = vocabularyOfFile(new Uint8Array(vocabBuffer));
  return {
    version,
    fields: fx.fields,
    table: fx.table,
    tableBuffer: fx.tableBuffer,
    vocab,
    ...(opts.workerVocab === false ? {} : { vocabBuffer }),
    scorerBytes: fx.scorerBytes,
    sectionBytes: { table: fx.tableBuffer.byteLength, vocab: fx.vocabEntries.size * 16, scorer: fx.scorerBytes.length, manifest: 0 },
  };
}

/** Deterministic random candidate rows as ids (row-major) plus the same rows as raw objects. */
export function randomRows(fx: Fixture, rows: number, seed: number): { ids: Int32Array; raw: Record<string, string | number>[] } {
  const rng = createRng(seed);
  const F = fx.fields.length;
  const n = fx.spec.featureCount;
  const ids = new Int32Array(rows * F);
  const raw: Record<string, string | number>[] = [];
  for (let r = 0; r < rows; r++) {
    const row: Record<string, string | number> = {};
    for (let f = 0; f < F; f++) {
      // A feature of field f: f + F * k, k >= 1, below featureCount.
      const kMax = Math.floor((n - 1 - f) / F);
      const id = f + F * (1 + rng.int(kMax));
      ids[r * F + f] = id;
      row[fx.fields[f]!.name] = fx.rawValue(id);
    }
    raw.push(row);
  }
  return { ids, raw };
}

/**
 * Writes the fixture as a real bundle directory (writeBundle); load it with `loadBundle`. Its
 * vocabulary is the v1 hash table (explicit ids, so the fixture's ids stay valid), in a format v2
 * bundle by default or a format v1 bundle with `formatVersion: 1` (the v1 compatibility fixture).
 */
export async function writeFixtureBundle(fx: Fixture, dir: string, version = 'fixture-1', formatVersion: 1 | 2 = 2): Promise<void> {
  await writeBundle(dir, {
    manifest: { model: { name: 'fixture', version, method: 'mpe' }, fields: fx.fields },
    tableSpec: fx.spec,
    tableData: packTable(fx.spec, fx.weights),
    vocabBytes: fixtureVocabulary(fx).toBytes(),
    scorerBytes: fx.scorerBytes,
    formatVersion,
  });
}
