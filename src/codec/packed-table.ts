/**
 * Read side of a packed table: dequantizes batches of feature ids into a caller-supplied
 * Float32Array. This is the service's hot path.
 *
 * Design (choices made once, at construction):
 * - Group of id i is `floor((i + groupPad) / groupSize)` (codec/layout.ts); per-group bits, byte
 *   offset and step alpha sit in typed arrays, so no per-row object exists. With a pad, group 0's
 *   offset is stored shifted back by pad rows (`goff[0] - pad * rowBytes`), so that every group's
 *   row address is `goff[g] + (id + pad - g * groupSize) * rowBytes` without a branch; without a
 *   pad the generated code is the same as before the pad existed.
 * - For d <= 64 the decoder is generated at construction (`new Function`, trusted input: only
 *   integers and float32 values derived from the spec are spliced in): one `switch` on the
 *   group's bit width, each case fully unrolled for this d (row bytes loaded once into locals,
 *   constant shifts and masks). Only the widths present in the table get a case. Larger d use
 *   `genericDecoder` (one accumulator loop for all widths).
 * - Each code becomes a value by one load from a per-width table
 *   `lut_b[(j << b) + u] = fround(alpha_b * (u + Qn) + beta_j)` (d * 2^b floats; 4 KiB at
 *   d = 16, b = 6), i.e. the reference formula tabulated, so results are bit-exact by construction.
 * Measured (bench/lookup.ts --quick, d = 16, 1M features, Zipf 1.05, rows per CPU-second on the
 * shared 2-core box, load ~13-17): table lookup 18.6-19.1 M vs inline `alpha * q + beta_j`
 * 17.3-17.6 M; the generic loop 8.8-9.1 M (about half); reading rows as 32-bit words instead
 * of bytes made no measurable difference (18.6 vs 18.7 M), so bytes it is (no alignment cases).
 * - Group offsets are an Int32Array when the data section is below 2 GiB (int32 index arithmetic
 *   in the JIT), else a Float64Array.
 * - fp32 groups are read through a Float32Array view of the same buffer (groups are 64-byte
 *   aligned); if the view's byteOffset is not 4-aligned or the host is big-endian, a DataView is used.
 */
import { endianness } from 'node:os';
import { MpeError } from '../errors.js';
import { computeLayout, type DataLayout, groupCount, groupOfId, groupRows, rowBytes, rowwiseRowBytes, type TableSpec } from './layout.js';
import { float16Table, qMin } from './quantize.js';

type Decoder = (ids: Int32Array, count: number, out: Float32Array, outOffset: number) => void;

/** Largest d for which an unrolled decoder is generated. */
const MAX_UNROLLED_D = 64;

/** A packed embedding table over a data section (ideally a view on a SharedArrayBuffer). No per-row objects. */
export class PackedTable {
  readonly spec: TableSpec;
  readonly featureCount: number;
  readonly d: number;
  readonly layout: DataLayout;
  /** The data section this table reads (not copied). */
  readonly data: Uint8Array;
  private readonly decode: Decoder;

  /**
   * @param spec table layout (validated with `computeLayout`).
   * @param data data section as written by `packTable`; must hold at least `layout.dataBytes` bytes.
   * @param options.unrolled false forces the generic decoder; `lut` false computes alpha*q+beta inline instead of the
   *   per-width value table (both default true; tests and bench/lookup.ts compare the variants).
   * Throws MPE_ERR_CODEC_LAYOUT / MPE_ERR_CODEC_BITS on a bad spec or short data.
   */
  constructor(spec: TableSpec, data: Uint8Array, options: { unrolled?: boolean; lut?: boolean } = {}) {
    this.layout = computeLayout(spec);
    if (data.length < this.layout.dataBytes) throw new MpeError('MPE_ERR_CODEC_LAYOUT', `data section has ${data.length} bytes, layout needs ${this.layout.dataBytes}`);
    this.spec = spec;
    this.featureCount = spec.featureCount;
    this.d = spec.d;
    this.data = data;
    this.decode = options.unrolled !== false && spec.d <= MAX_UNROLLED_D ? generateDecoder(spec, data, this.layout, options.lut !== false) : genericDecoder(spec, data, this.layout);
  }

  /** Bit width of feature `id` (0 = pruned, 1..8, 32 = fp32). Throws MPE_ERR_CODEC_ID_RANGE. */
  bitsOf(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.featureCount) throw idRangeError(id, this.featureCount);
    const s = this.spec;
    return s.kind === 'rowwise' ? s.bits : s.bitsPerGroup[groupOfId(id, s.groupSize, s.groupPad)]!;
  }

  /**
   * Writes the embeddings of `ids[0..count)` to `out[outOffset + i*d + j]` (count*d floats).
   * Pruned rows give zeros. Throws MPE_ERR_CODEC_ID_RANGE on an id outside [0, featureCount)
   * (rows before it are already written), MPE_ERR_CODEC_BUFFER if `out` or `ids` is too short.
   */
  dequantize(ids: Int32Array, count: number, out: Float32Array, outOffset = 0): void {
    if (count > ids.length || outOffset < 0 || outOffset + count * this.d > out.length) {
      throw new MpeError('MPE_ERR_CODEC_BUFFER', `count ${count}, ids ${ids.length}, out ${out.length} from ${outOffset}`);
    }
    this.decode(ids, count, out, outOffset);
  }

  /** Stored bytes per bit width (grouped: each group's span incl. alignment padding; sums to dataBytes). */
  bytesByBits(): Map<number, number> {
    const m = new Map<number, number>();
    const s = this.spec;
    if (s.kind === 'rowwise') {
      m.set(s.bits, this.layout.dataBytes);
      return m;
    }
    const off = this.layout.groupOffsets;
    for (let g = 0; g < s.bitsPerGroup.length; g++) {
      const b = s.bitsPerGroup[g]!;
      m.set(b, (m.get(b) ?? 0) + (off[g + 1]! - off[g]!));
    }
    return m;
  }

  /** Number of features per bit width. */
  featuresByBits(): Map<number, number> {
    const m = new Map<number, number>();
    const s = this.spec;
    if (s.kind === 'rowwise') {
      m.set(s.bits, s.featureCount);
      return m;
    }
    for (let g = 0; g < s.bitsPerGroup.length; g++) {
      const b = s.bitsPerGroup[g]!;
      m.set(b, (m.get(b) ?? 0) + groupRows(g, s.featureCount, s.groupSize, s.groupPad));
    }
    return m;
  }
}

function idRangeError(id: number, featureCount: number): MpeError {
  return new MpeError('MPE_ERR_CODEC_ID_RANGE', `id ${id}, featureCount ${featureCount}`);
}

/** Group offsets for the decoders; with a pad, group 0's is shifted back by `pad` rows (see the file comment). */
function offsetsArray(spec: TableSpec, layout: DataLayout): Int32Array | Float64Array {
  const pad = spec.kind === 'grouped' ? (spec.groupPad ?? 0) : 0;
  const shift = pad > 0 && spec.kind === 'grouped' ? pad * rowBytes(spec.bitsPerGroup[0]!, spec.d) : 0;
  const off = layout.dataBytes < 2 ** 31 ? Int32Array.from(layout.groupOffsets) : Float64Array.from(layout.groupOffsets);
  off[0] = off[0]! - shift;
  return off;
}

function float32Reader(data: Uint8Array): { f32: Float32Array | null; dv: DataView } {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const aligned = data.byteOffset % 4 === 0 && endianness() === 'LE';
  return { f32: aligned ? new Float32Array(data.buffer, data.byteOffset, data.byteLength >> 2) : null, dv };
}

/** JS source of code j's unsigned value for a row whose bytes are in locals x0, x1, ... */
function codeExpr(j: number, bits: number): string {
  const s = j * bits;
  const k = s >> 3;
  const sh = s & 7;
  const mask = (1 << bits) - 1;
  if (sh + bits <= 8) return bits === 8 ? `x${k}` : sh === 0 ? `(x${k} & ${mask})` : `((x${k} >>> ${sh}) & ${mask})`;
  return `(((x${k} | (x${k + 1} << 8)) >>> ${sh}) & ${mask})`;
}

/** Statements loading n row bytes from data[p..] into x0..x(n-1). */
function loadBytes(n: number): string {
  let src = '';
  for (let k = 0; k < n; k++) src += `const x${k} = data[p + ${k}];\n`;
  return src;
}

function generateDecoder(spec: TableSpec, data: Uint8Array, layout: DataLayout, useLut: boolean): Decoder {
  const d = spec.d;
  const N = spec.featureCount;
  const { f32, dv } = float32Reader(data);
  const f32Read = (q: string): string => (f32 ? `f32[${q}]` : `dv.getFloat32((${q}) * 4, true)`);
  let body: string;
  // Touch pass: the first byte of every row, before decoding. In the score worker the table rows
  // are cold (each onnxruntime run evicts them); this loop has no dependent work, so the CPU keeps
  // many row misses in flight at once, and the decode loop after it then hits the cache. Measured
  // (3,900 ids, d = 16, 200k features, each dequantize followed by a 1024-512-256 onnxruntime run,
  // 6 interleaved reps, load avg ~4.7): 0.40-0.66 ms with the pass vs 0.81-1.19 ms without; alone
  // in a hot loop both 0.18 ms.
  let touch: string;
  // The id shifted by the group pad (MPE grouping); the plain id when there is none.
  const x = spec.kind === 'grouped' && (spec.groupPad ?? 0) > 0 ? `(id + ${spec.groupPad})` : 'id';
  if (spec.kind === 'rowwise') {
    touch = `if (id >= 0 && id < ${N}) t += data[id * ${rowwiseRowBytes(spec.bits, d)}];`;
  } else {
    touch = `if (id >= 0 && id < ${N}) { const g = (${x} / ${spec.groupSize}) | 0; t += data[goff[g] + (${x} - g * ${spec.groupSize}) * grb[g]]; }`;
  }
  if (spec.kind === 'rowwise') {
    const cb = rowBytes(spec.bits, d);
    const rb = rowwiseRowBytes(spec.bits, d);
    let row = `const p = id * ${rb};\n${loadBytes(cb)}`;
    row += `const s = f16[data[p + ${cb}] | (data[p + ${cb + 1}] << 8)];\nconst c = f16[data[p + ${cb + 2}] | (data[p + ${cb + 3}] << 8)];\n`;
    for (let j = 0; j < d; j++) row += `out[o + ${j}] = s * ${codeExpr(j, spec.bits)} + c;\n`;
    body = row;
  } else {
    const gs = spec.groupSize;
    const present = [...new Set(spec.bitsPerGroup)].sort((a, b) => a - b);
    let cases = '';
    for (const b of present) {
      cases += `case ${b}: {\n`;
      if (b === 0) {
        for (let j = 0; j < d; j++) cases += `out[o + ${j}] = 0;\n`;
      } else if (b === 32) {
        cases += `const q = (goff[g] + (${x} - g * ${gs}) * ${4 * d}) / 4;\n`;
        for (let j = 0; j < d; j++) cases += `out[o + ${j}] = ${f32Read(`q + ${j}`)};\n`;
      } else {
        const qn = qMin(b);
        const rb = rowBytes(b, d);
        const load = `const p = goff[g] + (${x} - g * ${gs}) * ${rb};\n${loadBytes(rb)}`;
        if (useLut) {
          cases += load;
          for (let j = 0; j < d; j++) cases += `out[o + ${j}] = lut${b}[${j << b} + ${codeExpr(j, b)}];\n`;
        } else {
          cases += `const a = galpha[g];\n${load}`;
          for (let j = 0; j < d; j++) {
            // beta_j is a float32, so its shortest decimal form reads back as the same double.
            cases += `out[o + ${j}] = a * (${codeExpr(j, b)} - ${-qn}) + ${literal(spec.beta[j]!)};\n`;
          }
        }
      }
      cases += 'break;\n}\n';
    }
    body = `const g = (${x} / ${gs}) | 0;\nswitch (gbits[g]) {\n${cases}}\n`;
  }
  const src = `"use strict";
return function decode(ids, count, out, o) {
  let t = 0;
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    ${touch}
  }
  sink[0] = t;
  for (let i = 0; i < count; i++, o += ${d}) {
    const id = ids[i];
    if (id < 0 || id >= ${N}) throw rangeError(id, ${N});
${body}  }
};`;
  const gbits = spec.kind === 'grouped' ? spec.bitsPerGroup : new Uint8Array(0);
  const galpha = new Float64Array(gbits.length);
  if (spec.kind === 'grouped') for (let g = 0; g < gbits.length; g++) galpha[g] = gbits[g]! <= 8 ? spec.alpha[gbits[g]!]! : 0;
  // lut[b][(j << b) + u] = fround(alpha_b * (u + Qn) + beta_j): the reference formula, tabulated.
  const luts: Float32Array[] = [];
  for (let b = 0; b <= 8; b++) {
    const lut = new Float32Array(spec.kind === 'grouped' && b > 0 && spec.bitsPerGroup.includes(b) && useLut ? d << b : 0);
    if (lut.length > 0 && spec.kind === 'grouped') {
      const qn = qMin(b);
      for (let j = 0; j < d; j++) for (let u = 0; u < 1 << b; u++) lut[(j << b) + u] = spec.alpha[b]! * (u + qn) + spec.beta[j]!;
    }
    luts.push(lut);
  }
  const lutNames = luts.map((_, b) => `lut${b}`);
  // Row bytes per group (fp32 and pruned groups included) for the touch pass; `sink` keeps its loads alive.
  const grb = Int32Array.from(gbits, (b) => rowBytes(b, d));
  const sink = new Int32Array(1);
  const factory = new Function('data', 'f32', 'dv', 'f16', 'gbits', 'goff', 'galpha', 'rangeError', 'grb', 'sink', ...lutNames, src) as (...args: unknown[]) => Decoder;
  return factory(data, f32, dv, float16Table(), gbits, offsetsArray(spec, layout), galpha, idRangeError, grb, sink, ...luts);
}

function literal(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

/** Fallback for d > 64: one accumulator loop for every width (about half the generated decoder's speed at d = 16). */
function genericDecoder(spec: TableSpec, data: Uint8Array, layout: DataLayout): Decoder {
  const d = spec.d;
  const N = spec.featureCount;
  const { f32, dv } = float32Reader(data);
  const f16 = float16Table();
  const beta = spec.kind === 'grouped' ? Float64Array.from(spec.beta) : new Float64Array(d);
  const pad = spec.kind === 'grouped' ? (spec.groupPad ?? 0) : 0;
  const G = spec.kind === 'grouped' ? groupCount(N, spec.groupSize, pad) : 1;
  const gs = spec.kind === 'grouped' ? spec.groupSize : N;
  const gbits = spec.kind === 'grouped' ? spec.bitsPerGroup : Uint8Array.of(spec.bits);
  const goff = offsetsArray(spec, layout);
  const galpha = new Float64Array(G);
  const gqn = new Int32Array(G);
  const grb = new Int32Array(G);
  const rowwise = spec.kind === 'rowwise';
  for (let g = 0; g < G; g++) {
    const b = gbits[g]!;
    galpha[g] = spec.kind === 'grouped' && b > 0 && b <= 8 ? spec.alpha[b]! : 0;
    gqn[g] = b > 0 && b <= 8 && !rowwise ? qMin(b) : 0;
    grb[g] = rowwise ? rowwiseRowBytes(spec.bits, d) : rowBytes(b, d);
  }
  const cb = rowwise ? rowBytes(spec.bits, d) : 0;
  return (ids, count, out, o) => {
    for (let i = 0; i < count; i++, o += d) {
      const id = ids[i]!;
      if (id < 0 || id >= N) throw idRangeError(id, N);
      const x = id + pad;
      const g = rowwise ? 0 : (x / gs) | 0;
      const b = gbits[g]!;
      let p = goff[g]! + (x - g * gs) * grb[g]!;
      if (b === 0) {
        out.fill(0, o, o + d);
      } else if (b === 32) {
        for (let j = 0; j < d; j++) out[o + j] = f32 ? f32[p / 4 + j]! : dv.getFloat32(p + 4 * j, true);
      } else {
        let a = galpha[g]!;
        let c = 0;
        if (rowwise) {
          a = f16[data[p + cb]! | (data[p + cb + 1]! << 8)]!;
          c = f16[data[p + cb + 2]! | (data[p + cb + 3]! << 8)]!;
        }
        const qn = gqn[g]!;
        const mask = (1 << b) - 1;
        let acc = 0;
        let accBits = 0;
        for (let j = 0; j < d; j++) {
          while (accBits < b) {
            acc |= data[p++]! << accBits;
            accBits += 8;
          }
          out[o + j] = a * ((acc & mask) + qn) + (rowwise ? c : beta[j]!);
          acc >>>= b;
          accBits -= b;
        }
      }
    }
  };
}
