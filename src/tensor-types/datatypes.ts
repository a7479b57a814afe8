/**
 * The one table of tensor datatypes. Names are the Open Inference Protocol's (KServe v2,
 * Triton); each row says what the other worlds call the same type: the ONNX TensorProto
 * element type, onnxruntime-node's tensor type string, NumPy's dtype, and how many bytes an
 * element takes and which typed array holds it here.
 *
 * A leaf: it imports only the ONNX element-type numbers (src/onnx/ imports nothing of berth),
 * so the serving core, the runtime, the dataset readers and the front ends can all derive
 * their views from it. The functions are named after what they map from and return any row of
 * this table; the core's `datatypeFromOnnx`/`datatypeFromOrt` narrow to the datatypes served,
 * and the dataset readers' helpers to the numeric ones.
 */
import { ELEM_TYPES } from '../onnx/elem-types.js';

export type TensorDatatype =
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
  | 'BF16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

export type DatatypeArray =
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

export interface DatatypeArrayConstructor {
  new (length: number): DatatypeArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): DatatypeArray;
  readonly BYTES_PER_ELEMENT: number;
}

export interface DatatypeInfo {
  /** bytes per element; 0 for BYTES (each element is a byte string of its own length) */
  readonly size: number;
  /** what values are: 0/1 (bool), integers (uint, int), floating point, or byte strings */
  readonly kind: 'bool' | 'uint' | 'int' | 'float' | 'bytes';
  /** the typed array that holds the values: BOOL as 0/1 bytes, FP16 and BF16 as their 16-bit patterns; none for BYTES */
  readonly array?: DatatypeArrayConstructor;
  /** ONNX TensorProto.DataType number */
  readonly onnx: number;
  /** onnxruntime-node's tensor type string; none for BF16, which onnxruntime-node's JS tensors cannot hold */
  readonly ort?: string;
  /** NumPy dtype name and type code without byte order ('f4', 'b1', 'O'); none for BF16 (NumPy has no bfloat16) */
  readonly numpy?: { readonly name: string; readonly code: string };
}

export const TENSOR_DATATYPES: Readonly<Record<TensorDatatype, DatatypeInfo>> = Object.freeze({
  BOOL: { size: 1, kind: 'bool', array: Uint8Array, onnx: ELEM_TYPES.bool, ort: 'bool', numpy: { name: 'bool', code: 'b1' } },
  UINT8: { size: 1, kind: 'uint', array: Uint8Array, onnx: ELEM_TYPES.uint8, ort: 'uint8', numpy: { name: 'uint8', code: 'u1' } },
  UINT16: { size: 2, kind: 'uint', array: Uint16Array, onnx: ELEM_TYPES.uint16, ort: 'uint16', numpy: { name: 'uint16', code: 'u2' } },
  UINT32: { size: 4, kind: 'uint', array: Uint32Array, onnx: ELEM_TYPES.uint32, ort: 'uint32', numpy: { name: 'uint32', code: 'u4' } },
  UINT64: { size: 8, kind: 'uint', array: BigUint64Array, onnx: ELEM_TYPES.uint64, ort: 'uint64', numpy: { name: 'uint64', code: 'u8' } },
  INT8: { size: 1, kind: 'int', array: Int8Array, onnx: ELEM_TYPES.int8, ort: 'int8', numpy: { name: 'int8', code: 'i1' } },
  INT16: { size: 2, kind: 'int', array: Int16Array, onnx: ELEM_TYPES.int16, ort: 'int16', numpy: { name: 'int16', code: 'i2' } },
  INT32: { size: 4, kind: 'int', array: Int32Array, onnx: ELEM_TYPES.int32, ort: 'int32', numpy: { name: 'int32', code: 'i4' } },
  INT64: { size: 8, kind: 'int', array: BigInt64Array, onnx: ELEM_TYPES.int64, ort: 'int64', numpy: { name: 'int64', code: 'i8' } },
  FP16: { size: 2, kind: 'float', array: Uint16Array, onnx: ELEM_TYPES.float16, ort: 'float16', numpy: { name: 'float16', code: 'f2' } },
  BF16: { size: 2, kind: 'float', array: Uint16Array, onnx: ELEM_TYPES.bfloat16 },
  FP32: { size: 4, kind: 'float', array: Float32Array, onnx: ELEM_TYPES.float32, ort: 'float32', numpy: { name: 'float32', code: 'f4' } },
  FP64: { size: 8, kind: 'float', array: Float64Array, onnx: ELEM_TYPES.float64, ort: 'float64', numpy: { name: 'float64', code: 'f8' } },
  BYTES: { size: 0, kind: 'bytes', onnx: ELEM_TYPES.string, ort: 'string', numpy: { name: 'object', code: 'O' } },
});

export function isTensorDatatype(value: unknown): value is TensorDatatype {
  return typeof value === 'string' && Object.hasOwn(TENSOR_DATATYPES, value);
}

const ROWS = Object.entries(TENSOR_DATATYPES) as [TensorDatatype, DatatypeInfo][];
const BY_ONNX = new Map<number, TensorDatatype>(ROWS.map(([name, info]) => [info.onnx, name]));
const BY_ORT = new Map<string, TensorDatatype>(ROWS.filter(([, info]) => info.ort).map(([name, info]) => [info.ort!, name]));
const BY_NUMPY = new Map<string, TensorDatatype>(ROWS.filter(([, info]) => info.numpy).map(([name, info]) => [info.numpy!.code, name]));

/** The row for an ONNX element type number (BF16 and BYTES included), or undefined. */
export function tensorDatatypeFromOnnx(elemType: number | undefined): TensorDatatype | undefined {
  return elemType === undefined ? undefined : BY_ONNX.get(elemType);
}

/** The row for an onnxruntime-node tensor type string ('float32', 'string', ...), or undefined. */
export function tensorDatatypeFromOrt(type: string): TensorDatatype | undefined {
  return BY_ORT.get(type);
}

/** The row for a NumPy type code without byte order ('f4', 'b1', 'O'), or undefined. */
export function tensorDatatypeFromNumpy(code: string): TensorDatatype | undefined {
  return BY_NUMPY.get(code);
}
