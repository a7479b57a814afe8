/**
 * Access control on the HTTP front end, one onRequest hook. fastify runs onRequest hooks after
 * routing, so the hook judges the route the router matched (`request.routeOptions.url`), never
 * the raw request target: `/api/%761/audit`, `//api/v1/audit`, `GET http://x/api/v1/audit` and
 * any other spelling that reaches a route are judged as that route. In order:
 *
 * 1. Host allow-list (`--allowed-hosts`; DNS rebinding): 403, except the /v2/health probes.
 * 2. Cross-origin writes (`--allowed-origins`): a non-GET/HEAD/OPTIONS request with a foreign
 *    `Origin` gets 403.
 * 3. The route's rule (http/route-scopes.ts). A route without one is refused (403): routes
 *    are closed until declared. Requests that match no route go on to the 404 handler.
 * 4. Restricted APIs (`--restricted-api`): the route's category may need a header: 403.
 * 5. API keys (with a registry): `Authorization: Bearer KEY` of a scope the rule accepts. No
 *    key or a malformed header: 401 with `WWW-Authenticate: Bearer`; unknown key: 401
 *    `invalid_token`; a key of the wrong scope: 403.
 *
 * Keys never reach the logs: this file logs key ids only, and LOG_REDACT censors the
 * Authorization header wherever a request's headers are logged.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';
import { KeyChecker, failedRestriction, restrictedMessage, scopesFor } from '../serving/access.js';
import type { ApiKeyInfo, KeyVerifier, RestrictedApi } from '../serving/access.js';
import { recordRoutes, registeredRoutes, restRule } from './route-scopes.js';
import { hostRefusal, originRefusal } from './origin-guard.js';
import type { OriginGuardOptions } from './origin-guard.js';

export { bearerToken } from '../serving/access.js';
export type { ApiKeyInfo, KeyVerifier } from '../serving/access.js';

export interface AuthOptions {
  registry: KeyVerifier;
  /** inference and model metadata need a key too (admin endpoints always do) */
  requireAuth?: boolean;
  /** how long a verified key is trusted without asking the registry again (default 5000 ms) */
  cacheMs?: number;
  /** where refusals are logged (key ids only) */
  log?: FastifyBaseLogger;
}

/** What the access hook enforces besides API keys; all of it works without a registry. */
export interface AccessOptions extends OriginGuardOptions {
  /** `--restricted-api`: API categories that need a header */
  restricted?: readonly RestrictedApi[];
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

function refuse(reply: FastifyReply, status: 401 | 403 | 503, message: string, bearerError?: string): FastifyReply {
  if (status === 401) void reply.header('www-authenticate', bearerError ? `Bearer realm="berth", error="${bearerError}"` : 'Bearer realm="berth"');
  return reply.code(status).type('application/json').send({ error: message });
}

/**
 * Adds access control to every route of the app (one onRequest hook): `auth` = API keys (a
 * registry), `access` = host, origin and restricted-API checks. Call before the routes.
 */
export function registerAuth(app: FastifyInstance, auth: AuthOptions | undefined, access: AccessOptions = {}, logger?: FastifyBaseLogger): void {
  const keys = auth ? new KeyChecker(auth.registry, auth.cacheMs ?? 5000) : undefined;
  const requireAuth = auth?.requireAuth ?? false;
  const log = auth?.log ?? logger;
  const restricted = access.restricted ?? [];
  app.decorateRequest('apiKey', undefined);
  recordRoutes(app);
  // Undeclared routes answer 403 (below); say so once at start, where it is seen.
  app.addHook('onReady', async () => {
    for (const r of registeredRoutes(app)) if (!r.rule) log?.error({ method: r.method, route: r.url }, 'route has no declared access rule (http/route-scopes.ts): every request to it is refused');
  });
  // A callback hook, not an async one: most requests need no key, and pass without a promise.
  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions;
    const rule = restRule(request.method, route.url, route.config);
    const where = () => ({ reqId: request.id, method: request.method, url: request.url.split('?', 1)[0], route: route.url });
    const stop = (status: 401 | 403 | 503, message: string, bearerError?: string): void => {
      refuse(reply, status, message, bearerError);
    };

    // Probes answer whatever the Host: a kubelet asks by pod IP.
    if (!(rule?.category === 'health' && rule.access === 'public')) {
      const badHost = hostRefusal(request.headers.host, request.raw.url ?? '', access.allowedHosts);
      if (badHost) {
        log?.info({ ...where(), status: 403 }, `request refused: ${badHost}`);
        return stop(403, badHost);
      }
    }
    const badOrigin = originRefusal(request.method, request.headers.origin, request.headers.host, access.allowedOrigins);
    if (badOrigin) {
      log?.info({ ...where(), status: 403 }, badOrigin);
      return stop(403, badOrigin);
    }
    if (route.url === undefined) return done(); // no route: the 404 handler answers
    if (!rule) {
      log?.error({ ...where() }, 'route has no declared access rule (http/route-scopes.ts): refused');
      return stop(403, 'this endpoint has no declared access rule; refused');
    }
    const failed = failedRestriction(restricted, rule.category, (name) => request.headers[name]);
    if (failed) {
      log?.info({ ...where(), status: 403, category: rule.category }, 'restricted API: request without the header refused');
      return stop(403, restrictedMessage(failed, rule.category));
    }
    const needed = keys ? scopesFor(rule.access, true, requireAuth) : undefined;
    if (!keys || !needed) return done();
    keys.check(request.headers.authorization, needed).then((verdict) => {
      if (verdict.info) request.apiKey = verdict.info;
      if (!verdict.ok) {
        if (verdict.status === 503) log?.error({ ...where(), err: verdict.cause }, 'API key verification failed');
        else if (verdict.status === 403) log?.info({ ...where(), status: 403, key_id: verdict.info?.id, scope: verdict.info?.scope }, 'API key of the wrong scope refused');
        else if (verdict.bearerError) log?.info({ ...where(), status: 401 }, 'request with an unknown or revoked API key refused');
        else log?.info({ ...where(), status: 401 }, 'request without an API key refused');
        return stop(verdict.status, verdict.message, verdict.bearerError);
      }
      log?.debug({ ...where(), key_id: verdict.info?.id, scope: verdict.info?.scope }, 'API key accepted');
      done();
    }, (err: unknown) => done(err as Error));
  });
}
