/**
 * The vocabulary of a vocab.bin held in memory (a worker thread's view of the bundle's
 * SharedArrayBuffer): the same decoding as `loadBundle`, without copying the table. Either
 * payload kind (v2 compact index or v1 hash table) is viewed in place.
 */
import { type VocabularyIndex, vocabularyFromBytes } from '../vocab/decode.js';
import { decodeVocabFile } from './vocab-file.js';

/** Reads the vocabulary of a whole vocab.bin file (`LoadedBundle.vocabBuffer`). */
export function vocabularyOfFile(bytes: Uint8Array): VocabularyIndex {
  return vocabularyFromBytes(decodeVocabFile(bytes).payload);
}
