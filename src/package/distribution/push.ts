// Pushing an image from an OCI layout to a registry: every blob first (skipping those the registry
// already has, by digest), each child manifest of an index by digest, and the tagged manifest
// last, so nothing is visible under the tag until everything it names is in place. The manifest
// bytes go up exactly as the layout holds them, so the registry's digest is the layout's.

import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { OciLayout } from '../oci/layout.js';
import { MEDIA_TYPES, type Descriptor, type Digest, type ImageIndex, type ImageManifest } from '../../oci/types.js';
import { MAX_MANIFEST_BYTES, RegistryClient, type ClientOptions } from '../../oci/client.js';
import { formatReference, type ImageReference } from '../../oci/reference.js';

export interface BlobProgress {
  digest: Digest;
  size: number;
  /** bytes sent so far (may step back when a failed attempt is retried) */
  sent: number;
  state: 'checking' | 'skipped' | 'mounted' | 'uploading' | 'done';
}

export interface PushOptions extends ClientOptions {
  /** Called as each blob is checked, sent and finished: for a progress bar or --json lines. */
  onProgress?: (p: BlobProgress) => void;
  /** Blobs sent at once (default 3, as docker does). */
  concurrency?: number;
  /** A repository on the same registry that may already hold the blobs: they are mounted, not sent. */
  mountFrom?: string;
  /** A client to reuse (tests, or pull and push against one registry); otherwise one is made. */
  client?: RegistryClient;
}

export interface PushResult {
  /** The digest of the manifest (or index) pushed under the reference. */
  digest: Digest;
  mediaType: string;
  size: number;
  /** Blobs sent (layers and configs). */
  uploaded: number;
  /** Blobs the registry already had. */
  skipped: number;
  mounted: number;
  bytesUploaded: number;
  /** Where it went, `registry/repo:tag@digest`. */
  reference: string;
}

const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.manifest, MEDIA_TYPES.dockerManifest]);
const INDEX_TYPES = new Set<string>([MEDIA_TYPES.index, MEDIA_TYPES.dockerManifestList]);

/**
 * Pushes the image the layout holds under `tag` (or its only image) to `ref`. With a digest in
 * `ref` and no tag, the manifest is stored by digest only; a digest that is not the image's is refused.
 */
export async function pushLayout(layout: OciLayout, tag: string | undefined, ref: ImageReference, opts: PushOptions = {}): Promise<PushResult> {
  const top = await layout.resolve(tag);
  if (ref.digest && ref.digest !== top.digest) throw new Error(`${formatReference(ref)} names digest ${ref.digest}, but the image is ${top.digest}`);
  const client = opts.client ?? new RegistryClient(ref.registry, opts);
  await client.ping();

  const counts = { uploaded: 0, skipped: 0, mounted: 0, bytesUploaded: 0 };
  const seen = new Set<string>();
  const repo = ref.repository;

  const pushBlobs = async (blobs: Descriptor[]): Promise<void> => {
    const todo = blobs.filter((b) => !seen.has(b.digest) && seen.add(b.digest));
    await pool(todo, Math.max(1, opts.concurrency ?? 3), (b) => pushBlob(client, layout, repo, b, counts, opts));
  };

  const pushManifest = async (desc: Descriptor, reference: string): Promise<void> => {
    const bytes = await readBlobBytes(layout, desc);
    const mediaType = mediaTypeOf(desc, bytes);
    if (INDEX_TYPES.has(mediaType)) {
      const index = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageIndex;
      for (const child of index.manifests) await pushManifest(child, child.digest);
    } else if (MANIFEST_TYPES.has(mediaType)) {
      const manifest = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageManifest;
      if (!manifest.config || !Array.isArray(manifest.layers)) throw new Error(`manifest ${desc.digest} in ${layout.dir} has no config or layers`);
      await pushBlobs([manifest.config, ...manifest.layers]);
    } else {
      throw new Error(`${desc.digest} in ${layout.dir} is a ${mediaType || 'document of unknown type'}, not an image manifest or index`);
    }
    await client.putManifest(repo, reference, bytes, mediaType);
  };

  await pushManifest(top, ref.tag ?? top.digest);
  return {
    digest: top.digest, mediaType: top.mediaType, size: top.size, ...counts,
    reference: formatReference({ ...ref, digest: top.digest }),
  };
}

async function pushBlob(client: RegistryClient, layout: OciLayout, repo: string, blob: Descriptor, counts: { uploaded: number; skipped: number; mounted: number; bytesUploaded: number }, opts: PushOptions): Promise<void> {
  const report = (state: BlobProgress['state'], sent: number): void => opts.onProgress?.({ digest: blob.digest, size: blob.size, sent, state });
  const path = layout.blobPath(blob.digest);
  const s = await stat(path).catch(() => undefined);
  if (!s?.isFile()) throw new Error(`blob ${blob.digest} is missing from ${layout.dir}`);
  if (s.size !== blob.size) throw new Error(`blob ${blob.digest} in ${layout.dir} is ${s.size} bytes, its descriptor says ${blob.size}`);

  report('checking', 0);
  const existing = await client.blobSize(repo, blob.digest);
  if (existing !== undefined) {
    counts.skipped++;
    report('skipped', blob.size);
    return;
  }
  if (opts.mountFrom && opts.mountFrom !== repo && (await client.mountBlob(repo, blob.digest, opts.mountFrom))) {
    counts.mounted++;
    report('mounted', blob.size);
    return;
  }
  let sent = 0;
  report('uploading', 0);
  await client.uploadBlob(repo, blob, (start, end) => createReadStream(path, { start, end }), (n) => {
    sent += n;
    report('uploading', sent);
  });
  counts.uploaded++;
  counts.bytesUploaded += blob.size;
  report('done', blob.size);
}

/** A manifest's bytes, bounded and checked against its digest; they go up unaltered so the digest holds. */
async function readBlobBytes(layout: OciLayout, desc: Descriptor): Promise<Uint8Array> {
  if (desc.size > MAX_MANIFEST_BYTES) throw new Error(`manifest ${desc.digest} in ${layout.dir} is ${desc.size} bytes, over ${MAX_MANIFEST_BYTES}`);
  const bytes = await readFile(layout.blobPath(desc.digest)).catch(() => {
    throw new Error(`manifest ${desc.digest} is missing from ${layout.dir}`);
  });
  const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (got !== desc.digest || bytes.byteLength !== desc.size) throw new Error(`manifest ${desc.digest} in ${layout.dir} is corrupt (hashes to ${got})`);
  return bytes;
}

/** The document's own mediaType when it states one (the registry checks Content-Type against it), else the descriptor's. */
function mediaTypeOf(desc: Descriptor, bytes: Uint8Array): string {
  try {
    const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
    if (!desc.mediaType && Array.isArray(doc.manifests)) return MEDIA_TYPES.index;
  } catch {
    // readJsonBlob already parsed it
  }
  return desc.mediaType;
}

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const lane = async (): Promise<void> => {
    while (next < items.length && failed === undefined) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (failed !== undefined) throw failed;
}
