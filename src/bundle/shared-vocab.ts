/**
 * The vocabulary of a vocab.bin held in memory (a worker thread's view of the bundle's
 * SharedArrayBuffer): the same decoding as `loadBundle`, without copying the table.
 */
import { Vocabulary } from '../vocab/vocabulary.js';
import { decodeVocabFile } from './vocab-file.js';

/** Reads the vocabulary of a whole vocab.bin file (`LoadedBundle.vocabBuffer`). */
export function vocabularyOfFile(bytes: Uint8Array): Vocabulary {
  return Vocabulary.fromBytes(decodeVocabFile(bytes).payload);
}
