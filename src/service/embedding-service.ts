/**
 * The service: one function per operation on plain objects. The gRPC and HTTP adapters in
 * `server/` both call these, so the transports cannot drift. Validation that depends on the model
 * (fields, id ranges, row limits) lives here; the transports only check shapes and types.
 */
import { MpeError } from '../errors.js';
import { type FieldSpec, fieldToken } from '../features/token.js';
import type { ServeConfig } from '../config/config.js';
import { type PackedValues, type RawPart, type RowLabel, resolveRawPart, ValuePacker } from '../vocab/packed-values.js';
import { type ModelStats, modelStats, type SectionName, type ServingModel } from './model.js';
import type { ScorePool } from '../scorer/score-pool.js';
import type { DriftModel } from '../stats/drift.js';
import type { FrequencySampler } from '../stats/sampler.js';
import type { ScoreTiming } from '../util/score-timing.js';

/** A raw value: string, number, or missing (null / absent / ''). */
export type RawValue = string | number | null | undefined;

/** One raw (field, value) pair. */
export interface RawFeature {
  readonly field: string;
  readonly value?: RawValue;
}

/** A candidate row: an object keyed by field name (REST) or a list of pairs (gRPC). */
export type RawRow = Readonly<Record<string, RawValue>> | readonly RawFeature[];

export interface LookupInput {
  readonly ids?: ArrayLike<number>;
  readonly features?: readonly RawFeature[];
}

export interface LookupOutput {
  readonly d: number;
  readonly count: number;
  /** count * d floats, row-major. */
  readonly embeddings: Float32Array;
  readonly ids: Int32Array;
  readonly bits: Uint8Array;
  readonly pruned: boolean[];
  readonly oov: boolean[];
}

/** All candidates' values of one field (columnar form, gRPC). */
export interface RawColumn {
  readonly field: string;
  readonly values: readonly RawValue[];
}

/** Columnar candidates: field -> values (REST) or a list of columns (gRPC). */
export type RawColumns = Readonly<Record<string, readonly RawValue[]>> | readonly RawColumn[];

/**
 * One Score request, as the transports decode it. Exactly one form: `rows` (flat), `ids`/`idRows`,
 * `columns`, or `context` with `candidates` or `columns` (the shared fields once, resolved once).
 */
export interface ScoreInput {
  readonly rows?: readonly RawRow[];
  /** Flat ids, row-major, `fields` per row (gRPC). */
  readonly ids?: ArrayLike<number>;
  /** Ids as one array per row (REST). */
  readonly idRows?: readonly ArrayLike<number>[];
  /** Fields shared by every candidate, given once. */
  readonly context?: RawRow;
  /** Per-candidate fields: exactly the fields not in `context`. */
  readonly candidates?: readonly RawRow[];
  /** Per-candidate fields, one column per field. */
  readonly columns?: RawColumns;
  /**
   * A raw form already packed by a transport (the fast paths, server/score-wire*.ts and
   * server/score-json*.ts): `rows` x `fields.length` slots in the order of `fields`. Used as is
   * when `fields` are the served model's; otherwise (the model was swapped between decoding and
   * scoring) unpacked into the generic form and checked like it.
   */
  readonly packedRows?: PackedScore;
}

/**
 * A Score request packed by a transport's fast path, every check of the generic path already
 * passed except the row limit: the flat form (no `label`: every field once per row), or the
 * candidates / columns forms (`label`), with the shared fields once in `context` (`mask[f]` = 1
 * for a context field, whose row slots are then empty) as the generic path packs them.
 */
export interface PackedScore {
  readonly rows: number;
  readonly values: PackedValues;
  readonly fields: readonly string[];
  readonly label?: 'candidates' | 'columns';
  readonly context?: { readonly values: PackedValues; readonly mask: Uint8Array } | null;
}

export interface ScoreOutput {
  readonly probabilities: Float32Array;
  readonly modelVersion: string;
}

export interface ModelInfo {
  readonly version: string;
  readonly fields: readonly FieldSpec[];
  readonly d: number;
  readonly featureCount: number;
  readonly bitsHistogram: ModelStats['bits'];
  readonly sectionBytes: readonly { section: SectionName; bytes: number }[];
  readonly compressionRatioWeights: number;
  readonly compressionRatioAllIn: number;
  readonly provider: string;
  readonly limits: {
    readonly maxRequestRows: number;
    readonly maxLookupFeatures: number;
    readonly maxMessageBytes: number;
    readonly maxBatchRows: number;
    readonly queueLimit: number;
  };
}

/** The served model's statistics (the service's `live`), read by the live-stats loop (app/live-stats.ts). */
export interface LiveSource {
  readonly version: string;
  readonly sampler: FrequencySampler;
  readonly model: DriftModel;
}

/** Per-call context. */
export interface CallContext {
  /** Absolute deadline, ms since the epoch; Infinity = none. */
  readonly deadline: number;
  /** True once the client has gone away (cancelled call, closed socket): queued work is then dropped unscored. */
  readonly cancelled?: () => boolean;
  /** Where a Score's stage times go (util/score-timing.ts); the transport reads them once answered. */
  readonly timing?: ScoreTiming;
}

export interface EmbeddingServiceDeps {
  readonly model: ServingModel;
  readonly pool: ScorePool;
  readonly config: ServeConfig;
  /** Live frequency statistics of this model's lookups and scores; null/absent = off. */
  readonly sampler?: FrequencySampler | null;
}


export interface EmbeddingService {
  lookup(req: LookupInput, ctx: CallContext): LookupOutput;
  score(req: ScoreInput, ctx: CallContext): Promise<ScoreOutput>;
  /**
   * Why a Score request would be shed right now (MPE_ERR_OVERLOADED), or null: the transports ask
   * before decoding a request body, so shedding under overload costs no parsing and no hashing.
   */
  overloaded(): MpeError | null;
  getModel(): ModelInfo;
  /** Scores one row of OOV ids (readiness): resolves once a worker has answered. */
  warmUp(): Promise<void>;
  readonly stats: ModelStats;
  /** Live statistics of this model, null when sampling is off. */
  readonly live: LiveSource | null;
}

/** Packed flat rows back to one object per row (field name -> value text). */
function unpackRows(rows: number, values: PackedValues, names: readonly string[]): Record<string, string>[] {
  const F = names.length;
  const out: Record<string, string>[] = [];
  for (let r = 0, k = 0, off = 0; r < rows; r++) {
    const row: Record<string, string> = {};
    for (let f = 0; f < F; f++, k++) {
      const n = values.lengths[k]!;
      row[names[f]!] = values.text.slice(off, off + n);
      off += n;
    }
    out.push(row);
  }
  return out;
}

/** A packed candidates / columns request back to its generic form (context object, candidate objects or columns). */
function unpackCandidates(p: PackedScore): ScoreInput {
  const names = p.fields;
  const F = names.length;
  const mask = p.context?.mask ?? null;
  let context: Record<string, string> | undefined;
  if (p.context !== undefined && p.context !== null) {
    context = {};
    const { text, lengths } = p.context.values;
    for (let f = 0, off = 0; f < F; off += lengths[f]!, f++) if (mask![f] === 1) context[names[f]!] = text.slice(off, off + lengths[f]!);
  }
  const rows = unpackRows(p.rows, p.values, names);
  if (mask !== null) for (const row of rows) for (let f = 0; f < F; f++) if (mask[f] === 1) delete row[names[f]!];
  if (p.label === 'candidates') return { context, candidates: rows };
  const columns: RawColumn[] = [];
  for (let f = 0; f < F; f++) if (mask === null || mask[f] === 0) columns.push({ field: names[f]!, values: rows.map((r) => r[names[f]!]!) });
  return { context, columns };
}

/** The columns of the REST form (field -> values) as a list. */
function columnList(cols: Readonly<Record<string, readonly RawValue[]>>): RawColumn[] {
  const out: RawColumn[] = [];
  for (const field in cols) out.push({ field, values: cols[field]! });
  return out;
}

/** The drift view of a model: grouped tables as stored, a row-wise table as one group. */
export function driftModelOf(model: ServingModel): DriftModel {
  const spec = model.table.spec;
  const grouped = spec.kind === 'grouped';
  return Object.freeze({
    featureCount: spec.featureCount,
    groupSize: grouped ? spec.groupSize : Math.max(1, spec.featureCount),
    groupPad: grouped ? (spec.groupPad ?? 0) : 0,
    bitsPerGroup: grouped ? spec.bitsPerGroup : Uint8Array.of(spec.bits),
    fields: model.fields.map((f) => ({ name: f.name, oovId: f.oovId })),
  });
}

const noop = (): void => {};

const NO_DEADLINE: CallContext = Object.freeze({ deadline: Number.POSITIVE_INFINITY });

/** Builds the service over a loaded model and a started score pool. */
export function createEmbeddingService(deps: EmbeddingServiceDeps): EmbeddingService {
  const { model, pool, config } = deps;
  const { table, vocab } = model;
  const fields = model.fields;
  const F = fields.length;
  const d = table.d;
  const featureCount = table.featureCount;
  const fieldIndex = new Map<string, number>();
  for (let i = 0; i < F; i++) fieldIndex.set(fields[i]!.name, i);
  const oovIds = new Int32Array(F);
  for (let i = 0; i < F; i++) oovIds[i] = fields[i]!.oovId;
  const stats = modelStats(model);
  const sampler = deps.sampler ?? null;
  const live: LiveSource | null = sampler === null ? null : Object.freeze({ version: model.version, sampler, model: driftModelOf(model) });
  // The one call site of live statistics for both transports. Chosen once here: with sampling off
  // these are no-ops V8 inlines away; on, each id costs the sampler's countdown decrement.
  const observeField: (field: number, id: number) => void = sampler === null ? noop : sampler.observe;
  const observeIds: (ids: Int32Array, count: number) => void =
    sampler === null
      ? noop
      : (ids, count) => {
          for (let i = 0; i < count; i++) sampler.observeId(ids[i]!);
        };
  const observeRows: (ids: Int32Array, rows: number) => void =
    sampler === null
      ? noop
      : (ids, rows) => {
          for (let r = 0, k = 0; r < rows; r++) for (let f = 0; f < F; f++, k++) sampler.observe(f, ids[k]!);
        };
  const info: ModelInfo = Object.freeze({
    version: model.version,
    fields,
    d,
    featureCount,
    bitsHistogram: stats.bits,
    sectionBytes: (Object.keys(model.sectionBytes) as SectionName[]).map((section) => ({ section, bytes: model.sectionBytes[section] })),
    compressionRatioWeights: stats.compressionWeights,
    compressionRatioAllIn: stats.compressionAllIn,
    provider: pool.provider,
    limits: Object.freeze({
      maxRequestRows: config.requestRowLimit,
      maxLookupFeatures: config.lookupFeatureLimit,
      maxMessageBytes: config.maxMessageBytes,
      maxBatchRows: config.maxBatchRows,
      queueLimit: config.queueLimit,
    }),
  });

  function checkDeadline(ctx: CallContext): void {
    if (ctx.deadline <= Date.now()) throw new MpeError('MPE_ERR_REQ_DEADLINE', 'the deadline had passed when the request arrived');
  }

  /**
   * Returns `id` if it is a feature id, else throws naming `ids[i]` (or `ids[i][j]` when j >= 0).
   * The position is formatted only on failure: a template literal per id (`\`ids[${i}]\``, 3,900 per
   * Score request) was 3.4% of the server's main thread in a cpu-prof of the Score bench (self time
   * of score(), the largest single JS item there).
   */
  function checkId(id: number, i: number, j = -1): number {
    if (!Number.isInteger(id) || id < 0 || id >= featureCount) {
      throw new MpeError('MPE_ERR_CODEC_ID_RANGE', `${j < 0 ? `ids[${i}]` : `ids[${i}][${j}]`}: id ${id}, featureCount ${featureCount}`);
    }
    return id;
  }

  function fieldOf(name: unknown, where: string): number {
    const i = typeof name === 'string' ? fieldIndex.get(name) : undefined;
    if (i === undefined) throw new MpeError('MPE_ERR_VOCAB_FIELD', `${where}: ${JSON.stringify(name)}`);
    return i;
  }

  /** Maps a raw value of field f to its id; sets oov when the value is not in the vocabulary. */
  function rawId(f: number, value: RawValue, where: string, oovOut: boolean[] | null, at: number): number {
    const field = fields[f]!;
    const token = fieldToken(field, value);
    if (token === null) throw new MpeError('MPE_ERR_REQ_NUMERIC', `${where}: field ${field.name} value ${JSON.stringify(value)}`);
    let id = vocab.lookup(f, token);
    const isOov = id < 0 || id === oovIds[f];
    if (id < 0) id = oovIds[f]!;
    if (oovOut !== null) oovOut[at] = isOov;
    return id;
  }

  function lookup(req: LookupInput, ctx: CallContext = NO_DEADLINE): LookupOutput {
    checkDeadline(ctx);
    const rawIds = req.ids;
    const feats = req.features;
    const nIds = rawIds?.length ?? 0;
    const nFeats = feats?.length ?? 0;
    if (nIds > 0 && nFeats > 0) throw new MpeError('MPE_ERR_REQ_INVALID', 'send either ids or features, not both');
    const count = nIds + nFeats;
    if (count === 0) throw new MpeError('MPE_ERR_REQ_EMPTY', 'no ids and no features');
    if (count > config.lookupFeatureLimit) throw new MpeError('MPE_ERR_REQ_TOO_MANY_ROWS', `${count} features, limit ${config.lookupFeatureLimit} (MPE_LOOKUP_FEATURE_LIMIT)`);
    const ids = new Int32Array(count);
    const oov: boolean[] = new Array<boolean>(count).fill(false);
    if (rawIds !== undefined && nIds > 0) {
      for (let i = 0; i < count; i++) ids[i] = checkId(rawIds[i]!, i);
      observeIds(ids, count);
    } else {
      for (let i = 0; i < count; i++) {
        const p = feats![i]!;
        const f = fieldOf(p.field, `features[${i}].field`);
        ids[i] = rawId(f, p.value, `features[${i}]`, oov, i);
        observeField(f, ids[i]!);
      }
    }
    const embeddings = new Float32Array(count * d);
    table.dequantize(ids, count, embeddings, 0);
    const bits = new Uint8Array(count);
    const pruned: boolean[] = new Array<boolean>(count);
    for (let i = 0; i < count; i++) {
      const b = table.bitsOf(ids[i]!);
      bits[i] = b;
      pruned[i] = b === 0;
    }
    return { d, count, embeddings, ids, bits, pruned, oov };
  }

  /**
   * Places one raw row's values into slots `r * F ..` of `out`. With a context (`inContext[f]` = 1
   * for the fields it gave), the row must hold exactly the other fields: `label` is 'candidates' then.
   */
  function rowValues(row: RawRow, r: number, out: ValuePacker, seen: Uint8Array, inContext: Uint8Array | null, label: RowLabel): void {
    const base = r * F;
    const where = `${label}[${r}]`;
    if (inContext === null) seen.fill(0);
    else seen.set(inContext);
    const twice = (name: string, f: number): MpeError =>
      inContext !== null && inContext[f] === 1
        ? new MpeError('MPE_ERR_REQ_DUPLICATE_FIELD', `${where}: field ${name} is also in context`)
        : new MpeError('MPE_ERR_REQ_INVALID', `${where}: field ${name} given twice`);
    if (Array.isArray(row)) {
      const pairs = row as readonly RawFeature[];
      for (let k = 0; k < pairs.length; k++) {
        const p = pairs[k]!;
        const f = fieldOf(p.field, where);
        if (seen[f] === 1) throw twice(p.field, f);
        seen[f] = 1;
        out.set(base + f, p.value);
      }
    } else {
      const obj = row as Readonly<Record<string, RawValue>>;
      for (const name in obj) {
        const f = fieldOf(name, where);
        if (seen[f] === 1) throw twice(name, f);
        seen[f] = 1;
        out.set(base + f, obj[name]);
      }
    }
    for (let f = 0; f < F; f++) {
      if (seen[f] === 0) {
        throw new MpeError('MPE_ERR_REQ_MISSING_FIELD', inContext === null ? `${where} lacks field ${fields[f]!.name}` : `field ${fields[f]!.name} is in neither context nor ${where}`);
      }
    }
  }

  /**
   * The raw forms as one {@link RawPart}: flat rows, or the context + candidates and columnar
   * forms (context fields packed once, resolved once and broadcast to every row). Checks the
   * fields (unknown, twice, missing, context overlap) and column lengths; values are resolved later.
   */
  function rawPart(req: ScoreInput): RawPart {
    if (req.packedRows !== undefined) {
      const p = req.packedRows;
      if (sameFields(p.fields)) return { rows: checkRows(p.rows), values: p.values, context: p.context ?? null, label: p.label ?? 'rows', rowOffset: 0 };
      return rawPart(p.label === undefined ? { rows: unpackRows(p.rows, p.values, p.fields) } : unpackCandidates(p));
    }
    if (req.rows !== undefined && req.rows.length > 0) {
      const rows = checkRows(req.rows.length);
      const out = new ValuePacker(rows * F);
      const seen = new Uint8Array(F);
      for (let r = 0; r < rows; r++) rowValues(req.rows[r]!, r, out, seen, null, 'rows');
      return { rows, values: out.pack(), context: null, label: 'rows', rowOffset: 0 };
    }
    const inContext = new Uint8Array(F);
    const contextValues = new ValuePacker(F);
    const ctx = req.context;
    const hasContext = ctx !== undefined && ctx !== null;
    if (hasContext) {
      const put = (name: unknown, value: RawValue): void => {
        const f = fieldOf(name, 'context');
        if (inContext[f] === 1) throw new MpeError('MPE_ERR_REQ_DUPLICATE_FIELD', `context: field ${String(name)} given twice`);
        inContext[f] = 1;
        contextValues.set(f, value);
      };
      if (Array.isArray(ctx)) for (const p of ctx as readonly RawFeature[]) put(p.field, p.value);
      else for (const name in ctx as Readonly<Record<string, RawValue>>) put(name, (ctx as Readonly<Record<string, RawValue>>)[name]);
    }
    const context = hasContext ? { values: contextValues.pack(), mask: inContext } : null;
    const candidates = req.candidates;
    const columns = req.columns === undefined ? [] : Array.isArray(req.columns) ? (req.columns as readonly RawColumn[]) : columnList(req.columns as Readonly<Record<string, readonly RawValue[]>>);
    if (candidates !== undefined && candidates.length > 0 && columns.length > 0) throw new MpeError('MPE_ERR_REQ_INVALID', 'send candidates or columns, not both');
    if (candidates !== undefined && candidates.length > 0) {
      const rows = checkRows(candidates.length);
      const out = new ValuePacker(rows * F);
      const seen = new Uint8Array(F);
      for (let r = 0; r < rows; r++) rowValues(candidates[r]!, r, out, seen, hasContext ? inContext : null, 'candidates');
      return { rows, values: out.pack(), context, label: 'candidates', rowOffset: 0 };
    }
    if (columns.length === 0) {
      throw new MpeError('MPE_ERR_REQ_NO_CANDIDATES', candidates !== undefined || req.columns !== undefined ? 'the candidate list is empty' : 'context-only request: send the candidates too');
    }
    const n = columns[0]!.values.length;
    const inColumn = new Uint8Array(F);
    const fieldOfColumn = new Int32Array(columns.length);
    for (let c = 0; c < columns.length; c++) {
      const col = columns[c]!;
      const f = fieldOf(col.field, 'columns');
      if (inContext[f] === 1) throw new MpeError('MPE_ERR_REQ_DUPLICATE_FIELD', `columns: field ${col.field} is also in context`);
      if (inColumn[f] === 1) throw new MpeError('MPE_ERR_REQ_DUPLICATE_FIELD', `columns: field ${col.field} given twice`);
      if (col.values.length !== n) throw new MpeError('MPE_ERR_REQ_COLUMN_LENGTH', `columns: field ${col.field} has ${col.values.length} values, field ${columns[0]!.field} has ${n}`);
      inColumn[f] = 1;
      fieldOfColumn[c] = f;
    }
    if (n === 0) throw new MpeError('MPE_ERR_REQ_NO_CANDIDATES', 'the columns hold no values');
    for (let f = 0; f < F; f++) {
      if (inContext[f] === 0 && inColumn[f] === 0) throw new MpeError('MPE_ERR_REQ_MISSING_FIELD', `field ${fields[f]!.name} is in neither ${hasContext ? 'context nor ' : ''}columns`);
    }
    const rows = checkRows(n);
    const out = new ValuePacker(rows * F);
    for (let c = 0; c < columns.length; c++) {
      const f = fieldOfColumn[c]!;
      const values = columns[c]!.values;
      for (let r = 0, k = f; r < rows; r++, k += F) out.set(k, values[r]);
    }
    return { rows, values: out.pack(), context, label: 'columns', rowOffset: 0 };
  }

  function score(req: ScoreInput, ctx: CallContext = NO_DEADLINE): Promise<ScoreOutput> {
    try {
      checkDeadline(ctx);
      // Before the vocabulary hashing (3,900 tokens for 100 raw rows: the main thread's largest
      // cost in a cpu-prof past saturation), not after it as pool.score() would.
      const shed = pool.overloaded();
      if (shed !== null) throw shed;
      const shared = req.context !== undefined || req.candidates !== undefined || req.columns !== undefined;
      const flat = (req.rows !== undefined && req.rows.length > 0) || req.packedRows !== undefined;
      const kinds = (flat ? 1 : 0) + (req.ids?.length ? 1 : 0) + (req.idRows?.length ? 1 : 0) + (shared ? 1 : 0);
      if (kinds > 1) throw new MpeError('MPE_ERR_REQ_INVALID', 'send one of rows, ids, columns, or context with candidates or columns');
      let rows: number;
      let ids: Int32Array;
      if (shared || flat) {
        const part = rawPart(req);
        if (pool.resolvesRaw) {
          // The worker resolves the values; its ids come back for the live statistics.
          return pool.scoreRaw(part, ctx.deadline, ctx.cancelled ?? null, ctx.timing ?? null).then((r) => {
            observeRows(r.ids, part.rows);
            return checkFinite(r.probabilities);
          });
        }
        rows = part.rows;
        ids = new Int32Array(rows * F);
        resolveRawPart(part, fields, vocab, ids);
      } else if (req.idRows?.length) {
        rows = checkRows(req.idRows.length);
        ids = new Int32Array(rows * F);
        for (let r = 0; r < rows; r++) {
          const row = req.idRows[r]!;
          if (row.length !== F) throw new MpeError('MPE_ERR_REQ_INVALID', `ids[${r}] has ${row.length} ids, the model has ${F} fields`);
          for (let f = 0; f < F; f++) ids[r * F + f] = checkId(row[f]!, r, f);
        }
      } else if (req.ids?.length) {
        const flat = req.ids;
        if (flat.length % F !== 0) throw new MpeError('MPE_ERR_REQ_INVALID', `${flat.length} ids is not a multiple of the ${F} fields`);
        rows = checkRows(flat.length / F);
        ids = new Int32Array(flat.length);
        for (let i = 0; i < flat.length; i++) ids[i] = checkId(flat[i]!, i);
      } else {
        throw new MpeError('MPE_ERR_REQ_EMPTY', 'no rows and no ids');
      }
      observeRows(ids, rows);
      return pool.score(ids, rows, ctx.deadline, ctx.cancelled ?? null, ctx.timing ?? null).then(checkFinite);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Never answers NaN/Inf as a probability (gRPC would send it as OK): validation should make this unreachable. */
  function checkFinite(probabilities: Float32Array): ScoreOutput {
    for (let i = 0; i < probabilities.length; i++) {
      const v = probabilities[i]!;
      if (v - v !== 0) throw new MpeError('MPE_ERR_SCORER_RUN', `the scorer answered ${v} for row ${i}`);
    }
    return { probabilities, modelVersion: model.version };
  }

  /** Whether `names` are this model's field names in order (the last array that matched is remembered). */
  let matchedNames: readonly string[] | null = null;
  function sameFields(names: readonly string[]): boolean {
    if (names === matchedNames) return true;
    if (names.length !== F) return false;
    for (let f = 0; f < F; f++) if (names[f] !== fields[f]!.name) return false;
    matchedNames = names;
    return true;
  }

  function checkRows(n: number): number {
    if (n > config.requestRowLimit) throw new MpeError('MPE_ERR_REQ_TOO_MANY_ROWS', `${n} rows, limit ${config.requestRowLimit} (MPE_REQUEST_ROW_LIMIT)`);
    return n;
  }

  async function warmUp(): Promise<void> {
    await pool.warm(Int32Array.from(oovIds), 1);
  }

  return Object.freeze({ lookup, score, overloaded: () => pool.overloaded(), getModel: () => info, warmUp, stats, live });
}
