/**
 * How a raw value of a field becomes the token the vocabulary is keyed on. The trainer and the
 * service both call this, so training-time and serving-time feature mapping cannot drift.
 */

/** Field transforms. `criteo-log2`: integer v > 2 becomes floor(ln(v)^2), other values stay as they are (docs/training.md "Ingestion and preprocessing"). */
export type FieldTransform = 'none' | 'criteo-log2';

export interface FieldSpec {
  readonly name: string;
  readonly kind: 'categorical' | 'numeric';
  readonly transform: FieldTransform;
  /** Id of this field's out-of-vocabulary feature (values rarer than minCount, or unseen). */
  readonly oovId: number;
}

/** Token of a missing value (empty string, null or undefined): its own bucket. */
export const MISSING_TOKEN = '';

/**
 * Token for a raw value. Numeric fields accept numbers or numeric strings; a non-finite number
 * yields `null` (the caller reports MPE_ERR_REQ_NUMERIC / MPE_ERR_DATA_NUMERIC).
 */
export function fieldToken(field: FieldSpec, raw: string | number | null | undefined): string | null {
  if (raw === null || raw === undefined || raw === '') return MISSING_TOKEN;
  if (field.kind === 'categorical') return typeof raw === 'string' ? raw : String(raw);
  const v = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(v)) return null;
  if (field.transform === 'criteo-log2' && v > 2) {
    const l = Math.log(v);
    return String(Math.floor(l * l));
  }
  return String(v);
}
