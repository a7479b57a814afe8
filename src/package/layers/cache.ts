// A cache of built layers, so that a rebuild after a model change re-gzips only the model layer
// (jib and ko cache the same way). The key covers everything that decides a layer's bytes: each
// entry's image path, type, mode and link target; for a file from disk its size, mtime, ctime,
// inode and device (ctime cannot be set back by tools, so an edited file is a new key); for
// bytes in memory their sha256; the entries' mtime and the gzip level. A hit is copied into the
// layout through writeBlobStream with the expected digest, so a damaged cache fails the copy
// instead of producing a wrong image. The cache keeps the MAX_ENTRIES most recently used layers.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { OciLayout } from '../oci/layout.js';
import { MEDIA_TYPES, isDigest } from '../../oci/types.js';
import { normalizeEntries, type LayerEntry } from './entries.js';
import { GZIP_LEVEL, type WrittenLayer } from './tar-layer.js';

/** Bump when the layer writer's output changes for the same inputs. */
const FORMAT = 'berth-layer-v1';
const MAX_ENTRIES = 24;
/** the largest layer copied into the cache when a hard link is not possible */
const MAX_COPY_BYTES = 512 * 1024 * 1024;

export class LayerCache {
  constructor(readonly dir: string) {}

  async key(entries: readonly LayerEntry[], mtime: number): Promise<string> {
    const hash = createHash('sha256').update(`${FORMAT}\n${GZIP_LEVEL}\n${mtime}\n`);
    for (const e of normalizeEntries(entries)) {
      if (e.type === 'dir') hash.update(`d ${e.path} ${e.mode}\n`);
      else if (e.type === 'symlink') hash.update(`l ${e.path} ${e.target}\n`);
      else if ('bytes' in e.source) hash.update(`b ${e.path} ${e.mode} ${createHash('sha256').update(e.source.bytes).digest('hex')}\n`);
      else {
        const s = await stat(e.source.file, { bigint: true });
        hash.update(`f ${e.path} ${e.mode} ${e.source.size} ${s.size} ${s.mtimeNs} ${s.ctimeNs} ${s.ino} ${s.dev} ${e.source.file}\n`);
      }
    }
    return hash.digest('hex');
  }

  /** The cached layer for `key`, copied into `layout`, or undefined. */
  async get(key: string, layout: OciLayout): Promise<WrittenLayer | undefined> {
    const record = await readFile(join(this.dir, `${key}.json`), 'utf8').then((t) => JSON.parse(t) as WrittenLayer, () => undefined);
    if (!record || !isDigest(record.descriptor?.digest) || !isDigest(record.diffId)) return undefined;
    const { digest, size } = record.descriptor;
    try {
      if (!(await layout.hasBlob(digest, size))) {
        await layout.writeBlobStream(createReadStream(this.blobPath(digest)), MEDIA_TYPES.layerGzip, { digest, size });
      }
    } catch {
      return undefined; // missing or damaged: build the layer again
    }
    const now = new Date();
    await utimes(join(this.dir, `${key}.json`), now, now).catch(() => undefined);
    return { descriptor: { mediaType: MEDIA_TYPES.layerGzip, digest, size }, diffId: record.diffId, tarSize: record.tarSize };
  }

  async put(key: string, layout: OciLayout, layer: WrittenLayer): Promise<void> {
    await mkdir(join(this.dir, 'blobs'), { recursive: true });
    const blob = this.blobPath(layer.descriptor.digest);
    if (!(await stat(blob).then((s) => s.size === layer.descriptor.size, () => false))) {
      const tmp = `${blob}.${randomBytes(6).toString('hex')}.tmp`;
      const src = layout.blobPath(layer.descriptor.digest);
      const linked = await link(src, tmp).then(() => true, () => false);
      // across filesystems a copy is needed: not for a multi-GB model layer, whose copy would cost
      // more disk and time than gzipping it again saves
      if (!linked && layer.descriptor.size > MAX_COPY_BYTES) return;
      if (!linked) await copyFile(src, tmp);
      await rename(tmp, blob);
    }
    const tmp = join(this.dir, `.${key}.${randomBytes(6).toString('hex')}.tmp`);
    await writeFile(tmp, JSON.stringify(layer));
    await rename(tmp, join(this.dir, `${key}.json`));
    await this.evict();
  }

  private blobPath(digest: string): string {
    return join(this.dir, 'blobs', digest.slice('sha256:'.length));
  }

  /** Drops the least recently used records beyond MAX_ENTRIES, and blobs no record names. */
  private async evict(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => /^[0-9a-f]{64}\.json$/.test(n));
    const records = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(this.dir, n))).mtimeMs })));
    records.sort((a, b) => b.t - a.t);
    for (const r of records.slice(MAX_ENTRIES)) await rm(join(this.dir, r.n), { force: true });
    const kept = new Set<string>();
    for (const r of records.slice(0, MAX_ENTRIES)) {
      const rec = await readFile(join(this.dir, r.n), 'utf8').then((t) => JSON.parse(t) as WrittenLayer, () => undefined);
      if (rec) kept.add(rec.descriptor.digest.slice('sha256:'.length));
    }
    for (const b of await readdir(join(this.dir, 'blobs'))) {
      if (/^[0-9a-f]{64}$/.test(b) && !kept.has(b)) await rm(join(this.dir, 'blobs', b), { force: true });
    }
  }
}
