/**
 * ONNX messages as plain data objects, with the camelCase field names protobufjs uses.
 *
 * Conventions (what decodeModel produces and what encodeModel accepts):
 * - an optional field that is absent in the bytes is `undefined` (not a default value), so
 *   presence survives a round trip: a field written as 0 stays written;
 * - repeated fields are always arrays after decoding (possibly empty). When building messages by
 *   hand they may be left out, except the few every consumer iterates (node inputs/outputs/
 *   attributes, graph nodes/initializers/inputs/outputs, model opset imports), which the types
 *   require so reading code needs no `?? []`;
 * - `bytes` fields are Uint8Array (after decoding: views into the decoded buffer, not copies);
 * - int64 fields decode to a JS `number` when the value is a safe integer (|v| <= 2^53 - 1) and to
 *   a `bigint` otherwise, so no value is ever rounded. Fields where large values really occur
 *   (attribute `i`/`ints`, e.g. INT64_MAX as "to the end" in Slice; `int64Data`, `uint64Data`)
 *   are typed `Int64`. Structural fields (dims, dim values, versions, offsets) are typed `number`:
 *   a value there beyond 2^53 cannot describe a real tensor, and would decode as a bigint;
 * - fields this schema does not know are kept in `$unknowns` (raw wire bytes) and written back.
 */

/** An int64 value: a number when it is a safe integer, a bigint when it is not. */
export type Int64 = number | bigint;

/** Raw wire bytes of fields the schema does not know, in the order they were read. */
export interface Unknowns {
  $unknowns?: Uint8Array[];
}

export interface StringStringEntryProto extends Unknowns {
  key?: string;
  value?: string;
}

export interface OperatorSetIdProto extends Unknowns {
  /** '' (or absent) is the default ONNX domain 'ai.onnx' */
  domain?: string;
  version?: number;
}

/** TensorProto.DataType */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
} as const;

/** TensorProto.DataLocation */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

/** AttributeProto.AttributeType */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

export interface TensorSegment extends Unknowns {
  begin?: number;
  end?: number;
}

export interface TensorProto extends Unknowns {
  dims?: number[];
  /** a DataType value */
  dataType?: number;
  segment?: TensorSegment;
  floatData?: number[];
  int32Data?: number[];
  stringData?: Uint8Array[];
  int64Data?: Int64[];
  name?: string;
  docString?: string;
  rawData?: Uint8Array;
  /** with dataLocation EXTERNAL: location, offset, length (and optionally checksum) */
  externalData?: StringStringEntryProto[];
  /** a DataLocation value */
  dataLocation?: number;
  doubleData?: number[];
  uint64Data?: Int64[];
  metadataProps?: StringStringEntryProto[];
}

export interface SparseTensorProto extends Unknowns {
  values?: TensorProto;
  indices?: TensorProto;
  dims?: number[];
}

export interface TensorShapeDimension extends Unknowns {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
}

export interface TensorShapeProto extends Unknowns {
  dim?: TensorShapeDimension[];
}

export interface TypeProtoTensor extends Unknowns {
  elemType?: number;
  shape?: TensorShapeProto;
}

export interface TypeProtoSequence extends Unknowns {
  elemType?: TypeProto;
}

export interface TypeProtoMap extends Unknowns {
  keyType?: number;
  valueType?: TypeProto;
}

export interface TypeProtoOptional extends Unknowns {
  elemType?: TypeProto;
}

export interface TypeProtoOpaque extends Unknowns {
  domain?: string;
  name?: string;
}

/** Exactly one of the `*Type` fields is set in a valid model. */
export interface TypeProto extends Unknowns {
  tensorType?: TypeProtoTensor;
  sequenceType?: TypeProtoSequence;
  mapType?: TypeProtoMap;
  optionalType?: TypeProtoOptional;
  sparseTensorType?: TypeProtoTensor;
  opaqueType?: TypeProtoOpaque;
  denotation?: string;
}

export interface ValueInfoProto extends Unknowns {
  name?: string;
  type?: TypeProto;
  docString?: string;
  metadataProps?: StringStringEntryProto[];
}

export interface AttributeProto extends Unknowns {
  name?: string;
  refAttrName?: string;
  docString?: string;
  /** an AttributeType value; says which of the value fields below is meant */
  type?: number;
  f?: number;
  i?: Int64;
  /** UTF-8 text for string attributes */
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparseTensor?: SparseTensorProto;
  tp?: TypeProto;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  sparseTensors?: SparseTensorProto[];
  typeProtos?: TypeProto[];
}

export interface NodeProto extends Unknowns {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  overload?: string;
  attribute: AttributeProto[];
  docString?: string;
  metadataProps?: StringStringEntryProto[];
}

export interface TensorAnnotation extends Unknowns {
  tensorName?: string;
  quantParameterTensorNames?: StringStringEntryProto[];
}

export interface GraphProto extends Unknowns {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  sparseInitializer?: SparseTensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
  quantizationAnnotation?: TensorAnnotation[];
  metadataProps?: StringStringEntryProto[];
}

export interface TrainingInfoProto extends Unknowns {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initializationBinding?: StringStringEntryProto[];
  updateBinding?: StringStringEntryProto[];
}

export interface FunctionProto extends Unknowns {
  name?: string;
  input?: string[];
  output?: string[];
  attribute?: string[];
  attributeProto?: AttributeProto[];
  node?: NodeProto[];
  docString?: string;
  opsetImport?: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  valueInfo?: ValueInfoProto[];
  metadataProps?: StringStringEntryProto[];
}

export interface ModelProto extends Unknowns {
  irVersion?: number;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  metadataProps?: StringStringEntryProto[];
  trainingInfo?: TrainingInfoProto[];
  functions?: FunctionProto[];
}

/** The typed arrays tensors convert to. */
export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;
