/**
 * The HTTP front end (fastify). It decodes requests into the core's protocol-neutral types,
 * calls the InferenceService, and encodes answers; errors are mapped in errors.ts only.
 *
 * This file composes the app: the server, the body parser, the hooks in their order, then the
 * routes of each API (v2-routes.ts, v1-routes.ts, extension-routes.ts, admin, monitoring,
 * dashboard); error answers come from error-handler.ts, compression from content-encoding.ts.
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { InferenceService } from '../core/inference-service.js';
import { registerExtensionRoutes } from './extension-routes.js';
import type { ModelControl } from '../core/model-control.js';
import { DEFAULT_RESPONSE_LIMIT } from './json-encode.js';
import { registerAuth } from './auth.js';
import type { AccessOptions, AuthOptions } from './auth.js';
import { registerAdminRoutes } from './admin-routes.js';
import type { AdminDeps } from './admin-routes.js';
import { registerMetricsRoute } from './metrics-route.js';
import { registerTracingHooks } from './tracing-hooks.js';
import type { ServingMetrics } from '../monitor/metrics.js';
import type { Tracing } from '../monitor/tracing.js';
import { registerMonitoringRoutes } from './monitoring-routes.js';
import type { MonitoringRouteDeps } from '../monitor/monitoring.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import { readBody } from './body.js';
import { HttpServerGuard } from './http-server.js';
import { DEFAULT_BODY_LIMIT, resolveLimits } from './limits.js';
import type { HttpLimits } from './limits.js';
import type { DashboardOptions } from './dashboard-routes.js';
import { registerErrorHandlers } from './error-handler.js';
import { registerV2Routes } from './v2-routes.js';
import { registerV1Routes } from './v1-routes.js';

export interface HttpOptions {
  /** largest accepted request body after decoding, bytes (Triton's default: 64 MiB) */
  bodyLimit?: number;
  /** largest JSON answer, bytes (default 64 MiB): past it, 413 and a pointer to binary outputs */
  responseLimit?: number;
  /** in-flight budget, timeouts and the connection cap (http/limits.ts); bodyLimit above wins over limits.bodyLimit */
  limits?: Partial<HttpLimits>;
  /** a pino logger (fastify's own request logging stays off; we log access lines ourselves) */
  logger?: FastifyBaseLogger;
  /** API keys (http/auth.ts): always on for /api/v1, on inference too with requireAuth */
  auth?: AuthOptions;
  /** host allow-list, cross-origin writes, restricted APIs (http/auth.ts); on with or without keys */
  access?: AccessOptions;
  /** the admin API over a registry (/api/v1, /docs) */
  admin?: Omit<AdminDeps, 'service'>;
  /** Prometheus metrics served at GET /metrics */
  metrics?: ServingMetrics;
  /** OpenTelemetry server spans and traceparent propagation (monitor/tracing.ts) */
  tracing?: Tracing;
  /** drift, feedback/accuracy, alerts and capture under /api/v1 (monitor/monitoring.ts) */
  monitoring?: MonitoringRouteDeps;
  /** the web dashboard at / and the read-only data it reads under /api/v1 (http/dashboard-routes.ts) */
  dashboard?: DashboardOptions;
}

export { DEFAULT_BODY_LIMIT };

export function buildHttpApp(service: InferenceService, options: HttpOptions = {}, control?: ModelControl): FastifyInstance {
  const limits = resolveLimits({ ...options.limits, ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }) });
  const guard = new HttpServerGuard(limits);
  const app = Fastify({
    bodyLimit: limits.bodyLimit,
    // the node server with timeouts, connection cap and in-flight accounting (http-server.ts)
    serverFactory: guard.serverFactory,
    // No logger for fastify itself: with one, every request gets a pino child logger and
    // 'finish'/'error' listeners on its response, for request logging we keep off (access lines
    // come from monitor/access-log.ts): ~1–2.5 µs of event loop per request (CPU profiles of the
    // small bench model; ~6% of the request). Our error handler and hooks log with options.logger.
    logger: false,
    return503OnClosing: true,
    // registry names are up to 128 characters (fastify's default limit is 100): longer ones get
    // a 400 from the route's schema, not a 414
    routerOptions: { maxParamLength: 512 },
  });

  // Bodies are parsed by us, whatever the Content-Type (tritonclient sends none), because a
  // binary request is a JSON header followed by raw tensor bytes. They are read as a stream,
  // decoded as they arrive, bounded by the limit on decoded bytes and the in-flight budget (body.ts).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    readBody(payload, { limit: limits.bodyLimit, lease: guard.leaseOf(request.raw) }).then(
      (body) => done(null, body),
      (err: Error) => {
        // a body refused before its end stays unread: answer, then close the connection
        if (!request.raw.complete) guard.closeAfterAnswer(request.raw);
        done(err, undefined);
      },
    );
  });
  guard.registerAnswerAccounting(app, () => service.isDraining);

  registerErrorHandlers(app, limits.bodyLimit, options.logger);

  // Tracing hooks first, so that requests refused by later hooks (auth) are traced too.
  if (options.tracing) registerTracingHooks(app, options.tracing);
  registerAuth(app, options.auth && { ...options.auth, log: options.auth.log ?? options.logger }, options.access, options.logger);
  if (options.metrics) registerMetricsRoute(app, options.metrics);
  if (options.admin) registerAdminRoutes(app, { ...options.admin, service });
  if (options.monitoring) registerMonitoringRoutes(app, options.monitoring);
  if (options.dashboard) registerDashboardRoutes(app, service, options);

  const responseLimit = options.responseLimit ?? DEFAULT_RESPONSE_LIMIT;
  registerV2Routes(app, service, responseLimit);
  registerV1Routes(app, service, responseLimit);
  registerExtensionRoutes(app, service, control);
  return app;
}
