/**
 * Protocol-neutral tensors: what the front ends decode requests into and what the runtime
 * consumes. Datatype names are the Open Inference Protocol's (Triton's) strings; what each one
 * is elsewhere (size, typed array, ONNX and onnxruntime types) comes from the one table in
 * tensor-types/datatypes.ts.
 */
import { TENSOR_DATATYPES, tensorDatatypeFromOnnx, tensorDatatypeFromOrt, type DatatypeArray, type DatatypeInfo, type TensorDatatype } from '../tensor-types/datatypes.js';

/** The datatypes served: the table's rows but BF16, which onnxruntime-node's JS tensors cannot hold. */
export type Datatype = Exclude<TensorDatatype, 'BF16'>;

/** The typed arrays numeric tensors hold (the datatype table's). */
export type NumericArray = DatatypeArray;

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

/** A served datatype's row: every one has an onnxruntime-node type. */
export type ServedDatatypeInfo = DatatypeInfo & { readonly ort: string };

function servedRows(): Record<Datatype, ServedDatatypeInfo> {
  const rows = {} as Record<Datatype, ServedDatatypeInfo>;
  for (const [name, info] of Object.entries(TENSOR_DATATYPES) as [TensorDatatype, DatatypeInfo][]) {
    if (name !== 'BF16' && info.ort !== undefined) rows[name] = info as ServedDatatypeInfo;
  }
  return rows;
}

/** The table's rows for the served datatypes (the same objects). */
export const DATATYPES: Readonly<Record<Datatype, ServedDatatypeInfo>> = Object.freeze(servedRows());

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && Object.hasOwn(DATATYPES, value);
}

/** The served datatype of an ONNX element type, or undefined (bfloat16, complex, float8, ...). */
export function datatypeFromOnnx(elemType: number): Datatype | undefined {
  const datatype = tensorDatatypeFromOnnx(elemType);
  return isDatatype(datatype) ? datatype : undefined;
}

/** The served datatype of an onnxruntime-node tensor type string, or undefined. */
export function datatypeFromOrt(type: string): Datatype | undefined {
  const datatype = tensorDatatypeFromOrt(type);
  return isDatatype(datatype) ? datatype : undefined;
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
