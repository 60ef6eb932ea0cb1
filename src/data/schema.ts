/**
 * Input schemas: which column is the label and which columns are categorical or numeric fields.
 * Criteo's headerless layout is built in; generic delimited text names its columns in a header.
 */
import { MpeError } from '../errors.js';
import type { FieldTransform } from '../features/token.js';
import { CRITEO_CAT_FIELDS, CRITEO_INT_FIELDS } from './synth.js';

export interface SchemaField {
  readonly name: string;
  readonly kind: 'categorical' | 'numeric';
  readonly transform: FieldTransform;
  /** Column index in a line. */
  readonly column: number;
}

export interface DataSchema {
  readonly format: 'criteo' | 'csv';
  readonly sep: string;
  /** Column index of the 0/1 label. */
  readonly labelColumn: number;
  /** Columns per line. */
  readonly columns: number;
  readonly fields: readonly SchemaField[];
  /** True when the first line is a header (skipped as data). */
  readonly header: boolean;
  /** Column index of the split (train/valid/test or 0/1/2), -1 for a random split. */
  readonly splitColumn: number;
}

/** Criteo: label, I1..I13 (integers, bucketed with criteo-log2), C1..C26 (categorical), tab-separated. */
export function criteoSchema(): DataSchema {
  const fields: SchemaField[] = [];
  for (let i = 0; i < CRITEO_INT_FIELDS; i++) fields.push({ name: `I${i + 1}`, kind: 'numeric', transform: 'criteo-log2', column: 1 + i });
  for (let i = 0; i < CRITEO_CAT_FIELDS; i++) {
    fields.push({ name: `C${i + 1}`, kind: 'categorical', transform: 'none', column: 1 + CRITEO_INT_FIELDS + i });
  }
  return Object.freeze({ format: 'criteo', sep: '\t', labelColumn: 0, columns: 1 + fields.length, fields: Object.freeze(fields), header: false, splitColumn: -1 });
}

export interface DelimitedOptions {
  readonly label: string;
  readonly categorical: readonly string[];
  readonly numeric: readonly string[];
  readonly sep: string;
  /** Column holding each row's split (train/valid/test or 0/1/2) instead of a random split. */
  readonly splitColumn?: string;
}

/**
 * Schema of delimited text from its header's column names and the named columns. Numeric columns are
 * bucketed with `criteo-log2` (v > 2 -> floor(ln(v)^2)), the one numeric bucketing the paper
 * uses (docs/training.md "Ingestion and preprocessing"). Throws MPE_ERR_DATA_SCHEMA when a named column is absent or named twice.
 */
export function delimitedSchema(header: readonly string[], o: DelimitedOptions): DataSchema {
  const names = header.map((s) => s.trim());
  const col = (n: string): number => {
    const i = names.indexOf(n);
    if (i < 0) throw new MpeError('MPE_ERR_DATA_SCHEMA', `column '${n}' is not in the header (${names.join(', ')})`);
    return i;
  };
  if (o.categorical.length + o.numeric.length === 0) throw new MpeError('MPE_ERR_DATA_SCHEMA', 'name at least one --categorical or --numeric column');
  const seen = new Set<string>([o.label]);
  const fields: SchemaField[] = [];
  const add = (n: string, kind: 'categorical' | 'numeric'): void => {
    if (seen.has(n)) throw new MpeError('MPE_ERR_DATA_SCHEMA', `column '${n}' is named twice`);
    seen.add(n);
    fields.push({ name: n, kind, transform: kind === 'numeric' ? 'criteo-log2' : 'none', column: col(n) });
  };
  for (const n of o.categorical) add(n, 'categorical');
  for (const n of o.numeric) add(n, 'numeric');
  let splitColumn = -1;
  if (o.splitColumn !== undefined) {
    if (seen.has(o.splitColumn)) throw new MpeError('MPE_ERR_DATA_SCHEMA', `split column '${o.splitColumn}' is also the label or a feature`);
    splitColumn = col(o.splitColumn);
  }
  return Object.freeze({ format: 'csv', sep: o.sep, labelColumn: col(o.label), columns: names.length, fields: Object.freeze(fields), header: true, splitColumn });
}
