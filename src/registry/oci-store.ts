/**
 * The OCI artifact store: a version's files live as blobs of one repository of an OCI registry
 * (docker-registry/distribution, Harbor, Zot, ghcr.io, ECR...), described by one OCI artifact
 * manifest per version, so replicas on other machines can read them. The local FileBlobStore under
 * BERTH_HOME is its cache: serving reads blobs there; only missing ones are fetched, verified by
 * digest while written, and a blob whose content does not hash to its name is refused, not cached.
 *
 * Write order (crash safety): the blobs are uploaded first (the registry checks each digest), the
 * manifest naming them last, and the catalog row after that (push.ts). A crash leaves at most
 * unreferenced blobs in the registry, never a manifest or a catalog row pointing at missing ones.
 * After the catalog commit, a second manifest carrying the version number is tagged NAME.vN.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, open, stat, unlink, utimes } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { BerthError } from '../core/errors.js';
import { connect } from '../oci/connect.js';
import { RegistryError, UnreachableError, type RegistryClient } from '../oci/client.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { FileBlobStore, type PublishedFiles } from './blob-store.js';
import type { FileEntry, VersionRecord } from './types.js';

export const ARTIFACT_TYPE = 'application/vnd.berth.model.v1';
export const FILE_MEDIA_TYPE = 'application/vnd.berth.model.file.v1';
const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
/** The OCI 1.1 empty descriptor: an artifact without a config of its own. */
const EMPTY = { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') };
const EMPTY_DIGEST = `sha256:${createHash('sha256').update(EMPTY.bytes).digest('hex')}` as Digest;
export const ANNOTATIONS = {
  title: 'org.opencontainers.image.title',
  name: 'dev.berth.model.name',
  version: 'dev.berth.model.version',
  digest: 'dev.berth.model.digest',
} as const;

export interface ArtifactStoreOptions {
  /** oci://HOST[:PORT]/REPO */
  url: string;
  /** plain http to a registry that is not on this machine (loopback always gets http) */
  insecure?: boolean;
  /** an auth file in docker's config.json / podman's auth.json shape (default: the usual ones) */
  authfile?: string;
  env?: NodeJS.ProcessEnv;
  /** attempts after the first for a request that may succeed next time (default 3) */
  retries?: number;
}

/** oci://HOST[:PORT]/REPO → { registry, repository }; throws naming the problem. */
export function parseArtifactStoreUrl(url: string): { registry: string; repository: string } {
  const m = /^oci:\/\/([^/]+)\/(.+)$/.exec(url.trim());
  if (m?.[1]!.includes('@')) {
    // not echoed: what precedes the @ is likely a password
    throw new BerthError('INVALID_ARGUMENT', 'artifact store URL: credentials do not go in the URL; berth reads them from the auth file `podman login` or `docker login` writes ($REGISTRY_AUTH_FILE)');
  }
  if (!m) throw new BerthError('INVALID_ARGUMENT', `artifact store ${JSON.stringify(url)}: write oci://HOST[:PORT]/REPOSITORY`);
  if (/[:@]/.test(m[2]!)) throw new BerthError('INVALID_ARGUMENT', `artifact store ${JSON.stringify(url)}: the repository takes no tag or digest`);
  return { registry: m[1]!, repository: m[2]! };
}

/** The tag of a version's manifest: NAME.vN (a long name is replaced by its hash, tags being at most 128 characters). */
export function versionTag(name: string, version: number): string {
  const tag = `${name}.v${version}`;
  return tag.length <= 128 ? tag : `m-${createHash('sha256').update(name).digest('hex').slice(0, 40)}.v${version}`;
}

export class OciBlobStore extends FileBlobStore {
  override readonly location: string;
  readonly repository: string;
  private readonly client: RegistryClient;
  /** fetches under way, so concurrent loads of one blob download it once */
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(home: string, opts: ArtifactStoreOptions) {
    super(home);
    const { registry, repository } = parseArtifactStoreUrl(opts.url);
    let conn;
    try {
      conn = connect(`${registry}/${repository}`, { insecure: opts.insecure, authfile: opts.authfile, env: opts.env }, { retries: opts.retries ?? 3 });
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `artifact store ${opts.url}: ${(err as Error).message}`);
    }
    this.client = conn.client;
    this.repository = conn.ref.repository;
    this.location = `oci://${conn.ref.registry}/${this.repository}`;
  }

  /** Uploads the blobs the registry lacks (HEAD first), then the manifest that names them all. */
  override async publish(version: PublishedFiles): Promise<void> {
    try {
      await this.upload(EMPTY_DIGEST, EMPTY.bytes.length, () => toStream(EMPTY.bytes));
      for (const f of uniqueByDigest(version.files)) {
        const path = this.path(f.digest);
        await this.upload(f.digest as Digest, f.size, (start, end) => createReadStream(path, { start, end }));
      }
      const manifest = this.manifest(version);
      await this.client.putManifest(this.repository, manifest.digest, manifest.bytes, MANIFEST_MEDIA_TYPE);
    } catch (err) {
      throw this.failure(err, `publishing ${version.name} to ${this.location}`);
    }
  }

  /** Tags a manifest that also carries the version number (the blobs are there already). */
  override async label(v: VersionRecord): Promise<void> {
    const manifest = this.manifest(v, v.version);
    await this.client.putManifest(this.repository, versionTag(v.name, v.version), manifest.bytes, MANIFEST_MEDIA_TYPE);
  }

  /** Fetches the files the local cache lacks, one download per blob however many callers wait. */
  override async fetch(files: readonly Pick<FileEntry, 'digest' | 'size' | 'path'>[]): Promise<void> {
    for (const f of uniqueByDigest(files)) {
      if (await this.presentLocally(f.digest, f.size)) continue;
      let pending = this.inflight.get(f.digest);
      if (!pending) {
        pending = this.download(f).finally(() => this.inflight.delete(f.digest));
        this.inflight.set(f.digest, pending);
      }
      await pending;
    }
  }

  /** A blob missing from the cache is fetched before it is placed. */
  override async place(digest: string, dest: string): Promise<void> {
    if (!(await this.presentLocally(digest))) await this.fetch([{ digest, size: -1, path: digest }]);
    await super.place(digest, dest);
  }

  private async presentLocally(digest: string, size?: number): Promise<boolean> {
    const st = await stat(this.path(digest)).catch(() => undefined);
    return st !== undefined && st.isFile() && (size === undefined || size < 0 || st.size === size);
  }

  private async upload(digest: Digest, size: number, openRange: (start: number, end: number) => Readable): Promise<void> {
    if ((await this.client.blobSize(this.repository, digest)) === size) return;
    await this.client.uploadBlob(this.repository, { digest, size }, openRange);
  }

  /** Streams a blob into tmp/ while hashing it; only bytes that match the digest (and size) become the blob. */
  private async download(f: Pick<FileEntry, 'digest' | 'size' | 'path'>): Promise<void> {
    const tmp = this.tempPath('fetch');
    try {
      let body: Readable;
      try {
        body = await this.client.getBlob(this.repository, f.digest as Digest);
      } catch (err) {
        throw this.failure(err, `fetching ${f.path} (${f.digest})`);
      }
      const hash = createHash('sha256');
      let size = 0;
      const out = await open(tmp, 'wx', 0o444);
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (f.size >= 0 && size > f.size) {
            body.destroy();
            throw new BerthError('UNAVAILABLE', `${this.location} served more than the ${f.size} bytes of ${f.path} (${f.digest}): refused`);
          }
          hash.update(chunk);
          for (let done = 0; done < chunk.length; ) done += (await out.write(chunk, done, chunk.length - done)).bytesWritten;
        }
        await out.sync();
      } catch (err) {
        if (err instanceof BerthError) throw err;
        throw this.failure(err, `fetching ${f.path} (${f.digest})`);
      } finally {
        await out.close();
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== f.digest || (f.size >= 0 && size !== f.size)) {
        throw new BerthError('UNAVAILABLE', `${this.location} served ${size} bytes hashing to ${actual} for ${f.path}, expected ${f.digest}${f.size >= 0 ? ` (${f.size} bytes)` : ''}: refused, not cached`);
      }
      try {
        await link(tmp, this.path(f.digest));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const now = new Date();
        await utimes(this.path(f.digest), now, now).catch(() => undefined);
      }
      await this.syncBlobDir();
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** The artifact manifest of a version: one layer per file, titled with its path in the version. */
  private manifest(v: PublishedFiles, version?: number): { bytes: Buffer; digest: Digest } {
    const layers: Descriptor[] = v.files.map((f) => ({
      mediaType: FILE_MEDIA_TYPE, digest: f.digest as Digest, size: f.size, annotations: { [ANNOTATIONS.title]: f.path },
    }));
    const doc = {
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      artifactType: ARTIFACT_TYPE,
      config: { mediaType: EMPTY.mediaType, digest: EMPTY_DIGEST, size: EMPTY.bytes.length },
      layers,
      annotations: {
        [ANNOTATIONS.name]: v.name,
        [ANNOTATIONS.digest]: v.digest,
        ...(version !== undefined ? { [ANNOTATIONS.version]: String(version) } : {}),
      },
    };
    const bytes = Buffer.from(JSON.stringify(doc));
    return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
  }

  /** A registry failure as a berth error: UNAVAILABLE when it may pass (unreachable, 5xx), else INTERNAL. */
  private failure(err: unknown, what: string): BerthError {
    if (err instanceof BerthError) return err;
    const message = (err as Error).message;
    const transient = err instanceof UnreachableError || (err instanceof RegistryError && (err.status >= 500 || err.status === 429));
    return new BerthError(transient ? 'UNAVAILABLE' : 'INTERNAL', `artifact store ${this.location}: ${what}: ${message}`, { cause: err });
  }
}

function uniqueByDigest<T extends { digest: string }>(files: readonly T[]): T[] {
  const seen = new Set<string>();
  return files.filter((f) => !seen.has(f.digest) && seen.add(f.digest) !== undefined);
}

function toStream(bytes: Uint8Array): Readable {
  return Readable.from([bytes]);
}
