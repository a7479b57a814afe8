/** Values as numbers, checked casts between dataset datatypes, and sample slices. */
import { float16ToFloat32, float32ToFloat16 } from '../onnx/tensor.js';
import { product } from './errors.js';
import { DATASET_DATATYPES, type Dataset, type DatasetDatatype, type DatasetTensor, type TypedArray } from './types.js';

/** Values of any numeric tensor as numbers (float16 decoded, int64 converted). */
export function tensorNumbers(t: DatasetTensor): Float64Array | Float32Array {
  if (t.datatype === 'FP16') return float16ToFloat32(t.data as Uint16Array);
  if (t.data instanceof Float32Array || t.data instanceof Float64Array) return t.data;
  const out = new Float64Array(t.data.length);
  const src = t.data as ArrayLike<number | bigint>;
  for (let i = 0; i < out.length; i++) out[i] = Number(src[i]);
  return out;
}

/**
 * The values an integer datatype can take, as doubles. The 64-bit bounds are the largest
 * doubles below 2^63 and 2^64, so that a value that passes converts to BigInt without wrapping.
 */
function integerRange(to: DatasetDatatype): [number, number] {
  const info = DATASET_DATATYPES[to];
  const bits = info.size * 8;
  if (info.kind === 'bool') return [0, 1];
  if (bits === 64) return info.kind === 'int' ? [-(2 ** 63), 2 ** 63 - 1024] : [0, 2 ** 64 - 2048];
  return info.kind === 'int' ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
}

/**
 * Casts a tensor to another datatype. Casting to an integer type refuses non-integers and values
 * out of range (data meant for a float model fed to an int model is a user error, not something
 * to round away); BOOL accepts 0/1 only.
 */
export function castTensor(t: DatasetTensor, to: DatasetDatatype, where = 'data'): DatasetTensor {
  if (t.datatype === to) return t;
  const info = DATASET_DATATYPES[to];
  const n = t.data.length;
  const bigint = to === 'INT64' || to === 'UINT64';
  // Integer to int64 without going through float (exact for the whole int64 range).
  if (bigint && (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array)) {
    const out = new info.array(n) as BigInt64Array | BigUint64Array;
    const lo = to === 'INT64' ? -(2n ** 63n) : 0n;
    const hi = to === 'INT64' ? 2n ** 63n - 1n : 2n ** 64n - 1n;
    for (let i = 0; i < n; i++) {
      const v = t.data[i];
      if (v < lo || v > hi) throw new Error(`${where}: value ${v} at index ${i} is out of range for ${to}`);
      out[i] = v;
    }
    return { datatype: to, shape: t.shape, data: out };
  }
  const values = tensorNumbers(t);
  if (to === 'FP32') return { datatype: to, shape: t.shape, data: values instanceof Float32Array ? values : Float32Array.from(values) };
  if (to === 'FP64') return { datatype: to, shape: t.shape, data: Float64Array.from(values) };
  if (to === 'FP16') return { datatype: to, shape: t.shape, data: float32ToFloat16(values instanceof Float32Array ? values : Float32Array.from(values)) };
  const [min, max] = integerRange(to);
  const out = new info.array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isInteger(v)) throw new Error(`${where}: value ${v} at index ${i} is not an integer, and the model wants ${to}`);
    if (v < min || v > max) throw new Error(`${where}: value ${v} at index ${i} is out of range for ${to}`);
    if (bigint) (out as BigInt64Array)[i] = BigInt(v);
    else (out as Int32Array)[i] = v;
  }
  return { datatype: to, shape: t.shape, data: out };
}

/** Samples [start, end) of every input; the data are views, not copies. */
export function sliceDataset(ds: Dataset, start: number, end: number): Dataset {
  const s = Math.max(0, Math.min(start, ds.samples));
  const e = Math.max(s, Math.min(end, ds.samples));
  const inputs: Record<string, DatasetTensor> = {};
  for (const [name, t] of Object.entries(ds.inputs)) {
    const per = product(t.shape.slice(1));
    inputs[name] = { datatype: t.datatype, shape: [e - s, ...t.shape.slice(1)], data: t.data.subarray(s * per, e * per) as TypedArray };
  }
  return { samples: e - s, inputs };
}
