/**
 * A minimal protocol-buffers ENCODER and the ONNX messages mpe-serve writes.
 *
 * Field numbers are those of onnx/onnx `onnx/onnx.proto` (proto2; checked against the upstream
 * file). Only encoding is implemented: the runtime (onnxruntime) does the decoding.
 *
 * Wire format recap: each field is `varint(field << 3 | wireType)` then its payload; wire type 0 =
 * varint, 2 = length-delimited (strings, bytes, messages, packed repeated), 5 = fixed32 (float).
 * Nested messages are encoded into their own writer first and spliced in by reference, so large
 * tensor payloads are copied exactly once, when {@link ProtoWriter.finish} concatenates.
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const textEncoder = new TextEncoder();
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Collects encoded bytes as a list of chunks; `finish()` joins them once. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private scratch = new Uint8Array(256);
  private pos = 0;
  /** Total encoded length so far, in bytes. */
  length = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.scratch.length) return;
    this.flush();
    if (n > this.scratch.length) this.scratch = new Uint8Array(Math.max(n, this.scratch.length * 2));
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.scratch.subarray(0, this.pos));
    this.scratch = new Uint8Array(this.scratch.length);
    this.pos = 0;
  }

  /** Appends bytes by reference (no copy until `finish`). */
  private append(bytes: Uint8Array): void {
    this.flush();
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  /** Raw unsigned varint of a non-negative safe integer. */
  rawVarint(value: number): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.scratch[this.pos++] = (v % 0x80) | 0x80;
      this.length++;
      v = Math.floor(v / 0x80);
    }
    this.scratch[this.pos++] = v;
    this.length++;
  }

  /** Raw varint of a signed 64-bit integer (negative values take 10 bytes, two's complement). */
  rawVarint64(value: number | bigint): void {
    if (typeof value === 'number' && value >= 0) {
      this.rawVarint(value);
      return;
    }
    let v = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (v >= 0x80n) {
      this.scratch[this.pos++] = Number(v & 0x7fn) | 0x80;
      this.length++;
      v >>= 7n;
    }
    this.scratch[this.pos++] = Number(v);
    this.length++;
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(field * 8 + wire);
  }

  /** int32/int64/enum field (varint). */
  int(field: number, value: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    this.rawVarint64(value);
  }

  /** float field (fixed32, little-endian). */
  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    new DataView(this.scratch.buffer, this.scratch.byteOffset + this.pos, 4).setFloat32(0, value, true);
    this.pos += 4;
    this.length += 4;
  }

  /** bytes field. */
  bytes(field: number, value: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.rawVarint(value.length);
    this.append(value);
  }

  /** string field (UTF-8). */
  string(field: number, value: string): void {
    this.bytes(field, textEncoder.encode(value));
  }

  /** Embedded message field: `sub` must not be written to afterwards. */
  message(field: number, sub: ProtoWriter): void {
    sub.flush();
    this.tag(field, WIRE_LEN);
    this.rawVarint(sub.length);
    this.flush();
    for (let i = 0; i < sub.chunks.length; i++) this.chunks.push(sub.chunks[i] as Uint8Array);
    this.length += sub.length;
  }

  /** Packed repeated varint field (e.g. proto3-style int64 lists). */
  packedInts(field: number, values: ArrayLike<number | bigint>): void {
    const sub = new ProtoWriter();
    for (let i = 0; i < values.length; i++) sub.rawVarint64(values[i] as number | bigint);
    this.message(field, sub);
  }

  /** Packed repeated float field. */
  packedFloats(field: number, values: ArrayLike<number>): void {
    this.tag(field, WIRE_LEN);
    this.rawVarint(values.length * 4);
    this.append(float32LittleEndianBytes(Float32Array.from(values)));
  }

  /** Joins the chunks into one plain (non-shared) buffer. */
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let off = 0;
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i] as Uint8Array;
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

/** Little-endian bytes of a typed array (a view on little-endian hosts, a swapped copy otherwise). */
export function float32LittleEndianBytes(a: Float32Array): Uint8Array {
  return littleEndianBytes(a, 4);
}

/** Little-endian bytes of any numeric typed array with `width`-byte elements. */
export function littleEndianBytes(a: Float32Array | Int32Array | BigInt64Array | Float64Array | Uint8Array, width: number): Uint8Array {
  const view = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (HOST_LITTLE_ENDIAN || width === 1) return view;
  const out = new Uint8Array(view.length);
  for (let i = 0; i < view.length; i += width) {
    for (let k = 0; k < width; k++) out[i + k] = view[i + width - 1 - k] as number;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ONNX messages (field numbers from onnx.proto)
// ---------------------------------------------------------------------------------------------

/** TensorProto.DataType values used here. */
export const TensorDataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

/** AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

/** Tensor payload: data type, dims and little-endian raw bytes. */
export interface TensorMessage {
  name?: string;
  dataType: number;
  dims: readonly number[];
  /** Little-endian element bytes (TensorProto.raw_data). */
  raw: Uint8Array;
}

/** TensorProto: dims=1, data_type=2, name=8, raw_data=9. */
export function encodeTensor(t: TensorMessage): ProtoWriter {
  const w = new ProtoWriter();
  for (let i = 0; i < t.dims.length; i++) w.int(1, t.dims[i] as number);
  w.int(2, t.dataType);
  if (t.name !== undefined) w.string(8, t.name);
  w.bytes(9, t.raw);
  return w;
}

/** One attribute, already typed. */
export type AttributeMessage =
  | { name: string; type: typeof AttributeType.FLOAT; f: number }
  | { name: string; type: typeof AttributeType.INT; i: number | bigint }
  | { name: string; type: typeof AttributeType.STRING; s: string }
  | { name: string; type: typeof AttributeType.TENSOR; t: TensorMessage }
  | { name: string; type: typeof AttributeType.FLOATS; floats: readonly number[] }
  | { name: string; type: typeof AttributeType.INTS; ints: readonly (number | bigint)[] }
  | { name: string; type: typeof AttributeType.STRINGS; strings: readonly string[] };

/** AttributeProto: name=1, f=2, i=3, s=4, t=5, floats=7, ints=8, strings=9, type=20. */
export function encodeAttribute(a: AttributeMessage): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, a.name);
  switch (a.type) {
    case AttributeType.FLOAT:
      w.float(2, a.f);
      break;
    case AttributeType.INT:
      w.int(3, a.i);
      break;
    case AttributeType.STRING:
      w.string(4, a.s);
      break;
    case AttributeType.TENSOR:
      w.message(5, encodeTensor(a.t));
      break;
    // proto2 `repeated float/int64` without [packed=true]: one tag per element, as onnx's own
    // Python helper writes them (parsers accept either form).
    case AttributeType.FLOATS:
      for (let k = 0; k < a.floats.length; k++) w.float(7, a.floats[k] as number);
      break;
    case AttributeType.INTS:
      for (let k = 0; k < a.ints.length; k++) w.int(8, a.ints[k] as number | bigint);
      break;
    case AttributeType.STRINGS:
      for (let k = 0; k < a.strings.length; k++) w.string(9, a.strings[k] as string);
      break;
  }
  w.int(20, a.type);
  return w;
}

/** NodeProto: input=1, output=2, name=3, op_type=4, attribute=5, domain=7. */
export function encodeNode(n: {
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  opType: string;
  domain?: string;
  attributes: readonly AttributeMessage[];
}): ProtoWriter {
  const w = new ProtoWriter();
  for (let i = 0; i < n.inputs.length; i++) w.string(1, n.inputs[i] as string);
  for (let i = 0; i < n.outputs.length; i++) w.string(2, n.outputs[i] as string);
  if (n.name !== undefined) w.string(3, n.name);
  w.string(4, n.opType);
  for (let i = 0; i < n.attributes.length; i++) w.message(5, encodeAttribute(n.attributes[i] as AttributeMessage));
  if (n.domain !== undefined && n.domain !== '') w.string(7, n.domain);
  return w;
}

/**
 * ValueInfoProto (name=1, type=2) with TypeProto.tensor_type=1, TypeProto.Tensor (elem_type=1,
 * shape=2), TensorShapeProto.dim=1, Dimension (dim_value=1, dim_param=2). `dims` undefined = no
 * shape (rank unknown).
 */
export function encodeValueInfo(name: string, elemType: number, dims: readonly (number | string)[] | undefined): ProtoWriter {
  const tensorType = new ProtoWriter();
  tensorType.int(1, elemType);
  if (dims !== undefined) {
    const shape = new ProtoWriter();
    for (let i = 0; i < dims.length; i++) {
      const d = dims[i] as number | string;
      const dim = new ProtoWriter();
      if (typeof d === 'string') dim.string(2, d);
      else dim.int(1, d);
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  const type = new ProtoWriter();
  type.message(1, tensorType);
  const w = new ProtoWriter();
  w.string(1, name);
  w.message(2, type);
  return w;
}

/** GraphProto: node=1, name=2, initializer=5, input=11, output=12, value_info=13. */
export function encodeGraph(g: {
  name: string;
  nodes: readonly ProtoWriter[];
  initializers: readonly ProtoWriter[];
  inputs: readonly ProtoWriter[];
  outputs: readonly ProtoWriter[];
  valueInfo: readonly ProtoWriter[];
}): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, n);
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, t);
  for (const v of g.inputs) w.message(11, v);
  for (const v of g.outputs) w.message(12, v);
  for (const v of g.valueInfo) w.message(13, v);
  return w;
}

/** ModelProto: ir_version=1, producer_name=2, producer_version=3, graph=7, opset_import=8 (OperatorSetIdProto: domain=1, version=2). */
export function encodeModel(m: {
  irVersion: number;
  producerName: string;
  producerVersion?: string;
  graph: ProtoWriter;
  opsets: readonly { domain: string; version: number }[];
}): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, m.irVersion);
  w.string(2, m.producerName);
  if (m.producerVersion !== undefined) w.string(3, m.producerVersion);
  w.message(7, m.graph);
  for (const o of m.opsets) {
    const op = new ProtoWriter();
    if (o.domain !== '') op.string(1, o.domain);
    op.int(2, o.version);
    w.message(8, op);
  }
  return w.finish();
}
