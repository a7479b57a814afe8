// A deterministic tar layer from a directory tree, for the offline base recipe (scripts/build-base.sh).
// Entries are sorted by path, owned by 0:0 with empty user/group names unless an override names
// them, and stamped with one fixed mtime, so the same tree always gives the same bytes whatever
// the build machine's clock, umask or user database. Hard links inside the tree stay hard links
// (glibc and tzdata have them); devices, FIFOs and sockets are refused: a layer carries files.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlib } from 'node:zlib';
import { pack as createPack, type Header } from 'tar-stream';

type EntryHeader = Partial<Header> & Pick<Header, 'name'>;
import type { OciLayout } from '../../src/package/oci/layout.js';
import { MEDIA_TYPES, type Descriptor, type Digest } from '../../src/oci/types.js';

export interface DirLayerOptions {
  /** Seconds since the epoch written as every entry's mtime (SOURCE_DATE_EPOCH). */
  mtime: number;
  /** Owners other than root, by path relative to the tree (e.g. `home/nonroot`). */
  owners?: Record<string, { uid: number; gid: number }>;
}

export interface LayerResult {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: the image config's `rootfs.diff_ids` entry. */
  diffId: Digest;
  uncompressedSize: number;
}

/** Every path under `root`, relative, parents before children, in byte order. */
async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort(byBytes);
    for (const name of names) {
      const child = rel === '' ? name : `${rel}/${name}`;
      out.push(child);
      if ((await lstat(join(root, child))).isDirectory()) await visit(child);
    }
  };
  await visit('');
  return out;
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Writes `root` as one gzip-compressed layer blob into `layout`. */
export async function writeDirLayer(layout: OciLayout, root: string, opts: DirLayerOptions): Promise<LayerResult> {
  const paths = await walk(root);
  const tar = createPack();
  const diffHash = createHash('sha256');
  let uncompressedSize = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _enc, done) {
      diffHash.update(chunk);
      uncompressedSize += chunk.byteLength;
      done(null, chunk);
    },
  });
  // Node's zlib writes a fixed gzip header (mtime 0, OS 3), so the compressed bytes depend on the
  // tar and the level only.
  const gzip = createGzip({ level: zlib.Z_BEST_COMPRESSION });
  const written = layout.writeBlobStream(tar.pipe(measure).pipe(gzip), MEDIA_TYPES.layerGzip);
  // If the blob writer fails, stop feeding the packer instead of waiting on back-pressure forever.
  const failed = written.then(() => undefined, (err: unknown) => err);

  const seenInodes = new Map<string, string>();
  const mtime = new Date(opts.mtime * 1000);
  for (const rel of paths) {
    const st = await lstat(join(root, rel));
    const owner = opts.owners?.[rel] ?? { uid: 0, gid: 0 };
    const base: EntryHeader = { name: rel, mode: st.mode & 0o7777, uid: owner.uid, gid: owner.gid, uname: '', gname: '', mtime };
    if (st.isDirectory()) {
      await addEntry(tar, { ...base, name: `${rel}/`, type: 'directory' });
    } else if (st.isSymbolicLink()) {
      await addEntry(tar, { ...base, type: 'symlink', linkname: await readlink(join(root, rel)) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? seenInodes.get(key) : undefined;
      if (first !== undefined) {
        await addEntry(tar, { ...base, type: 'link', linkname: first });
        continue;
      }
      if (st.nlink > 1) seenInodes.set(key, rel);
      const entry = tar.entry({ ...base, type: 'file', size: st.size });
      await Promise.race([pipeline(createReadStream(join(root, rel)), entry), failed.then((e) => { if (e) throw e; })]);
    } else {
      throw new Error(`${join(root, rel)}: not a file, directory or symlink; a layer carries none of those`);
    }
  }
  tar.finalize();
  const descriptor = await written;
  return { descriptor, diffId: `sha256:${diffHash.digest('hex')}`, uncompressedSize };
}

function addEntry(tar: ReturnType<typeof createPack>, header: EntryHeader): Promise<void> {
  return new Promise((resolve, reject) => tar.entry(header, (err) => (err ? reject(err) : resolve())));
}
