/**
 * One name for both vocabulary payloads a bundle can hold: the v1 hash table ("MPEVOCB1",
 * `vocabulary.ts`) and the v2 compact index ("MPEVOCB2", `compact-index.ts`). Both answer
 * (field, token) -> id or -1 with the same methods; {@link vocabularyFromBytes} picks by magic.
 */
import { MpeError } from '../errors.js';
import { COMPACT_MAGIC, CompactVocabulary } from './compact-index.js';
import { Vocabulary } from './vocabulary.js';

/** What serving and the tools need from a vocabulary, whatever its payload. */
export interface VocabularyIndex {
  /** Number of keys. */
  readonly size: number;
  /** Bytes of the serialised payload (= memory held: both kinds are viewed in place). */
  readonly byteLength: number;
  /** Id of (field, token), or -1 when absent (the caller maps -1 to the field's OOV id). */
  lookup(field: number, token: string): number;
  /** Batch form of {@link lookup}: `outIds[i]` = id or -1, `outFound[i]` = 1 or 0. */
  lookupBatch(fieldIdx: Int32Array | readonly number[], tokens: readonly string[], outIds: Int32Array, outFound: Uint8Array): void;
  toBytes(): Uint8Array;
}

/** Payload magics: index 0 = v1 hash table, 1 = v2 compact index. */
const V1_MAGIC_PREFIX = 'MPEVOCB1';

/**
 * Reads a vocabulary payload of either kind, in place when aligned (a SharedArrayBuffer view
 * stays shared). Throws MPE_ERR_BUNDLE_MAGIC for neither magic, and each kind's own
 * MPE_ERR_BUNDLE_TRUNCATED / _MISMATCH.
 */
export function vocabularyFromBytes(payload: Uint8Array): VocabularyIndex {
  let compact = payload.length >= 8;
  for (let i = 0; i < 8 && compact; i++) compact = payload[i] === COMPACT_MAGIC[i];
  if (compact) return CompactVocabulary.fromBytes(payload);
  let v1 = payload.length >= 8;
  for (let i = 0; i < 8 && v1; i++) v1 = payload[i] === V1_MAGIC_PREFIX.charCodeAt(i);
  if (v1) return Vocabulary.fromBytes(payload);
  throw new MpeError('MPE_ERR_BUNDLE_MAGIC', 'vocabulary payload starts with neither MPEVOCB1 nor MPEVOCB2');
}

/** True when `payload` is a v2 compact index. */
export function isCompactPayload(payload: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) if (payload[i] !== COMPACT_MAGIC[i]) return false;
  return true;
}
