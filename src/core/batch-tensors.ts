/**
 * Concatenating requests along the batch (first) dimension and splitting the results back.
 * These copies are the price of batching; they are linear in the data and small next to
 * inference on any model worth batching.
 */
import type { NumericArray, Tensor } from './tensor.js';
import { elementCount } from './tensor.js';

/** Concatenates same-named tensors of several requests along dimension 0. */
export function concatBatch(parts: readonly Tensor[]): Tensor {
  const first = parts[0]!;
  if (parts.length === 1) return first;
  let rows = 0;
  for (const p of parts) rows += p.shape[0]!;
  const shape = [rows, ...first.shape.slice(1)];
  if (first.datatype === 'BYTES') {
    const data: Buffer[] = [];
    for (const p of parts) for (const b of p.data as Buffer[]) data.push(b);
    return { name: first.name, datatype: first.datatype, shape, data };
  }
  const head = first.data as NumericArray;
  const Ctor = head.constructor as new (length: number) => NumericArray;
  const out = new Ctor(elementCount(shape));
  let offset = 0;
  for (const p of parts) {
    const src = p.data as NumericArray;
    (out as Float32Array).set(src as Float32Array, offset);
    offset += src.length;
  }
  return { name: first.name, datatype: first.datatype, shape, data: out };
}

/** Splits a batched tensor into row ranges: `rows[i]` rows for the i-th request. Views, no copies. */
export function splitBatch(tensor: Tensor, rows: readonly number[]): Tensor[] {
  if (rows.length === 1) return [tensor];
  const rest = tensor.shape.slice(1);
  const perRow = elementCount(rest);
  const out: Tensor[] = [];
  let start = 0;
  for (const n of rows) {
    const end = start + n * perRow;
    const data = tensor.datatype === 'BYTES'
      ? (tensor.data as Buffer[]).slice(start, end)
      : (tensor.data as NumericArray).subarray(start, end);
    out.push({ name: tensor.name, datatype: tensor.datatype, shape: [n, ...rest], data });
    start = end;
  }
  return out;
}
