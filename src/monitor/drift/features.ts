/**
 * Turns tensors into drift features: one column of values per feature, one value per sample.
 *
 * - A tensor with at most HIGH_DIM_ELEMENTS (64) elements per sample is profiled per element:
 *   feature `name[i]` is the i-th element (row-major) of each sample. The digits example's
 *   8×8 images (64 pixels) are profiled pixel by pixel.
 * - A larger tensor (images, embeddings, sequences) is profiled on summary features of each
 *   sample: `name:mean`, `name:std`, `name:l2` (norm), plus PROJECTION_DIMS fixed random
 *   projections `name:proj0..7` (Gaussian weights / √n from a fixed seed, so the same on every
 *   run and machine). Summaries see brightness/contrast/scale changes; projections see changes
 *   in where the mass is (a rotated or shifted image keeps its mean but not its projections).
 * - BYTES tensors are categorical (the UTF-8 string, cut to 128 characters); with more than
 *   HIGH_DIM_ELEMENTS elements per sample, only the first HIGH_DIM_ELEMENTS are profiled.
 */
import type { Datatype, NumericArray, Tensor } from '../../core/tensor.js';
import { float16ToFloat32 } from '../../onnx/tensor.js';
import { mulberry32 } from '../../util/random.js';
import { gaussian } from './stats.js';

export const HIGH_DIM_ELEMENTS = 64;
export const PROJECTION_DIMS = 8;
export const PROJECTION_SEED = 0x5eedb0a7;
const MAX_STRING = 128;

export type Column = number[] | string[];

export interface TensorLayout {
  name: string;
  datatype: Datatype;
  /** per-sample shape (without the sample axis) */
  shape: number[];
  /** elements per sample */
  elements: number;
  mode: 'elements' | 'summary';
}

/** Decides how a tensor is profiled from its datatype and per-sample element count. */
export function layoutFor(name: string, datatype: Datatype, perSampleShape: number[]): TensorLayout {
  const elements = perSampleShape.reduce((a, b) => a * b, 1);
  const mode = datatype !== 'BYTES' && elements > HIGH_DIM_ELEMENTS ? 'summary' : 'elements';
  return { name, datatype, shape: perSampleShape, elements, mode };
}

/** Feature names of a layout, in column order. */
export function featureNames(layout: TensorLayout): string[] {
  if (layout.mode === 'summary') {
    return [`${layout.name}:mean`, `${layout.name}:std`, `${layout.name}:l2`, ...Array.from({ length: PROJECTION_DIMS }, (_, k) => `${layout.name}:proj${k}`)];
  }
  const n = Math.min(layout.elements, HIGH_DIM_ELEMENTS);
  if (n === 1) return [layout.name];
  return Array.from({ length: n }, (_, i) => `${layout.name}[${i}]`);
}

/** True when the tensor's values are integers (categorical candidates). */
export function isIntegerType(datatype: Datatype | string): boolean {
  return datatype === 'BOOL' || /^U?INT/.test(datatype);
}

/** Numeric values of a tensor as float64 (int64 via Number, FP16 decoded). */
export function numericValues(datatype: Datatype | string, data: ArrayLike<number | bigint>): Float64Array {
  if (datatype === 'FP16') return Float64Array.from(float16ToFloat32(data as Uint16Array));
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    const out = new Float64Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
    return out;
  }
  return Float64Array.from(data as ArrayLike<number>);
}

const projections = new Map<number, Float64Array>();

/** The fixed projection matrix [PROJECTION_DIMS × n] for n elements (cached per n). */
function projectionMatrix(n: number): Float64Array {
  let m = projections.get(n);
  if (!m) {
    const draw = gaussian(mulberry32(PROJECTION_SEED ^ n));
    const scale = 1 / Math.sqrt(n);
    m = new Float64Array(PROJECTION_DIMS * n);
    for (let i = 0; i < m.length; i++) m[i] = draw() * scale;
    if (projections.size > 16) projections.clear();
    projections.set(n, m);
  }
  return m;
}

/** Empty columns for a layout. */
export function emptyColumns(layout: TensorLayout): Column[] {
  return featureNames(layout).map(() => (layout.datatype === 'BYTES' ? ([] as string[]) : ([] as number[])));
}

/**
 * Appends `rows` samples of a tensor's data (row-major, `rows × layout.elements` values) to the
 * layout's columns. Returns false (and appends nothing) when the element count does not fit.
 */
export function appendSamples(layout: TensorLayout, data: NumericArray | Buffer[] | ArrayLike<number | bigint>, rows: number, columns: Column[]): boolean {
  const total = (data as ArrayLike<unknown>).length;
  if (rows < 1 || total !== rows * layout.elements) return false;
  if (layout.datatype === 'BYTES') {
    const strings = data as Buffer[];
    const n = columns.length;
    for (let r = 0; r < rows; r++) {
      for (let f = 0; f < n; f++) {
        const b = strings[r * layout.elements + f];
        (columns[f] as string[]).push((Buffer.isBuffer(b) ? b.toString('utf8') : String(b)).slice(0, MAX_STRING));
      }
    }
    return true;
  }
  const values = numericValues(layout.datatype, data as ArrayLike<number | bigint>);
  const n = layout.elements;
  if (layout.mode === 'elements') {
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      for (let f = 0; f < n; f++) (columns[f] as number[]).push(values[base + f]);
    }
    return true;
  }
  const proj = projectionMatrix(n);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const v = values[base + i];
      sum += v;
      sq += v * v;
    }
    const m = sum / n;
    (columns[0] as number[]).push(m);
    (columns[1] as number[]).push(Math.sqrt(Math.max(0, sq / n - m * m)));
    (columns[2] as number[]).push(Math.sqrt(sq));
    for (let k = 0; k < PROJECTION_DIMS; k++) {
      let s = 0;
      const off = k * n;
      for (let i = 0; i < n; i++) s += proj[off + i] * values[base + i];
      (columns[3 + k] as number[]).push(s);
    }
  }
  return true;
}

/** Layouts and per-sample views of a record's tensors; undefined when rows do not divide. */
export function layoutsOf(tensors: readonly Tensor[], rows: number): TensorLayout[] | undefined {
  const out: TensorLayout[] = [];
  for (const t of tensors) {
    const total = t.shape.reduce((a, b) => a * b, 1);
    if (rows < 1 || total % rows !== 0) return undefined;
    const perSample = t.shape.length > 0 && t.shape[0] === rows ? t.shape.slice(1) : [total / rows];
    out.push(layoutFor(t.name, t.datatype, perSample));
  }
  return out;
}
