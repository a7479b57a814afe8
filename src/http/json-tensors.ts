/**
 * JSON tensor data ↔ typed arrays. Requests may nest or flatten `data`; every element is
 * checked against the datatype so "abc" in an FP32 tensor is a 400, not a silent NaN.
 */
import { invalidArgument } from '../core/errors.js';
import type { Datatype, NumericArray, TensorData } from '../core/tensor.js';
import { DATATYPES } from '../core/tensor.js';

/** Triton's limit on JSON nesting (HTTP_MAX_JSON_NESTING_DEPTH). */
const MAX_DEPTH = 100;

const INT_RANGES: Partial<Record<Datatype, [number, number]>> = {
  INT8: [-128, 127],
  UINT8: [0, 255],
  INT16: [-32768, 32767],
  UINT16: [0, 65535],
  INT32: [-2147483648, 2147483647],
  UINT32: [0, 4294967295],
};

/** Flattens nested arrays in row-major order. */
export function flatten(data: unknown, name: string): unknown[] {
  if (!Array.isArray(data)) return [data];
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const walk = (value: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) throw invalidArgument(`input '${name}': data is nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(value)) for (const v of value) walk(v, depth + 1);
    else out.push(value);
  };
  walk(data, 0);
  return out;
}

/** The shape of a rectangular nested array (a scalar has shape []). */
export function nestedShape(data: unknown, name: string): number[] {
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  const check = (value: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(value)) throw invalidArgument(`input '${name}': nested data is not rectangular`);
      return;
    }
    if (!Array.isArray(value) || value.length !== shape[depth]) throw invalidArgument(`input '${name}': nested data is not rectangular`);
    for (const v of value) check(v, depth + 1);
  };
  check(data, 0);
  return shape;
}

function bad(name: string, datatype: Datatype, index: number, value: unknown, what: string): never {
  throw invalidArgument(`input '${name}' (${datatype}) element ${index} ${what}: ${JSON.stringify(value)}`);
}

/** Converts JSON elements to the datatype's typed array (or Buffers for BYTES). */
export function fromJson(name: string, datatype: Datatype, data: unknown): TensorData {
  if (datatype === 'FP16') {
    throw invalidArgument(`input '${name}': receiving FP16 data via JSON is not supported; use the binary tensor data extension`);
  }
  const values = flatten(data, name);
  const n = values.length;
  if (datatype === 'BYTES') {
    const out: Buffer[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'string') bad(name, datatype, i, v, 'is not a string');
      out[i] = Buffer.from(v, 'utf8');
    }
    return out;
  }
  if (datatype === 'BOOL') {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === true || v === 1) out[i] = 1;
      else if (v !== false && v !== 0) bad(name, datatype, i, v, 'is not a boolean');
    }
    return out;
  }
  if (datatype === 'INT64' || datatype === 'UINT64') {
    const out = datatype === 'INT64' ? new BigInt64Array(n) : new BigUint64Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isInteger(v)) bad(name, datatype, i, v, 'is not an integer');
      if (datatype === 'UINT64' && v < 0) bad(name, datatype, i, v, 'is negative');
      out[i] = BigInt(v);
    }
    return out;
  }
  const Ctor = DATATYPES[datatype].array!;
  const out = new Ctor(n) as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
  const range = INT_RANGES[datatype];
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'number') bad(name, datatype, i, v, 'is not a number');
    if (range && (!Number.isInteger(v) || v < range[0] || v > range[1])) {
      bad(name, datatype, i, v, `is not an integer in [${range[0]}, ${range[1]}]`);
    }
    out[i] = v;
  }
  return out;
}
