// An OCI image layout on disk (image-spec image-layout.md): `oci-layout`, `index.json` and
// content-addressed `blobs/sha256/<hex>`. Blobs are written to a temporary file beside their final
// name, hashed while streaming, and renamed into place only when complete, so a crash never leaves
// a blob whose bytes do not match its name. Readers verify sizes and digests they are handed.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import {
  MEDIA_TYPES, REF_NAME_ANNOTATION, isDigest,
  type Descriptor, type Digest, type ImageIndex,
} from '../../oci/types.js';

/** The largest JSON document (index, manifest, config) read into memory. */
const MAX_JSON_BYTES = 4 * 1024 * 1024;

export class OciLayout {
  constructor(readonly dir: string) {}

  /** Creates the layout's skeleton (idempotent): `oci-layout`, `blobs/sha256/`, an empty index. */
  async init(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    if (!(await exists(join(this.dir, 'index.json')))) {
      await this.writeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [] });
    }
  }

  blobPath(digest: Digest): string {
    if (!isDigest(digest)) throw new Error(`not a sha256 digest: ${String(digest)}`);
    return join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  async hasBlob(digest: Digest, size?: number): Promise<boolean> {
    try {
      const s = await stat(this.blobPath(digest));
      return s.isFile() && (size === undefined || s.size === size);
    } catch {
      return false;
    }
  }

  /** Writes bytes held in memory (JSON documents, small layers). */
  async writeBlobBytes(bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const digest: Digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const path = this.blobPath(digest);
    if (!(await this.hasBlob(digest, bytes.byteLength))) {
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, bytes);
      await rename(tmp, path);
    }
    return { mediaType, digest, size: bytes.byteLength };
  }

  /**
   * Streams a blob to disk, hashing as it goes. With `expected`, the bytes must hash to it and have
   * its size (a pulled blob), or nothing is kept.
   */
  async writeBlobStream(source: Readable | AsyncIterable<Uint8Array>, mediaType: string, expected?: { digest: Digest; size: number }): Promise<Descriptor> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const tmp = join(this.dir, 'blobs', 'sha256', `.incoming-${randomBytes(8).toString('hex')}.tmp`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.byteLength;
        if (expected && size > expected.size) done(new Error(`blob ${expected.digest} is larger than its ${expected.size} bytes`));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(source, meter, createWriteStream(tmp, { flags: 'wx' }));
      const digest: Digest = `sha256:${hash.digest('hex')}`;
      if (expected && (digest !== expected.digest || size !== expected.size)) {
        throw new Error(`blob does not match its descriptor: expected ${expected.digest} (${expected.size} bytes), got ${digest} (${size} bytes)`);
      }
      await fsyncFile(tmp);
      await rename(tmp, this.blobPath(digest));
      return { mediaType, digest, size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  openBlob(digest: Digest): Readable {
    return createReadStream(this.blobPath(digest));
  }

  /** Reads a JSON blob (manifest, config, index), checking its digest. */
  async readJsonBlob<T>(desc: Pick<Descriptor, 'digest' | 'size'>): Promise<T> {
    if (desc.size > MAX_JSON_BYTES) throw new Error(`JSON blob ${desc.digest} is ${desc.size} bytes, over ${MAX_JSON_BYTES}`);
    const bytes = await readFile(this.blobPath(desc.digest));
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (got !== desc.digest || bytes.byteLength !== desc.size) throw new Error(`blob ${desc.digest} is corrupt (hashes to ${got})`);
    return JSON.parse(bytes.toString('utf8')) as T;
  }

  async readIndex(): Promise<ImageIndex> {
    const path = join(this.dir, 'index.json');
    const s = await stat(path).catch(() => undefined);
    if (!s?.isFile()) throw new Error(`${this.dir} is not an OCI image layout (no index.json)`);
    if (s.size > MAX_JSON_BYTES) throw new Error(`${path} is over ${MAX_JSON_BYTES} bytes`);
    const index = JSON.parse(await readFile(path, 'utf8')) as ImageIndex;
    if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) throw new Error(`${path} is not an OCI image index`);
    return index;
  }

  /** Replaces index.json atomically (temporary file, then rename). */
  async writeIndex(index: ImageIndex): Promise<void> {
    const path = join(this.dir, 'index.json');
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(index));
    await rename(tmp, path);
  }

  /** Points `tag` at `manifest` in index.json, replacing an entry that had the same tag. */
  async tag(manifest: Descriptor, tag: string): Promise<void> {
    const index = await this.readIndex();
    const others = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag);
    const entry: Descriptor = { ...manifest, annotations: { ...manifest.annotations, [REF_NAME_ANNOTATION]: tag } };
    await this.writeIndex({ ...index, manifests: [...others, entry] });
  }

  /** The manifest descriptor for `tag`, or the only manifest when `tag` is omitted. */
  async resolve(tag?: string): Promise<Descriptor> {
    const { manifests } = await this.readIndex();
    if (tag === undefined) {
      if (manifests.length !== 1) throw new Error(`${this.dir} holds ${manifests.length} images; name one with :TAG`);
      return manifests[0]!;
    }
    const found = manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
    if (!found) throw new Error(`${this.dir} has no image tagged ${tag}`);
    return found;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
