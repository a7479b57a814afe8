// Registry credentials and the two auth schemes registries use. Credentials come from a flag or
// from the auth files docker and podman write (`auths[host].auth` = base64 "user:pass"); the
// scheme comes from the registry's 401 challenge: Basic, or Bearer with a token service that
// trades the credentials (or nothing, for anonymous pulls) for a short-lived token per scope.

import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readBounded } from '../util/read-bounded.js';
import { DOCKER_HUB } from './reference.js';

export interface Credentials {
  username: string;
  password: string;
}

const MAX_AUTH_FILE = 1024 * 1024;
const MAX_TOKEN_RESPONSE = 256 * 1024;

/** `USER:PASS` as --creds takes it (the password may contain colons). */
export function parseCreds(s: string): Credentials {
  const i = s.indexOf(':');
  if (i <= 0) throw new Error('--creds takes USER:PASS');
  return { username: s.slice(0, i), password: s.slice(i + 1) };
}

/** The auth files consulted, most specific first: --authfile, $REGISTRY_AUTH_FILE, podman's, docker's. */
export function authFileCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json'));
  return files;
}

/**
 * Looks `registry` (and, podman-style, `registry/repo` prefixes) up in an auth file. A missing
 * file is no credentials; a malformed one is an error naming the file, not a silent anonymous try.
 */
export function credentialsFromFile(path: string, registry: string, repository?: string): Credentials | undefined {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return undefined;
  }
  if (!stat.isFile()) throw new Error(`auth file ${path} is not a regular file`);
  let doc: unknown;
  try {
    doc = JSON.parse(readBounded(path, MAX_AUTH_FILE));
  } catch (err) {
    throw new Error(`auth file ${path}: ${(err as Error).message}`);
  }
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (auths === undefined) return undefined;
  if (typeof auths !== 'object' || auths === null) throw new Error(`auth file ${path}: "auths" is not an object`);
  for (const key of lookupKeys(registry, repository)) {
    const entry = (auths as Record<string, unknown>)[key];
    if (entry === undefined) continue;
    const auth = (entry as { auth?: unknown } | null)?.auth;
    if (typeof auth !== 'string' || auth === '') continue;
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i <= 0) throw new Error(`auth file ${path}: the entry for ${key} is not base64 of user:password`);
    return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}

function lookupKeys(registry: string, repository?: string): string[] {
  const keys: string[] = [];
  if (repository) {
    const parts = repository.split('/');
    for (let n = parts.length; n > 0; n--) keys.push(`${registry}/${parts.slice(0, n).join('/')}`);
  }
  keys.push(registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`);
  if (registry === DOCKER_HUB) keys.push('https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io');
  return keys;
}

/** Credentials for `registry`: the flag wins, then the named auth file, then the usual ones. */
export function resolveCredentials(registry: string, repository: string, opts: { creds?: string | Credentials; authfile?: string; env?: NodeJS.ProcessEnv }): Credentials | undefined {
  if (opts.creds) return typeof opts.creds === 'string' ? parseCreds(opts.creds) : opts.creds;
  if (opts.authfile) {
    try {
      statSync(opts.authfile);
    } catch {
      throw new Error(`auth file ${opts.authfile} does not exist`);
    }
    return credentialsFromFile(opts.authfile, registry, repository);
  }
  for (const file of authFileCandidates(opts.env)) {
    const found = credentialsFromFile(file, registry, repository);
    if (found) return found;
  }
  return undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header (RFC 7235): `Bearer realm="…",service="…",scope="…"`.
 * Only the first challenge is read; registries send one.
 */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/gy;
  const rest = m[2] ?? '';
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest)) !== null) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/**
 * Holds what a registry asked for: after a Basic challenge every request carries the credentials;
 * after a Bearer challenge, a token per scope (`repository:NAME:pull,push`), fetched from the realm
 * and reused until shortly before it expires.
 */
export class Authenticator {
  private scheme: 'none' | 'basic' | 'bearer' = 'none';
  private bearer?: Challenge;
  private readonly tokens = new Map<string, CachedToken>();
  /** token requests under way, so parallel blob uploads share one */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly credentials: Credentials | undefined,
    private readonly fetchImpl: typeof fetch = fetch,
    private readonly timeoutMs = 30_000,
    private readonly registry = 'the registry',
  ) {}

  get hasCredentials(): boolean {
    return this.credentials !== undefined;
  }

  /** The Authorization header for a request within `scope`, if the registry asked for one. */
  header(scope: string): string | undefined {
    if (this.scheme === 'basic' && this.credentials) return basicHeader(this.credentials);
    if (this.scheme === 'bearer') {
      const t = this.tokens.get(scope);
      if (t && t.expiresAt > Date.now()) return `Bearer ${t.token}`;
    }
    return undefined;
  }

  /** Whether a request within `scope` would go out with a valid token already (so a 401 means refusal, not a first challenge). */
  ready(scope: string): boolean {
    return this.header(scope) !== undefined;
  }

  /** Answers a 401's challenge; afterwards `header(scope)` has what the registry wants. */
  async challenge(wwwAuthenticate: string | null, scope: string): Promise<void> {
    const ch = wwwAuthenticate ? parseChallenge(wwwAuthenticate) : undefined;
    if (!ch) throw new Error('the registry answered 401 without a WWW-Authenticate challenge');
    if (ch.scheme === 'basic') {
      if (!this.credentials) throw new AuthError(`registry ${this.registry} requires authentication: pass --creds USER:PASS or --authfile, or log in with \`podman login\``);
      this.scheme = 'basic';
      return;
    }
    if (ch.scheme !== 'bearer') throw new Error(`the registry asks for unsupported authentication "${ch.scheme}"`);
    if (!ch.params.realm) throw new Error('the registry\'s Bearer challenge names no realm');
    this.scheme = 'bearer';
    this.bearer = ch;
    this.tokens.delete(scope);
    await this.fetchToken(scope);
  }

  private fetchToken(scope: string): Promise<void> {
    let p = this.pending.get(scope);
    if (!p) {
      p = this.requestToken(scope).finally(() => this.pending.delete(scope));
      this.pending.set(scope, p);
    }
    return p;
  }

  private async requestToken(scope: string): Promise<void> {
    const ch = this.bearer!;
    let realm: URL;
    try {
      realm = new URL(ch.params.realm!);
    } catch {
      throw new Error(`the registry's token realm ${JSON.stringify(ch.params.realm)} is not a URL`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error(`the token realm ${realm.href} is not http(s)`);
    if (ch.params.service) realm.searchParams.set('service', ch.params.service);
    // several scopes (a cross-repository mount) go as repeated parameters
    for (const one of scope.split(' ').filter(Boolean)) realm.searchParams.append('scope', one);
    const headers: Record<string, string> = { accept: 'application/json' };
    // credentials go to the token service only over https, or to this machine
    if (this.credentials && (realm.protocol === 'https:' || isLocalHost(realm.hostname))) headers.authorization = basicHeader(this.credentials);
    let res: Response;
    try {
      res = await this.fetchImpl(realm, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new Error(`token service ${realm.origin} is unreachable: ${describeCause(err)}`);
    }
    const text = await readTextBounded(res, MAX_TOKEN_RESPONSE);
    if (res.status === 401 || res.status === 403) {
      throw new AuthError(this.credentials ? `the token service ${realm.origin} rejected the credentials (${res.status}): wrong user name or password` : `the token service ${realm.origin} requires credentials: pass --creds USER:PASS or --authfile`);
    }
    if (!res.ok) throw new Error(`token service ${realm.origin} answered ${res.status}`);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new Error(`token service ${realm.origin} answered something that is not JSON`);
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (!token) throw new Error(`token service ${realm.origin} answered without a token`);
    // the token spec's default lifetime is 60 s; renew 10 s early
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(scope, { token, expiresAt: Date.now() + Math.max(lifetime - 10, 5) * 1000 });
  }

  /** A token for `scope` when the registry speaks Bearer and none is cached (a new repository or action mid-push). */
  async ensure(scope: string): Promise<void> {
    if (this.scheme === 'bearer' && !this.ready(scope)) await this.fetchToken(scope);
  }
}

/** A refusal of the credentials (or their absence): retrying will not help. */
export class AuthError extends Error {
  override name = 'AuthError';
}

function isLocalHost(host: string): boolean {
  return host === 'localhost' || /^127\./.test(host) || host === '[::1]' || host === '::1';
}

/** Reads a response body as text, refusing more than `limit` bytes (a hostile server can send gigabytes). */
export async function readTextBounded(res: Response, limit: number): Promise<string> {
  return Buffer.from(await readBytesBounded(res, limit)).toString('utf8');
}

export async function readBytesBounded(res: Response, limit: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await res.body?.cancel();
    throw new Error(`the response is ${declared} bytes, over the limit of ${limit}`);
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += chunk.byteLength;
    if (n > limit) throw new Error(`the response is over the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}

/** A fetch failure's cause in a few words (ECONNREFUSED, a timeout, a DNS miss). */
export function describeCause(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string; name?: string } };
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') return 'timed out';
  const code = e?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET') return 'connection reset';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'connection timed out';
  if (code) return `${code}${e.cause?.message ? ` (${e.cause.message})` : ''}`;
  return e?.cause?.message ?? e?.message ?? String(err);
}
