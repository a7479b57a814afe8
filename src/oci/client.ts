// A client for the OCI Distribution API (the registry protocol docker, podman and skopeo speak),
// on Node's fetch. It streams blobs from disk in both directions (a multi-GB model layer is never
// held in memory), answers auth challenges (auth.ts), retries what may succeed next time (5xx,
// 429, dropped connections) with backoff, and turns what will not (401, 403, 404) into one-line
// errors that name the registry and the repository.

import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDigest, type Descriptor, type Digest } from './types.js';
import { AuthError, Authenticator, describeCause, readBytesBounded, readTextBounded, type Credentials } from './auth.js';
import { apiHost, isLoopback } from './reference.js';

export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;
/** distribution's own limit on a manifest's size */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BODY = 64 * 1024;

export interface ClientOptions {
  credentials?: Credentials;
  /** Plain http to a registry that is not on this machine (loopback registries always get http). */
  insecure?: boolean;
  /** Blobs up to this size go up in one PUT; larger ones in PATCH chunks of this size. */
  chunkSize?: number;
  /** Attempts after the first for a retryable failure. */
  retries?: number;
  /** The first backoff; it doubles per attempt. */
  retryDelayMs?: number;
  /** For requests without a large body (pings, HEADs, manifests, tokens). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface ManifestResponse {
  bytes: Uint8Array;
  mediaType: string;
  digest: Digest;
}

/** A failure the registry reported, with its HTTP status and Distribution error code. */
export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(message: string, readonly status: number, readonly code?: string) {
    super(message);
  }
}

/** The registry could not be reached at all (refused, timed out, name not found). */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

interface SendOptions {
  scope: string;
  headers?: Record<string, string>;
  /** Called per attempt, so a retry sends the body afresh. */
  body?: () => Readable | Uint8Array | string;
  retries?: number;
}

type ProgressFn = (bytes: number) => void;

export class RegistryClient {
  readonly base: string;
  private readonly origin: string;
  readonly chunkSize: number;
  private readonly auth: Authenticator;
  private readonly fetchImpl: typeof fetch;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly timeoutMs: number;

  constructor(readonly registry: string, opts: ClientOptions = {}) {
    const scheme = opts.insecure || isLoopback(registry) ? 'http' : 'https';
    this.base = `${scheme}://${apiHost(registry)}`;
    this.origin = new URL(this.base).origin;
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!(this.chunkSize >= 1024)) throw new Error('the upload chunk size must be at least 1 KiB');
    this.fetchImpl = opts.fetch ?? fetch;
    this.retries = opts.retries ?? 3;
    this.retryDelayMs = opts.retryDelayMs ?? 250;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.auth = new Authenticator(opts.credentials, this.fetchImpl, this.timeoutMs, registry);
  }

  /** `GET /v2/`: is this a Distribution API v2 registry, and can we get in? */
  async ping(scope = ''): Promise<void> {
    const res = await this.send('GET', '/v2/', { scope });
    await res.body?.cancel();
    if (res.status !== 200) throw await this.failure(res, 'the API version check (GET /v2/)');
  }

  /** The size of `digest` in `repo` if the registry has it, else undefined. */
  async blobSize(repo: string, digest: Digest): Promise<number | undefined> {
    const res = await this.send('HEAD', `/v2/${repo}/blobs/${digest}`, { scope: pushScope(repo) });
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.failure(res, `checking blob ${short(digest)} in ${repo}`);
    const len = Number(res.headers.get('content-length'));
    return Number.isFinite(len) ? len : -1;
  }

  /** Cross-repository mount: makes a blob `from` already holds appear in `repo` without sending it. */
  async mountBlob(repo: string, digest: Digest, from: string): Promise<boolean> {
    const scope = `${pushScope(repo)} repository:${from}:pull`;
    const q = new URLSearchParams({ mount: digest, from });
    const res = await this.send('POST', `/v2/${repo}/blobs/uploads/?${q}`, { scope, headers: { 'content-length': '0' } });
    if (res.status === 201) {
      await res.body?.cancel();
      return true;
    }
    if (res.status === 202) {
      // the registry opened an ordinary upload instead; close it, the caller uploads afresh
      const loc = res.headers.get('location');
      await res.body?.cancel();
      if (loc) await this.send('DELETE', this.resolve(loc).href, { scope, retries: 0 }).then((r) => r.body?.cancel(), () => undefined);
      return false;
    }
    await res.body?.cancel();
    return false;
  }

  /**
   * Uploads a blob, reading it through `open(start, endInclusive)` so a retry or a chunk reopens the
   * file instead of buffering it. One PUT up to the chunk size; above it, PATCH chunks with
   * Content-Range, then a closing PUT with the digest, which the registry checks.
   */
  async uploadBlob(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, open: (start: number, end: number) => Readable, onProgress?: ProgressFn): Promise<void> {
    const scope = pushScope(repo);
    for (let attempt = 0; ; attempt++) {
      let sentThisAttempt = 0;
      const progress: ProgressFn = (n) => {
        sentThisAttempt += n;
        onProgress?.(n);
      };
      try {
        await this.uploadOnce(repo, scope, desc, open, progress);
        return;
      } catch (err) {
        if (sentThisAttempt > 0) onProgress?.(-sentThisAttempt);
        if (attempt >= this.retries || !isRetryable(err)) throw err;
        await sleep(this.backoff(attempt));
      }
    }
  }

  private async uploadOnce(repo: string, scope: string, desc: Pick<Descriptor, 'digest' | 'size'>, open: (start: number, end: number) => Readable, onProgress: ProgressFn): Promise<void> {
    const started = await this.send('POST', `/v2/${repo}/blobs/uploads/`, { scope, headers: { 'content-length': '0' } });
    await started.body?.cancel();
    if (started.status !== 202) throw await this.failure(started, `starting the upload of ${short(desc.digest)} to ${repo}`);
    let location = this.location(started);

    if (desc.size > this.chunkSize) {
      // A failed chunk resumes where the registry says the upload stands (GET on the upload URL
      // answers its Range), so a dropped connection late in a multi-GB layer costs one chunk.
      let offset = 0;
      let reported = 0;
      let failures = 0;
      const report: ProgressFn = (n) => {
        reported += n;
        onProgress(n);
      };
      while (offset < desc.size) {
        const start = offset;
        const end = Math.min(start + this.chunkSize, desc.size) - 1;
        try {
          const res = await this.send('PATCH', location.href, {
            scope, retries: 0,
            headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}`, 'content-length': String(end - start + 1) },
            body: () => counted(open(start, end), report),
          });
          await res.body?.cancel();
          if (res.status !== 202) throw await this.failure(res, `uploading bytes ${start}-${end} of ${short(desc.digest)} to ${repo}`);
          location = this.location(res);
          offset = end + 1;
        } catch (err) {
          if (!isRetryable(err) || failures >= this.retries) throw err;
          await sleep(this.backoff(failures++));
          const status = await this.uploadStatus(location, scope).catch(() => undefined);
          if (!status || status.next > desc.size) throw err;
          location = status.location;
          offset = status.next;
          report(offset - reported);
        }
      }
      location.searchParams.set('digest', desc.digest);
      const done = await this.send('PUT', location.href, { scope, retries: 0, headers: { 'content-length': '0' } });
      await done.body?.cancel();
      if (done.status !== 201) throw await this.failure(done, `completing the upload of ${short(desc.digest)} to ${repo}`);
      return;
    }

    location.searchParams.set('digest', desc.digest);
    const res = await this.send('PUT', location.href, {
      scope, retries: 0,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body: () => (desc.size === 0 ? new Uint8Array(0) : counted(open(0, desc.size - 1), onProgress)),
    });
    await res.body?.cancel();
    if (res.status !== 201) throw await this.failure(res, `uploading ${short(desc.digest)} to ${repo}`);
  }

  /** Where an upload stands: `GET <location>` answers 204 with `Range: 0-<last byte received>`. */
  private async uploadStatus(location: URL, scope: string): Promise<{ next: number; location: URL } | undefined> {
    const res = await this.send('GET', location.href, { scope });
    await res.body?.cancel();
    if (res.status !== 204) return undefined;
    const range = /^(?:bytes=)?0-(\d+)$/.exec(res.headers.get('range') ?? '');
    const next = range ? Number(range[1]) + 1 : 0;
    return { next, location: res.headers.get('location') ? this.location(res) : location };
  }

  /** Fetches a manifest or index by tag or digest, bounded in size and checked against a digest reference. */
  async getManifest(repo: string, reference: string, accept: readonly string[]): Promise<ManifestResponse> {
    const res = await this.send('GET', `/v2/${repo}/manifests/${reference}`, { scope: pullScope(repo), headers: { accept: accept.join(', ') } });
    if (res.status !== 200) throw await this.failure(res, `fetching the manifest ${repo}:${reference}`, { repo, reference });
    let bytes: Uint8Array;
    try {
      bytes = await readBytesBounded(res, MAX_MANIFEST_BYTES);
    } catch (err) {
      throw new Error(`the manifest ${repo}:${reference} on ${this.registry}: ${(err as Error).message}`);
    }
    const digest: Digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (isDigest(reference) && digest !== reference) throw new Error(`the manifest ${repo}@${reference} on ${this.registry} hashes to ${digest}: refusing it`);
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    return { bytes, mediaType, digest };
  }

  /** Stores a manifest under a tag or its digest; the registry refuses it unless every blob it names is there. */
  async putManifest(repo: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<Digest> {
    const res = await this.send('PUT', `/v2/${repo}/manifests/${reference}`, {
      scope: pushScope(repo),
      headers: { 'content-type': mediaType, 'content-length': String(bytes.byteLength) },
      body: () => bytes,
    });
    await res.body?.cancel();
    if (res.status !== 201 && res.status !== 200) throw await this.failure(res, `storing the manifest ${repo}:${reference}`);
    return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  }

  /** Opens a blob for reading; the caller checks size and digest while writing it (OciLayout.writeBlobStream). */
  async getBlob(repo: string, digest: Digest): Promise<Readable> {
    const res = await this.send('GET', `/v2/${repo}/blobs/${digest}`, { scope: pullScope(repo) });
    if (res.status !== 200 || !res.body) throw await this.failure(res, `fetching blob ${short(digest)} from ${repo}`, { repo });
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }

  /** The repository's tags (`GET /v2/<repo>/tags/list`). */
  async listTags(repo: string): Promise<string[]> {
    const res = await this.send('GET', `/v2/${repo}/tags/list`, { scope: pullScope(repo) });
    if (res.status === 404) {
      await res.body?.cancel();
      return [];
    }
    if (res.status !== 200) throw await this.failure(res, `listing the tags of ${repo}`);
    const body = JSON.parse(await readTextBounded(res, MAX_MANIFEST_BYTES)) as { tags?: unknown };
    return Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
  }

  /**
   * One request, with the auth the registry asked for, answering one challenge and retrying
   * connection failures, 429 and 5xx with exponential backoff. Anything else goes back to the caller.
   */
  private async send(method: string, pathOrUrl: string, opts: SendOptions): Promise<Response> {
    const url = this.resolve(pathOrUrl);
    const retries = opts.retries ?? this.retries;
    let challenged = false;
    for (let attempt = 0; ; attempt++) {
      await this.auth.ensure(opts.scope);
      const headers: Record<string, string> = { ...opts.headers };
      const authz = this.auth.header(opts.scope);
      // credentials go to the registry's own origin only, not to a host its Location names
      if (authz && url.origin === this.origin) headers.authorization = authz;
      const body = opts.body?.();
      // The timeout covers waiting for the response's headers, not reading its body (a multi-GB
      // blob download) nor sending a streamed one (an upload chunk); undici's own body timeout
      // (300 s without a byte) catches a stalled transfer.
      const abort = new AbortController();
      const timer = body instanceof Readable ? undefined : setTimeout(() => abort.abort(Object.assign(new Error('timed out'), { name: 'TimeoutError' })), this.timeoutMs);
      let res: Response;
      try {
        res = await this.fetchImpl(url, {
          method, headers, redirect: 'follow', signal: abort.signal,
          ...(body !== undefined ? { body: body as unknown as RequestInit['body'], duplex: 'half' } : {}),
        } as RequestInit);
      } catch (err) {
        clearTimeout(timer);
        if (body instanceof Readable) body.destroy();
        const cause = describeCause(err);
        const permanent = cause === 'host not found';
        if (attempt < retries && !permanent) {
          await sleep(this.backoff(attempt));
          continue;
        }
        throw new UnreachableError(`registry ${this.registry} is unreachable (${this.base}): ${cause}`);
      }
      clearTimeout(timer);
      if (res.status === 401) {
        if (!challenged) {
          challenged = true;
          const header = res.headers.get('www-authenticate');
          await res.body?.cancel();
          await this.auth.challenge(header, opts.scope);
          attempt--;
          continue;
        }
        return res;
      }
      if ((res.status >= 500 || res.status === 429) && attempt < retries) {
        const after = Number(res.headers.get('retry-after'));
        await res.body?.cancel();
        await sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 30_000) : this.backoff(attempt));
        continue;
      }
      return res;
    }
  }

  private backoff(attempt: number): number {
    return this.retryDelayMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
  }

  private resolve(pathOrUrl: string): URL {
    const url = new URL(pathOrUrl, this.base);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`registry ${this.registry} sent a location that is not http(s): ${url.href}`);
    // an https registry may not move an upload to plain http (the blob and our credentials would travel in clear)
    if (url.protocol === 'http:' && this.base.startsWith('https:')) throw new Error(`registry ${this.registry} sent a plain-http location: ${url.href}`);
    return url;
  }

  private location(res: Response): URL {
    const loc = res.headers.get('location');
    if (!loc) throw new RegistryError(`registry ${this.registry} answered ${res.status} without an upload Location`, res.status);
    return this.resolve(loc);
  }

  /** Turns a failed response into a one-line error naming what was being done. */
  private async failure(res: Response, doing: string, what: { repo?: string; reference?: string } = {}): Promise<Error> {
    let code: string | undefined;
    let detail = '';
    try {
      const text = await readTextBounded(res, MAX_ERROR_BODY);
      const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      const first = body.errors?.[0];
      if (first) {
        code = typeof first.code === 'string' ? first.code : undefined;
        detail = typeof first.message === 'string' ? first.message.slice(0, 200) : '';
      }
    } catch {
      // not a Distribution error body; the status says enough
    }
    const tail = `(${res.status}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''})`;
    if (res.status === 401) {
      return new AuthError(this.auth.hasCredentials
        ? `registry ${this.registry} refused the credentials ${tail}: wrong user name or password`
        : `registry ${this.registry} requires authentication ${tail}: pass --creds USER:PASS or --authfile, or log in with \`podman login\``);
    }
    if (res.status === 403) return new RegistryError(`registry ${this.registry} denied ${doing} ${tail}: the account lacks permission`, 403, code);
    if (res.status === 404 && what.repo) {
      if (code === 'NAME_UNKNOWN') return new RegistryError(`repository ${what.repo} not found on registry ${this.registry}`, 404, code);
      if (what.reference) return new RegistryError(`${what.repo}:${what.reference} not found on registry ${this.registry} ${tail}`, 404, code);
    }
    if (res.status === 404 && doing.startsWith('the API version check')) return new RegistryError(`${this.base} is not a Distribution API v2 registry (GET /v2/ answered 404)`, 404, code);
    return new RegistryError(`registry ${this.registry}: ${doing} failed ${tail}`, res.status, code);
  }
}

export function pullScope(repo: string): string {
  return `repository:${repo}:pull`;
}

export function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`;
}

function isRetryable(err: unknown): boolean {
  if (err instanceof UnreachableError) return true;
  if (err instanceof RegistryError) return err.status >= 500 || err.status === 429;
  // a body stream broken mid-request (connection reset while sending)
  return err instanceof TypeError;
}

function short(d: string): string {
  return d.slice(0, 'sha256:'.length + 12);
}

function counted(source: Readable, onBytes: ProgressFn): Readable {
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      onBytes(chunk.byteLength);
      done(null, chunk);
    },
  });
  source.on('error', (err) => meter.destroy(err));
  return source.pipe(meter);
}
