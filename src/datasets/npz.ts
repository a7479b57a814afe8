/**
 * NumPy .npz archives (`np.savez`, `np.savez_compressed`): a zip of one NAME.npy per input,
 * stored or deflated, zip64 included. fflate reads the zip.
 *
 * An archive is hostile input: a few kilobytes of deflate can claim gigabytes. The directory's
 * declared sizes are checked against the limit before anything is inflated, and the bytes
 * actually inflated are counted as they come (in bounded steps), so an archive that lies about
 * its sizes is refused as soon as it passes what it declared or the limit.
 */
import { basename } from 'node:path';
import { Unzip, UnzipInflate, unzipSync, type UnzipFile } from 'fflate';
import { failFile } from './errors.js';
import { parseNpy } from './npy.js';
import type { RawInput } from './raw-input.js';

/** Default for `maxNpzBytes`: what Node reads as one file, so an .npz holds no more than a .npy can. */
export const DEFAULT_MAX_NPZ_BYTES = 2 ** 31 - 1;

/**
 * Compressed bytes handed to the inflater at a time. Deflate expands at most ~1032:1, so one
 * step yields at most ~17 MB before the running count is checked again.
 */
const STEP_BYTES = 16 * 1024;

interface Member {
  name: string;
  compression: number;
  originalSize: number;
}

/** The central directory's entries, without inflating anything. */
function listMembers(bytes: Uint8Array, where: string): Member[] {
  const members: Member[] = [];
  try {
    unzipSync(bytes, {
      filter: (f) => {
        members.push({ name: f.name, compression: f.compression, originalSize: f.originalSize });
        return false;
      },
    });
  } catch (err) {
    // fflate's code 13 ('invalid zip data'): no end-of-central-directory record.
    if ((err as { code?: number }).code === 13) failFile(where, 'not a NumPy .npz archive (no zip directory)');
    failFile(where, `corrupt .npz archive (${(err as Error).message})`);
  }
  return members;
}

const isNpy = (name: string): boolean => name.endsWith('.npy');

/** Members of a .npz archive, one input per NAME.npy; refuses archives that inflate past `limit` bytes. */
export function parseNpz(bytes: Uint8Array, where: string, limit = DEFAULT_MAX_NPZ_BYTES): RawInput[] {
  const members = listMembers(bytes, where);
  for (const m of members) {
    if (m.compression !== 0 && m.compression !== 8) {
      failFile(where, `.npz member ${m.name} uses zip compression method ${m.compression}; only stored and deflate are supported`);
    }
  }
  const arrays = members.filter((m) => isNpy(m.name));
  if (arrays.length === 0) failFile(where, '.npz archive holds no .npy arrays');
  const declaredTotal = arrays.reduce((sum, m) => sum + m.originalSize, 0);
  if (declaredTotal > limit) {
    failFile(where, `.npz archive declares ${declaredTotal} bytes of arrays uncompressed, over the limit of ${limit} bytes (a zip bomb?): save a directory of .npy files instead`);
  }
  const declared = new Map(arrays.map((m) => [m.name, m.originalSize]));

  const out: RawInput[] = [];
  const open = new Set<string>();
  let total = 0;
  const onFile = (file: UnzipFile): void => {
    if (!isNpy(file.name)) return; // never started: fflate skips its bytes
    const name = file.name;
    const expected = declared.get(name) ?? file.originalSize;
    if (expected === undefined) failFile(where, `corrupt .npz archive (member ${name} is not in the zip directory)`);
    const buffer = new Uint8Array(expected);
    let size = 0;
    open.add(name);
    file.ondata = (err, chunk, final) => {
      if (err) throw err;
      total += chunk.length;
      if (size + chunk.length > expected) {
        failFile(where, `.npz member ${name} inflates past the ${expected} bytes the archive declares for it (a zip bomb?)`);
      }
      if (total > limit) failFile(where, `.npz archive inflates past the limit of ${limit} bytes (a zip bomb?)`);
      buffer.set(chunk, size);
      size += chunk.length;
      if (!final) return;
      open.delete(name);
      if (size !== expected) failFile(where, `corrupt .npz archive (member ${name} holds ${size} bytes, the archive declares ${expected})`);
      out.push({ name: basename(name).slice(0, -4), tensor: parseNpy(buffer, `${where}[${name}]`) });
    };
    file.start();
  };
  const unzip = new Unzip(onFile);
  unzip.register(UnzipInflate);
  try {
    for (let p = 0; p < bytes.length; p += STEP_BYTES) unzip.push(bytes.subarray(p, p + STEP_BYTES), p + STEP_BYTES >= bytes.length);
  } catch (err) {
    const message = (err as Error).message;
    if (message.startsWith(`${where}`)) throw err;
    failFile(where, `corrupt .npz archive (${message})`);
  }
  if (open.size > 0) failFile(where, `truncated .npz archive (member ${[...open][0]})`);
  return out;
}
