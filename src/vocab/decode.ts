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
import { HASH_TABLE_MAGIC, Vocabulary } from './vocabulary.js';

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

/** "MPEVOCB2": the compact index's pre-release layout. */
const PRE_RELEASE_MAGIC = Uint8Array.of(0x4d, 0x50, 0x45, 0x56, 0x4f, 0x43, 0x42, 0x32);

function startsWith(payload: Uint8Array, magic: Uint8Array): boolean {
  if (payload.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (payload[i] !== magic[i]) return false;
  return true;
}

/**
 * Reads a vocabulary payload of either kind, in place when aligned (a SharedArrayBuffer view
 * stays shared). Throws MPE_ERR_BUNDLE_MAGIC for neither magic, MPE_ERR_BUNDLE_VERSION for the
 * pre-release MPEVOCB2, and each kind's own
 * MPE_ERR_BUNDLE_TRUNCATED / _MISMATCH.
 */
export function vocabularyFromBytes(payload: Uint8Array): VocabularyIndex {
  if (startsWith(payload, COMPACT_MAGIC)) return CompactVocabulary.fromBytes(payload);
  if (startsWith(payload, HASH_TABLE_MAGIC)) return Vocabulary.fromBytes(payload);
  if (startsWith(payload, PRE_RELEASE_MAGIC)) {
    throw new MpeError('MPE_ERR_BUNDLE_VERSION', 'vocab.bin holds the pre-release compact index MPEVOCB2 (written before format v2 was final); re-run the command that wrote the bundle');
  }
  throw new MpeError('MPE_ERR_BUNDLE_MAGIC', 'vocabulary payload starts with neither MPEVOCB1 nor MPEVOCB3');
}

/** True when `payload` is a v2 compact index. */
export function isCompactPayload(payload: Uint8Array): boolean {
  return startsWith(payload, COMPACT_MAGIC);
}
