/**
 * API keys on the HTTP front end: `Authorization: Bearer KEY`, verified against the registry
 * (which stores keys hashed) and cached briefly. Which scope a request needs:
 *
 * | request                                          | needs                          |
 * |--------------------------------------------------|--------------------------------|
 * | `/v2/health/*`, `/docs`, `/api/v1/openapi.json`  | nothing                        |
 * | `GET`/`HEAD` `/api/v1/*`                         | read or admin                  |
 * | `POST /api/v1/models/M/feedback` (ground truth)  | infer or admin                 |
 * | any other `/api/v1/*` (writes)                   | admin                          |
 * | inference (`…/infer`, `/v1/models/M:predict`)    | infer or admin, with requireAuth |
 * | `/v2/repository/models/M/load|unload`            | admin, with requireAuth        |
 * | other `/v2`, `/v1` reads                         | any key, with requireAuth      |
 *
 * No key: 401 with `WWW-Authenticate: Bearer`; a key of the wrong scope: 403. Keys never reach
 * the logs: this file logs key ids only, and LOG_REDACT censors the Authorization header
 * wherever a request's headers are logged.
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';
import type { KeyScope } from '../serving/registry-api.js';

export interface ApiKeyInfo {
  id: string;
  scope: KeyScope;
  name?: string;
}

export interface KeyVerifier {
  verifyKey(key: string): Promise<ApiKeyInfo | undefined>;
}

export interface AuthOptions {
  registry: KeyVerifier;
  /** inference and model metadata need a key too (admin endpoints always do) */
  requireAuth?: boolean;
  /** how long a verified key is trusted without asking the registry again (default 5000 ms) */
  cacheMs?: number;
  /** where refusals are logged (key ids only) */
  log?: FastifyBaseLogger;
}

/** pino `redact` settings for every logger the server uses: the Authorization header never appears. */
export const LOG_REDACT = {
  paths: [
    'authorization',
    'headers.authorization',
    'req.headers.authorization',
    'request.headers.authorization',
    'res.headers.authorization',
    'headers["x-api-key"]',
    'req.headers["x-api-key"]',
  ],
  censor: '[redacted]',
};

/** The server's logger: pino with the Authorization header redacted. */
export function createServerLogger(level: string, destination?: DestinationStream): Logger {
  return destination ? pino({ level, redact: LOG_REDACT }, destination) : pino({ level, redact: LOG_REDACT });
}

const ANY: readonly KeyScope[] = ['read', 'infer', 'admin'];
const READ: readonly KeyScope[] = ['read', 'admin'];
const INFER: readonly KeyScope[] = ['infer', 'admin'];
const ADMIN: readonly KeyScope[] = ['admin'];

/** The scopes that may make a request, or undefined when it needs no key. */
export function requiredScopes(method: string, url: string, requireAuth: boolean): readonly KeyScope[] | undefined {
  const path = url.split('?', 1)[0]!;
  const read = method === 'GET' || method === 'HEAD';
  if (path === '/docs' || path.startsWith('/docs/') || path === '/api/v1/openapi.json') return undefined;
  // Ground truth comes from the application that calls the model: its infer key may send it.
  if (method === 'POST' && /^\/api\/v1\/models\/[^/]+\/feedback$/.test(path)) return INFER;
  if (path === '/api/v1' || path.startsWith('/api/v1/')) return read ? READ : ADMIN;
  if (!requireAuth) return undefined;
  if (path.startsWith('/v2/health/')) return undefined;
  if (method === 'POST' && (/^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer$/.test(path) || /^\/v1\/models\/[^/]+$/.test(path))) return INFER;
  if (method === 'POST' && /^\/v2\/repository\/models\/[^/]+\/(load|unload)$/.test(path)) return ADMIN;
  if (path === '/v2' || path.startsWith('/v2/') || path.startsWith('/v1/')) return ANY;
  return undefined;
}

/** The bearer token of a request, or undefined when it carries none. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
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

declare module 'fastify' {
  interface FastifyRequest {
    /** the verified API key of the request, when it carried one */
    apiKey?: ApiKeyInfo;
  }
}

/** Who made a change, for the audit log: 'api-key:<id>'. */
export function actorOf(request: FastifyRequest): string | undefined {
  const key = request.apiKey;
  if (!key) return undefined;
  return `api-key:${key.id}`;
}

function deny(reply: FastifyReply, status: 401 | 403, message: string, bearerError?: string): FastifyReply {
  if (status === 401) void reply.header('www-authenticate', bearerError ? `Bearer realm="berth", error="${bearerError}"` : 'Bearer realm="berth"');
  return reply.code(status).type('application/json').send({ error: message });
}

/** Adds the API-key check to every route of the app (an onRequest hook). */
export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  const cache = new KeyCache(options.cacheMs ?? 5000);
  const requireAuth = options.requireAuth ?? false;
  app.decorateRequest('apiKey', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const needed = requiredScopes(request.method, request.url, requireAuth);
    if (!needed) return;
    const token = bearerToken(request);
    const where = { reqId: request.id, method: request.method, url: request.url.split('?', 1)[0] };
    const log = options.log;
    if (!token) {
      log?.info({ ...where, status: 401 }, 'request without an API key refused');
      return deny(reply, 401, 'this endpoint needs an API key: send Authorization: Bearer KEY');
    }
    const hash = createHash('sha256').update(token).digest('hex');
    let info = cache.get(hash);
    if (!info) {
      try {
        info = await options.registry.verifyKey(token);
      } catch (err) {
        log?.error({ ...where, err: (err as Error).message }, 'API key verification failed');
        return reply.code(503).type('application/json').send({ error: 'could not verify the API key; try again' });
      }
      if (info) cache.set(hash, info);
    }
    if (!info) {
      log?.info({ ...where, status: 401 }, 'request with an unknown or revoked API key refused');
      return deny(reply, 401, 'the API key is not valid (unknown or revoked)', 'invalid_token');
    }
    request.apiKey = info;
    if (!needed.includes(info.scope)) {
      log?.info({ ...where, status: 403, key_id: info.id, scope: info.scope }, 'API key of the wrong scope refused');
      return reply.code(403).type('application/json').send({ error: `this endpoint needs a key with scope ${needed.join(' or ')}; this key has scope ${info.scope}` });
    }
    log?.debug({ ...where, key_id: info.id, scope: info.scope }, 'API key accepted');
    return undefined;
  });
}
