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

function step(c: number): void {
  const lo = (outLo ^ c) >>> 0;
  // (hi*2^32 + lo) * (2^40 + 0x1b3) mod 2^64: lo*0x1b3 < 2^41 is exact in a double.
  const p = lo * PRIME_LO;
  const newLo = p >>> 0;
  const carry = (p - newLo) / 4294967296;
  outHi = (Math.imul(outHi, PRIME_LO) + carry + (lo << 8)) >>> 0;
  outLo = newLo;
}

/**
 * Hashes (field, token) into module state read by {@link hashHi}/{@link hashLo}: the lookup path
 * uses this to avoid allocating a pair per call.
 */
export function hashInto(field: number, token: string): void {
  outHi = OFFSET_HI;
  outLo = OFFSET_LO;
  step(field & 0xff);
  step((field >>> 8) & 0xff);
  step((field >>> 16) & 0xff);
  step(field >>> 24);
  const n = token.length;
  for (let i = 0; i < n; i++) {
    let c = token.charCodeAt(i);
    if (c < 0x80) {
      step(c);
      continue;
    }
    if (c < 0x800) {
      step(0xc0 | (c >>> 6));
      step(0x80 | (c & 0x3f));
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? token.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        step(0xf0 | (cp >>> 18));
        step(0x80 | ((cp >>> 12) & 0x3f));
        step(0x80 | ((cp >>> 6) & 0x3f));
        step(0x80 | (cp & 0x3f));
        continue;
      }
      c = 0xfffd; // lone surrogate, as TextEncoder
    }
    step(0xe0 | (c >>> 12));
    step(0x80 | ((c >>> 6) & 0x3f));
    step(0x80 | (c & 0x3f));
  }
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
