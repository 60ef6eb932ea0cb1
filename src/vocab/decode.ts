/**
 * One name for both vocabulary payloads a bundle can hold: the v1 hash table ("MPEVOCB1",
 * `vocabulary.ts`) and the v2 compact index ("MPEVOCB3", `compact-index.ts`). Both answer
 * (field, token) -> id or -1 with the same methods; {@link vocabularyFromBytes} picks by magic.
 * "MPEVOCB2", the compact index's pre-release layout (main between 2026-12-01 and 2026-12-02,
 * before format v2 was closed), is refused with MPE_ERR_BUNDLE_VERSION: re-run the command that
 * wrote the bundle.
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

const V1_MAGIC = 'MPEVOCB1';
const PRE_RELEASE_MAGIC = 'MPEVOCB2';

function startsWith(payload: Uint8Array, magic: string): boolean {
  if (payload.length < 8) return false;
  for (let i = 0; i < 8; i++) if (payload[i] !== magic.charCodeAt(i)) return false;
  return true;
}

/**
 * Reads a vocabulary payload of either kind, in place when aligned (a SharedArrayBuffer view
 * stays shared). Throws MPE_ERR_BUNDLE_MAGIC for neither magic, MPE_ERR_BUNDLE_VERSION for the
 * pre-release MPEVOCB2, and each kind's own
 * MPE_ERR_BUNDLE_TRUNCATED / _MISMATCH.
 */
export function vocabularyFromBytes(payload: Uint8Array): VocabularyIndex {
  let compact = payload.length >= 8;
  for (let i = 0; i < 8 && compact; i++) compact = payload[i] === COMPACT_MAGIC[i];
  if (compact) return CompactVocabulary.fromBytes(payload);
  if (startsWith(payload, V1_MAGIC)) return Vocabulary.fromBytes(payload);
  if (startsWith(payload, PRE_RELEASE_MAGIC)) {
    throw new MpeError('MPE_ERR_BUNDLE_VERSION', 'vocab.bin holds the pre-release compact index MPEVOCB2 (written before format v2 was final); re-run the command that wrote the bundle');
  }
  throw new MpeError('MPE_ERR_BUNDLE_MAGIC', 'vocabulary payload starts with neither MPEVOCB1 nor MPEVOCB3');
}

/** True when `payload` is a v2 compact index. */
export function isCompactPayload(payload: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) if (payload[i] !== COMPACT_MAGIC[i]) return false;
  return true;
}
