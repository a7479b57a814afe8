/**
 * Protocol-neutral tensors: what the front ends decode requests into and what the runtime
 * consumes. Datatype names are the Open Inference Protocol's (Triton's) strings.
 */
export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

export type NumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/** BYTES tensors hold one Buffer per element; every other datatype a typed array. */
export type TensorData = NumericArray | Buffer[];

export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
  /** the data already written as JSON text, off the event loop (set when a front end asked for it) */
  json?: JsonText;
}

/** A tensor's data as JSON text, rendered by the worker thread that ran it (runtime/json-render.ts). */
export interface JsonText {
  /** UTF-8: a flat array (layout 'flat'), or nested by shape (layout 'rows') */
  bytes: Uint8Array;
  layout: 'flat' | 'rows';
  /** layout 'rows': the byte range of each row's text, as [start, end) pairs */
  rows?: Uint32Array;
  /** set (with empty bytes) when the request's JSON text passed this limit, in bytes */
  overLimit?: number;
}

interface DatatypeInfo {
  /** bytes per element; 0 for BYTES */
  size: number;
  /** the typed array that holds it (BOOL and FP16 are stored as raw bytes/uint16) */
  array?: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericArray; new (length: number): NumericArray };
  /** onnxruntime-node's tensor type string */
  ort: string;
  /** ONNX TensorProto.DataType number */
  onnx: number;
}

export const DATATYPES: Record<Datatype, DatatypeInfo> = {
  BOOL: { size: 1, array: Uint8Array, ort: 'bool', onnx: 9 },
  UINT8: { size: 1, array: Uint8Array, ort: 'uint8', onnx: 2 },
  UINT16: { size: 2, array: Uint16Array, ort: 'uint16', onnx: 4 },
  UINT32: { size: 4, array: Uint32Array, ort: 'uint32', onnx: 12 },
  UINT64: { size: 8, array: BigUint64Array, ort: 'uint64', onnx: 13 },
  INT8: { size: 1, array: Int8Array, ort: 'int8', onnx: 3 },
  INT16: { size: 2, array: Int16Array, ort: 'int16', onnx: 5 },
  INT32: { size: 4, array: Int32Array, ort: 'int32', onnx: 6 },
  INT64: { size: 8, array: BigInt64Array, ort: 'int64', onnx: 7 },
  FP16: { size: 2, array: Uint16Array, ort: 'float16', onnx: 10 },
  FP32: { size: 4, array: Float32Array, ort: 'float32', onnx: 1 },
  FP64: { size: 8, array: Float64Array, ort: 'float64', onnx: 11 },
  BYTES: { size: 0, ort: 'string', onnx: 8 },
};

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && Object.hasOwn(DATATYPES, value);
}

const ONNX_TO_DATATYPE = new Map<number, Datatype>(
  Object.entries(DATATYPES).map(([name, info]) => [info.onnx, name as Datatype]),
);
const ORT_TO_DATATYPE = new Map<string, Datatype>(
  Object.entries(DATATYPES).map(([name, info]) => [info.ort, name as Datatype]),
);

export function datatypeFromOnnx(elemType: number): Datatype | undefined {
  return ONNX_TO_DATATYPE.get(elemType);
}

export function datatypeFromOrt(type: string): Datatype | undefined {
  return ORT_TO_DATATYPE.get(type);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Byte length of a tensor's data in the binary wire form (BYTES: 4-byte length prefixes). */
export function byteLength(tensor: Tensor): number {
  if (tensor.datatype === 'BYTES') {
    let n = 0;
    for (const b of tensor.data as Buffer[]) n += 4 + b.length;
    return n;
  }
  return (tensor.data as NumericArray).byteLength;
}

/** Views a little-endian byte buffer as the datatype's typed array (copying only if unaligned). */
export function numericFromBytes(datatype: Exclude<Datatype, 'BYTES'>, bytes: Uint8Array): NumericArray {
  const info = DATATYPES[datatype];
  const Ctor = info.array!;
  if (bytes.byteLength % info.size !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${datatype} elements`);
  }
  const length = bytes.byteLength / info.size;
  if (bytes.byteOffset % info.size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, length);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, length);
}

/** Decodes BYTES wire form: each element a uint32 little-endian length then its bytes. */
export function decodeBytesElements(bytes: Uint8Array): Buffer[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Buffer[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (offset + 4 > buf.length) throw new RangeError('truncated BYTES element length');
    const len = buf.readUInt32LE(offset);
    offset += 4;
    if (offset + len > buf.length) throw new RangeError('truncated BYTES element');
    out.push(buf.subarray(offset, offset + len));
    offset += len;
  }
  return out;
}

export function encodeBytesElements(elements: readonly Buffer[]): Buffer {
  let total = 0;
  for (const e of elements) total += 4 + e.length;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const e of elements) {
    out.writeUInt32LE(e.length, offset);
    offset += 4;
    e.copy(out, offset);
    offset += e.length;
  }
  return out;
}

/** The tensor's data as little-endian bytes (a view, not a copy, for numeric types). */
export function tensorBytes(tensor: Tensor): Uint8Array {
  if (tensor.datatype === 'BYTES') return encodeBytesElements(tensor.data as Buffer[]);
  const a = tensor.data as NumericArray;
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
