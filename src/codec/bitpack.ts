/**
 * Packing of one row of d codes. Bit widths 1..8: unsigned codes (offset-binary u = q - Qn),
 * packed LSB-first: code j occupies bits [j*b, (j+1)*b) of the row, bit k of the row is bit
 * (k mod 8) of byte floor(k / 8); the row is padded with zero bits to a whole byte
 * (`rowBytes(b, d) = ceil(b*d/8)`). Bit width 32: raw little-endian float32 values.
 * This is the reference used by the packer and the tests; the lookup path has its own decoders
 * (`packed-table.ts`).
 */
import { MpeError } from '../errors.js';
import { rowBytes } from './layout.js';

const scratch = new DataView(new ArrayBuffer(4));

/**
 * Writes one row of d codes at `out[offset..offset + rowBytes(bits, d))`.
 * For bits 1..8 the codes must be integers in [0, 2^bits); for 32 they are float32 values.
 * Throws MPE_ERR_CODEC_BITS (bad width), MPE_ERR_CODEC_VALUE (code out of range),
 * MPE_ERR_CODEC_BUFFER (row does not fit).
 */
export function packRow(codes: ArrayLike<number>, bits: number, d: number, out: Uint8Array, offset: number): void {
  const n = rowBytes(bits, d);
  if (codes.length < d || offset < 0 || offset + n > out.length) throw new MpeError('MPE_ERR_CODEC_BUFFER', `row of ${n} bytes at ${offset}`);
  if (bits === 32) {
    for (let j = 0; j < d; j++) {
      scratch.setFloat32(0, codes[j]!, true);
      for (let k = 0; k < 4; k++) out[offset + 4 * j + k] = scratch.getUint8(k);
    }
    return;
  }
  if (bits === 0) return;
  const limit = 1 << bits;
  out.fill(0, offset, offset + n);
  let acc = 0;
  let accBits = 0;
  let p = offset;
  for (let j = 0; j < d; j++) {
    const u = codes[j]!;
    if (!Number.isInteger(u) || u < 0 || u >= limit) throw new MpeError('MPE_ERR_CODEC_VALUE', `code ${u} at ${j} does not fit ${bits} bits`);
    acc |= u << accBits;
    accBits += bits;
    while (accBits >= 8) {
      out[p++] = acc & 0xff;
      acc >>>= 8;
      accBits -= 8;
    }
  }
  if (accBits > 0) out[p] = acc & 0xff;
}

/**
 * Reads one row of d codes from `src[offset..)` into `out[0..d)`: unsigned codes for bits 1..8,
 * float32 values for 32 (pass a Float32Array or Float64Array), zeros for 0.
 */
export function unpackRow(src: Uint8Array, offset: number, bits: number, d: number, out: Int32Array | Uint8Array | Uint16Array | Float32Array | Float64Array | number[]): void {
  const n = rowBytes(bits, d);
  if (out.length < d || offset < 0 || offset + n > src.length) throw new MpeError('MPE_ERR_CODEC_BUFFER', `row of ${n} bytes at ${offset}`);
  if (bits === 0) {
    for (let j = 0; j < d; j++) out[j] = 0;
    return;
  }
  if (bits === 32) {
    for (let j = 0; j < d; j++) {
      for (let k = 0; k < 4; k++) scratch.setUint8(k, src[offset + 4 * j + k]!);
      out[j] = scratch.getFloat32(0, true);
    }
    return;
  }
  const mask = (1 << bits) - 1;
  let acc = 0;
  let accBits = 0;
  let p = offset;
  for (let j = 0; j < d; j++) {
    while (accBits < bits) {
      acc |= src[p++]! << accBits;
      accBits += 8;
    }
    out[j] = acc & mask;
    acc >>>= bits;
    accBits -= bits;
  }
}
