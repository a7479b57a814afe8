/**
 * Small graph-construction API, in the spirit of onnx.helper: enough to build test models,
 * rewrite graphs, and emit the models our converters produce.
 */
import { ELEM_TYPES, makeTensor as makeAnyTensor } from './tensor.js';
import {
  AttributeType,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type TensorShapeDimension,
  type TypedArray,
  type ValueInfoProto,
} from './types.js';

export type ElemType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

export type AttributeValue =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: number[] }
  | { floats: number[] }
  | { strings: string[] }
  | { tensor: TensorProto }
  | { graph: GraphProto };

/** Numeric values go to raw_data; see tensor.ts makeTensor for float16, bool and int64 inputs. */
export function makeTensor(
  name: string,
  elemType: ElemType,
  dims: number[],
  values: ArrayLike<number> | ArrayLike<bigint> | string[] | TypedArray,
): TensorProto {
  return makeAnyTensor(name, elemType, dims, values);
}

const utf8 = new TextEncoder();

export function makeAttribute(name: string, value: AttributeValue): AttributeProto {
  if ('int' in value) {
    if (!Number.isInteger(value.int)) throw new Error(`attribute '${name}': int value ${value.int} is not an integer`);
    return { name, type: AttributeType.INT, i: value.int };
  }
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('string' in value) return { name, type: AttributeType.STRING, s: utf8.encode(value.string) };
  if ('ints' in value) {
    const bad = value.ints.find((v) => !Number.isInteger(v));
    if (bad !== undefined) throw new Error(`attribute '${name}': ints value ${bad} is not an integer`);
    return { name, type: AttributeType.INTS, ints: [...value.ints] };
  }
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: [...value.floats] };
  if ('strings' in value) return { name, type: AttributeType.STRINGS, strings: value.strings.map((s) => utf8.encode(s)) };
  if ('tensor' in value) return { name, type: AttributeType.TENSOR, t: value.tensor };
  if ('graph' in value) return { name, type: AttributeType.GRAPH, g: value.graph };
  throw new Error(`attribute '${name}': unsupported value ${JSON.stringify(value)}`);
}

/** Attributes are written sorted by name, as onnx.helper.make_node does, so output is deterministic. */
export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  attributes?: Record<string, AttributeValue>,
  options?: { name?: string; domain?: string },
): NodeProto {
  const node: NodeProto = {
    input: [...inputs],
    output: [...outputs],
    opType,
    attribute: Object.keys(attributes ?? {})
      .sort()
      .map((k) => makeAttribute(k, attributes![k])),
  };
  if (options?.name !== undefined) node.name = options.name;
  if (options?.domain !== undefined) node.domain = options.domain;
  return node;
}

/** A tensor value: a number dimension is fixed, a string is symbolic (dim_param), null is unknown. */
export function makeValueInfo(name: string, elemType: ElemType, shape: (number | string | null)[]): ValueInfoProto {
  const dim = shape.map((d): TensorShapeDimension => {
    if (d === null) return {};
    if (typeof d === 'string') return { dimParam: d };
    if (!Number.isInteger(d) || d < 0) throw new Error(`value '${name}': invalid dimension ${d}`);
    return { dimValue: d };
  });
  return { name, type: { tensorType: { elemType: ELEM_TYPES[elemType], shape: { dim } } } };
}

export function makeGraph(spec: {
  name: string;
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers?: TensorProto[];
}): GraphProto {
  return {
    name: spec.name,
    node: [...spec.nodes],
    input: [...spec.inputs],
    output: [...spec.outputs],
    initializer: [...(spec.initializers ?? [])],
  };
}

export function makeModel(spec: {
  graph: GraphProto;
  opsetImports?: { domain: string; version: number }[];
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
}): ModelProto {
  const model: ModelProto = {
    irVersion: spec.irVersion ?? 8,
    producerName: spec.producerName ?? 'berth',
    graph: spec.graph,
    opsetImport: (spec.opsetImports ?? [{ domain: '', version: 13 }]).map((o) => ({ domain: o.domain, version: o.version })),
  };
  if (spec.producerVersion !== undefined) model.producerVersion = spec.producerVersion;
  return model;
}

/** A node's attribute by name. */
export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

const utf8Decoder = new TextDecoder();

/**
 * An attribute's value as a plain JS value, chosen by its `type`: number (or bigint for int64
 * values beyond 2^53), string, arrays of those, or the tensor/graph/sparse tensor/type proto.
 */
export function attributeValue(a: AttributeProto): unknown {
  switch (a.type) {
    case AttributeType.FLOAT: return a.f ?? 0;
    case AttributeType.INT: return a.i ?? 0;
    case AttributeType.STRING: return utf8Decoder.decode(a.s ?? new Uint8Array());
    case AttributeType.TENSOR: return a.t;
    case AttributeType.GRAPH: return a.g;
    case AttributeType.SPARSE_TENSOR: return a.sparseTensor;
    case AttributeType.TYPE_PROTO: return a.tp;
    case AttributeType.FLOATS: return a.floats ?? [];
    case AttributeType.INTS: return a.ints ?? [];
    case AttributeType.STRINGS: return (a.strings ?? []).map((s) => utf8Decoder.decode(s));
    case AttributeType.TENSORS: return a.tensors ?? [];
    case AttributeType.GRAPHS: return a.graphs ?? [];
    case AttributeType.SPARSE_TENSORS: return a.sparseTensors ?? [];
    case AttributeType.TYPE_PROTOS: return a.typeProtos ?? [];
    default: return undefined;
  }
}
