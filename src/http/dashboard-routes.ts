/**
 * The web dashboard (web/, built by Vite into dist/web/) served at `/`, and the read-only
 * endpoints it needs (dashboard-data-routes.ts), which stay on when the files are turned off.
 *
 * The files are public, like /docs: the dashboard holds no data, it reads the APIs with the key
 * its user types in. Hashed assets are cached for good; index.html is revalidated. A browser
 * navigation to an unknown path outside the APIs is redirected to the dashboard's route for it
 * (/#/path: the dashboard routes by hash); every other unknown request still gets the app's
 * JSON 404.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InferenceService } from '../core/inference-service.js';
import type { MetricsHistory } from '../monitor/history.js';
import type { HttpOptions } from './app.js';
import { registerDashboardDataRoutes } from './dashboard-data-routes.js';
import { declareRouteAccess } from './route-scopes.js';

export interface DashboardOptions {
  /** serve the dashboard's files at / (default true); the data endpoints are there either way */
  web?: boolean;
  /** where the built dashboard is (default: dist/web of this package) */
  root?: string;
  /** the sampler behind GET /api/v1/metrics/history */
  history?: MetricsHistory;
}

/** Paths that belong to the APIs: never answered with the dashboard's index.html. */
const API_PREFIXES = ['/v1/', '/v2/', '/api/', '/docs/'];
const API_PATHS = new Set(['/v1', '/v2', '/api', '/docs', '/metrics']);

/**
 * The built dashboard: dist/web beside dist/http when running the build, or the repository's
 * dist/web when running the sources (tsx).
 */
export function dashboardDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', 'web'), join(here, '..', '..', 'dist', 'web')]) {
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  return undefined;
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>berth</title>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>berth</h1><p>The dashboard is not built in this installation. Run <code>npm run build</code>
(it builds the server and, with Vite, the dashboard into <code>dist/web/</code>), then restart the server.</p>
<p>The APIs work without it: <a href="v2/models">/v2/models</a>, <a href="metrics">/metrics</a>.</p></body>`;

function isApiPath(path: string): boolean {
  return API_PATHS.has(path) || API_PREFIXES.some((p) => path.startsWith(p));
}

/** A browser navigating (not a script fetching JSON). */
function wantsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}

export function registerDashboardRoutes(app: FastifyInstance, service: InferenceService, http: HttpOptions): void {
  const options = http.dashboard ?? {};
  const web = options.web !== false;
  registerDashboardDataRoutes(app, {
    service,
    history: options.history,
    convergence: http.admin?.sync ? () => http.admin!.sync!.report() : undefined,
    capabilities: {
      registry: http.admin !== undefined,
      apiKeys: http.auth !== undefined,
      requireAuth: http.auth?.requireAuth ?? false,
      metrics: http.metrics !== undefined,
      monitoring: http.monitoring !== undefined,
      drift: http.monitoring?.drift !== undefined,
      dashboard: web,
    },
  });
  if (!web) return;

  const root = options.root ?? dashboardDir();
  if (!root) {
    app.get('/', async (_request, reply) => reply.code(404).type('text/html; charset=utf-8').send(NOT_BUILT));
    return;
  }
  void app.register(async (scope) => {
    // one route per built file, names unknown in advance: all of them public (http/route-scopes.ts)
    declareRouteAccess(scope, { access: 'public', category: 'static' });
    await scope.register(fastifyStatic, {
      root,
      prefix: '/',
      // The build output is fixed: one route per file, found once at start (no wildcard route;
      // a rebuilt dashboard is served after a restart).
      wildcard: false,
      index: ['index.html'],
      decorateReply: false,
      dotfiles: 'ignore',
      cacheControl: false,
      setHeaders(res, path) {
        // Vite names assets by content hash: a name never changes meaning.
        const immutable = /[\\/]assets[\\/]/.test(path);
        void res.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
    // The dashboard routes by the URL's hash (#/models/digits): a browser that asks for a path
    // (/models/digits, a link typed by hand) is sent to the same page under /#.
    scope.get('/*', async (request: FastifyRequest, reply: FastifyReply) => {
      const path = request.url.split('?', 1)[0]!;
      if (isApiPath(path) || !wantsHtml(request)) return reply.callNotFound();
      return reply.redirect(`/#${path}`, 302);
    });
  });
}
