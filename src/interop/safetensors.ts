/**
 * A strict reader of the safetensors format (huggingface/safetensors): u64 little-endian header
 * length N, N bytes of UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?:
 * {string: string}}`, then the data section; offsets are relative to the data section's start.
 * Refused (MPE_ERR_IMPORT_SAFETENSORS, naming the file, tensor and field): a header length that
 * does not fit the file or exceeds 100 MB, a header that is not a JSON object, an unknown dtype,
 * a shape that is not a list of non-negative integers, offsets whose length differs from
 * shape x dtype size, offsets outside the data section, overlapping tensors or holes in the data
 * section (the format's own rule), trailing bytes. Tensors are returned as typed-array copies.
 * Written by hand: the format is 30 lines of rules, and no npm package is needed for it.
 */
import { MpeError } from '../errors.js';

/** Data types this reader decodes, with their element sizes. */
const DTYPE_BYTES = { F64: 8, F32: 4, I64: 8, I32: 4, U8: 1 } as const;
/** safetensors dtype codes this reader accepts. */
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;
/** Other dtype codes of the format, named in the refusal. */
const KNOWN_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64']);

/** Largest header accepted (the reference implementation's own limit). */
const MAX_HEADER_BYTES = 100_000_000;

/** One tensor: its dtype, shape and values (I64 as BigInt64Array). */
export interface SafeTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: Float64Array | Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

/** The decoded file. */
export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, SafeTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Parses a whole safetensors file held in `bytes`; `file` names it in errors.
 * @throws MpeError MPE_ERR_IMPORT_SAFETENSORS
 */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const fail = (field: string, why: string): never => {
    throw new MpeError('MPE_ERR_IMPORT_SAFETENSORS', `${file}: ${field}: ${why}`);
  };
  if (bytes.byteLength < 8) fail('header length', `file has ${bytes.byteLength} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail('header length', `${n64} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (n < 2 || 8 + n > bytes.byteLength) fail('header length', `${n} bytes does not fit the ${bytes.byteLength}-byte file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail('header', `not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header', 'not a JSON object');
  const dataStart = 8 + n;
  const dataBytes = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors = new Map<string, SafeTensor>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__', 'not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k}`, 'not a string');
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`tensor "${name}"`, 'not an object');
    const e = entry as Record<string, unknown>;
    const extra = Object.keys(e).filter((k) => k !== 'dtype' && k !== 'shape' && k !== 'data_offsets');
    if (extra.length > 0) fail(`tensor "${name}"`, `unknown key ${extra[0]}`);
    if (typeof e.dtype !== 'string' || !KNOWN_DTYPES.has(e.dtype)) fail(`tensor "${name}".dtype`, `${JSON.stringify(e.dtype)} is not a safetensors dtype`);
    if (!((e.dtype as string) in DTYPE_BYTES)) fail(`tensor "${name}".dtype`, `${e.dtype as string} is not supported (use ${Object.keys(DTYPE_BYTES).join(', ')})`);
    const dtype = e.dtype as SafetensorsDtype;
    if (!Array.isArray(e.shape) || !e.shape.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) fail(`tensor "${name}".shape`, `${JSON.stringify(e.shape)} is not a list of non-negative integers`);
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) fail(`tensor "${name}".data_offsets`, `${JSON.stringify(off)} is not [begin, end]`);
    const [begin, end] = off as [number, number];
    if (end < begin || end > dataBytes) fail(`tensor "${name}".data_offsets`, `[${begin}, ${end}] outside the ${dataBytes}-byte data section`);
    let elems = 1;
    for (const s of shape) elems *= s;
    const need = elems * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(need) || end - begin !== need) fail(`tensor "${name}".data_offsets`, `${end - begin} bytes, shape ${JSON.stringify(shape)} of ${dtype} needs ${need}`);
    spans.push({ name, begin, end });
    tensors.set(name, { dtype, shape, data: decode(bytes, dataStart + begin, elems, dtype) });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const s of spans) {
    if (s.begin < at) fail(`tensor "${s.name}".data_offsets`, `overlaps the previous tensor (begins at ${s.begin}, previous ends at ${at})`);
    if (s.begin > at) fail(`tensor "${s.name}".data_offsets`, `leaves a hole in the data section (bytes ${at}..${s.begin})`);
    at = s.end;
  }
  if (at !== dataBytes) fail('data section', `${dataBytes} bytes, the tensors cover ${at}: trailing bytes`);
  return { tensors, metadata };
}

/** Copies `elems` little-endian values of `dtype` starting at `offset` into a new typed array. */
function decode(bytes: Uint8Array, offset: number, elems: number, dtype: SafetensorsDtype): SafeTensor['data'] {
  const size = DTYPE_BYTES[dtype];
  const copy = bytes.slice(offset, offset + elems * size); // own, aligned buffer
  const buf = copy.buffer;
  // Typed arrays use the host's byte order; this runs only on little-endian hosts (x64, arm64).
  switch (dtype) {
    case 'F64':
      return new Float64Array(buf, 0, elems);
    case 'F32':
      return new Float32Array(buf, 0, elems);
    case 'I64':
      return new BigInt64Array(buf, 0, elems);
    case 'I32':
      return new Int32Array(buf, 0, elems);
    case 'U8':
      return copy;
  }
}

/** Reads tensor values as numbers (I64 must fit a safe integer). Throws MPE_ERR_IMPORT_SAFETENSORS otherwise. */
export function tensorNumbers(t: SafeTensor, file: string, name: string): Float64Array {
  const out = new Float64Array(t.data.length);
  if (t.data instanceof BigInt64Array) {
    const lim = BigInt(Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < out.length; i++) {
      const v = t.data[i]!;
      if (v > lim || v < -lim) throw new MpeError('MPE_ERR_IMPORT_SAFETENSORS', `${file}: tensor "${name}"[${i}]: ${v} is not a safe integer`);
      out[i] = Number(v);
    }
  } else {
    for (let i = 0; i < out.length; i++) out[i] = t.data[i]!;
  }
  return out;
}
