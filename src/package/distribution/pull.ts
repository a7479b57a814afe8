// Pulling an image from a registry into an OCI layout (for `--base REGISTRY/REPO:TAG`): OCI and
// Docker schema 2 manifests, indexes and manifest lists resolved to one platform, every blob
// streamed to disk and checked against its digest and size before it gets its name, JSON documents
// bounded in size. The manifest is kept byte for byte, so the base is recorded by its real digest.

import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isDigest, MEDIA_TYPES, type Descriptor, type Digest, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../../oci/types.js';
import type { OciLayout } from '../oci/layout.js';
import { RegistryClient, type ClientOptions } from '../../oci/client.js';
import { formatReference, manifestReference, type ImageReference } from '../../oci/reference.js';

export interface PullOptions extends ClientOptions {
  /** `os/arch[/variant]`, default linux and this machine's architecture. */
  platform?: string | Platform;
  /** Tag the pulled manifest with this name in the layout's index.json. */
  tag?: string;
  onProgress?: (p: { digest: Digest; size: number; received: number; state: 'present' | 'downloading' | 'done' }) => void;
  client?: RegistryClient;
}

export interface PullResult {
  /** The image manifest, as stored in the layout (with the platform it was chosen for). */
  manifest: Descriptor;
  /** The index or manifest list the tag pointed at, when it was one. */
  index?: Descriptor;
  config: ImageConfig;
  /** `registry/repo@digest` of the manifest: what to record as the base. */
  pinned: string;
  downloaded: number;
  present: number;
}

const ACCEPT = [MEDIA_TYPES.index, MEDIA_TYPES.manifest, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.dockerManifest] as const;
const INDEX_TYPES = new Set<string>([MEDIA_TYPES.index, MEDIA_TYPES.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.manifest, MEDIA_TYPES.dockerManifest]);
const CONFIG_TYPES = new Set<string>([MEDIA_TYPES.config, MEDIA_TYPES.dockerConfig]);
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const MAX_LAYERS = 256;
const MAX_INDEX_ENTRIES = 1024;

export async function pullToLayout(ref: ImageReference, layout: OciLayout, opts: PullOptions = {}): Promise<PullResult> {
  const want = parsePlatform(opts.platform);
  const client = opts.client ?? new RegistryClient(ref.registry, opts);
  const repo = ref.repository;
  await layout.init();

  let top = await client.getManifest(repo, manifestReference(ref), ACCEPT);
  let topType = documentType(top.bytes, top.mediaType);
  let index: Descriptor | undefined;
  let platform: Platform | undefined;
  if (INDEX_TYPES.has(topType)) {
    const doc = parseJson<ImageIndex>(top.bytes, `the index ${formatReference(ref)}`);
    if (!Array.isArray(doc.manifests) || doc.manifests.length > MAX_INDEX_ENTRIES) throw new Error(`the index ${formatReference(ref)} has no usable manifests list`);
    const chosen = choosePlatform(doc.manifests, want);
    if (!chosen) {
      const offered = doc.manifests.map((m) => (m.platform ? platformString(m.platform) : '?')).filter((p) => p !== 'unknown/unknown');
      throw new Error(`${formatReference(ref)} has no image for ${platformString(want)} (it offers ${offered.join(', ') || 'none'})`);
    }
    index = await layout.writeBlobBytes(top.bytes, topType);
    platform = chosen.platform;
    top = await client.getManifest(repo, chosen.digest, ACCEPT);
    topType = documentType(top.bytes, top.mediaType || chosen.mediaType);
  }
  if (!MANIFEST_TYPES.has(topType)) throw new Error(`${formatReference(ref)} is a ${topType || 'document of unknown type'}, not an image manifest`);

  const manifest = parseJson<ImageManifest>(top.bytes, `the manifest ${formatReference(ref)}`);
  checkManifest(manifest, formatReference(ref));
  const counts = { downloaded: 0, present: 0 };

  if (manifest.config.size > MAX_CONFIG_BYTES) throw new Error(`the image config of ${formatReference(ref)} is ${manifest.config.size} bytes, over ${MAX_CONFIG_BYTES}`);
  for (const blob of [manifest.config, ...manifest.layers]) await fetchBlob(client, layout, repo, blob, counts, opts);
  const config = await layout.readJsonBlob<ImageConfig>(manifest.config);
  if (!config || typeof config.architecture !== 'string' || typeof config.os !== 'string') throw new Error(`the image config of ${formatReference(ref)} names no os/architecture`);

  if (!index && opts.platform !== undefined && (config.os !== want.os || config.architecture !== want.architecture)) {
    throw new Error(`${formatReference(ref)} is ${platformString(config)}, not ${platformString(want)}`);
  }

  const written = await layout.writeBlobBytes(top.bytes, topType);
  const desc: Descriptor = { ...written, ...(platform ? { platform } : { platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) } }) };
  if (opts.tag) await layout.tag(desc, opts.tag);
  return {
    manifest: desc, ...(index ? { index } : {}), config,
    pinned: formatReference({ registry: ref.registry, repository: repo, digest: written.digest }),
    ...counts,
  };
}

async function fetchBlob(client: RegistryClient, layout: OciLayout, repo: string, blob: Descriptor, counts: { downloaded: number; present: number }, opts: PullOptions): Promise<void> {
  if (await layout.hasBlob(blob.digest, blob.size)) {
    counts.present++;
    opts.onProgress?.({ digest: blob.digest, size: blob.size, received: blob.size, state: 'present' });
    return;
  }
  let received = 0;
  const stream = await client.getBlob(repo, blob.digest);
  // a pass-through meter, not a 'data' listener: that would start the flow before the writer is attached
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.byteLength;
      opts.onProgress?.({ digest: blob.digest, size: blob.size, received, state: 'downloading' });
      done(null, chunk);
    },
  });
  await layout.writeBlobStream(compose(stream, meter), blob.mediaType, { digest: blob.digest, size: blob.size });
  counts.downloaded++;
  opts.onProgress?.({ digest: blob.digest, size: blob.size, received: blob.size, state: 'done' });
}

/** `os/arch[/variant]` → Platform; the default is linux on this machine's architecture. */
export function parsePlatform(p: string | Platform | undefined): Platform {
  if (p && typeof p === 'object') return p;
  if (p === undefined) return { os: 'linux', architecture: nodeArch(process.arch) };
  const [os, architecture, variant, extra] = p.split('/');
  if (!os || !architecture || extra !== undefined) throw new Error(`--platform takes os/arch[/variant] (e.g. linux/amd64), not ${JSON.stringify(p)}`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

function nodeArch(arch: string): string {
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[arch] ?? arch;
}

export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The index entry for `want`: os and architecture equal, and the variant when one is asked for (arm64's is v8 when absent). */
export function choosePlatform(entries: Descriptor[], want: Platform): Descriptor | undefined {
  const variantOf = (p: Platform): string | undefined => p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  const candidates = entries.filter((e) => e.platform && e.platform.os === want.os && e.platform.architecture === want.architecture && isDigest(e.digest));
  if (want.variant) return candidates.find((e) => variantOf(e.platform!) === variantOf(want));
  return candidates.find((e) => variantOf(e.platform!) === variantOf(want)) ?? candidates[0];
}

function documentType(bytes: Uint8Array, headerType: string): string {
  try {
    const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown; manifests?: unknown; config?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
    if (ACCEPT.includes(headerType as (typeof ACCEPT)[number])) return headerType;
    if (Array.isArray(doc.manifests)) return MEDIA_TYPES.index;
    if (doc.config) return MEDIA_TYPES.manifest;
  } catch {
    // parseJson reports it
  }
  return headerType;
}

function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
  } catch {
    throw new Error(`${what} is not JSON`);
  }
}

function checkManifest(m: ImageManifest, name: string): void {
  const ok = (d: unknown): d is Descriptor => {
    const x = d as Descriptor | null;
    return !!x && typeof x === 'object' && isDigest(x.digest) && Number.isSafeInteger(x.size) && x.size >= 0 && typeof x.mediaType === 'string';
  };
  if (m.schemaVersion !== 2) throw new Error(`the manifest of ${name} is not schema version 2`);
  if (!ok(m.config)) throw new Error(`the manifest of ${name} has no valid config descriptor`);
  if (!CONFIG_TYPES.has(m.config.mediaType)) throw new Error(`${name} is not a container image (its config is ${m.config.mediaType})`);
  if (!Array.isArray(m.layers) || m.layers.length > MAX_LAYERS || !m.layers.every(ok)) throw new Error(`the manifest of ${name} has an invalid layers list`);
}

/** `source` through `meter`, errors from either ending the result. */
function compose(source: Readable, meter: Transform): Readable {
  pipeline(source, meter).catch((err: unknown) => meter.destroy(err as Error));
  return meter;
}
