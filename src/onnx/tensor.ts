/**
 * TensorProto <-> typed arrays, element-type names, and float16/bfloat16 conversion.
 *
 * A tensor's values can be stored in raw_data (little-endian, dense, not necessarily aligned
 * within the model buffer), in one of the typed repeated fields (which field depends on the type,
 * per onnx.proto), or in an external file. tensorToArray reads all of them; makeTensor always
 * writes raw_data (what exporters do, and the most compact).
 */
import { endianness } from 'node:os';
import { readExternalSync, isExternal } from './external.js';
import type { Int64, TensorProto, TypedArray } from './types.js';
import { ELEM_TYPES, type ElemTypeName } from './elem-types.js';

export { ELEM_TYPES, type ElemTypeName } from './elem-types.js';

const NAME_BY_NUMBER = new Map<number, ElemTypeName>(
  Object.entries(ELEM_TYPES).map(([name, n]) => [n, name as ElemTypeName]),
);

/** 'float32' for 1, ...; undefined for numbers ONNX does not define (or UNDEFINED = 0). */
export function elemTypeName(elemType: number): ElemTypeName | undefined {
  return NAME_BY_NUMBER.get(elemType);
}

export function elemTypeNumber(name: string): number | undefined {
  return Object.hasOwn(ELEM_TYPES, name) ? ELEM_TYPES[name as ElemTypeName] : undefined;
}

/** Bits one element occupies in raw_data (0 for string). */
export function elemTypeBits(elemType: number): number {
  const name = elemTypeName(elemType);
  if (name === undefined) throw new Error(`unknown ONNX element type ${elemType}`);
  return BITS[name];
}

const BITS: Record<ElemTypeName, number> = {
  float32: 32, uint8: 8, int8: 8, uint16: 16, int16: 16, int32: 32, int64: 64, string: 0, bool: 8,
  float16: 16, float64: 64, uint32: 32, uint64: 64, complex64: 64, complex128: 128, bfloat16: 16,
  float8e4m3fn: 8, float8e4m3fnuz: 8, float8e5m2: 8, float8e5m2fnuz: 8, uint4: 4, int4: 4,
  float4e2m1: 4, float8e8m0: 8,
};

type ArrayCtor = {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  BYTES_PER_ELEMENT: number;
};

/** The typed array tensorToArray returns per type; 4-bit types are unpacked one element per byte. */
const ARRAY: Record<Exclude<ElemTypeName, 'string'>, ArrayCtor> = {
  float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  int32: Int32Array, int64: BigInt64Array, bool: Uint8Array, float16: Uint16Array, float64: Float64Array,
  uint32: Uint32Array, uint64: BigUint64Array, complex64: Float32Array, complex128: Float64Array,
  bfloat16: Uint16Array, float8e4m3fn: Uint8Array, float8e4m3fnuz: Uint8Array, float8e5m2: Uint8Array,
  float8e5m2fnuz: Uint8Array, uint4: Uint8Array, int4: Int8Array, float4e2m1: Uint8Array, float8e8m0: Uint8Array,
};

/** Values per element in the returned array (complex numbers are interleaved real, imaginary). */
function lanes(name: ElemTypeName): number {
  return name === 'complex64' || name === 'complex128' ? 2 : 1;
}

function isFourBit(name: ElemTypeName): boolean {
  return name === 'uint4' || name === 'int4' || name === 'float4e2m1';
}

export function elementCount(dims: readonly (number | bigint)[] | undefined): number {
  let n = 1;
  for (const d of dims ?? []) {
    const v = Number(d);
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`invalid tensor dimension ${String(d)}`);
    n *= v;
  }
  return n;
}

// ONNX data is little-endian; typed arrays use the host's order, so big-endian hosts swap.
const BIG_ENDIAN_HOST = endianness() === 'BE';

function swapBytes(bytes: Uint8Array, width: number): void {
  if (width <= 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const x = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = x;
    }
  }
}

function tensorLabel(t: TensorProto): string {
  return `tensor '${t.name ?? ''}'`;
}

function unpackFourBit(packed: ArrayLike<number>, n: number, signed: boolean): Uint8Array | Int8Array {
  const out = signed ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const byte = packed[i >> 1] & 0xff;
    const nibble = i & 1 ? byte >> 4 : byte & 0x0f;
    out[i] = signed && nibble & 0x08 ? nibble - 16 : nibble;
  }
  return out;
}

function packFourBit(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1] |= (values[i] & 0x0f) << ((i & 1) * 4);
  return out;
}

function fromRaw(t: TensorProto, name: Exclude<ElemTypeName, 'string'>, bytes: Uint8Array, n: number): TypedArray {
  if (isFourBit(name)) {
    if (bytes.length !== Math.ceil(n / 2)) throw new Error(`${tensorLabel(t)}: raw data has ${bytes.length} bytes, expected ${Math.ceil(n / 2)}`);
    return unpackFourBit(bytes, n, name === 'int4');
  }
  const Ctor = ARRAY[name];
  const count = n * lanes(name);
  const expected = count * Ctor.BYTES_PER_ELEMENT;
  if (bytes.length !== expected) throw new Error(`${tensorLabel(t)}: raw data has ${bytes.length} bytes, expected ${expected}`);
  // Copy into a fresh buffer: raw_data may sit at any offset inside the model file's buffer, and
  // typed arrays need element alignment; the copy also keeps the result independent of the model.
  const copy = new Uint8Array(expected);
  copy.set(bytes);
  if (BIG_ENDIAN_HOST) swapBytes(copy, Ctor.BYTES_PER_ELEMENT);
  return new Ctor(copy.buffer, 0, count);
}

function checkCount(t: TensorProto, field: string, got: number, expected: number): void {
  if (got !== expected) throw new Error(`${tensorLabel(t)}: ${field} has ${got} values, expected ${expected}`);
}

function fromFields(t: TensorProto, name: Exclude<ElemTypeName, 'string'>, n: number): TypedArray {
  const count = n * lanes(name);
  switch (name) {
    case 'float32':
    case 'complex64':
      checkCount(t, 'float_data', t.floatData?.length ?? 0, count);
      return Float32Array.from(t.floatData ?? []);
    case 'float64':
    case 'complex128':
      checkCount(t, 'double_data', t.doubleData?.length ?? 0, count);
      return Float64Array.from(t.doubleData ?? []);
    case 'int64':
      checkCount(t, 'int64_data', t.int64Data?.length ?? 0, count);
      return BigInt64Array.from(t.int64Data ?? [], (v) => BigInt(v));
    case 'uint64':
      checkCount(t, 'uint64_data', t.uint64Data?.length ?? 0, count);
      return BigUint64Array.from(t.uint64Data ?? [], (v) => BigInt.asUintN(64, BigInt(v)));
    case 'uint32':
      checkCount(t, 'uint64_data', t.uint64Data?.length ?? 0, count);
      return Uint32Array.from(t.uint64Data ?? [], (v) => Number(v));
    default: {
      // int32_data carries every other type: one element per entry (the bit pattern for float16,
      // bfloat16 and float8), or for 4-bit types one packed byte (two elements) per entry.
      const data = t.int32Data ?? [];
      if (isFourBit(name)) {
        checkCount(t, 'int32_data', data.length, Math.ceil(n / 2));
        return unpackFourBit(data, n, name === 'int4');
      }
      checkCount(t, 'int32_data', data.length, count);
      const Ctor = ARRAY[name] as unknown as { from(values: ArrayLike<number>): TypedArray };
      return Ctor.from(data);
    }
  }
}

const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

export interface TensorReadOptions {
  /** directory external data locations are relative to (the model file's directory) */
  baseDir?: string;
}

/**
 * The tensor's values: a typed array (see ARRAY above for which; float16/bfloat16/float8 give the
 * raw bit patterns, bool gives 0/1 bytes, complex types interleave real and imaginary parts, 4-bit
 * types are unpacked to one element per byte), or string[] for string tensors (UTF-8 decoded).
 * Always a copy: mutating it does not touch the tensor.
 */
export function tensorToArray(t: TensorProto, options: TensorReadOptions = {}): TypedArray | string[] {
  const type = t.dataType ?? 0;
  const name = elemTypeName(type);
  if (name === undefined) throw new Error(`${tensorLabel(t)}: unsupported element type ${type}`);
  const n = elementCount(t.dims);
  if (name === 'string') {
    const data = t.stringData ?? [];
    checkCount(t, 'string_data', data.length, n);
    return data.map((b) => utf8.decode(b));
  }
  if (isExternal(t)) {
    if (options.baseDir === undefined) throw new Error(`${tensorLabel(t)}: data is external; pass baseDir (the model's directory) to read it`);
    return fromRaw(t, name, readExternalSync(t, options.baseDir), n);
  }
  if (t.rawData !== undefined) return fromRaw(t, name, t.rawData, n);
  return fromFields(t, name, n);
}

/** The tensor's data as raw_data would hold it (little-endian, dense); not for string tensors. */
export function tensorRawBytes(t: TensorProto, options: TensorReadOptions = {}): Uint8Array {
  if (!isExternal(t) && t.rawData !== undefined) return t.rawData;
  if (isExternal(t) && options.baseDir !== undefined) return readExternalSync(t, options.baseDir);
  const values = tensorToArray(t, options);
  if (!ArrayBuffer.isView(values)) throw new Error(`${tensorLabel(t)}: string tensors have no raw data`);
  return makeTensor(t.name ?? '', t.dataType ?? 0, t.dims ?? [], values).rawData!;
}

/** Values makeTensor accepts. */
export type TensorValues = ArrayLike<number> | ArrayLike<bigint> | ArrayLike<boolean> | string[] | TypedArray;

function numbersOf(values: TensorValues): ArrayLike<number> {
  const first = values.length > 0 ? values[0] : 0;
  if (typeof first === 'number' && !(values instanceof BigInt64Array || values instanceof BigUint64Array)) {
    return values as ArrayLike<number>;
  }
  return Array.from(values as ArrayLike<unknown>, (v) => Number(v));
}

function bytesOf(a: TypedArray): Uint8Array {
  const out = new Uint8Array(a.byteLength);
  out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  if (BIG_ENDIAN_HOST) swapBytes(out, a.BYTES_PER_ELEMENT);
  return out;
}

/**
 * A tensor with its values in raw_data (string tensors: string_data).
 * float16/bfloat16: a Uint16Array is taken as bit patterns; numbers are converted (round to nearest
 * even). bool: truthy values become 1. int64/uint64: numbers or bigints. complex: interleaved pairs.
 * Scalars have dims [] and one value.
 */
export function makeTensor(name: string, elemType: ElemTypeName | number, dims: readonly number[], values: TensorValues): TensorProto {
  const type = typeof elemType === 'number' ? elemType : elemTypeNumber(elemType);
  const typeName = type === undefined ? undefined : elemTypeName(type);
  if (type === undefined || typeName === undefined) throw new Error(`tensor '${name}': unknown element type ${String(elemType)}`);
  const n = elementCount(dims);
  const tensor: TensorProto = { name, dims: [...dims], dataType: type };
  if (typeName === 'string') {
    checkCount(tensor, 'values', values.length, n);
    tensor.stringData = Array.from(values as ArrayLike<unknown>, (v) => (v instanceof Uint8Array ? v : utf8Encoder.encode(String(v))));
    return tensor;
  }
  checkCount(tensor, 'values', values.length, n * lanes(typeName));
  let array: TypedArray;
  if (isFourBit(typeName)) {
    tensor.rawData = packFourBit(numbersOf(values));
    return tensor;
  } else if (typeName === 'float16' || typeName === 'bfloat16') {
    if (values instanceof Uint16Array) array = values;
    else {
      const f32 = Float32Array.from(numbersOf(values));
      array = typeName === 'float16' ? float32ToFloat16(f32) : float32ToBfloat16(f32);
    }
  } else if (typeName === 'int64' || typeName === 'uint64') {
    const toBig = (v: unknown): bigint => BigInt(v as number | bigint);
    if (typeName === 'int64') array = values instanceof BigInt64Array ? values : BigInt64Array.from(values as ArrayLike<unknown>, toBig);
    else array = values instanceof BigUint64Array ? values : BigUint64Array.from(values as ArrayLike<unknown>, toBig);
  } else if (typeName === 'bool') {
    array = Uint8Array.from(values as ArrayLike<unknown>, (v) => (v ? 1 : 0));
  } else {
    const Ctor = ARRAY[typeName];
    if (values instanceof Ctor) array = values as TypedArray;
    else {
      const From = Ctor as unknown as { from(values: ArrayLike<number>): TypedArray };
      array = From.from(numbersOf(values));
    }
  }
  tensor.rawData = bytesOf(array);
  return tensor;
}

/** Converts a number or bigint int64 value to a number (loses precision past 2^53). */
export function int64ToNumber(v: Int64): number {
  return typeof v === 'bigint' ? Number(v) : v;
}

// --- float16 / bfloat16 --------------------------------------------------------------------

/** IEEE 754 binary32 -> binary16, round to nearest even, with subnormals, infinities and NaNs. */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    if (exp === 0xff) {
      // Inf stays Inf; NaN keeps the top of its payload, forced non-zero so it stays a NaN.
      out[i] = sign | 0x7c00 | (mant === 0 ? 0 : mant >>> 13 || 1);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      // Subnormal half (or zero): shift the full 24-bit significand into 10 bits, rounding.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const m = mant | 0x800000;
      const shift = 14 - e;
      let half = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rem > halfway || (rem === halfway && half & 1)) half++;
      out[i] = sign | half;
    } else {
      let half = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      // A carry out of the mantissa correctly bumps the exponent, up to Inf.
      if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
      out[i] = sign | half;
    }
  }
  return out;
}

/** IEEE 754 binary16 -> binary32 (exact). */
export function float16ToFloat32(values: Uint16Array): Float32Array {
  const out = new Float32Array(values.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const h = values[i];
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      const v = mant * 2 ** -24;
      out[i] = sign ? -v : v;
    } else if (exp === 0x1f) {
      bits[i] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
    } else {
      bits[i] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
    }
  }
  return out;
}

/** binary32 -> bfloat16, round to nearest even; NaNs stay NaNs. */
export function float32ToBfloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** bfloat16 -> binary32 (exact). */
export function bfloat16ToFloat32(values: Uint16Array): Float32Array {
  const out = new Float32Array(values.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < values.length; i++) bits[i] = (values[i] << 16) >>> 0;
  return out;
}
