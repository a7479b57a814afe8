// `--archive FILE`: one tar that both `podman load` / skopeo (an OCI image layout: oci-layout,
// index.json, blobs/) and `docker load` (manifest.json naming the config and layer blobs) read.
// The blobs are stored once and named by both indexes. Written to a temporary file beside FILE
// and renamed when complete.

import { createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import { DIR_MODE, FILE_MODE, normalizeEntries, type LayerEntry } from '../layers/entries.js';
import { feed } from '../layers/tar-layer.js';
import type { BuiltImage } from '../image/build.js';
import type { OciLayout } from '../oci/layout.js';
import { stagingPath } from './oci-dir.js';

const blobName = (digest: string): string => `blobs/sha256/${digest.slice('sha256:'.length)}`;

/** docker load's manifest.json for one image. */
export function dockerManifest(image: BuiltImage, tag: string): Buffer {
  const doc = [{ Config: blobName(image.config.digest), RepoTags: [tag], Layers: image.layers.map((l) => blobName(l.digest)) }];
  return Buffer.from(JSON.stringify(doc));
}

export async function writeArchive(layout: OciLayout, image: BuiltImage, tag: string, file: string, mtime: number): Promise<void> {
  const entries: LayerEntry[] = [
    { type: 'dir', path: '/blobs', mode: DIR_MODE },
    { type: 'dir', path: '/blobs/sha256', mode: DIR_MODE },
    { type: 'file', path: '/manifest.json', mode: FILE_MODE, source: { bytes: dockerManifest(image, tag) } },
  ];
  for (const name of ['oci-layout', 'index.json']) {
    const st = await stat(join(layout.dir, name));
    entries.push({ type: 'file', path: `/${name}`, mode: FILE_MODE, source: { file: join(layout.dir, name), size: st.size } });
  }
  for (const hex of (await readdir(join(layout.dir, 'blobs', 'sha256'))).filter((n) => /^[0-9a-f]{64}$/.test(n))) {
    const path = join(layout.dir, 'blobs', 'sha256', hex);
    entries.push({ type: 'file', path: `/blobs/sha256/${hex}`, mode: FILE_MODE, source: { file: path, size: (await stat(path)).size } });
  }
  const tmp = stagingPath(file, 'archive');
  const pack = tarPack();
  try {
    await Promise.all([feed(pack, normalizeEntries(entries), mtime).catch((err: unknown) => {
      pack.destroy(err as Error);
      throw err;
    }), pipeline(pack, createWriteStream(tmp, { flags: 'wx' }))]);
    await rename(tmp, resolve(file));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
