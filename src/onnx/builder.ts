/**
 * `OnnxGraphBuilder`: describe an ONNX graph (inputs, initializers, nodes, outputs) in code and
 * serialise it to a ModelProto with protobufjs over ONNX's own onnx.proto (`onnx-proto.ts`).
 *
 * Generic on purpose: the scorer export (`scorer/mlp.ts`) builds inference graphs with it and the
 * trainer builds training graphs (forward + hand-written backward) with the same calls.
 *
 * ```ts
 * const g = new OnnxGraphBuilder('demo');
 * g.addInput('x', 'float32', ['N', 4]);
 * g.addInitializer('W', new Float32Array(8), [2, 4]);
 * g.addNode('Gemm', ['x', 'W'], ['y'], { transB: attrInt(1), alpha: attrFloat(1) });
 * g.addOutput('y', 'float32', ['N', 2]);
 * const bytes = g.toBytes({ opset: 17 });
 * ```
 *
 * Attribute values are typed explicitly (`attrInt`, `attrFloat`, ...) because ONNX distinguishes
 * INT from FLOAT attributes and a JS number cannot tell them apart (Gemm's `alpha` must be a
 * FLOAT even when it is 1; `transB` must be an INT).
 *
 * Validation (each failure throws MPE_ERR_ONNX_GRAPH with the offending name):
 * - names are non-empty strings; every value name is defined once (input, initializer or node
 *   output);
 * - every node input is defined BEFORE the node is added (so nodes are topologically sorted, as
 *   ONNX requires); `''` stands for an omitted optional input and is always allowed;
 * - initializer data length equals the product of its dims; dims are non-negative integers;
 * - INT attributes are integers; every graph output names a defined value (checked in `toBytes`).
 */
import { MpeError } from '../errors.js';
import {
  type AttributeProto,
  AttributeType,
  encodeModelProto,
  int64,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  TensorDataType,
  type ValueInfoProto,
  valueInfo,
} from './onnx-proto.js';

const textEncoder = new TextEncoder();
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian bytes of a typed array with `width`-byte elements (a view on little-endian hosts, a swapped copy otherwise). */
function littleEndianBytes(a: TensorData, width: number): Uint8Array {
  const view = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (HOST_LITTLE_ENDIAN || width === 1) return view;
  const out = new Uint8Array(view.length);
  for (let i = 0; i < view.length; i += width) {
    for (let k = 0; k < width; k++) out[i + k] = view[i + width - 1 - k] as number;
  }
  return out;
}

/** Element types graph inputs and outputs may declare. */
export type ElemType = 'float32' | 'int64' | 'int32' | 'bool' | 'uint8' | 'float64';

const ELEM_TYPE_CODES: Readonly<Record<ElemType, number>> = Object.freeze({
  float32: TensorDataType.FLOAT,
  int64: TensorDataType.INT64,
  int32: TensorDataType.INT32,
  bool: TensorDataType.BOOL,
  uint8: TensorDataType.UINT8,
  float64: TensorDataType.DOUBLE,
});

/** A dimension: a fixed size, or a symbolic name such as `'N'` for the batch. */
export type Dim = number | string;

/** Data an initializer (or tensor attribute) may hold; the type decides the ONNX data type. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** An explicitly typed attribute value; build with {@link attrInt}, {@link attrFloat}, etc. */
export type AttrValue =
  | { readonly kind: 'int'; readonly value: number | bigint }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'ints'; readonly value: readonly (number | bigint)[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'strings'; readonly value: readonly string[] }
  | { readonly kind: 'tensor'; readonly value: TensorData; readonly dims: readonly number[] };

/** INT attribute (e.g. Gemm `transB`, ReduceMean `keepdims`, Concat `axis`). */
export const attrInt = (value: number | bigint): AttrValue => ({ kind: 'int', value });
/** FLOAT attribute (e.g. Gemm `alpha`, BatchNormalization `epsilon`). */
export const attrFloat = (value: number): AttrValue => ({ kind: 'float', value });
/** STRING attribute. */
export const attrString = (value: string): AttrValue => ({ kind: 'string', value });
/** INTS attribute (e.g. ReduceMean `axes` before opset 18, Transpose `perm`). */
export const attrInts = (value: readonly (number | bigint)[]): AttrValue => ({ kind: 'ints', value });
/** FLOATS attribute. */
export const attrFloats = (value: readonly number[]): AttrValue => ({ kind: 'floats', value });
/** STRINGS attribute. */
export const attrStrings = (value: readonly string[]): AttrValue => ({ kind: 'strings', value });
/** TENSOR attribute (e.g. Constant `value`, ConstantOfShape `value`). */
export const attrTensor = (value: TensorData, dims: readonly number[]): AttrValue => ({ kind: 'tensor', value, dims });

/** Options of {@link OnnxGraphBuilder.toBytes}. */
export interface ToBytesOptions {
  /** Default-domain opset version (default 17). Note ReduceMean/ReduceSum take `axes` as an INPUT from opset 18 (ReduceSum: 13). */
  opset?: number;
  /** ModelProto.ir_version (default 8, which onnxruntime 1.30 reads for opsets up to 18; use 9/10 for newer opsets). */
  irVersion?: number;
  /** ModelProto.producer_name (default 'mpe-serve'). */
  producer?: string;
  producerVersion?: string;
  /** Extra operator-set imports, e.g. `{ 'com.microsoft': 1 }`. */
  extraOpsets?: Readonly<Record<string, number>>;
}

/** Options of {@link OnnxGraphBuilder.addNode}. */
export interface NodeOptions {
  /** NodeProto.name (default `<opType>_<index>`). */
  name?: string;
  /** Operator domain (default: the ONNX default domain). */
  domain?: string;
}

function graphError(detail: string): MpeError {
  return new MpeError('MPE_ERR_ONNX_GRAPH', detail);
}

function checkName(what: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) throw graphError(`${what} name must be a non-empty string, got ${JSON.stringify(name)}`);
}

function checkDims(what: string, dims: readonly unknown[], allowSymbolic: boolean): void {
  if (!Array.isArray(dims)) throw graphError(`${what}: dims must be an array`);
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (typeof d === 'string' && allowSymbolic && d.length > 0) continue;
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw graphError(`${what}: dim ${i} must be a non-negative integer${allowSymbolic ? ' or a symbol name' : ''}, got ${JSON.stringify(d)}`);
    }
  }
}

function tensorDataType(data: TensorData): { code: number; width: number } {
  if (data instanceof Float32Array) return { code: TensorDataType.FLOAT, width: 4 };
  if (data instanceof BigInt64Array) return { code: TensorDataType.INT64, width: 8 };
  if (data instanceof Int32Array) return { code: TensorDataType.INT32, width: 4 };
  if (data instanceof Float64Array) return { code: TensorDataType.DOUBLE, width: 8 };
  if (data instanceof Uint8Array) return { code: TensorDataType.UINT8, width: 1 };
  throw graphError('tensor data must be a Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array');
}

function tensorMessage(what: string, data: TensorData, dims: readonly number[], name?: string): TensorProto {
  checkDims(what, dims, false);
  let count = 1;
  for (let i = 0; i < dims.length; i++) count *= dims[i] as number;
  const { code, width } = tensorDataType(data);
  if (data.length !== count) throw graphError(`${what}: data has ${data.length} elements but dims [${dims.join(', ')}] need ${count}`);
  const msg: TensorProto = { dims: dims.slice(), data_type: code, raw_data: littleEndianBytes(data, width) };
  if (name !== undefined) msg.name = name;
  return msg;
}

function attributeMessage(node: string, name: string, a: AttrValue): AttributeProto {
  const what = `node ${node} attribute ${name}`;
  switch (a?.kind) {
    case 'int':
      if (typeof a.value !== 'bigint' && !Number.isSafeInteger(a.value)) throw graphError(`${what}: INT attribute must be an integer, got ${a.value}`);
      return { name, type: AttributeType.INT, i: int64(a.value) };
    case 'float':
      if (typeof a.value !== 'number') throw graphError(`${what}: FLOAT attribute must be a number`);
      return { name, type: AttributeType.FLOAT, f: a.value };
    case 'string':
      return { name, type: AttributeType.STRING, s: textEncoder.encode(String(a.value)) };
    case 'ints':
      for (const v of a.value) {
        if (typeof v !== 'bigint' && !Number.isSafeInteger(v)) throw graphError(`${what}: INTS attribute must hold integers, got ${v}`);
      }
      return { name, type: AttributeType.INTS, ints: a.value.map(int64) };
    case 'floats':
      return { name, type: AttributeType.FLOATS, floats: a.value.slice() };
    case 'strings':
      return { name, type: AttributeType.STRINGS, strings: a.value.map((v) => textEncoder.encode(v)) };
    case 'tensor':
      return { name, type: AttributeType.TENSOR, t: tensorMessage(what, a.value, a.dims) };
    default:
      throw graphError(`${what}: value must come from attrInt/attrFloat/attrString/attrInts/attrFloats/attrStrings/attrTensor`);
  }
}

interface NodeRecord {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name: string;
  domain: string | undefined;
  attributes: AttributeProto[];
}

/** Builds one ONNX graph and serialises it as a model. See the module comment for the rules it enforces. */
export class OnnxGraphBuilder {
  /** GraphProto.name. */
  readonly name: string;
  private readonly defined = new Set<string>();
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: { name: string; elemType: number; dims: readonly Dim[] | undefined }[] = [];
  private readonly outputNames = new Set<string>();
  private readonly initializers: TensorProto[] = [];
  private readonly nodes: NodeRecord[] = [];
  private readonly valueInfo: ValueInfoProto[] = [];

  constructor(name = 'graph') {
    checkName('graph', name);
    this.name = name;
  }

  private define(what: string, name: string): void {
    checkName(what, name);
    if (this.defined.has(name)) throw graphError(`${what} ${JSON.stringify(name)} is already defined (inputs, initializers and node outputs share one namespace)`);
    this.defined.add(name);
  }

  /** True when `name` is a graph input, an initializer or a node output already added. */
  has(name: string): boolean {
    return this.defined.has(name);
  }

  /** Declares a graph input. `dims` entries are sizes or symbolic names (`'N'`); omit `dims` for an unknown shape. */
  addInput(name: string, elemType: ElemType, dims?: readonly Dim[]): this {
    const code = elemTypeCode(name, elemType);
    if (dims !== undefined) checkDims(`input ${name}`, dims, true);
    this.define('input', name);
    this.inputs.push(valueInfo(name, code, dims));
    return this;
  }

  /** Declares a graph output; it must name a value defined by the time `toBytes` runs. */
  addOutput(name: string, elemType: ElemType, dims?: readonly Dim[]): this {
    checkName('output', name);
    const code = elemTypeCode(name, elemType);
    if (dims !== undefined) checkDims(`output ${name}`, dims, true);
    if (this.outputNames.has(name)) throw graphError(`output ${JSON.stringify(name)} is declared twice`);
    this.outputNames.add(name);
    this.outputs.push({ name, elemType: code, dims: dims?.slice() });
    return this;
  }

  /** Optional shape annotation of an intermediate value (GraphProto.value_info). */
  addValueInfo(name: string, elemType: ElemType, dims?: readonly Dim[]): this {
    checkName('value_info', name);
    const code = elemTypeCode(name, elemType);
    if (dims !== undefined) checkDims(`value_info ${name}`, dims, true);
    this.valueInfo.push(valueInfo(name, code, dims));
    return this;
  }

  /**
   * Adds a constant tensor. The data is referenced, not copied, until `toBytes` (do not mutate it
   * in between). Float32Array -> FLOAT, BigInt64Array -> INT64, Int32Array -> INT32,
   * Float64Array -> DOUBLE, Uint8Array -> UINT8. A 0-d scalar has `dims = []`.
   */
  addInitializer(name: string, data: TensorData, dims: readonly number[]): this {
    checkName('initializer', name);
    const msg = tensorMessage(`initializer ${name}`, data, dims, name);
    this.define('initializer', name);
    this.initializers.push(msg);
    return this;
  }

  /**
   * Adds a node. Every non-empty input must already be defined; outputs must be new names.
   * @returns the output names, for chaining (`const [h] = g.addNode('Relu', [x], ['h'])`).
   */
  addNode(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, opts: NodeOptions = {}): string[] {
    checkName('op_type', opType);
    const nodeName = opts.name ?? `${opType}_${this.nodes.length}`;
    checkName('node', nodeName);
    if (!Array.isArray(inputs) || !Array.isArray(outputs)) throw graphError(`node ${nodeName}: inputs and outputs must be arrays`);
    if (outputs.length === 0) throw graphError(`node ${nodeName}: a node needs at least one output`);
    for (let i = 0; i < inputs.length; i++) {
      const inp = inputs[i];
      if (inp === '') continue;
      checkName(`node ${nodeName} input`, inp);
      if (!this.defined.has(inp)) throw graphError(`node ${nodeName} (${opType}) uses ${JSON.stringify(inp)} before it is defined: add the input, initializer or producing node first`);
    }
    const attributes: AttributeProto[] = [];
    for (const key of Object.keys(attrs)) {
      checkName(`node ${nodeName} attribute`, key);
      attributes.push(attributeMessage(nodeName, key, attrs[key] as AttrValue));
    }
    const seen = new Set<string>();
    for (let i = 0; i < outputs.length; i++) {
      const out = outputs[i] as string;
      checkName(`node ${nodeName} output`, out);
      if (seen.has(out) || this.defined.has(out)) throw graphError(`node ${nodeName} output ${JSON.stringify(out)} is already defined (outputs must be unique)`);
      seen.add(out);
    }
    for (const out of outputs) this.defined.add(out);
    this.nodes.push({ opType, inputs: inputs.slice(), outputs: outputs.slice(), name: nodeName, domain: opts.domain, attributes });
    return outputs.slice();
  }

  /** Serialises the model (ModelProto bytes, ready for `ort.InferenceSession.create`). */
  toBytes(opts: ToBytesOptions = {}): Uint8Array {
    const opset = opts.opset ?? 17;
    const irVersion = opts.irVersion ?? 8;
    if (!Number.isSafeInteger(opset) || opset < 1) throw graphError(`opset must be a positive integer, got ${opset}`);
    if (!Number.isSafeInteger(irVersion) || irVersion < 3) throw graphError(`irVersion must be an integer >= 3, got ${irVersion}`);
    if (this.outputs.length === 0) throw graphError('the graph has no outputs: call addOutput');
    for (const o of this.outputs) {
      if (!this.defined.has(o.name)) throw graphError(`output ${JSON.stringify(o.name)} is not produced by any input, initializer or node`);
    }
    const opsets: ModelProto['opset_import'] = [{ version: opset }];
    for (const [domain, version] of Object.entries(opts.extraOpsets ?? {})) {
      if (!Number.isSafeInteger(version) || version < 1) throw graphError(`opset version of domain ${domain} must be a positive integer`);
      opsets.push(domain === '' ? { version } : { domain, version });
    }
    const model: ModelProto = {
      ir_version: irVersion,
      producer_name: opts.producer ?? 'mpe-serve',
      graph: {
        node: this.nodes.map((n) => {
          const msg: NodeProto = { input: n.inputs.slice(), output: n.outputs.slice(), name: n.name, op_type: n.opType, attribute: n.attributes };
          if (n.domain !== undefined && n.domain !== '') msg.domain = n.domain;
          return msg;
        }),
        name: this.name,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs.map((o) => valueInfo(o.name, o.elemType, o.dims)),
        value_info: this.valueInfo,
      },
      opset_import: opsets,
    };
    if (opts.producerVersion !== undefined) model.producer_version = opts.producerVersion;
    return encodeModelProto(model);
  }
}

function elemTypeCode(name: string, elemType: ElemType): number {
  const code = Object.hasOwn(ELEM_TYPE_CODES, elemType) ? ELEM_TYPE_CODES[elemType] : undefined;
  if (code === undefined) throw graphError(`${name}: unknown element type ${JSON.stringify(elemType)} (use ${Object.keys(ELEM_TYPE_CODES).join(', ')})`);
  return code;
}
