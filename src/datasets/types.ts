/**
 * What the dataset readers produce: numeric tensors by input name, first axis = samples.
 * Datatypes are rows of the one table (tensor-types/datatypes.ts): the numeric ones NumPy,
 * JSON and CSV data can hold (BYTES and BF16 are not dataset datatypes).
 */
import { TENSOR_DATATYPES, type DatatypeArrayConstructor, type DatatypeInfo, type TensorDatatype } from '../tensor-types/datatypes.js';
import type { TypedArray } from '../onnx/types.js';

export type { TypedArray } from '../onnx/types.js';

export type DatasetDatatype = Exclude<TensorDatatype, 'BYTES' | 'BF16'>;

export interface DatasetTensor {
  /** Open Inference Protocol datatype name; FP16 values are float16 bit patterns in a Uint16Array, BOOL is 0/1 in a Uint8Array */
  datatype: DatasetDatatype;
  /** first axis = samples */
  shape: number[];
  /** C order (row-major) */
  data: TypedArray;
}

export interface Dataset {
  samples: number;
  inputs: Record<string, DatasetTensor>;
}

export interface ReadDatasetOptions {
  /** model inputs, in order: a single unnamed array becomes the first; named data is checked against them */
  inputNames?: string[];
  /** model input shapes (first dim = batch), to reshape flat rows (e.g. CSV rows of 784 → [n, 1, 28, 28]) and check the rest */
  inputShapes?: (number | string)[][];
  /** model input datatypes: values are cast (checked: no silent truncation of non-integers or out-of-range values) */
  inputTypes?: DatasetDatatype[];
  /** most bytes an .npz archive may inflate to, all members together (default DEFAULT_MAX_NPZ_BYTES) */
  maxNpzBytes?: number;
}

/** What a model needs from a dataset: names, shapes and types of its graph inputs. */
export interface ModelInputSpec {
  name: string;
  /** first dim = batch; a number is fixed, a string (or null/-1) is free */
  shape?: readonly (number | string | null)[] | null;
  datatype?: DatasetDatatype;
}

/** A dataset datatype's row of the table: all have a typed array and an onnxruntime type. */
export type DatasetDatatypeInfo = DatatypeInfo & { readonly array: DatatypeArrayConstructor; readonly ort: string };

export function isDatasetDatatype(value: unknown): value is DatasetDatatype {
  return typeof value === 'string' && value !== 'BYTES' && value !== 'BF16' && Object.hasOwn(TENSOR_DATATYPES, value);
}

function datasetRows(): Record<DatasetDatatype, DatasetDatatypeInfo> {
  const rows = {} as Record<DatasetDatatype, DatasetDatatypeInfo>;
  for (const [name, info] of Object.entries(TENSOR_DATATYPES)) if (isDatasetDatatype(name)) rows[name] = info as DatasetDatatypeInfo;
  return rows;
}

/** The table's rows for the dataset datatypes (the same objects). */
export const DATASET_DATATYPES: Readonly<Record<DatasetDatatype, DatasetDatatypeInfo>> = Object.freeze(datasetRows());

/** The dataset datatype of a table row, or undefined for BYTES, BF16 and no row at all. */
export function asDatasetDatatype(datatype: TensorDatatype | undefined): DatasetDatatype | undefined {
  return isDatasetDatatype(datatype) ? datatype : undefined;
}
