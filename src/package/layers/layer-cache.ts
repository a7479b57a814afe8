// A cache of built layers keyed by their inputs, so that a rebuild after a model change does not
// tar and gzip node, node_modules and dist/ again (the way jib and ko skip unchanged layers).
//
// The key is a sha256 over everything a layer's bytes depend on: this cache's format, the tar
// writer's fixed settings (gzip level, Node's zlib version, the entries' mtime) and every entry
// (path, type, mode, link target; for a file read from disk its size, inode, mtime and ctime in
// nanoseconds, as git's index and make trust them; for bytes held in memory their sha256). A file
// rewritten in place changes its ctime, which nothing but the kernel sets, so a stale hit needs a
// file changed without its ctime moving. The entry's value is the layer's descriptor, diff_id and
// tar size; the gzip blob is kept in the cache's own `blobs/sha256/` and hard-linked (or copied,
// across file systems) into the image being built. A hit is re-checked: the blob must still have
// its recorded size. Every cache failure falls back to building the layer: the cache can make a
// build faster, never wrong or failed.

import { createHash, randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type Descriptor, type Digest } from '../oci/types.js';
import type { OciLayout } from '../oci/layout.js';
import { normalizeEntries, type LayerEntry } from './entries.js';
import { GZIP_LEVEL, type WrittenLayer } from './tar-layer.js';

/** Bumped whenever the tar or gzip writer changes its bytes for the same entries. */
const FORMAT = 'berth-layer-cache-1';
const STAT_BATCH = 256;

interface Record_ {
  descriptor: Descriptor;
  diffId: Digest;
  tarSize: number;
}

export class LayerCache {
  constructor(readonly dir: string) {}

  /** The key of a layer: sha256 over its inputs (see the file comment). */
  async key(entries: readonly LayerEntry[], mtime: number): Promise<string> {
    const hash = createHash('sha256');
    hash.update(JSON.stringify([FORMAT, GZIP_LEVEL, process.versions.zlib, mtime]));
    const sorted = normalizeEntries(entries);
    // the files' stats in batches: one await per file made keying node_modules take seconds
    const stats: (BigIntStats | undefined)[] = [];
    for (let i = 0; i < sorted.length; i += STAT_BATCH) {
      stats.push(...(await Promise.all(sorted.slice(i, i + STAT_BATCH).map((e) =>
        e.type === 'file' && 'file' in e.source ? stat(e.source.file, { bigint: true }) : undefined))));
    }
    for (const [i, e] of sorted.entries()) {
      if (e.type === 'dir') hash.update(JSON.stringify(['d', e.path, e.mode]));
      else if (e.type === 'symlink') hash.update(JSON.stringify(['l', e.path, e.target]));
      else if ('bytes' in e.source) hash.update(JSON.stringify(['b', e.path, e.mode, createHash('sha256').update(e.source.bytes).digest('hex')]));
      else {
        const st = stats[i]!;
        hash.update(JSON.stringify(['f', e.path, e.mode, e.source.file, String(e.source.size), String(st.size), String(st.ino), String(st.mtimeNs), String(st.ctimeNs)]));
      }
      hash.update('\n');
    }
    return hash.digest('hex');
  }

  private recordPath(key: string): string {
    return join(this.dir, 'layers', `${key}.json`);
  }

  private blobPath(digest: Digest): string {
    return join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  /** Puts the cached layer for `key` into `layout`; undefined on a miss (or an unusable entry). */
  async restore(key: string, layout: OciLayout): Promise<WrittenLayer | undefined> {
    try {
      const rec = JSON.parse(await readFile(this.recordPath(key), 'utf8')) as Record_;
      if (!isDigest(rec.descriptor?.digest) || !isDigest(rec.diffId) || !Number.isSafeInteger(rec.tarSize)) return undefined;
      const src = this.blobPath(rec.descriptor.digest);
      if ((await stat(src)).size !== rec.descriptor.size) return undefined;
      if (!(await layout.hasBlob(rec.descriptor.digest, rec.descriptor.size))) await placeFile(src, layout.blobPath(rec.descriptor.digest));
      return { descriptor: rec.descriptor, diffId: rec.diffId, tarSize: rec.tarSize };
    } catch {
      return undefined;
    }
  }

  /** Remembers a layer just written into `layout`; a failure here is ignored (the build has its layer). */
  async store(key: string, layout: OciLayout, written: WrittenLayer): Promise<void> {
    try {
      await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
      await mkdir(join(this.dir, 'layers'), { recursive: true });
      const blob = this.blobPath(written.descriptor.digest);
      const have = await stat(blob).then((s) => s.size === written.descriptor.size, () => false);
      if (!have) await placeFile(layout.blobPath(written.descriptor.digest), blob);
      const rec: Record_ = { descriptor: written.descriptor, diffId: written.diffId, tarSize: written.tarSize };
      const tmp = `${this.recordPath(key)}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, JSON.stringify(rec));
      await rename(tmp, this.recordPath(key));
    } catch {
      // a read-only or full cache directory costs speed, not the build
    }
  }
}

/** Hard-links `src` to `dest` (same file system: no bytes copied), else copies it; via a temporary name, so `dest` is whole or absent. */
async function placeFile(src: string, dest: string): Promise<void> {
  const tmp = `${dest}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await link(src, tmp).catch(() => copyFile(src, tmp));
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
