/**
 * The vocabulary's key: a stable 64-bit hash of (field index, token).
 *
 * Specification (normative; docs/format.md repeats it):
 *   bytes  = uint32_le(field) || utf8(token)
 *            (UTF-8 as WHATWG TextEncoder: a lone surrogate is encoded as U+FFFD, EF BF BD)
 *   h      = FNV-1a 64 over bytes: h = 0xcbf29ce484222325; for each byte c: h = (h XOR c) * 0x100000001b3 mod 2^64
 *   hi, lo = the high and low 32 bits of h (unsigned)
 *   slot   = fmix32(hi XOR lo) AND (capacity - 1), where fmix32 is MurmurHash3's finaliser:
 *            x ^= x >>> 16; x *= 0x85ebca6b; x ^= x >>> 13; x *= 0xc2b2ae35; x ^= x >>> 16 (mod 2^32)
 * Example: hashToken(0, '') = FNV-1a 64 of 00 00 00 00 = 0x4d25767f_9dce13f5 (hi = 0x4d25767f, lo = 0x9dce13f5);
 * test/vocab/hash.test.ts checks more vectors against a BigInt implementation.
 *
 * FNV-1a was chosen because it is a few lines in any language (the format must be re-implementable),
 * it needs no allocation here (UTF-8 is encoded on the fly from char codes), and 64 bits make an
 * accidental collision among 10^7 keys unlikely (~ n^2 / 2^65 = 3e-6); a collision at build time
 * is reported (MPE_ERR_VOCAB_DUPLICATE), never silently merged. Its low bits mix poorly, hence
 * fmix32 for the slot.
 */

import { mix32 } from '../util/hash.js';

const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
const PRIME_LO = 0x1b3; // prime = 2^40 + 0x1b3

let outHi = 0;
let outLo = 0;

/**
 * The high word of one FNV step: (hi*2^32 + l) * (2^40 + 0x1b3) mod 2^64 has high word
 * imul(hi, 0x1b3) + the carry of l * 0x1b3 (from its 16-bit halves, every partial < 2^26) + l << 8;
 * the low word is imul(l, 0x1b3).
 */
function mulHi(hi: number, l: number): number {
  return (Math.imul(hi, PRIME_LO) + ((Math.imul(l >>> 16, PRIME_LO) + (Math.imul(l & 0xffff, PRIME_LO) >>> 16)) >>> 16) + (l << 8)) | 0;
}

/**
 * Hashes (field, token) into module state read by {@link hashHi}/{@link hashLo}: the lookup path
 * uses this to avoid allocating a pair per call.
 *
 * The state lives in locals and the multiply is int32 only (`Math.imul` for the low word, the
 * carry from 16-bit halves): a byte costs a handful of integer ops. Measured on this box (2-core
 * EPYC, Node 20, 1M Criteo-like 8-hex tokens, median of 5, a throwaway microbenchmark): the
 * earlier form, one `step` per byte writing the module-level state through a double multiply,
 * took 327 ns per token; this one 35-60 ns (by load). That was about 80% of a vocabulary resolve
 * (bench/resolve.ts). Non-ASCII text leaves the fast loop for {@link hashTail} at its first
 * non-ASCII char. Tried and dropped: starting from a precomputed state per field (the 4 field
 * bytes): no difference measured (35-37 ns either way, interleaved in one process).
 */
export function hashInto(field: number, token: string): void {
  let hi = OFFSET_HI | 0;
  let lo = OFFSET_LO | 0;
  for (let k = 0; k < 32; k += 8) {
    const l = lo ^ ((field >>> k) & 0xff);
    hi = mulHi(hi, l);
    lo = Math.imul(l, PRIME_LO);
  }
  const n = token.length;
  let i = 0;
  for (; i < n; i++) {
    const c = token.charCodeAt(i);
    if (c >= 0x80) break;
    const l = lo ^ c;
    hi = mulHi(hi, l);
    lo = Math.imul(l, PRIME_LO);
  }
  outHi = hi >>> 0;
  outLo = lo >>> 0;
  if (i < n) hashTail(token, i);
}

/** UTF-8 bytes of one code point (hashTail). */
const utf8 = new Uint8Array(4);

/** Continues {@link hashInto} from `token[from]` on (UTF-8 encoded on the fly), state in outHi/outLo. */
function hashTail(token: string, from: number): void {
  let hi = outHi | 0;
  let lo = outLo | 0;
  const n = token.length;
  for (let i = from; i < n; i++) {
    let c = token.charCodeAt(i);
    let k = 1;
    if (c < 0x80) utf8[0] = c;
    else if (c < 0x800) {
      utf8[0] = 0xc0 | (c >>> 6);
      utf8[1] = 0x80 | (c & 0x3f);
      k = 2;
    } else {
      const next = i + 1 < n ? token.charCodeAt(i + 1) : 0;
      if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        utf8[0] = 0xf0 | (cp >>> 18);
        utf8[1] = 0x80 | ((cp >>> 12) & 0x3f);
        utf8[2] = 0x80 | ((cp >>> 6) & 0x3f);
        utf8[3] = 0x80 | (cp & 0x3f);
        k = 4;
      } else {
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate, as TextEncoder
        utf8[0] = 0xe0 | (c >>> 12);
        utf8[1] = 0x80 | ((c >>> 6) & 0x3f);
        utf8[2] = 0x80 | (c & 0x3f);
        k = 3;
      }
    }
    for (let q = 0; q < k; q++) {
      const l = lo ^ utf8[q]!;
      hi = mulHi(hi, l);
      lo = Math.imul(l, PRIME_LO);
    }
  }
  outHi = hi >>> 0;
  outLo = lo >>> 0;
}

/** High 32 bits of the last {@link hashInto}. */
export function hashHi(): number {
  return outHi;
}

/** Low 32 bits of the last {@link hashInto}. */
export function hashLo(): number {
  return outLo;
}

/** Stable 64-bit hash of (field index, UTF-8 token) as [hi, lo] unsigned 32-bit halves (spec above). */
export function hashToken(field: number, token: string): [number, number] {
  hashInto(field, token);
  return [outHi, outLo];
}

/** MurmurHash3 fmix32 of hi XOR lo: the table slot is `slotHash(hi, lo) & (capacity - 1)`. */
export function slotHash(hi: number, lo: number): number {
  return mix32((hi ^ lo) >>> 0);
}
