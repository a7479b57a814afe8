/**
 * Who may call which REST route: the one table of it (gRPC's is GRPC_METHODS in
 * serving/access.ts, with the same access classes). Access is decided on the route the router
 * matched (fastify's `request.routeOptions.url`; http/auth.ts), never
 * on the raw request target, so percent-encoding (`/api/%761/...`), absolute-form targets
 * (`GET http://x/api/v1/audit`) and any other spelling the router accepts are judged exactly
 * like the route they reach. A route that is not in the table (and does not declare its access
 * in its own config) is refused: a new route is closed until someone writes its row here.
 *
 * Two independent checks use the table:
 * - API keys (`serve --registry` stores them): `access` says which key scopes may call a route.
 * - Restricted APIs (`--restricted-api CATEGORY,...:HEADER=VALUE`, after Triton's
 *   `--http-restricted-api`): `category` names the group a restriction applies to.
 *
 * docs/admin-api.md prints this table (test/serving/auth-docs.test.ts keeps the two equal);
 * test/serving/auth-matrix.test.ts checks that every route of a running server has a row and
 * that the router enforces it.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { RouteRule } from '../serving/access.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** a route's access rule, for routes whose URL is not known in advance (the dashboard's files) */
    access?: RouteRule;
  }
}

/** `METHOD URL-pattern` (fastify's route URL; HEAD is looked up as GET) → rule. */
export const REST_ROUTES: Readonly<Record<string, RouteRule>> = {
  // --- Open Inference Protocol (v2) -------------------------------------------------------
  'GET /v2/health/live': { access: 'public', category: 'health' },
  'GET /v2/health/ready': { access: 'public', category: 'health' },
  'GET /v2/models/:model/ready': { access: 'serving', category: 'health' },
  'GET /v2/models/:model/versions/:version/ready': { access: 'serving', category: 'health' },
  'GET /v2': { access: 'serving', category: 'metadata' },
  'GET /v2/models': { access: 'serving', category: 'metadata' },
  'GET /v2/models/:model': { access: 'serving', category: 'metadata' },
  'GET /v2/models/:model/versions/:version': { access: 'serving', category: 'metadata' },
  'POST /v2/models/:model/infer': { access: 'infer', category: 'inference' },
  'POST /v2/models/:model/versions/:version/infer': { access: 'infer', category: 'inference' },
  'GET /v2/models/:model/config': { access: 'serving', category: 'model-config' },
  'GET /v2/models/:model/versions/:version/config': { access: 'serving', category: 'model-config' },
  'GET /v2/models/stats': { access: 'serving', category: 'statistics' },
  'GET /v2/models/:model/stats': { access: 'serving', category: 'statistics' },
  'GET /v2/models/:model/versions/:version/stats': { access: 'serving', category: 'statistics' },
  'POST /v2/repository/index': { access: 'serving', category: 'model-repository' },
  'POST /v2/repository/models/:model/load': { access: 'admin', category: 'model-repository' },
  'POST /v2/repository/models/:model/unload': { access: 'admin', category: 'model-repository' },
  // --- V1 (TF-Serving style) ---------------------------------------------------------------
  'POST /v1/models/:target': { access: 'infer', category: 'inference' },
  'GET /v1/models/:model': { access: 'serving', category: 'metadata' },
  // --- Prometheus ----------------------------------------------------------------------------
  'GET /metrics': { access: 'serving', category: 'metrics' },
  // --- admin API over the registry (/api/v1) -------------------------------------------------
  'GET /api/v1/models': { access: 'read', category: 'admin' },
  'POST /api/v1/models': { access: 'admin', category: 'admin' },
  'GET /api/v1/models/:name': { access: 'read', category: 'admin' },
  'PATCH /api/v1/models/:name': { access: 'admin', category: 'admin' },
  'GET /api/v1/models/:name/versions': { access: 'read', category: 'admin' },
  'POST /api/v1/models/:name/versions': { access: 'admin', category: 'admin' },
  'GET /api/v1/models/:name/versions/:version': { access: 'read', category: 'admin' },
  'GET /api/v1/models/:name/versions/:version/artifact': { access: 'read', category: 'admin' },
  'PUT /api/v1/models/:name/aliases/:alias': { access: 'admin', category: 'admin' },
  'DELETE /api/v1/models/:name/aliases/:alias': { access: 'admin', category: 'admin' },
  'GET /api/v1/models/:name/rollout': { access: 'read', category: 'admin' },
  'POST /api/v1/models/:name/rollout': { access: 'admin', category: 'admin' },
  'POST /api/v1/models/:name/rollout/promote': { access: 'admin', category: 'admin' },
  'POST /api/v1/models/:name/rollout/abort': { access: 'admin', category: 'admin' },
  'POST /api/v1/models/:name/rollback': { access: 'admin', category: 'admin' },
  'GET /api/v1/models/:name/rollout/stats': { access: 'read', category: 'admin' },
  'GET /api/v1/audit': { access: 'read', category: 'admin' },
  'GET /api/v1/serving': { access: 'read', category: 'admin' },
  // --- monitoring and the dashboard's data (/api/v1) ----------------------------------------
  'GET /api/v1/models/:name/drift': { access: 'read', category: 'monitoring' },
  'POST /api/v1/models/:name/feedback': { access: 'feedback', category: 'monitoring' },
  'GET /api/v1/models/:name/accuracy': { access: 'read', category: 'monitoring' },
  'GET /api/v1/alerts': { access: 'read', category: 'monitoring' },
  'GET /api/v1/capture': { access: 'read', category: 'monitoring' },
  'GET /api/v1/server': { access: 'read', category: 'monitoring' },
  'GET /api/v1/metrics/history': { access: 'read', category: 'monitoring' },
  'GET /api/v1/serving/models/:name/versions/:version/model.onnx': { access: 'read', category: 'monitoring' },
  // --- API documentation (the OpenAPI document and swagger-ui's files hold no data) ----------
  'GET /api/v1/openapi.json': { access: 'public', category: 'static' },
  'GET /docs': { access: 'public', category: 'static' },
  'GET /docs/': { access: 'public', category: 'static' },
  'GET /docs/json': { access: 'public', category: 'static' },
  'GET /docs/yaml': { access: 'public', category: 'static' },
  'GET /docs/static/index.html': { access: 'public', category: 'static' },
  'GET /docs/static/swagger-initializer.js': { access: 'public', category: 'static' },
  'GET /docs/static/*': { access: 'public', category: 'static' },
  // --- the web dashboard (its files are public; it reads the APIs with its user's key) ------
  'GET /': { access: 'public', category: 'static' },
  'GET /*': { access: 'public', category: 'static' },
};

/** The rule of the route a request matched, or undefined when none is declared (refuse it). */
export function restRule(method: string, routeUrl: string | undefined, config?: { access?: RouteRule }): RouteRule | undefined {
  if (config?.access) return config.access;
  if (routeUrl === undefined) return undefined;
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  return REST_ROUTES[`${m} ${routeUrl}`];
}

export interface RegisteredRoute {
  method: string;
  url: string;
  rule?: RouteRule;
}

const registered = new WeakMap<FastifyInstance, RouteOptions[]>();

/** Records every route registered on `app` from now on (for the start-up check and the tests). */
export function recordRoutes(app: FastifyInstance): void {
  const list: RouteOptions[] = [];
  registered.set(app, list);
  app.addHook('onRoute', (route: RouteOptions) => {
    list.push(route);
  });
}

/** The router's own route table as recorded by recordRoutes(), with each route's rule. */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  // Rules are read now, not when recorded: a plugin's own onRoute hook (declareRouteAccess)
  // runs after the root's and may set the route's config.
  return (registered.get(app) ?? []).flatMap((route) =>
    [route.method].flat().map((method) => ({ method, url: route.url, rule: restRule(method, route.url, route.config) })),
  );
}

/**
 * Marks every route registered from now on in `scope` (and its children) with `rule`: for
 * plugins that make one route per file (the dashboard's static files).
 */
export function declareRouteAccess(scope: FastifyInstance, rule: RouteRule): void {
  scope.addHook('onRoute', (route: RouteOptions) => {
    route.config = { ...(route.config ?? {}), access: route.config?.access ?? rule };
  });
}
