/**
 * The batch lookup both vocabulary payloads share: hash each (field, token) and ask the index's
 * `find(hi, lo)`. One copy, so the v1 table and the v2 index validate and answer alike.
 */
import { MpeError } from '../errors.js';
import { hashHi, hashInto, hashLo } from './hash.js';

/**
 * Looks up `tokens[i]` of field `fieldIdx[i]` for i < tokens.length with `find`: `outIds[i]` = id
 * or -1, `outFound[i]` = 1 or 0. Throws MPE_ERR_VOCAB_FIELD on a bad field index,
 * MPE_ERR_CODEC_BUFFER if an array is too short.
 */
export function lookupBatchWith(find: (hi: number, lo: number) => number, fieldIdx: Int32Array | readonly number[], tokens: readonly string[], outIds: Int32Array, outFound: Uint8Array): void {
  const n = tokens.length;
  if (fieldIdx.length < n || outIds.length < n || outFound.length < n) throw new MpeError('MPE_ERR_CODEC_BUFFER', `${n} tokens, ${fieldIdx.length} fields, ${outIds.length} ids, ${outFound.length} flags`);
  for (let i = 0; i < n; i++) {
    const f = fieldIdx[i]!;
    if (!(f >= 0 && f <= 0xffffffff && f === Math.floor(f))) throw new MpeError('MPE_ERR_VOCAB_FIELD', `field index ${f} at ${i}`);
    hashInto(f, tokens[i]!);
    const id = find(hashHi(), hashLo());
    outIds[i] = id;
    outFound[i] = id === -1 ? 0 : 1;
  }
}
