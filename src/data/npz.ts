/**
 * Writes NumPy `.npz` archives (numpy.savez: an uncompressed ZIP of `.npy` files), so that an
 * ingested data set can be handed to Python code, e.g. the authors' reference trainer that
 * `bench/fidelity.ts` runs side by side with ours on the SAME ids, counts and split.
 *
 * `.npy` version 1.0: magic "\x93NUMPY", version 1 0, u16 header length, then an ASCII dict
 * `{'descr': '<i4', 'fortran_order': False, 'shape': (N, F), }` padded with spaces and a
 * newline so that the data starts on a multiple of 64 bytes, then the C-order data.
 * The ZIP uses method 0 (stored), CRC-32 from node:zlib, no ZIP64 (each array < 4 GiB).
 */
import { writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { MpeError } from '../errors.js';

/** One array of an archive: typed data in C order and its shape (product = data.length). */
export interface NpyArray {
  readonly data: Int32Array | Uint8Array | Float64Array | Float32Array | BigInt64Array;
  readonly shape: readonly number[];
}

function descr(a: NpyArray['data']): string {
  if (a instanceof Int32Array) return '<i4';
  if (a instanceof Uint8Array) return '|u1';
  if (a instanceof Float64Array) return '<f8';
  if (a instanceof Float32Array) return '<f4';
  return '<i8';
}

/** The bytes of one `.npy` file (version 1.0). */
export function encodeNpy(a: NpyArray): Uint8Array {
  let n = 1;
  for (const s of a.shape) n *= s;
  if (n !== a.data.length) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `npy: shape ${a.shape.join('x')} needs ${n} values, got ${a.data.length}`);
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${descr(a.data)}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pre = 10; // magic(6) + version(2) + header length(2)
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = `${header.padEnd(total - pre - 1, ' ')}\n`;
  const body = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const out = new Uint8Array(total + body.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(body, total);
  return out;
}

/** The bytes of an `.npz` archive holding `arrays` (name -> array; stored as `name.npy`). */
export function encodeNpz(arrays: Readonly<Record<string, NpyArray>>): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, a] of Object.entries(arrays)) {
    const file = Buffer.from(`${name}.npy`, 'utf8');
    const data = encodeNpy(a);
    if (data.byteLength >= 2 ** 32 - 1) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `npz: array ${name} is too large for a ZIP without ZIP64`);
    const crc = crc32(data);
    const lh = new Uint8Array(30 + file.length);
    const l = new DataView(lh.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true); // version needed
    l.setUint16(8, 0, true); // method: stored
    l.setUint32(14, crc, true);
    l.setUint32(18, data.byteLength, true);
    l.setUint32(22, data.byteLength, true);
    l.setUint16(26, file.length, true);
    lh.set(file, 30);
    const ch = new Uint8Array(46 + file.length);
    const c = new DataView(ch.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, data.byteLength, true);
    c.setUint32(24, data.byteLength, true);
    c.setUint16(28, file.length, true);
    c.setUint32(42, offset, true);
    ch.set(file, 46);
    locals.push(lh, data);
    centrals.push(ch);
    offset += lh.byteLength + data.byteLength;
  }
  let cdSize = 0;
  for (const ch of centrals) cdSize += ch.byteLength;
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, centrals.length, true);
  e.setUint16(10, centrals.length, true);
  e.setUint32(12, cdSize, true);
  e.setUint32(16, offset, true);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** Writes {@link encodeNpz}(arrays) to `path`. */
export function writeNpz(path: string, arrays: Readonly<Record<string, NpyArray>>): void {
  writeFileSync(path, encodeNpz(arrays));
}
