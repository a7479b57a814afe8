/**
 * ONNX external data: a tensor whose bytes live in a side file next to the model
 * (data_location = EXTERNAL, external_data = {location, offset, length}).
 */
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { DataLocation, type TensorProto } from './types.js';

export interface ExternalRef {
  location: string;
  offset: number;
  /** undefined: to the end of the file */
  length?: number;
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === DataLocation.EXTERNAL;
}

function parseSize(key: string, value: string | undefined, tensor: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`tensor '${tensor}': external data ${key} '${value}' is not a byte count`);
  return n;
}

export function externalRef(t: TensorProto): ExternalRef {
  const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value]));
  const location = entries.get('location');
  if (!location) throw new Error(`tensor '${t.name ?? ''}': external data has no location`);
  return {
    location,
    offset: parseSize('offset', entries.get('offset'), t.name ?? '') ?? 0,
    length: parseSize('length', entries.get('length'), t.name ?? ''),
  };
}

/**
 * Resolves a location against the model's directory. Like onnx, refuses absolute paths and paths
 * leaving that directory: a model file must not make us read arbitrary files.
 */
export function resolveLocation(baseDir: string, location: string): string {
  if (isAbsolute(location)) throw new Error(`external data location '${location}' must be relative to the model`);
  const base = resolve(baseDir);
  const full = resolve(base, location);
  const rel = relative(base, full);
  if (rel === '' || rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
    throw new Error(`external data location '${location}' leaves the model directory`);
  }
  return full;
}

/** The most one fs read call transfers; larger tensors are read in pieces. */
const MAX_READ = 1 << 30;

function checkLength(ref: ExternalRef, fileSize: number, name: string): number {
  const length = ref.length ?? fileSize - ref.offset;
  if (ref.offset + length > fileSize) {
    throw new Error(`tensor '${name}': external data ${ref.location} [${ref.offset}, +${length}) is beyond the end of the file (${fileSize} bytes)`);
  }
  return length;
}

/** Reads one tensor's bytes synchronously (only that range, never the whole side file). */
export function readExternalSync(t: TensorProto, baseDir: string): Uint8Array {
  const ref = externalRef(t);
  const fd = openSync(resolveLocation(baseDir, ref.location), 'r');
  try {
    const length = checkLength(ref, fstatSync(fd).size, t.name ?? '');
    const out = Buffer.allocUnsafe(length);
    for (let done = 0; done < length; ) {
      const n = readSync(fd, out, done, Math.min(MAX_READ, length - done), ref.offset + done);
      if (n === 0) throw new Error(`tensor '${t.name ?? ''}': unexpected end of ${ref.location}`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor's bytes from an open side file. */
export async function readExternal(t: TensorProto, ref: ExternalRef, fh: FileHandle, fileSize: number): Promise<Uint8Array> {
  const length = checkLength(ref, fileSize, t.name ?? '');
  const out = Buffer.allocUnsafe(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await fh.read(out, done, Math.min(MAX_READ, length - done), ref.offset + done);
    if (bytesRead === 0) throw new Error(`tensor '${t.name ?? ''}': unexpected end of ${ref.location}`);
    done += bytesRead;
  }
  return out;
}
