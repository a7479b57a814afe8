/**
 * Tensors → JSON tensor data (the response side). Decoding requests is json-decode.ts.
 */
import { invalidArgument } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';

/** Tensor data as a flat JSON array. */
export function toJson(tensor: Tensor): unknown[] {
  const data = tensor.data;
  switch (tensor.datatype) {
    case 'BYTES':
      return (data as Buffer[]).map((b) => b.toString('utf8'));
    case 'BOOL':
      return Array.from(data as Uint8Array, (v) => v !== 0);
    case 'INT64':
    case 'UINT64':
      return Array.from(data as BigInt64Array, (v) => Number(v));
    case 'FP16':
      throw invalidArgument(`output '${tensor.name}': sending FP16 data via JSON is not supported; request it as binary ("binary_data": true)`);
    default:
      return Array.from(data as Float32Array);
  }
}

/** Reshapes a flat array into nested arrays (for V1 predictions, which are per-row values). */
export function nest(flat: readonly unknown[], shape: readonly number[]): unknown {
  if (shape.length === 0) return flat[0];
  if (shape.length === 1) return flat.slice(0, shape[0]);
  const [head, ...rest] = shape;
  const step = rest.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  for (let i = 0; i < head!; i++) out.push(nest(flat.slice(i * step, (i + 1) * step), rest));
  return out;
}
