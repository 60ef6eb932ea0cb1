/**
 * vocab.bin: a 64-byte header (magic, version, payload size, field count) followed by the
 * vocabulary's own serialisation (`Vocabulary.toBytes()`), which starts 64-byte aligned so its
 * typed arrays can be viewed in place. Byte layout in docs/format.md.
 */
import { MpeError } from '../errors.js';

/** "MPEVOCF1" (the file; the payload, `Vocabulary.toBytes()`, starts with its own "MPEVOCB1"). */
export const VOCAB_MAGIC = Uint8Array.of(0x4d, 0x50, 0x45, 0x56, 0x4f, 0x43, 0x46, 0x31);
/** vocab.bin version written (v2: the payload is a compact index "MPEVOCB3" or a v1 hash table). */
export const VOCAB_FORMAT_VERSION = 2;
const VOCAB_READABLE_VERSIONS: readonly number[] = [1, 2];
export const VOCAB_HEADER_BYTES = 64;

/** The header fields of vocab.bin. */
export interface VocabHeader {
  readonly formatVersion: number;
  readonly payloadBytes: number;
  readonly fieldCount: number;
}

/** vocab.bin's header for a payload of `payloadBytes` from a vocabulary over `fieldCount` fields. */
export function encodeVocabHeader(payloadBytes: number, fieldCount: number, formatVersion: number = VOCAB_FORMAT_VERSION): Uint8Array {
  const out = new Uint8Array(VOCAB_HEADER_BYTES);
  const v = new DataView(out.buffer);
  out.set(VOCAB_MAGIC, 0);
  v.setUint32(8, formatVersion, true);
  v.setUint32(12, VOCAB_HEADER_BYTES, true);
  v.setBigUint64(16, BigInt(payloadBytes), true);
  v.setUint32(24, fieldCount, true);
  return out;
}

/**
 * Validates vocab.bin's 64-byte header, read from `head` (at least its first 64 bytes, or the whole
 * file when shorter), against the file's size `fileBytes`. Reads nothing past byte 64, so the
 * loader runs it on the first bytes of a file before allocating memory for the whole. Throws
 * MPE_ERR_BUNDLE_MAGIC, _VERSION, _TRUNCATED or _MISMATCH (file longer than its header says).
 */
export function decodeVocabHead(head: Uint8Array, fileBytes: number): VocabHeader {
  for (let i = 0; i < 8; i++) if (head[i] !== VOCAB_MAGIC[i]) throw new MpeError('MPE_ERR_BUNDLE_MAGIC', 'vocab.bin does not start with MPEVOCF1');
  if (fileBytes < VOCAB_HEADER_BYTES || head.byteLength < VOCAB_HEADER_BYTES) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `vocab.bin has ${fileBytes} bytes, less than its header`);
  const v = new DataView(head.buffer, head.byteOffset, VOCAB_HEADER_BYTES);
  const formatVersion = v.getUint32(8, true);
  if (!VOCAB_READABLE_VERSIONS.includes(formatVersion)) throw new MpeError('MPE_ERR_BUNDLE_VERSION', `vocab.bin version ${formatVersion}, this build reads ${VOCAB_READABLE_VERSIONS.join(' and ')}`);
  if (v.getUint32(12, true) !== VOCAB_HEADER_BYTES) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `vocab.bin header length ${v.getUint32(12, true)}`);
  const payload64 = v.getBigUint64(16, true);
  const expected = BigInt(VOCAB_HEADER_BYTES) + payload64;
  if (BigInt(fileBytes) < expected) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `vocab.bin has ${fileBytes} bytes, its header says ${expected}`);
  if (BigInt(fileBytes) > expected) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `vocab.bin has ${fileBytes} bytes, its header says ${expected}`);
  return { formatVersion, payloadBytes: Number(payload64), fieldCount: v.getUint32(24, true) };
}

/**
 * Validates vocab.bin's header and returns it with a view (no copy) of the payload. Throws
 * MPE_ERR_BUNDLE_MAGIC, _VERSION, _TRUNCATED or _MISMATCH (file longer than its header says).
 */
export function decodeVocabFile(bytes: Uint8Array): { header: VocabHeader; payload: Uint8Array } {
  const header = decodeVocabHead(bytes, bytes.byteLength);
  return { header, payload: new Uint8Array(bytes.buffer, bytes.byteOffset + VOCAB_HEADER_BYTES, header.payloadBytes) };
}
