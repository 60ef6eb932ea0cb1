/**
 * mpe-export.json, written by tools/torch/export.py: what a PyTorch export holds. Parsed and
 * validated once here; every refusal is MPE_ERR_IMPORT_JSON naming the file and the field.
 * See docs/interop.md for the field list.
 */
import { MpeError } from '../errors.js';
import type { FieldTransform } from '../features/token.js';

export const EXPORT_FORMAT = 'mpe-torch-export';
export const EXPORT_FORMAT_VERSION = 1;
export const EXPORT_JSON = 'mpe-export.json';

/** One input field of the scorer, in input order. */
export interface ExportField {
  readonly name: string;
  readonly kind: 'categorical' | 'numeric';
  readonly transform: FieldTransform;
  /** Feature index (torch's index space) of the field's out-of-vocabulary feature, if the export names one. */
  readonly oov: number | undefined;
}

/** How torch's forward pass turns the stored numbers into codes (so the importer reproduces them). */
export interface ExportQuantizer {
  readonly groupCount: number;
  /** Bit width of each entry of the alpha tensor. */
  readonly bitsets: readonly number[];
  /** Bit width of each group (indexed by the group_index tensor's values). */
  readonly groupBits: readonly number[];
  /** alpha_eff = float32(|alpha| + float32(eps)) when abs, else alpha as stored. */
  readonly alpha: { readonly abs: boolean; readonly eps: number };
}

export interface TorchExport {
  readonly name: string;
  readonly kind: 'mpe' | 'fp32';
  readonly featureCount: number;
  readonly d: number;
  readonly fields: readonly ExportField[];
  readonly table: { readonly file: string; readonly tensors: readonly string[] };
  readonly scorer: { readonly file: string; readonly input: string; readonly output: string; readonly inputDim: number };
  readonly quantizer: ExportQuantizer | undefined;
  /** Free-form provenance (torch version, classes), copied into the bundle's manifest. */
  readonly source: Readonly<Record<string, unknown>>;
}

type Obj = Record<string, unknown>;

/**
 * Parses the text of mpe-export.json (`file` names it in errors).
 * @throws MpeError MPE_ERR_IMPORT_JSON
 */
export function parseExportJson(text: string, file: string): TorchExport {
  const bad = (field: string, why: string): never => {
    throw new MpeError('MPE_ERR_IMPORT_JSON', `${file}: ${field}: ${why}`);
  };
  const obj = (v: unknown, field: string): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : bad(field, 'expected an object'));
  const str = (v: unknown, field: string): string => (typeof v === 'string' && v.length > 0 ? v : bad(field, 'expected a non-empty string'));
  const int = (v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? (v as number) : bad(field, `expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  const intList = (v: unknown, field: string, min: number, max: number): number[] => {
    if (!Array.isArray(v)) bad(field, 'expected an array of integers');
    return (v as unknown[]).map((x, i) => int(x, `${field}[${i}]`, min, max));
  };
  const fileName = (v: unknown, field: string): string => {
    const s = str(v, field);
    if (!/^[A-Za-z0-9._-]+$/.test(s) || s.startsWith('.')) bad(field, `${JSON.stringify(s)} is not a plain file name inside the export directory`);
    return s;
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    bad('(file)', `not JSON (${(e as Error).message})`);
  }
  const m = obj(raw, '(top level)');
  if (m.format !== EXPORT_FORMAT) bad('format', `expected "${EXPORT_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.formatVersion !== EXPORT_FORMAT_VERSION) bad('formatVersion', `this build reads ${EXPORT_FORMAT_VERSION}, got ${JSON.stringify(m.formatVersion)}`);
  const name = str(m.name, 'name');
  if (m.kind !== 'mpe' && m.kind !== 'fp32') bad('kind', `expected "mpe" or "fp32", got ${JSON.stringify(m.kind)}`);
  const kind = m.kind as 'mpe' | 'fp32';
  const featureCount = int(m.featureCount, 'featureCount', 1, 2 ** 31 - 1);
  const d = int(m.d, 'd', 1, 4096);
  if (!Array.isArray(m.fields) || m.fields.length === 0) bad('fields', 'expected a non-empty array');
  const names = new Set<string>();
  const fields = (m.fields as unknown[]).map((fv, i): ExportField => {
    const f = obj(fv, `fields[${i}]`);
    const fname = str(f.name, `fields[${i}].name`);
    if (names.has(fname)) bad(`fields[${i}].name`, `duplicate field "${fname}"`);
    names.add(fname);
    const fkind = f.kind ?? 'categorical';
    if (fkind !== 'categorical' && fkind !== 'numeric') bad(`fields[${i}].kind`, 'expected "categorical" or "numeric"');
    const transform = f.transform ?? 'none';
    if (transform !== 'none' && transform !== 'criteo-log2') bad(`fields[${i}].transform`, 'expected "none" or "criteo-log2"');
    const oov = f.oov === undefined || f.oov === null ? undefined : int(f.oov, `fields[${i}].oov`, 0, featureCount - 1);
    return { name: fname, kind: fkind as ExportField['kind'], transform: transform as FieldTransform, oov };
  });
  const t = obj(m.table, 'table');
  const tableFile = fileName(t.file, 'table.file');
  if (!Array.isArray(t.tensors) || !t.tensors.every((x) => typeof x === 'string')) bad('table.tensors', 'expected an array of tensor names');
  const s = obj(m.scorer, 'scorer');
  const scorer = {
    file: fileName(s.file, 'scorer.file'),
    input: str(s.input, 'scorer.input'),
    output: str(s.output, 'scorer.output'),
    inputDim: int(s.inputDim, 'scorer.inputDim', 1),
  };
  let quantizer: ExportQuantizer | undefined;
  if (kind === 'mpe') {
    const q = obj(m.quantizer, 'quantizer');
    const groupCount = int(q.groupCount, 'quantizer.groupCount', 1, 2 ** 31 - 1);
    const bitsets = intList(q.bitsets, 'quantizer.bitsets', 0, 64);
    if (bitsets.length === 0) bad('quantizer.bitsets', 'empty');
    if (new Set(bitsets).size !== bitsets.length) bad('quantizer.bitsets', `bit widths repeat: ${JSON.stringify(bitsets)}`);
    const groupBits = intList(q.groupBits, 'quantizer.groupBits', 0, 64);
    if (groupBits.length !== groupCount) bad('quantizer.groupBits', `${groupBits.length} entries, groupCount is ${groupCount}`);
    const a = obj(q.alpha, 'quantizer.alpha');
    if (typeof a.abs !== 'boolean') bad('quantizer.alpha.abs', 'expected true or false');
    if (typeof a.eps !== 'number' || !Number.isFinite(a.eps) || a.eps < 0) bad('quantizer.alpha.eps', 'expected a finite number >= 0');
    if (a.dtype !== 'float32') bad('quantizer.alpha.dtype', `only "float32" is supported, got ${JSON.stringify(a.dtype)}`);
    // The arithmetic this importer reproduces; anything else would give other codes.
    if (q.rounding !== 'half-even') bad('quantizer.rounding', `only "half-even" (torch.round) is supported, got ${JSON.stringify(q.rounding)}`);
    if (q.codes !== 'signed') bad('quantizer.codes', `only "signed" (Qn = -2^(b-1), Qp = 2^(b-1) - 1) is supported, got ${JSON.stringify(q.codes)}`);
    if (q.division !== 'float32') bad('quantizer.division', `only "float32" is supported, got ${JSON.stringify(q.division)}`);
    quantizer = { groupCount, bitsets, groupBits, alpha: { abs: a.abs as boolean, eps: a.eps as number } };
  } else if (m.quantizer !== undefined) {
    bad('quantizer', 'a fp32 export has no quantizer');
  }
  const source = m.source === undefined ? {} : obj(m.source, 'source');
  return { name, kind, featureCount, d, fields, table: { file: tableFile, tensors: t.tensors as string[] }, scorer, quantizer, source };
}
