/**
 * NumPy .npy files: format v1/v2/v3, any numeric dtype ('<f4', '>f8', '<i8', '|u1', '|b1',
 * '<f2', ...), little- or big-endian, C or Fortran order (Fortran is transposed to C order);
 * and the writer (format 1.0, or 2.0 for a header over 64 KiB), atomic on disk.
 */
import { randomBytes } from 'node:crypto';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { TENSOR_DATATYPES, tensorDatatypeFromNumpy } from '../tensor-types/datatypes.js';
import { failFile, fmtShape, product } from './errors.js';
import { DATASET_DATATYPES, asDatasetDatatype, type DatasetDatatype, type DatasetDatatypeInfo, type DatasetTensor, type TypedArray } from './types.js';

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface NpyDescr {
  datatype: DatasetDatatype;
  bigEndian: boolean;
}

function npyDescr(descr: string, where: string): NpyDescr {
  const m = /^([<>|=]?)([a-zA-Z?])(\d*)$/.exec(descr);
  if (!m) failFile(where, `unsupported .npy dtype '${descr}'`);
  const [, order, kind, sizeText] = m;
  const size = sizeText === '' ? (kind === '?' ? 1 : 0) : Number(sizeText);
  // '?' is NumPy's one-character code for bool ('|b1').
  const datatype = asDatasetDatatype(tensorDatatypeFromNumpy(`${kind === '?' ? 'b' : kind}${size}`));
  if (!datatype) {
    const names: Record<string, string> = { U: 'unicode strings', S: 'byte strings', O: 'Python objects', c: 'complex numbers', M: 'datetimes', m: 'timedeltas', V: 'raw/structured records' };
    failFile(where, `unsupported .npy dtype '${descr}'${names[kind] ? ` (${names[kind]})` : ''}: use a numeric or bool array`);
  }
  return { datatype, bigEndian: order === '>' || (order === '=' && endianness() === 'BE') };
}

/** Parses one .npy file's bytes. */
export function parseNpy(bytes: Uint8Array, where = 'npy'): DatasetTensor {
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) failFile(where, 'not a NumPy .npy file (bad magic)');
  const major = bytes[6];
  if (major < 1 || major > 3) failFile(where, `unsupported .npy format version ${major}.${bytes[7]}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) failFile(where, 'truncated .npy header');
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  if (headerStart + headerLen > bytes.length) failFile(where, 'truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descrMatch = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  if (!descrMatch) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) failFile(where, 'structured .npy arrays (record dtypes) are not supported: save one plain array per input');
    failFile(where, `bad .npy header (no descr): ${header.trim()}`);
  }
  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!fortranMatch || !shapeMatch) failFile(where, `bad .npy header: ${header.trim()}`);
  const shape = shapeMatch[1]
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map((s) => {
      const d = Number(s);
      if (!Number.isInteger(d) || d < 0) failFile(where, `bad .npy shape (${shapeMatch[1]})`);
      return d;
    });
  const { datatype, bigEndian } = npyDescr(descrMatch[2], where);
  const info = DATASET_DATATYPES[datatype];
  const count = product(shape);
  const offset = headerStart + headerLen;
  const need = count * info.size;
  if (bytes.length - offset < need) failFile(where, `truncated .npy data: shape ${fmtShape(shape)} of ${descrMatch[2]} needs ${need} bytes, file has ${bytes.length - offset}`);
  let data: TypedArray;
  const abs = bytes.byteOffset + offset;
  if (!bigEndian && abs % info.size === 0) {
    data = new info.array(bytes.buffer, abs, count);
  } else {
    const copy = new Uint8Array(need);
    copy.set(bytes.subarray(offset, offset + need));
    if (bigEndian && info.size > 1) {
      for (let i = 0; i < need; i += info.size) copy.subarray(i, i + info.size).reverse();
    }
    data = new info.array(copy.buffer, 0, count);
  }
  if (fortranMatch[1] === 'True' && shape.length > 1) data = fortranToC(data, shape, info);
  return { datatype, shape, data };
}

/** Transposes column-major (Fortran) data to row-major. */
function fortranToC(src: TypedArray, shape: number[], info: DatasetDatatypeInfo): TypedArray {
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
  if (!(data instanceof info.array)) throw new Error(`writeNpy: ${dt} data must be a ${(info.array as unknown as { name: string }).name}, got ${data.constructor.name}`);
  return `${info.size === 1 ? '|' : le}${TENSOR_DATATYPES[dt].numpy!.code}`;
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
