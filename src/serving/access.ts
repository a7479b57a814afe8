/**
 * Access control shared by the REST and gRPC front ends: what an access rule asks of a request,
 * API keys (verified against the registry, cached briefly), and restricted APIs.
 *
 * The rules themselves are tables keyed by the route the router matched: REST in
 * http/route-scopes.ts, gRPC in GRPC_METHODS below.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { KeyScope } from './registry-api.js';
import { CATEGORIES, parseRestrictedApi, type Category, type RestrictedApi } from '../config/parsers.js';

// parsed with the rest of the configuration (config/parsers.ts); re-exported for the front ends
export { CATEGORIES, parseRestrictedApi, type Category, type RestrictedApi };

/**
 * - `public`: no key, ever (probes, API docs, the dashboard's own files).
 * - `serving`: any valid key with --require-auth, none otherwise (metadata, config, stats, metrics).
 * - `infer`: an infer or admin key with --require-auth, none otherwise.
 * - `read`: a read or admin key whenever the server has API keys (the /api/v1 reads).
 * - `feedback`: an infer or admin key whenever the server has API keys (ground truth comes from
 *   the application that calls the model).
 * - `admin`: an admin key whenever the server has API keys (every write of the admin API, and
 *   model control).
 */
export type Access = 'public' | 'serving' | 'infer' | 'read' | 'feedback' | 'admin';


export interface RouteRule {
  access: Access;
  category: Category;
}

/** gRPC methods of `inference.GRPCInferenceService` (and the standard health service) → rule. */
export const GRPC_METHODS: Readonly<Record<string, RouteRule>> = {
  ServerLive: { access: 'public', category: 'health' },
  ServerReady: { access: 'public', category: 'health' },
  ModelReady: { access: 'serving', category: 'health' },
  ServerMetadata: { access: 'serving', category: 'metadata' },
  ModelMetadata: { access: 'serving', category: 'metadata' },
  ModelInfer: { access: 'infer', category: 'inference' },
  ModelStreamInfer: { access: 'infer', category: 'inference' },
  ModelConfig: { access: 'serving', category: 'model-config' },
  ModelStatistics: { access: 'serving', category: 'statistics' },
  RepositoryIndex: { access: 'serving', category: 'model-repository' },
  RepositoryModelLoad: { access: 'admin', category: 'model-repository' },
  RepositoryModelUnload: { access: 'admin', category: 'model-repository' },
  'grpc.health.v1.Health/Check': { access: 'public', category: 'health' },
};

/**
 * Which key scopes an access rule accepts, or undefined when it needs no key on this server:
 * `keys` = the server has API keys (a registry), `requireAuth` = --require-auth.
 */
export function scopesFor(access: Access, keys: boolean, requireAuth: boolean): readonly KeyScope[] | undefined {
  if (!keys) return undefined;
  switch (access) {
    case 'public':
      return undefined;
    case 'serving':
      return requireAuth ? ['read', 'infer', 'admin'] : undefined;
    case 'infer':
      return requireAuth ? ['infer', 'admin'] : undefined;
    case 'read':
      return ['read', 'admin'];
    case 'feedback':
      return ['infer', 'admin'];
    case 'admin':
      return ['admin'];
  }
}

// --- API keys ------------------------------------------------------------------------------

export interface ApiKeyInfo {
  id: string;
  scope: KeyScope;
  name?: string;
}

export interface KeyVerifier {
  verifyKey(key: string): Promise<ApiKeyInfo | undefined>;
}

/**
 * The token of an `Authorization: Bearer TOKEN` value, or undefined for anything else: no
 * header, another scheme, no token, two tokens, characters outside visible ASCII.
 */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
  return m ? m[1] : undefined;
}

/** Verified keys for a few seconds, keyed by the key's SHA-256 (the raw key is not kept). */
class KeyCache {
  private readonly entries = new Map<string, { info: ApiKeyInfo; expires: number }>();

  constructor(private readonly ttlMs: number, private readonly maxEntries = 1000) {}

  get(hash: string): ApiKeyInfo | undefined {
    const e = this.entries.get(hash);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.entries.delete(hash);
      return undefined;
    }
    return e.info;
  }

  set(hash: string, info: ApiKeyInfo): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(hash, { info, expires: Date.now() + this.ttlMs });
  }
}

/** Why a request was refused; `status` is the HTTP one (gRPC maps it). */
export type KeyVerdict =
  | { ok: true; info?: ApiKeyInfo }
  | { ok: false; status: 401 | 403 | 503; message: string; bearerError?: string; info?: ApiKeyInfo; cause?: string };

export class KeyChecker {
  private readonly cache: KeyCache;

  constructor(private readonly verifier: KeyVerifier, cacheMs = 5000) {
    this.cache = new KeyCache(cacheMs);
  }

  /** Checks the Authorization value of a request against the scopes a route accepts. */
  async check(authorization: unknown, needed: readonly KeyScope[]): Promise<KeyVerdict> {
    const token = bearerToken(authorization);
    if (!token) {
      const why = authorization === undefined ? 'this endpoint needs an API key' : 'the Authorization header is not of the form Bearer KEY';
      return { ok: false, status: 401, message: `${why}: send Authorization: Bearer KEY` };
    }
    const hash = createHash('sha256').update(token).digest('hex');
    let info = this.cache.get(hash);
    if (!info) {
      try {
        info = await this.verifier.verifyKey(token);
      } catch (err) {
        return { ok: false, status: 503, message: 'could not verify the API key; try again', cause: (err as Error).message };
      }
      if (info) this.cache.set(hash, info);
    }
    if (!info) return { ok: false, status: 401, message: 'the API key is not valid (unknown or revoked)', bearerError: 'invalid_token' };
    if (!needed.includes(info.scope)) {
      return { ok: false, status: 403, info, message: `this endpoint needs a key with scope ${needed.join(' or ')}; this key has scope ${info.scope}` };
    }
    return { ok: true, info };
  }
}

// --- restricted APIs -----------------------------------------------------------------------




/** The restriction a request of `category` fails, or undefined when it passes them all. */
export function failedRestriction(restricted: readonly RestrictedApi[], category: Category, headerValue: (name: string) => unknown): RestrictedApi | undefined {
  for (const r of restricted) {
    if (!r.categories.includes(category)) continue;
    const v = headerValue(r.header);
    if (typeof v !== 'string') return r;
    if (!timingSafeEqual(createHash('sha256').update(v).digest(), r.digest)) return r;
  }
  return undefined;
}

export function restrictedMessage(r: RestrictedApi, category: Category): string {
  return `this API (${category}) is restricted: it needs the header '${r.header}' with the server's value (berth serve --restricted-api)`;
}
