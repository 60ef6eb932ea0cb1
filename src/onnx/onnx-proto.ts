/**
 * ONNX's protobuf schema (proto/onnx/onnx.proto, vendored unmodified) loaded with protobufjs once,
 * on first use, and the ModelProto encoder `OnnxGraphBuilder.toBytes` calls. Field names are
 * onnx.proto's own (`raw_data`, `op_type`, ...): `keepCase` is on.
 *
 * protobufjs writes the fields of a message in field-number order, proto2 repeated scalars
 * unpacked, floats as fixed32 and int64 as two's-complement varints: byte for byte what the
 * hand-written encoder this replaces wrote (checked on the scorer, training and test graphs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** TensorProto.DataType values used here. */
export const TensorDataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

/** AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

/** An int64 as protobufjs takes it: a safe-integer number, or 32-bit halves (exact for any bigint). */
export type Int64 = number | { readonly low: number; readonly high: number; readonly unsigned: false };

/** int64 of a number or bigint, exactly. */
export function int64(v: number | bigint): Int64 {
  return typeof v === 'bigint' ? { low: Number(BigInt.asIntN(32, v)), high: Number(BigInt.asIntN(32, v >> 32n)), unsigned: false } : v;
}

/** TensorProto as written here. */
export interface TensorProto {
  dims: Int64[];
  data_type: number;
  name?: string;
  /** Little-endian element bytes. */
  raw_data: Uint8Array;
}

/** AttributeProto as written here (one of f, i, s, t, floats, ints, strings). */
export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
}

/** NodeProto as written here. */
export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  op_type: string;
  attribute: AttributeProto[];
  domain?: string;
}

/** ValueInfoProto of a tensor: element type and optional shape (dim_value or dim_param per dimension). */
export interface ValueInfoProto {
  name: string;
  type: { tensor_type: { elem_type: number; shape?: { dim: ({ dim_value: Int64 } | { dim_param: string })[] } } };
}

/** ModelProto as written here. */
export interface ModelProto {
  ir_version: Int64;
  producer_name: string;
  producer_version?: string;
  graph: {
    node: NodeProto[];
    name: string;
    initializer: TensorProto[];
    input: ValueInfoProto[];
    output: ValueInfoProto[];
    value_info: ValueInfoProto[];
  };
  opset_import: { domain?: string; version: Int64 }[];
}

/** ValueInfoProto of a tensor value; `dims` undefined = no shape (rank unknown). */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[] | undefined): ValueInfoProto {
  const tensorType: ValueInfoProto['type']['tensor_type'] = { elem_type: elemType };
  if (dims !== undefined) tensorType.shape = { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) };
  return { name, type: { tensor_type: tensorType } };
}

/** Path of the vendored onnx.proto (from src/ under tsx, or from dist/src/). */
function onnxProtoPath(): string {
  for (const rel of ['../../proto/onnx/onnx.proto', '../../../proto/onnx/onnx.proto']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('proto/onnx/onnx.proto not found next to the package');
}

let modelType: protobuf.Type | null = null;

/** Encodes a ModelProto (the schema is parsed on the first call). */
export function encodeModelProto(m: ModelProto): Uint8Array {
  modelType ??= protobuf.parse(readFileSync(onnxProtoPath(), 'utf8'), { keepCase: true }).root.lookupType('onnx.ModelProto');
  // protobufjs hands back a Buffer (possibly a slice of Node's shared pool): return a plain
  // Uint8Array of its own, as the encoder this replaced did.
  return new Uint8Array(modelType.encode(m as unknown as Record<string, unknown>).finish());
}
