/**
 * Evaluation and calibration data: the one reader every command uses (`eval`, `optimize`,
 * `quantize --calibration`, capture export).
 *
 * Formats (the first axis is always the sample axis):
 * - `.npy`: NumPy format v1/v2/v3, any numeric dtype ('<f4', '>f8', '<i8', '|u1', '|b1', '<f2', ...),
 *   little- or big-endian, C or Fortran order (Fortran is transposed to C order). One input.
 * - `.npz`: a NumPy archive (`np.savez` / `np.savez_compressed`): one `.npy` per input, named
 *   by the member name.
 * - a directory: one `NAME.npy` per input.
 * - `.json`: a nested array (one input); `{ "input_name": array, ... }` (several inputs);
 *   an Open Inference Protocol request `{ "inputs": [{ name, shape, datatype, data }] }`; or a
 *   V1 predict request `{ "instances": [...] }`.
 * - `.csv`: numeric rows, one sample per row, optional header row. One input.
 *
 * Errors are one line and name the file, so a CLI can print `error: <message>` and exit.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, extname, join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { float16ToFloat32, float32ToFloat16 } from '../onnx/tensor.js';
import type { ModelProto, TypeProto, TypedArray } from '../onnx/types.js';

export type { TypedArray } from '../onnx/types.js';

export type DatasetDatatype =
  | 'FP32'
  | 'FP64'
  | 'FP16'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'BOOL';

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
}

/** What a model needs from a dataset: names, shapes and types of its graph inputs. */
export interface ModelInputSpec {
  name: string;
  /** first dim = batch; a number is fixed, a string (or null/-1) is free */
  shape?: readonly (number | string | null)[] | null;
  datatype?: DatasetDatatype;
}

interface DtypeInfo {
  bytes: number;
  array: new (length: number) => TypedArray;
  view: (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray;
  integer: boolean;
  min?: number;
  max?: number;
  bigint?: boolean;
  onnx: number;
  ort: string;
}

export const DATASET_DATATYPES: Record<DatasetDatatype, DtypeInfo> = {
  FP32: { bytes: 4, array: Float32Array, view: (b, o, n) => new Float32Array(b, o, n), integer: false, onnx: 1, ort: 'float32' },
  FP64: { bytes: 8, array: Float64Array, view: (b, o, n) => new Float64Array(b, o, n), integer: false, onnx: 11, ort: 'float64' },
  FP16: { bytes: 2, array: Uint16Array, view: (b, o, n) => new Uint16Array(b, o, n), integer: false, onnx: 10, ort: 'float16' },
  INT8: { bytes: 1, array: Int8Array, view: (b, o, n) => new Int8Array(b, o, n), integer: true, min: -128, max: 127, onnx: 3, ort: 'int8' },
  INT16: { bytes: 2, array: Int16Array, view: (b, o, n) => new Int16Array(b, o, n), integer: true, min: -32768, max: 32767, onnx: 5, ort: 'int16' },
  INT32: { bytes: 4, array: Int32Array, view: (b, o, n) => new Int32Array(b, o, n), integer: true, min: -(2 ** 31), max: 2 ** 31 - 1, onnx: 6, ort: 'int32' },
  INT64: { bytes: 8, array: BigInt64Array, view: (b, o, n) => new BigInt64Array(b, o, n), integer: true, min: -(2 ** 63), max: 2 ** 63 - 1024, bigint: true, onnx: 7, ort: 'int64' },
  UINT8: { bytes: 1, array: Uint8Array, view: (b, o, n) => new Uint8Array(b, o, n), integer: true, min: 0, max: 255, onnx: 2, ort: 'uint8' },
  UINT16: { bytes: 2, array: Uint16Array, view: (b, o, n) => new Uint16Array(b, o, n), integer: true, min: 0, max: 65535, onnx: 4, ort: 'uint16' },
  UINT32: { bytes: 4, array: Uint32Array, view: (b, o, n) => new Uint32Array(b, o, n), integer: true, min: 0, max: 2 ** 32 - 1, onnx: 12, ort: 'uint32' },
  UINT64: { bytes: 8, array: BigUint64Array, view: (b, o, n) => new BigUint64Array(b, o, n), integer: true, min: 0, max: 2 ** 64 - 2048, bigint: true, onnx: 13, ort: 'uint64' },
  BOOL: { bytes: 1, array: Uint8Array, view: (b, o, n) => new Uint8Array(b, o, n), integer: true, min: 0, max: 1, onnx: 9, ort: 'bool' },
};

/** Dataset datatype of an ONNX element type number, or undefined (string, bfloat16, ...). */
export function datatypeFromOnnx(elemType: number | undefined): DatasetDatatype | undefined {
  for (const [name, info] of Object.entries(DATASET_DATATYPES)) if (info.onnx === elemType) return name as DatasetDatatype;
  return undefined;
}

/** Dataset datatype of an onnxruntime type string ('float32', 'int64', ...), or undefined. */
export function datatypeFromOrt(type: string): DatasetDatatype | undefined {
  for (const [name, info] of Object.entries(DATASET_DATATYPES)) if (info.ort === type) return name as DatasetDatatype;
  return undefined;
}

/** Names, shapes and types of a model's graph inputs (initializers excluded). */
export function modelInputSpecs(model: ModelProto): ModelInputSpec[] {
  const graph = model.graph;
  const inits = new Set((graph?.initializer ?? []).map((t) => t.name ?? ''));
  const shapeOf = (type: TypeProto | undefined): (number | string | null)[] | null => {
    const shape = type?.tensorType?.shape;
    if (!shape) return null;
    return (shape.dim ?? []).map((d) => (d.dimValue !== undefined ? Number(d.dimValue) : d.dimParam ? d.dimParam : null));
  };
  return (graph?.input ?? [])
    .filter((v) => !inits.has(v.name ?? ''))
    .map((v) => ({ name: v.name ?? '', shape: shapeOf(v.type), datatype: datatypeFromOnnx(v.type?.tensorType?.elemType) }));
}

/** `readDataset` options that fit data to `model`'s inputs. */
export function datasetOptionsFor(model: ModelProto | ModelInputSpec[]): ReadDatasetOptions {
  const specs = Array.isArray(model) ? model : modelInputSpecs(model);
  const options: ReadDatasetOptions = { inputNames: specs.map((s) => s.name) };
  if (specs.every((s) => s.shape)) options.inputShapes = specs.map((s) => (s.shape ?? []).map((d) => (d === null ? '?' : d)));
  if (specs.every((s) => s.datatype)) options.inputTypes = specs.map((s) => s.datatype!);
  return options;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** One input read from a file, before names are matched to the model. */
interface RawInput {
  /** undefined for a source that carries no name (a .npy, .csv or bare .json array) */
  name?: string;
  tensor: DatasetTensor;
}

function fail(path: string, message: string): never {
  throw new Error(`${path}: ${message}`);
}

async function readBytes(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`${what} file not found: ${path}`);
    if (e.code === 'EISDIR') throw new Error(`${what} path is a directory: ${path}`);
    throw new Error(`cannot read ${what} file ${path}: ${e.message}`);
  }
}

/**
 * Reads evaluation/calibration data. With `inputNames`/`inputShapes`/`inputTypes` (see
 * `datasetOptionsFor(model)`), the result is fitted to the model: named after its inputs,
 * reshaped and cast; anything that does not fit is a one-line error.
 */
export async function readDataset(path: string, options: ReadDatasetOptions = {}): Promise<Dataset> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code === 'ENOENT' ? `data file not found: ${path}` : `cannot read data file ${path}: ${e.message}`);
  }
  let raw: RawInput[];
  if (isDir) {
    const files = (await readdir(path)).filter((f) => f.endsWith('.npy')).sort();
    if (files.length === 0) fail(path, 'directory holds no .npy files (expected one NAME.npy per model input)');
    raw = [];
    for (const f of files) raw.push({ name: f.slice(0, -4), tensor: parseNpy(await readBytes(join(path, f), 'data'), join(path, f)) });
  } else {
    const ext = extname(path).toLowerCase();
    const bytes = await readBytes(path, 'data');
    if (ext === '.npy') raw = [{ tensor: parseNpy(bytes, path) }];
    else if (ext === '.npz') raw = parseNpz(bytes, path);
    else if (ext === '.json') raw = parseJsonData(bytes, path, options.inputNames);
    else if (ext === '.csv') raw = [{ tensor: csvTensor(parseCsv(bytes, path), path) }];
    else fail(path, `unknown data format '${ext || '(no extension)'}': use .npy, .npz, .json, .csv or a directory of NAME.npy files`);
  }
  const specs = options.inputNames?.map((name, i): ModelInputSpec => ({ name, shape: options.inputShapes?.[i], datatype: options.inputTypes?.[i] }));
  return assemble(raw, path, specs);
}

/** Names the raw inputs, checks sample counts, and fits them to the model when specs are given. */
function assemble(raw: RawInput[], path: string, specs: ModelInputSpec[] | undefined): Dataset {
  const inputs: Record<string, DatasetTensor> = {};
  if (raw.length === 1 && (raw[0].name === undefined || (specs?.length === 1 && !specs.some((s) => s.name === raw[0].name)))) {
    // A single array (or a single named one for a single-input model) feeds the only input.
    if (specs && specs.length > 1) {
      fail(path, `holds one array but the model has ${specs.length} inputs (${specs.map((s) => s.name).join(', ')}): use a .json {name: array} file, an .npz, or a directory of NAME.npy files`);
    }
    inputs[specs?.[0]?.name ?? raw[0].name ?? 'input'] = raw[0].tensor;
  } else {
    for (const r of raw) {
      const name = r.name ?? 'input';
      if (Object.hasOwn(inputs, name)) fail(path, `input '${name}' appears twice`);
      inputs[name] = r.tensor;
    }
  }
  const ds = makeDataset(inputs, path);
  return specs ? fitDataset(ds, specs, path) : ds;
}

function makeDataset(inputs: Record<string, DatasetTensor>, path: string): Dataset {
  const names = Object.keys(inputs);
  if (names.length === 0) fail(path, 'no inputs');
  let samples: number | undefined;
  for (const name of names) {
    const t = inputs[name];
    if (t.shape.length === 0) fail(path, `input '${name}' is a scalar; the first axis must be the sample axis`);
    if (samples === undefined) samples = t.shape[0];
    else if (t.shape[0] !== samples) {
      fail(path, `sample counts differ between inputs: '${names[0]}' has ${samples}, '${name}' has ${t.shape[0]}`);
    }
  }
  if (samples === 0) fail(path, 'holds no samples');
  return { samples: samples!, inputs };
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
const fmtShape = (dims: readonly (number | string | null)[]): string => `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
const isFixed = (d: number | string | null | undefined): d is number => typeof d === 'number' && d >= 0;

/**
 * Fits a dataset to a model's inputs: renames a single input to the model's only input, checks
 * every model input is present (and nothing else is), reshapes flat rows to the model's
 * per-sample shape when the element counts match, and casts to the model's datatypes.
 * Returns a new Dataset (tensors not changed are shared).
 */
export function fitDataset(ds: Dataset, specs: ModelInputSpec[], where = 'data'): Dataset {
  const names = Object.keys(ds.inputs);
  let inputs = ds.inputs;
  if (names.length === 1 && specs.length === 1 && names[0] !== specs[0].name) inputs = { [specs[0].name]: ds.inputs[names[0]] };
  const wanted = new Set(specs.map((s) => s.name));
  const missing = specs.filter((s) => !Object.hasOwn(inputs, s.name)).map((s) => s.name);
  if (missing.length) fail(where, `has no data for model input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')} (it has ${Object.keys(inputs).map((n) => `'${n}'`).join(', ')})`);
  const extra = Object.keys(inputs).filter((n) => !wanted.has(n));
  if (extra.length) fail(where, `has data for ${extra.map((n) => `'${n}'`).join(', ')}, which ${extra.length > 1 ? 'are not model inputs' : 'is not a model input'} (model inputs: ${specs.map((s) => s.name).join(', ')})`);
  const out: Record<string, DatasetTensor> = {};
  for (const spec of specs) {
    let t = inputs[spec.name];
    if (spec.shape && spec.shape.length > 0) t = { ...t, shape: fitShape(spec.name, t.shape, spec.shape, where) };
    if (spec.datatype && spec.datatype !== t.datatype) t = castTensor(t, spec.datatype, `${where}: input '${spec.name}'`);
    out[spec.name] = t;
  }
  return { samples: ds.samples, inputs: out };
}

function fitShape(name: string, shape: number[], model: readonly (number | string | null)[], where: string): number[] {
  const per = shape.slice(1);
  const modelPer = model.slice(1);
  const dimsMatch = per.length === modelPer.length && modelPer.every((d, i) => !isFixed(d) || d === per[i]);
  if (dimsMatch) return shape;
  if (modelPer.every(isFixed) && product(modelPer as number[]) === product(per)) return [shape[0], ...(modelPer as number[])];
  let hint = '';
  if (shape.length === modelPer.length && shape.every((d, i) => !isFixed(modelPer[i]) || modelPer[i] === d)) {
    hint = ' (is the sample axis missing? the first axis of the data must be the samples)';
  }
  fail(where, `input '${name}' has ${shape[0]} samples of shape ${fmtShape(per)}, which does not fit the model's input shape ${fmtShape(model)}${hint}`);
}

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
 * Casts a tensor to another datatype. Casting to an integer type refuses non-integers and values
 * out of range (data meant for a float model fed to an int model is a user error, not something
 * to round away); BOOL accepts 0/1 only.
 */
export function castTensor(t: DatasetTensor, to: DatasetDatatype, where = 'data'): DatasetTensor {
  if (t.datatype === to) return t;
  const info = DATASET_DATATYPES[to];
  const n = t.data.length;
  // Integer to int64 without going through float (exact for the whole int64 range).
  if (info.bigint && (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array)) {
    const out = new (info.array)(n) as BigInt64Array | BigUint64Array;
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
  const out = new info.array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isInteger(v)) throw new Error(`${where}: value ${v} at index ${i} is not an integer, and the model wants ${to}`);
    if (v < info.min! || v > info.max!) throw new Error(`${where}: value ${v} at index ${i} is out of range for ${to}`);
    if (info.bigint) (out as BigInt64Array)[i] = BigInt(v);
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

// ---------------------------------------------------------------------------------------------
// NumPy .npy / .npz

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface NpyDescr {
  datatype: DatasetDatatype;
  bigEndian: boolean;
}

function npyDescr(descr: string, where: string): NpyDescr {
  const m = /^([<>|=]?)([a-zA-Z?])(\d*)$/.exec(descr);
  if (!m) fail(where, `unsupported .npy dtype '${descr}'`);
  const [, order, kind, sizeText] = m;
  const size = sizeText === '' ? (kind === '?' ? 1 : 0) : Number(sizeText);
  const table: Record<string, DatasetDatatype | undefined> = {
    f2: 'FP16', f4: 'FP32', f8: 'FP64',
    i1: 'INT8', i2: 'INT16', i4: 'INT32', i8: 'INT64',
    u1: 'UINT8', u2: 'UINT16', u4: 'UINT32', u8: 'UINT64',
    b1: 'BOOL', '?1': 'BOOL',
  };
  const datatype = table[`${kind}${size}`];
  if (!datatype) {
    const names: Record<string, string> = { U: 'unicode strings', S: 'byte strings', O: 'Python objects', c: 'complex numbers', M: 'datetimes', m: 'timedeltas', V: 'raw/structured records' };
    fail(where, `unsupported .npy dtype '${descr}'${names[kind] ? ` (${names[kind]})` : ''}: use a numeric or bool array`);
  }
  return { datatype, bigEndian: order === '>' || (order === '=' && endianness() === 'BE') };
}

/** Parses one .npy file's bytes. */
export function parseNpy(bytes: Uint8Array, where = 'npy'): DatasetTensor {
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) fail(where, 'not a NumPy .npy file (bad magic)');
  const major = bytes[6];
  if (major < 1 || major > 3) fail(where, `unsupported .npy format version ${major}.${bytes[7]}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) fail(where, 'truncated .npy header');
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  if (headerStart + headerLen > bytes.length) fail(where, 'truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descrMatch = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  if (!descrMatch) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) fail(where, 'structured .npy arrays (record dtypes) are not supported: save one plain array per input');
    fail(where, `bad .npy header (no descr): ${header.trim()}`);
  }
  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!fortranMatch || !shapeMatch) fail(where, `bad .npy header: ${header.trim()}`);
  const shape = shapeMatch[1]
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map((s) => {
      const d = Number(s);
      if (!Number.isInteger(d) || d < 0) fail(where, `bad .npy shape (${shapeMatch[1]})`);
      return d;
    });
  const { datatype, bigEndian } = npyDescr(descrMatch[2], where);
  const info = DATASET_DATATYPES[datatype];
  const count = product(shape);
  const offset = headerStart + headerLen;
  const need = count * info.bytes;
  if (bytes.length - offset < need) fail(where, `truncated .npy data: shape ${fmtShape(shape)} of ${descrMatch[2]} needs ${need} bytes, file has ${bytes.length - offset}`);
  let data: TypedArray;
  const abs = bytes.byteOffset + offset;
  if (!bigEndian && abs % info.bytes === 0) {
    data = info.view(bytes.buffer, abs, count);
  } else {
    const copy = new Uint8Array(need);
    copy.set(bytes.subarray(offset, offset + need));
    if (bigEndian && info.bytes > 1) {
      for (let i = 0; i < need; i += info.bytes) copy.subarray(i, i + info.bytes).reverse();
    }
    data = info.view(copy.buffer, 0, count);
  }
  if (fortranMatch[1] === 'True' && shape.length > 1) data = fortranToC(data, shape, info);
  return { datatype, shape, data };
}

/** Transposes column-major (Fortran) data to row-major. */
function fortranToC(src: TypedArray, shape: number[], info: DtypeInfo): TypedArray {
  const n = src.length;
  const out = new info.array(n);
  const rank = shape.length;
  // Fortran strides: axis 0 is contiguous.
  const fstride = new Array<number>(rank);
  let s = 1;
  for (let k = 0; k < rank; k++) {
    fstride[k] = s;
    s *= shape[k];
  }
  const idx = new Array<number>(rank).fill(0);
  let f = 0;
  const o = out as unknown as { [i: number]: number | bigint };
  const inp = src as unknown as { [i: number]: number | bigint };
  for (let c = 0; c < n; c++) {
    o[c] = inp[f];
    // Increment the C-order index (last axis fastest), tracking the Fortran offset.
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]++;
      f += fstride[k];
      if (idx[k] < shape[k]) break;
      f -= fstride[k] * shape[k];
      idx[k] = 0;
    }
  }
  return out;
}

/** Members of a .npz (zip) archive: stored or deflated, no zip64. */
function parseNpz(bytes: Buffer, where: string): RawInput[] {
  // End of central directory: signature 0x06054b50, within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 65557); i--) {
    if (bytes.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(where, 'not a NumPy .npz archive (no zip directory)');
  const entries = bytes.readUInt16LE(eocd + 10);
  let p = bytes.readUInt32LE(eocd + 16);
  if (p === 0xffffffff) fail(where, 'zip64 .npz archives are not supported (over 4 GB): save a directory of .npy files instead');
  const out: RawInput[] = [];
  for (let e = 0; e < entries; e++) {
    if (p + 46 > bytes.length || bytes.readUInt32LE(p) !== 0x02014b50) fail(where, 'corrupt .npz archive (central directory)');
    const method = bytes.readUInt16LE(p + 10);
    const compSize = bytes.readUInt32LE(p + 20);
    const nameLen = bytes.readUInt16LE(p + 28);
    const extraLen = bytes.readUInt16LE(p + 30);
    const commentLen = bytes.readUInt16LE(p + 32);
    const local = bytes.readUInt32LE(p + 42);
    const name = bytes.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;
    if (compSize === 0xffffffff || local === 0xffffffff) fail(where, 'zip64 .npz archives are not supported (over 4 GB): save a directory of .npy files instead');
    if (local + 30 > bytes.length || bytes.readUInt32LE(local) !== 0x04034b50) fail(where, `corrupt .npz archive (member ${name})`);
    const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    const comp = bytes.subarray(start, start + compSize);
    if (comp.length < compSize) fail(where, `truncated .npz archive (member ${name})`);
    let member: Uint8Array;
    if (method === 0) member = comp;
    else if (method === 8) member = inflateRawSync(comp);
    else fail(where, `.npz member ${name} uses zip compression method ${method}; only stored and deflate are supported`);
    if (!name.endsWith('.npy')) continue;
    out.push({ name: basename(name).slice(0, -4), tensor: parseNpy(member, `${where}[${name}]`) });
  }
  if (out.length === 0) fail(where, '.npz archive holds no .npy arrays');
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Shape and flat values of a nested JSON array (rectangular, numbers or booleans). */
function flattenJson(value: Json, where: string, what: string): { shape: number[]; values: number[]; bool: boolean } {
  const shape: number[] = [];
  let probe: Json = value;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const values: number[] = [];
  let bools = 0;
  const walk = (v: Json, depth: number, path: string): void => {
    if (depth < shape.length) {
      if (!Array.isArray(v)) fail(where, `${what}: ${path} is not an array; ragged nesting (expected shape ${fmtShape(shape)})`);
      if (v.length !== shape[depth]) fail(where, `${what}: ${path} has ${v.length} elements, expected ${shape[depth]} (arrays must be rectangular)`);
      for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
      return;
    }
    if (typeof v === 'number') values.push(v);
    else if (typeof v === 'boolean') {
      values.push(v ? 1 : 0);
      bools++;
    } else if (v === null) values.push(Number.NaN);
    else fail(where, `${what}: ${path} is ${Array.isArray(v) ? 'an array (ragged nesting)' : JSON.stringify(v)}, expected a number`);
  };
  walk(value, 0, what);
  if (bools > 0 && bools !== values.length) fail(where, `${what}: mixes booleans and numbers`);
  return { shape, values, bool: bools > 0 };
}

function jsonTensor(value: Json, where: string, what: string, datatype?: DatasetDatatype): DatasetTensor {
  const { shape, values, bool } = flattenJson(value, where, what);
  if (shape.length === 0) fail(where, `${what} is a single value; the first axis must be the sample axis`);
  const numeric: DatasetTensor = { datatype: 'FP64', shape, data: Float64Array.from(values) };
  return castTensor(numeric, datatype ?? (bool ? 'BOOL' : 'FP32'), `${where}: ${what}`);
}

function isRecord(v: Json): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJsonData(bytes: Buffer, where: string, modelInputs: string[] | undefined): RawInput[] {
  let doc: Json;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Json;
  } catch (err) {
    fail(where, `not valid JSON (${(err as Error).message})`);
  }
  if (Array.isArray(doc)) return [{ tensor: jsonTensor(doc, where, 'data') }];
  if (!isRecord(doc)) fail(where, 'expected a nested array or an object {input_name: array}');
  const keys = Object.keys(doc);
  const isModelInput = (k: string): boolean => modelInputs?.includes(k) ?? false;
  // Open Inference Protocol request body.
  const oip = doc.inputs;
  if (Array.isArray(oip) && !isModelInput('inputs') && oip.every((t) => isRecord(t) && typeof t.name === 'string' && 'data' in t)) {
    return oip.map((entry) => {
      const t = entry as { [k: string]: Json };
      const name = t.name as string;
      const what = `inputs['${name}']`;
      const dt = typeof t.datatype === 'string' ? t.datatype : undefined;
      if (dt !== undefined && !Object.hasOwn(DATASET_DATATYPES, dt)) fail(where, `${what}: unsupported datatype '${dt}'`);
      const flat = flattenJson(t.data, where, what);
      let shape = flat.shape;
      if (Array.isArray(t.shape)) {
        shape = t.shape.map((d) => {
          if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) fail(where, `${what}: bad shape ${JSON.stringify(t.shape)}`);
          return d;
        });
        if (product(shape) !== flat.values.length) fail(where, `${what}: shape ${fmtShape(shape)} needs ${product(shape)} values, data has ${flat.values.length}`);
      }
      if (shape.length === 0) fail(where, `${what} is a single value; the first axis must be the sample axis`);
      const tensor = castTensor({ datatype: 'FP64', shape, data: Float64Array.from(flat.values) }, (dt as DatasetDatatype | undefined) ?? (flat.bool ? 'BOOL' : 'FP32'), `${where}: ${what}`);
      return { name, tensor };
    });
  }
  // V1 predict request body: one entry per sample.
  const instances = doc.instances;
  if (Array.isArray(instances) && !isModelInput('instances')) {
    if (instances.length === 0) fail(where, 'instances is empty');
    if (instances.every(isRecord)) {
      const names = Object.keys(instances[0] as object);
      return names.map((name) => {
        const column = instances.map((inst, i) => {
          const rec = inst as { [k: string]: Json };
          if (!Object.hasOwn(rec, name)) fail(where, `instances[${i}] has no '${name}'`);
          return rec[name];
        });
        return { name, tensor: jsonTensor(column, where, `instances[*].${name}`) };
      });
    }
    return [{ tensor: jsonTensor(instances, where, 'instances') }];
  }
  if (keys.length === 0) fail(where, 'empty object: expected {input_name: array}');
  return keys.map((name) => ({ name, tensor: jsonTensor(doc[name], where, `'${name}'`) }));
}

// ---------------------------------------------------------------------------------------------
// CSV

function parseCell(cell: string): number {
  const s = cell.trim().replace(/^"(.*)"$/, '$1').trim();
  if (s === '') return Number.NaN;
  const lower = s.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity') return Number.POSITIVE_INFINITY;
  if (lower === '-inf' || lower === '-infinity') return Number.NEGATIVE_INFINITY;
  const v = Number(s);
  return v;
}

function isNumericCell(cell: string): boolean {
  const s = cell.trim().replace(/^"(.*)"$/, '$1').trim();
  if (s === '') return false;
  return !Number.isNaN(parseCell(s)) || s.toLowerCase() === 'nan';
}

/** Numeric rows of a CSV file (header row skipped); one row per sample. */
function parseCsv(bytes: Buffer, where: string): { rows: number; cols: number; values: Float64Array; header?: string[] } {
  const lines = bytes.toString('utf8').replace(/^\uFEFF/, '').split(/\r?\n/);
  let header: string[] | undefined;
  const values: number[] = [];
  let cols = -1;
  let rows = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const cells = line.split(',');
    if (cols < 0 && header === undefined && !cells.every(isNumericCell)) {
      header = cells.map((c) => c.trim());
      cols = cells.length;
      continue;
    }
    if (cols < 0) cols = cells.length;
    if (cells.length !== cols) fail(where, `line ${i + 1} has ${cells.length} columns, expected ${cols}`);
    for (let j = 0; j < cells.length; j++) {
      if (!isNumericCell(cells[j])) fail(where, `line ${i + 1}, column ${j + 1}: '${cells[j].trim()}' is not a number`);
      values.push(parseCell(cells[j]));
    }
    rows++;
  }
  if (rows === 0) fail(where, 'holds no data rows');
  return { rows, cols, values: Float64Array.from(values), header };
}

function csvTensor(csv: { rows: number; cols: number; values: Float64Array }, where: string): DatasetTensor {
  return castTensor({ datatype: 'FP64', shape: [csv.rows, csv.cols], data: csv.values }, 'FP32', where);
}

// ---------------------------------------------------------------------------------------------
// Labels

/**
 * Reads ground-truth labels: `.npy` ([n], [n, 1], or [n, classes] one-hot/probabilities, reduced
 * by argmax), `.json` (an array, possibly [[label], ...]) or `.csv` (one column, optional
 * header). Integer-valued labels come back as an Int32Array (class ids); anything else as a
 * Float32Array (regression targets).
 */
export async function readLabels(path: string): Promise<Int32Array | Float32Array> {
  const ext = extname(path).toLowerCase();
  const bytes = await readBytes(path, 'labels');
  let shape: number[];
  let values: ArrayLike<number>;
  if (ext === '.npy') {
    const t = parseNpy(bytes, path);
    shape = t.shape;
    values = tensorNumbers(t);
  } else if (ext === '.json') {
    let doc: Json;
    try {
      doc = JSON.parse(bytes.toString('utf8')) as Json;
    } catch (err) {
      fail(path, `not valid JSON (${(err as Error).message})`);
    }
    if (isRecord(doc)) {
      const keys = Object.keys(doc);
      if (keys.length !== 1) fail(path, `labels JSON must be an array (or an object with one key), found keys ${keys.join(', ')}`);
      doc = doc[keys[0]];
    }
    const flat = flattenJson(doc, path, 'labels');
    shape = flat.shape;
    values = flat.values;
  } else if (ext === '.csv') {
    const csv = parseCsv(bytes, path);
    if (csv.cols !== 1) fail(path, `labels CSV must have one column, found ${csv.cols}`);
    shape = [csv.rows];
    values = csv.values;
  } else {
    fail(path, `unknown labels format '${ext || '(no extension)'}': use .npy, .json or .csv`);
  }
  if (shape.length === 0) fail(path, 'labels are a single value; expected one per sample');
  if (shape.length > 2) fail(path, `labels have shape ${fmtShape(shape)}; expected [samples], [samples, 1] or [samples, classes]`);
  const n = shape[0];
  if (n === 0) fail(path, 'holds no labels');
  if (shape.length === 2 && shape[1] > 1) {
    // One-hot or per-class scores: the label is the argmax of each row.
    const c = shape[1];
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < c; j++) if (values[i * c + j] > values[i * c + best]) best = j;
      out[i] = best;
    }
    return out;
  }
  let integral = true;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (Number.isNaN(v)) fail(path, `label ${i} is not a number`);
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) integral = false;
  }
  return integral ? Int32Array.from({ length: n }, (_, i) => values[i]) : Float32Array.from({ length: n }, (_, i) => values[i]);
}

// ---------------------------------------------------------------------------------------------
// Writing

function descrOf(data: TypedArray, datatype: DatasetDatatype | undefined): string {
  const le = endianness() === 'LE' ? '<' : '>';
  const dt: DatasetDatatype =
    datatype ??
    (data instanceof Float32Array ? 'FP32'
      : data instanceof Float64Array ? 'FP64'
      : data instanceof Int8Array ? 'INT8'
      : data instanceof Int16Array ? 'INT16'
      : data instanceof Int32Array ? 'INT32'
      : data instanceof BigInt64Array ? 'INT64'
      : data instanceof Uint8Array ? 'UINT8'
      : data instanceof Uint16Array ? 'UINT16'
      : data instanceof Uint32Array ? 'UINT32'
      : 'UINT64');
  const info = DATASET_DATATYPES[dt];
  if (!(data instanceof info.array)) throw new Error(`writeNpy: ${dt} data must be a ${info.array.name}, got ${data.constructor.name}`);
  const codes: Record<DatasetDatatype, string> = {
    FP16: 'f2', FP32: 'f4', FP64: 'f8', INT8: 'i1', INT16: 'i2', INT32: 'i4', INT64: 'i8',
    UINT8: 'u1', UINT16: 'u2', UINT32: 'u4', UINT64: 'u8', BOOL: 'b1',
  };
  return `${info.bytes === 1 ? '|' : le}${codes[dt]}`;
}

/** The bytes of a .npy file (format 1.0, or 2.0 for a header over 64 KiB). */
export function encodeNpy(shape: number[], data: TypedArray, datatype?: DatasetDatatype): Uint8Array {
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`writeNpy: bad shape ${fmtShape(shape)}`);
  if (product(shape) !== data.length) throw new Error(`writeNpy: shape ${fmtShape(shape)} holds ${product(shape)} values, data has ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descrOf(data, datatype)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let major = 1;
  let prefix = 10;
  if (dict.length + 1 + prefix > 65535) {
    major = 2;
    prefix = 12;
  }
  // Pad with spaces so the data starts on a 64-byte boundary, ending the header with '\n'.
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - prefix - 1, ' ') + '\n';
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(total + body.length);
  out.set(NPY_MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  out.set(body, total);
  return out;
}

/**
 * Writes a .npy file atomically (temp file, then rename). FP16 and BOOL data are Uint16Array /
 * Uint8Array, so pass `datatype` for those; otherwise it follows the array's type.
 */
export async function writeNpy(path: string, shape: number[], data: TypedArray, datatype?: DatasetDatatype): Promise<void> {
  const bytes = encodeNpy(shape, data, datatype);
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
