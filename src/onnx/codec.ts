/**
 * ONNX model and tensor files: decode/encode, load/save with external data.
 *
 * Round trips are exact: unknown fields are preserved, presence of optional fields is preserved,
 * int64 values are never rounded, and fields are written in field-number order as protoc's
 * serializer does, so a model written by a standard exporter re-encodes to the same bytes.
 */
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { externalRef, isExternal, readExternal, resolveLocation } from './external.js';
import { tensorRawBytes } from './tensor.js';
import { DataLocation, type ModelProto, type TensorProto } from './types.js';
import { forEachTensor, mapTensors } from './walk.js';
import { ModelType, TensorType, decodeWith, encodeWith } from './wire.js';

/** A file or buffer that is not a (complete) ONNX model or tensor. */
export class InvalidModelError extends Error {
  override name = 'InvalidModelError';
}

/** Protobuf messages cannot exceed 2 GiB - 1; larger models must keep tensors in external data. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

function reason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/index out of range/.test(msg)) return `truncated, or not an ONNX file (${msg})`;
  if (/wire type|illegal tag|varint|end group|max depth/.test(msg)) return `corrupt, or not an ONNX file (${msg})`;
  return msg;
}

/** Checks a decoded message is plausibly a model: protobuf alone accepts many byte strings. */
function checkModel(model: ModelProto, size: number): void {
  if (size === 0) throw new Error('empty file');
  const ir = model.irVersion;
  if (typeof ir !== 'number' || ir < 1 || ir > 1000) throw new Error(`ir_version is ${ir === undefined ? 'missing' : String(ir)}`);
  if (!model.graph && !(model.functions?.length)) throw new Error('no graph');
  // ir_version >= 3 requires opset_import; it is written after the graph, so a file cut right after
  // the graph shows up here.
  if (ir >= 3 && model.opsetImport.length === 0) throw new Error('no opset_import (truncated file?)');
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    model = decodeWith(ModelType, bytes) as unknown as ModelProto;
    checkModel(model, bytes.length);
  } catch (err) {
    throw new InvalidModelError(`not a valid ONNX model: ${reason(err)}`);
  }
  return model;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return encodeWith(ModelType, model);
}

/** Decodes a serialized TensorProto (e.g. ONNX's test_data_set_N/input_K.pb). */
export function decodeTensor(bytes: Uint8Array): TensorProto {
  try {
    return decodeWith(TensorType, bytes) as unknown as TensorProto;
  } catch (err) {
    throw new InvalidModelError(`not a valid ONNX tensor: ${reason(err)}`);
  }
}

export function encodeTensor(tensor: TensorProto): Uint8Array {
  return encodeWith(TensorType, tensor);
}

export interface LoadOptions {
  /**
   * Read external data into raw_data (default true), resolving locations relative to the model's
   * directory. With false, external tensors keep their references; read them one at a time with
   * tensorToArray(t, { baseDir: dirname(path) }).
   */
  externalData?: boolean;
}

export async function loadModel(path: string, options: LoadOptions = {}): Promise<ModelProto> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path}: ${e.message}`);
  }
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (err) {
    throw new InvalidModelError(`${(err as Error).message.replace(/^not a valid ONNX model: /, `not a valid ONNX model: ${path}: `)}`);
  }
  if (options.externalData ?? true) await loadExternalData(model, dirname(path));
  return model;
}

/**
 * Reads every external tensor's bytes into raw_data, in place, one tensor per read: the side
 * file is never loaded whole.
 */
export async function loadExternalData(model: ModelProto, baseDir: string): Promise<void> {
  const external: TensorProto[] = [];
  forEachTensor(model, (t) => {
    if (isExternal(t)) external.push(t);
  });
  const files = new Map<string, { fh: FileHandle; size: number }>();
  try {
    for (const t of external) {
      const ref = externalRef(t);
      const full = resolveLocation(baseDir, ref.location);
      let file = files.get(full);
      if (!file) {
        const fh = await open(full, 'r');
        file = { fh, size: (await fh.stat()).size };
        files.set(full, file);
      }
      t.rawData = await readExternal(t, ref, file.fh, file.size);
      delete t.dataLocation;
      t.externalData = [];
    }
  } finally {
    for (const { fh } of files.values()) await fh.close();
  }
}

export interface SaveOptions {
  /**
   * Store tensors of at least `sizeThreshold` bytes (default 1024) in the side file `location`,
   * relative to the model's directory. Without this option, a model too large for one protobuf
   * (2 GiB) is saved with external data in `<model file name>.data` anyway.
   */
  externalData?: { location: string; sizeThreshold?: number };
  /** Directory that tensors already external resolve against (default: the directory of the new path). */
  sourceDir?: string;
  /** The size above which external data is forced; only lowered by tests. */
  protobufLimit?: number;
}

export interface SaveResult {
  /** bytes of the .onnx file */
  modelBytes: number;
  /** the side file, when external data was written */
  externalData?: { path: string; bytes: number; tensors: number };
}

/** Bytes a tensor's data occupies (as stored now); an estimate for typed fields. */
function payloadBytes(t: TensorProto): number {
  if (isExternal(t)) return 0;
  let n = t.rawData?.length ?? 0;
  n += 4 * ((t.floatData?.length ?? 0) + (t.int32Data?.length ?? 0));
  n += 8 * ((t.int64Data?.length ?? 0) + (t.doubleData?.length ?? 0) + (t.uint64Data?.length ?? 0));
  for (const s of t.stringData ?? []) n += s.length;
  return n;
}

function modelPayloadBytes(model: ModelProto): number {
  let n = 0;
  forEachTensor(model, (t) => {
    n += payloadBytes(t);
  });
  return n;
}

/** Offsets of large tensors in the side file are page-aligned (as onnx does) so they can be mmapped. */
const PAGE = 4096;
const PAGE_ALIGN_FROM = 1 << 20;
const SMALL_ALIGN = 64;

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fh.write(data, done, Math.min(data.length - done, 1 << 30), position + done);
    done += bytesWritten;
  }
}

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

interface PendingFile {
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * Writes a file's content to a temporary file in the same directory and fsyncs it; commit()
 * renames it into place, so readers never see a partial file. Commit is separate so a model and
 * its side file can be renamed together at the end.
 */
async function writeTemp(path: string, write: (fh: FileHandle) => Promise<void>): Promise<PendingFile> {
  const tmp = tempName(path);
  const abort = () => unlink(tmp).catch(() => undefined);
  const fh = await open(tmp, 'wx');
  try {
    await write(fh);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await abort();
    throw err;
  }
  await fh.close();
  return { commit: () => rename(tmp, path), abort };
}

async function syncDir(dir: string): Promise<void> {
  // Makes the renames durable; not supported everywhere (e.g. Windows), hence best effort.
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

/**
 * Moves the data of large initializers (in every graph) into a side file and returns the model
 * referencing it, without modifying `model`. Tensors already external are copied from `sourceDir`.
 */
async function externalize(
  model: ModelProto,
  fh: FileHandle,
  location: string,
  threshold: number,
  sourceDir: string,
): Promise<{ model: ModelProto; bytes: number; tensors: number }> {
  const moves: { tensor: TensorProto; replacement: TensorProto }[] = [];
  let offset = 0;
  const plan = mapTensors(model, (t, site) => {
    if (site !== 'initializer' || t.dataType === 8 /* STRING: no raw form */) return t;
    const size = isExternal(t) ? (externalRef(t).length ?? Infinity) : payloadBytes(t);
    if (size < threshold) return t;
    const replacement: TensorProto = { ...t };
    delete replacement.rawData;
    for (const field of ['floatData', 'int32Data', 'int64Data', 'doubleData', 'uint64Data'] as const) {
      if (replacement[field]) replacement[field] = [];
    }
    moves.push({ tensor: t, replacement });
    return replacement;
  });
  for (const { tensor, replacement } of moves) {
    // Read and write one tensor at a time: at most one tensor's bytes are held in memory here.
    const bytes = tensorRawBytes(tensor, { baseDir: sourceDir });
    offset = alignUp(offset, bytes.length >= PAGE_ALIGN_FROM ? PAGE : SMALL_ALIGN);
    await writeAll(fh, bytes, offset);
    replacement.dataLocation = DataLocation.EXTERNAL;
    replacement.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(bytes.length) },
    ];
    offset += bytes.length;
  }
  return { model: plan, bytes: offset, tensors: moves.length };
}

/**
 * Saves a model atomically. Tensors that are already external and not moved keep their
 * references, which are relative to the directory of `path`.
 */
export async function saveModel(model: ModelProto, path: string, options: SaveOptions = {}): Promise<SaveResult> {
  const limit = options.protobufLimit ?? PROTOBUF_LIMIT;
  let ext = options.externalData;
  if (!ext && modelPayloadBytes(model) > limit) ext = { location: `${basename(path)}.data` };
  let bytes: Uint8Array | undefined;
  if (!ext) {
    bytes = encodeWith(ModelType, model, true);
    if (bytes.length > limit) {
      bytes = undefined;
      ext = { location: `${basename(path)}.data` };
    }
  }
  const dir = dirname(path);
  let sideInfo: SaveResult['externalData'];
  let side: PendingFile | undefined;
  try {
    if (ext) {
      const { location, sizeThreshold = 1024 } = ext;
      const sidePath = resolveLocation(dir, location);
      let result: Awaited<ReturnType<typeof externalize>> | undefined;
      side = await writeTemp(sidePath, async (fh) => {
        result = await externalize(model, fh, location, sizeThreshold, options.sourceDir ?? dir);
      });
      bytes = encodeWith(ModelType, result!.model, true);
      if (bytes.length > limit) {
        throw new Error(`model is ${bytes.length} bytes even with external data, over the ${limit} byte protobuf limit`);
      }
      sideInfo = { path: sidePath, bytes: result!.bytes, tensors: result!.tensors };
    }
    const data = bytes!;
    const main = await writeTemp(path, (fh) => writeAll(fh, data, 0));
    // Side file first: once the new model is visible, the data it points at is there.
    if (side) await side.commit();
    side = undefined;
    await main.commit();
  } finally {
    if (side) await side.abort();
  }
  await syncDir(dir);
  return { modelBytes: bytes!.length, externalData: sideInfo };
}

/** Size of a model file and of the external data files it references (for reports). */
export async function modelFileSizes(path: string, model: ModelProto): Promise<{ model: number; external: Record<string, number> }> {
  const external: Record<string, number> = {};
  const locations = new Set<string>();
  forEachTensor(model, (t) => {
    if (isExternal(t)) locations.add(externalRef(t).location);
  });
  for (const loc of locations) {
    external[loc] = await stat(resolveLocation(dirname(path), loc)).then((s) => s.size, () => -1);
  }
  return { model: (await stat(path)).size, external };
}
