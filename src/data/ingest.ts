/**
 * Streaming ingestion and preprocessing (docs/training.md "Ingestion and preprocessing").
 *
 * One pass over the text: every value becomes its token (`features/token.ts`), each field keeps
 * a map token -> local index and the count of each token on the TRAIN split, and the matrix of
 * local indices is stored as Int32 (the text itself is never held). Then features with a train
 * count >= minCount get ids by global frequency rank (id 0 = most frequent; ties broken by field,
 * then first appearance), every other value of a field maps to that field's OOV feature (ranked
 * by its own count), and the matrix is renumbered in place.
 *
 * One pass instead of two (count, then encode): parsing and token mapping are most of the
 * ingestion time (see docs/training.md), so a second parse would nearly double it; the local-index
 * matrix costs the same memory as the final one.
 */
import { MpeError, type ErrorCode } from '../errors.js';
import { type FieldSpec, fieldToken } from '../features/token.js';
import { createRng } from '../util/random.js';
import { forEachLine } from './line-reader.js';
import { type DataSchema, type DelimitedOptions, criteoSchema, delimitedSchema } from './schema.js';

/** Split of a row: 0 train, 1 valid, 2 test. */
export const SPLIT_TRAIN = 0;
export const SPLIT_VALID = 1;
export const SPLIT_TEST = 2;

export interface IngestOptions {
  /** The data file, split at random (or by `csv.splitColumn`); or give `files`. */
  readonly path?: string;
  /** One file per split instead of `path` (valid and test optional); csv files must share the header. */
  readonly files?: SplitFiles;
  readonly format: 'criteo' | 'csv';
  /** For `csv`: label column, categorical and numeric columns, separator. */
  readonly csv?: DelimitedOptions;
  /** Values seen fewer times on the train split share their field's OOV feature. Default 2. */
  readonly minCount?: number;
  /** Seed of the random split. Default 2022. */
  readonly seed?: number;
  /** Fractions of train and valid (test gets the rest). Default [0.8, 0.1]. */
  readonly split?: readonly [number, number];
  /** Skip (and count) bad lines instead of failing. Default false. */
  readonly skipBadLines?: boolean;
  /** Called every 65,536 lines. */
  readonly onProgress?: (lines: number) => void;
  /**
   * Ranking hook (e.g. `train/live-counts.ts`): called once after the pass with the field names
   * and train rows; the function it returns gives each feature's rank key (token null = the
   * field's OOV feature). Default: the train count. The vocabulary (min-count, OOV) does not change.
   */
  readonly rankBy?: RankBy;
}

/** Data already split into files. */
export interface SplitFiles {
  readonly train: string;
  readonly valid?: string;
  readonly test?: string;
}

/** Split of a split-column value: train/valid/test (any case, also validation) or 0/1/2; -1 otherwise. */
export function parseSplitValue(v: string): number {
  const s = v.trim().toLowerCase();
  if (s === 'train' || s === '0') return SPLIT_TRAIN;
  if (s === 'valid' || s === 'validation' || s === '1') return SPLIT_VALID;
  if (s === 'test' || s === '2') return SPLIT_TEST;
  return -1;
}

/** Rank key of one feature of field `field` (`token` null: the field's OOV feature) given its train count. */
export type RankKey = (field: number, token: string | null, trainCount: number) => number;
/** Builds a {@link RankKey} once the fields and the number of train rows are known. */
export type RankBy = (fieldNames: readonly string[], trainRows: number) => RankKey;

export interface IngestStats {
  readonly linesRead: number;
  readonly rows: number;
  /** Skipped bad lines per error code (only with skipBadLines). */
  readonly skipped: Partial<Record<ErrorCode, number>>;
  readonly rowsPerSplit: readonly [number, number, number];
  readonly positivesPerSplit: readonly [number, number, number];
  /** Distinct tokens per field (all splits). */
  readonly distinctPerField: readonly number[];
  /** Features per field including its OOV feature. */
  readonly featuresPerField: readonly number[];
  readonly featureCount: number;
  readonly minCount: number;
  readonly seconds: number;
}

/** An encoded data set: ids are feature ranks, `ids[r * fieldCount + f]`. */
export interface Dataset {
  readonly fields: readonly FieldSpec[];
  readonly fieldCount: number;
  readonly rows: number;
  readonly featureCount: number;
  readonly ids: Int32Array;
  readonly labels: Uint8Array;
  /** SPLIT_TRAIN / SPLIT_VALID / SPLIT_TEST per row. */
  readonly split: Uint8Array;
  /** Train-split occurrences of each feature id (non-increasing unless `rankCounts` is set). */
  readonly trainCounts: Float64Array;
  /** With {@link IngestOptions.rankBy}: the key ids were ranked by (non-increasing). Frequency groups use it instead of trainCounts. */
  readonly rankCounts?: Float64Array;
  /** In-vocabulary tokens of each field and their ids (OOV features have no token). */
  readonly vocab: readonly { readonly tokens: readonly string[]; readonly ids: Int32Array }[];
  readonly stats: IngestStats;
}

/** Rows per matrix chunk while the row count is unknown. */
const CHUNK_ROWS = 65_536;

/** Per-field state during the pass. */
interface FieldState {
  readonly map: Map<string, number>;
  readonly tokens: string[];
  trainCounts: Int32Array;
}

class BadLine extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly why: string,
  ) {
    super(why);
  }
}

/**
 * Splits a delimited line into `out`, honouring double-quoted fields ("" inside quotes is a
 * quote). Returns the column count. Throws BadLine on an unterminated quote.
 */
function splitQuoted(line: string, sep: string, out: string[]): number {
  out.length = 0;
  let i = 0;
  const n = line.length;
  for (;;) {
    if (line.charCodeAt(i) === 34) {
      let v = '';
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) throw new BadLine('MPE_ERR_DATA_MALFORMED', 'unterminated quote');
        v += line.slice(j, q);
        if (line.charCodeAt(q + 1) === 34) {
          v += '"';
          j = q + 2;
        } else {
          j = q + 1;
          break;
        }
      }
      out.push(v);
      if (j >= n) return out.length;
      if (line[j] !== sep) throw new BadLine('MPE_ERR_DATA_MALFORMED', 'text after a closing quote');
      i = j + 1;
    } else {
      const s = line.indexOf(sep, i);
      if (s < 0) {
        out.push(line.slice(i));
        return out.length;
      }
      out.push(line.slice(i, s));
      i = s + 1;
    }
  }
}

function validate(o: IngestOptions): { minCount: number; seed: number; pTrain: number; pValid: number } {
  const minCount = o.minCount ?? 2;
  const seed = o.seed ?? 2022;
  const [pTrain, pValid] = o.split ?? [0.8, 0.1];
  if (!Number.isInteger(minCount) || minCount < 1) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `min-count must be an integer >= 1, got ${minCount}`);
  if (!(pTrain > 0 && pValid >= 0 && pTrain + pValid <= 1)) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `bad split fractions ${pTrain}, ${pValid}`);
  if (o.format === 'csv' && !o.csv) throw new MpeError('MPE_ERR_DATA_SCHEMA', 'csv format needs --label and --categorical/--numeric columns');
  return { minCount, seed, pTrain, pValid };
}

/**
 * Reads, splits and encodes a data file. Throws MPE_ERR_DATA_* with `file:line` in the detail on
 * the first bad line (unless `skipBadLines`), MPE_ERR_DATA_EMPTY when no row remains.
 */
export async function ingest(o: IngestOptions): Promise<Dataset> {
  const t0 = performance.now();
  const { minCount, seed, pTrain, pValid } = validate(o);
  if ((o.path === undefined) === (o.files === undefined)) throw new MpeError('MPE_ERR_TRAIN_CONFIG', 'give one data file, or --train (with optional --valid, --test) files');
  if (o.files && o.csv?.splitColumn !== undefined) throw new MpeError('MPE_ERR_TRAIN_CONFIG', '--split-column and --train/--valid/--test files exclude each other');
  if (o.format === 'criteo' && o.csv?.splitColumn !== undefined) throw new MpeError('MPE_ERR_TRAIN_CONFIG', '--split-column needs a delimited file with a header (--format csv)');
  const sources: { path: string; split: number }[] = o.files
    ? [
        { path: o.files.train, split: SPLIT_TRAIN },
        ...(o.files.valid !== undefined ? [{ path: o.files.valid, split: SPLIT_VALID }] : []),
        ...(o.files.test !== undefined ? [{ path: o.files.test, split: SPLIT_TEST }] : []),
      ]
    : [{ path: o.path!, split: -1 }];
  let source = sources[0]!;
  let header: string | null = null;
  let schema: DataSchema | null = o.format === 'criteo' ? criteoSchema() : null;
  let F = schema ? schema.fields.length : 0;
  let states: FieldState[] = [];
  let tokenSpecs: FieldSpec[] = [];
  const initStates = (s: DataSchema): void => {
    schema = s;
    F = s.fields.length;
    tokenSpecs = s.fields.map((fs) => ({ name: fs.name, kind: fs.kind, transform: fs.transform, oovId: -1 }));
    states = s.fields.map(() => ({ map: new Map<string, number>(), tokens: [], trainCounts: new Int32Array(1024) }));
  };
  if (schema) initStates(schema);

  const chunks: Int32Array[] = [];
  let chunk = new Int32Array(0);
  let inChunk = CHUNK_ROWS;
  let labels = new Uint8Array(CHUNK_ROWS);
  let split = new Uint8Array(CHUNK_ROWS);
  let rows = 0;
  const rowsPerSplit: [number, number, number] = [0, 0, 0];
  const positivesPerSplit: [number, number, number] = [0, 0, 0];
  const skipped: Partial<Record<ErrorCode, number>> = {};
  const rng = createRng(seed);
  const cols: string[] = [];
  let local = new Int32Array(Math.max(F, 1));
  const onProgress = o.onProgress;

  const onLine = (line: string, lineNo: number): void => {
    if (onProgress && (lineNo & 0xffff) === 0) onProgress(lineNo);
    if (schema === null) {
      const sep = o.csv!.sep;
      if (sep.length !== 1) throw new MpeError('MPE_ERR_DATA_SCHEMA', `separator must be one character, got '${sep}'`);
      try {
        splitQuoted(line, sep, cols);
      } catch (e) {
        if (e instanceof BadLine) throw new MpeError(e.code, `${source.path}:${lineNo}: header: ${e.why}`);
        throw e;
      }
      header = line;
      initStates(delimitedSchema(cols, o.csv!));
      local = new Int32Array(F);
      return;
    }
    if (lineNo === 1 && schema.header) {
      // a later file of --train/--valid/--test: its header must be the first file's
      if (line !== header) throw new MpeError('MPE_ERR_DATA_SCHEMA', `${source.path}:1: header differs from ${sources[0]!.path}'s`);
      return;
    }
    if (line.length === 0) return; // blank lines carry no row
    const s = schema;
    try {
      if (line.indexOf('\0') >= 0 || line.indexOf('\ufffd') >= 0) throw new BadLine('MPE_ERR_DATA_MALFORMED', 'NUL byte or invalid UTF-8');
      let parts: string[];
      if (s.format === 'criteo') parts = line.split('\t');
      else {
        splitQuoted(line, s.sep, cols);
        parts = cols;
      }
      if (parts.length !== s.columns) throw new BadLine('MPE_ERR_DATA_COLUMNS', `expected ${s.columns} columns, got ${parts.length}`);
      const lab = parts[s.labelColumn]!.trim();
      const y = lab === '1' ? 1 : lab === '0' ? 0 : -1;
      if (y < 0) throw new BadLine('MPE_ERR_DATA_LABEL', `label '${lab.slice(0, 20)}'`);
      // Tokens first, so a bad numeric value leaves no trace in the vocabulary.
      const spec = s.fields;
      // Numeric tokens replace their raw text in place (parts is rebuilt for every line).
      const tokens = parts;
      for (let f = 0; f < F; f++) {
        const fs = spec[f]!;
        const raw = parts[fs.column]!;
        if (fs.kind === 'numeric') {
          const t = fieldToken(tokenSpecs[f]!, raw.trim());
          if (t === null) throw new BadLine('MPE_ERR_DATA_NUMERIC', `field ${fs.name}: '${raw.slice(0, 20)}'`);
          tokens[fs.column] = t;
        }
      }
      let sp = source.split;
      if (s.splitColumn >= 0) {
        sp = parseSplitValue(parts[s.splitColumn]!);
        if (sp < 0) throw new BadLine('MPE_ERR_DATA_SPLIT', `split '${parts[s.splitColumn]!.slice(0, 20)}'`);
      } else if (sp < 0) {
        const u = rng.next();
        sp = u < pTrain ? SPLIT_TRAIN : u < pTrain + pValid ? SPLIT_VALID : SPLIT_TEST;
      }
      for (let f = 0; f < F; f++) {
        const st = states[f]!;
        const t = tokens[spec[f]!.column]!;
        let id = st.map.get(t);
        if (id === undefined) {
          id = st.tokens.length;
          st.map.set(t, id);
          st.tokens.push(t);
          if (id === st.trainCounts.length) {
            const grown = new Int32Array(id * 2);
            grown.set(st.trainCounts);
            st.trainCounts = grown;
          }
        }
        if (sp === SPLIT_TRAIN) st.trainCounts[id]!++;
        local[f] = id;
      }
      if (inChunk === CHUNK_ROWS) {
        chunk = new Int32Array(CHUNK_ROWS * F);
        chunks.push(chunk);
        inChunk = 0;
      }
      chunk.set(local.subarray(0, F), inChunk * F);
      inChunk++;
      if (rows === labels.length) {
        const l2 = new Uint8Array(rows * 2);
        l2.set(labels);
        labels = l2;
        const s2 = new Uint8Array(rows * 2);
        s2.set(split);
        split = s2;
      }
      labels[rows] = y;
      split[rows] = sp;
      rows++;
      rowsPerSplit[sp]++;
      positivesPerSplit[sp] += y;
    } catch (e) {
      if (!(e instanceof BadLine)) throw e;
      if (!o.skipBadLines) throw new MpeError(e.code, `${source.path}:${lineNo}: ${e.why}`);
      skipped[e.code] = (skipped[e.code] ?? 0) + 1;
    }
  };

  let linesRead = 0;
  for (const src of sources) {
    source = src;
    linesRead += await forEachLine(src.path, onLine);
  }
  const where = sources.map((x) => x.path).join(', ');
  if (rows === 0) {
    const why = linesRead === 0 ? 'the file is empty' : `no usable row in ${linesRead} lines`;
    throw new MpeError('MPE_ERR_DATA_EMPTY', `${where}: ${why}`);
  }
  if (rowsPerSplit[SPLIT_TRAIN] === 0) throw new MpeError('MPE_ERR_DATA_EMPTY', `${where}: the train split has no rows`);

  const sch = schema as unknown as DataSchema;
  // --- rank features by train count ---
  let candidates = F; // one OOV per field
  for (let f = 0; f < F; f++) {
    const st = states[f]!;
    for (let i = 0; i < st.tokens.length; i++) if (st.trainCounts[i]! >= minCount) candidates++;
  }
  const candField = new Int32Array(candidates);
  const candLocal = new Int32Array(candidates); // -1 = OOV
  const candCount = new Float64Array(candidates);
  let c = 0;
  for (let f = 0; f < F; f++) {
    const st = states[f]!;
    let oovCount = 0;
    candField[c] = f;
    candLocal[c] = -1;
    const oovSlot = c++;
    for (let i = 0; i < st.tokens.length; i++) {
      const n = st.trainCounts[i]!;
      if (n >= minCount) {
        candField[c] = f;
        candLocal[c] = i;
        candCount[c++] = n;
      } else oovCount += n;
    }
    candCount[oovSlot] = oovCount;
  }
  const order = new Int32Array(candidates);
  for (let i = 0; i < candidates; i++) order[i] = i;
  // Candidates are laid out by (field, first appearance) already, so ties on count keep that order.
  // A rankBy hook only changes the sort key (the vocabulary stays the train split's).
  let candKey = candCount;
  if (o.rankBy) {
    const key = o.rankBy(
      sch.fields.map((fs) => fs.name),
      rowsPerSplit[SPLIT_TRAIN],
    );
    candKey = new Float64Array(candidates);
    for (let i = 0; i < candidates; i++) {
      const l = candLocal[i]!;
      const f = candField[i]!;
      const k = key(f, l === -1 ? null : states[f]!.tokens[l]!, candCount[i]!);
      if (!(k >= 0 && Number.isFinite(k))) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `rank key of field ${sch.fields[f]!.name} is ${k}`);
      candKey[i] = k;
    }
  }
  // Equal keys (e.g. no live lookups at w = 1) fall back to the train count, then the layout order.
  order.sort((a, b) => candKey[b]! - candKey[a]! || candCount[b]! - candCount[a]! || a - b);

  const localToId: Int32Array[] = states.map((st) => new Int32Array(st.tokens.length));
  const oovIds = new Int32Array(F);
  const trainCounts = new Float64Array(candidates);
  const rankCounts = o.rankBy ? new Float64Array(candidates) : null;
  const vocabCounts = new Int32Array(F);
  for (let r = 0; r < candidates; r++) {
    const k = order[r]!;
    trainCounts[r] = candCount[k]!;
    if (rankCounts) rankCounts[r] = candKey[k]!;
    const f = candField[k]!;
    if (candLocal[k] === -1) oovIds[f] = r;
    else {
      localToId[f]![candLocal[k]!] = r;
      vocabCounts[f]!++;
    }
  }
  const vocab = states.map((st, f) => {
    const map = localToId[f]!;
    const tokens: string[] = [];
    const ids = new Int32Array(vocabCounts[f]!);
    for (let i = 0; i < st.tokens.length; i++) {
      if (st.trainCounts[i]! >= minCount) {
        ids[tokens.length] = map[i]!;
        tokens.push(st.tokens[i]!);
      } else map[i] = oovIds[f]!;
    }
    return { tokens, ids };
  });

  // --- renumber the matrix in place, then join the chunks ---
  const ids = new Int32Array(rows * F);
  for (let k = 0; k < chunks.length; k++) {
    const ch = chunks[k]!;
    const n = k === chunks.length - 1 ? inChunk : CHUNK_ROWS;
    const base = k * CHUNK_ROWS * F;
    for (let r = 0; r < n; r++) {
      for (let f = 0; f < F; f++) {
        const j = r * F + f;
        ids[base + j] = localToId[f]![ch[j]!]!;
      }
    }
    chunks[k] = new Int32Array(0); // release as we go
  }

  const fields: FieldSpec[] = sch.fields.map((fs, f) => Object.freeze({ name: fs.name, kind: fs.kind, transform: fs.transform, oovId: oovIds[f]! }));
  const stats: IngestStats = {
    linesRead,
    rows,
    skipped,
    rowsPerSplit,
    positivesPerSplit,
    distinctPerField: states.map((st) => st.tokens.length),
    featuresPerField: Array.from(vocabCounts, (n) => n + 1),
    featureCount: candidates,
    minCount,
    seconds: (performance.now() - t0) / 1000,
  };
  return {
    fields,
    fieldCount: F,
    rows,
    featureCount: candidates,
    ids,
    labels: labels.subarray(0, rows),
    split: split.subarray(0, rows),
    trainCounts,
    ...(rankCounts ? { rankCounts } : {}),
    vocab,
    stats,
  };
}
