// Writes one image layer: a deterministic tar, gzipped, streamed into an OCI layout in one pass.
//
// Deterministic means the bytes depend only on the entries: paths sorted (entries.ts), uid/gid 0
// with empty user and group names, modes normalized by the plan, one fixed mtime for every entry
// (layerMtime), no device numbers, no atime/ctime. The gzip member is framed here rather than by
// zlib's gzip wrapper: a fixed 10-byte header (no name, mtime 0, OS byte 255 "unknown") around a
// raw deflate stream and the CRC-32/size trailer, so that the header does not depend on the
// operating system zlib was built for. The deflate bytes themselves come from Node's bundled zlib
// at a fixed level (Node 20 and 22 produce identical streams; another zlib may not).
//
// Files are streamed from disk, never read whole: a multi-GB model costs a few buffers of memory.
// A file whose size changes while it is read fails the layer (its header already carried the size).

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { constants as zc, crc32, createDeflateRaw } from 'node:zlib';
import { pack as tarPack, type Header as Headers } from 'tar-stream';
import { MEDIA_TYPES, type Descriptor, type Digest } from '../../oci/types.js';
import type { OciLayout } from '../oci/layout.js';
import { normalizeEntries, type LayerEntry } from './entries.js';

/** zlib's level for every layer: the default speed/size trade-off; model weights barely compress anyway. */
export const GZIP_LEVEL = 6;

/**
 * Every entry's mtime, in seconds since the epoch: $SOURCE_DATE_EPOCH when set (reproducible-builds.org),
 * else 1 (1970-01-01T00:00:01Z, as jib: some tools treat an mtime of 0 as "unset").
 */
export function layerMtime(env: NodeJS.ProcessEnv = process.env): number {
  const epoch = sourceDateEpoch(env);
  return epoch ?? 1;
}

/** $SOURCE_DATE_EPOCH as whole seconds, or undefined when unset; a malformed value is an error, not ignored. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  if (!/^[0-9]{1,12}$/.test(raw)) throw new Error(`SOURCE_DATE_EPOCH must be a whole number of seconds, got '${raw}'`);
  return Number(raw);
}

export interface WrittenLayer {
  /** the gzip blob's descriptor, as the manifest lists it */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids entry */
  diffId: Digest;
  /** bytes of the uncompressed tar */
  tarSize: number;
}

export interface TarLayerOptions {
  mtime: number;
  /** called with the number of uncompressed bytes as they are written (progress) */
  onBytes?: (n: number) => void;
}

const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

export async function writeTarLayer(layout: OciLayout, entries: readonly LayerEntry[], opts: TarLayerOptions): Promise<WrittenLayer> {
  const sorted = normalizeEntries(entries);
  const pack = tarPack();
  const diff = createHash('sha256');
  let crc = 0;
  let tarSize = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      diff.update(chunk);
      crc = crc32(chunk, crc);
      tarSize += chunk.byteLength;
      opts.onBytes?.(chunk.byteLength);
      done(null, chunk);
    },
  });
  const deflate = createDeflateRaw({ level: GZIP_LEVEL, memLevel: 8, windowBits: 15, strategy: zc.Z_DEFAULT_STRATEGY });
  let started = false;
  const frame = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (!started) {
        started = true;
        this.push(GZIP_HEADER);
      }
      done(null, chunk);
    },
    flush(done) {
      if (!started) this.push(GZIP_HEADER);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(crc >>> 0, 0);
      trailer.writeUInt32LE(tarSize % 2 ** 32, 4);
      done(null, trailer);
    },
  });

  const producing = pipeline(pack, tap, deflate, frame);
  const storing = layout.writeBlobStream(frame, MEDIA_TYPES.layerGzip);
  const feeding = feed(pack, sorted, opts.mtime).catch((err: unknown) => {
    pack.destroy(err as Error);
    throw err;
  });
  const [, , descriptor] = await Promise.all([feeding, producing, storing]);
  return { descriptor, diffId: `sha256:${diff.digest('hex')}`, tarSize };
}

/** Adds sorted entries to a tar-stream pack with the fixed header fields, then finalizes it. */
export async function feed(pack: ReturnType<typeof tarPack>, entries: LayerEntry[], mtime: number): Promise<void> {
  const base = { mtime: new Date(mtime * 1000), uid: 0, gid: 0, uname: '', gname: '', size: 0, linkname: '', devmajor: 0, devminor: 0 };
  for (const e of entries) {
    if (e.type === 'dir') {
      await addEntry(pack, { ...base, name: `${e.path}/`, type: 'directory', mode: e.mode });
    } else if (e.type === 'symlink') {
      await addEntry(pack, { ...base, name: e.path, type: 'symlink', linkname: e.target, mode: 0o777 });
    } else if ('bytes' in e.source) {
      await addEntry(pack, { ...base, name: e.path, type: 'file', mode: e.mode, size: e.source.bytes.byteLength }, e.source.bytes);
    } else {
      await addFile(pack, { ...base, name: e.path, type: 'file', mode: e.mode, size: e.source.size }, e.source.file);
    }
  }
  pack.finalize();
}

function addEntry(pack: ReturnType<typeof tarPack>, header: Headers, bytes?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (bytes) pack.entry(header, bytes, cb);
    else pack.entry(header, cb);
  });
}

/** Streams a file into its entry, checking that it still has the size its header announced. */
async function addFile(pack: ReturnType<typeof tarPack>, header: Headers & { size: number }, file: string): Promise<void> {
  let seen = 0;
  const done = new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    const counter = new Transform({
      transform(chunk: Buffer, _enc, next) {
        seen += chunk.byteLength;
        if (seen > header.size) next(new Error(`${file} grew while it was being packaged`));
        else next(null, chunk);
      },
      flush(next) {
        next(seen === header.size ? null : new Error(`${file} shrank while it was being packaged (${seen} of ${header.size} bytes)`));
      },
    });
    pipeline(createReadStream(file), counter, sink).catch(reject);
  });
  await done;
}
