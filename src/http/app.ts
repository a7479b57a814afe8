/**
 * The HTTP front end (fastify). It decodes requests into the core's protocol-neutral types,
 * calls the InferenceService, and encodes answers; errors are mapped in errors.ts only.
 */
import { promisify } from 'node:util';
import { gzip, deflate } from 'node:zlib';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import { BerthError, invalidArgument, notFound } from '../core/errors.js';
import type { InferenceService } from '../core/inference-service.js';
import { EXTENSIONS, SERVER_NAME, SERVER_VERSION } from '../core/inference-service.js';
import { sendError } from './errors.js';
import { ClientGoneSignal } from './client-gone-signal.js';
import { registerExtensionRoutes } from './extension-routes.js';
import type { ModelControl } from '../core/model-control.js';
import { decodeInferRequest, encodeInferResponse, headerLength, metadataTensor } from './v2-codec.js';
import { decodePredictRequest, encodePredictions } from './v1-codec.js';
import { DEFAULT_RESPONSE_LIMIT, v2JsonTextSpec } from './json-encode.js';
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

interface ModelParams {
  model: string;
  version?: string;
}

const gzipAsync = promisify(gzip);
const deflateAsync = promisify(deflate);

/**
 * Compresses the answer when the client asked for it (tritonclient's Accept-Encoding option),
 * on the thread pool: a large answer compressed synchronously would stall every other request.
 */
async function compress(request: FastifyRequest, reply: FastifyReply, body: Buffer | string): Promise<Buffer | string> {
  const accept = request.headers['accept-encoding'];
  if (!accept || typeof accept !== 'string') return body;
  if (/\bgzip\b/i.test(accept)) {
    void reply.header('content-encoding', 'gzip');
    return gzipAsync(body);
  }
  if (/\bdeflate\b/i.test(accept)) {
    void reply.header('content-encoding', 'deflate');
    return deflateAsync(body);
  }
  return body;
}

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
  guard.registerAnswerAccounting(app);

  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'Not Found' }));
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof BerthError) return sendError(reply, err);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: `request body is larger than the limit of ${limits.bodyLimit} bytes` });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    options.logger?.error({ err }, 'unhandled error');
    return reply.code(500).send({ error: err.message || 'internal error' });
  });

  // Tracing hooks first, so that requests refused by later hooks (auth) are traced too.
  if (options.tracing) registerTracingHooks(app, options.tracing);
  registerAuth(app, options.auth && { ...options.auth, log: options.auth.log ?? options.logger }, options.access, options.logger);
  if (options.metrics) registerMetricsRoute(app, options.metrics);
  if (options.admin) registerAdminRoutes(app, { ...options.admin, service });
  if (options.monitoring) registerMonitoringRoutes(app, options.monitoring);
  if (options.dashboard) registerDashboardRoutes(app, service, options);

  const bodyOf = (request: FastifyRequest): Buffer => {
    const raw = request.body;
    // already decoded (Content-Encoding) by the body parser
    return Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
  };

  // --- health and metadata -------------------------------------------------------------
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_req, reply) => {
    const ready = service.isReady();
    return reply.code(ready ? 200 : 503).send({ ready });
  });
  app.get('/v2', async () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS }));
  app.get('/v2/models', async () => ({ models: service.versionStatuses() }));

  const modelMetadata = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    try {
      const { model, version } = request.params;
      const meta = service.modelMetadata(model, version);
      return reply.send({ name: meta.name, versions: meta.versions, platform: meta.platform, inputs: meta.inputs.map(metadataTensor), outputs: meta.outputs.map(metadataTensor) });
    } catch (err) {
      return sendError(reply, err);
    }
  };
  app.get('/v2/models/:model', modelMetadata);
  app.get('/v2/models/:model/versions/:version', modelMetadata);

  const modelReady = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    try {
      const { model, version } = request.params;
      const status = service.modelStatus(model, version);
      if (status.ready) return reply.send({ name: model, ready: true });
      return reply.code(503).send({ name: model, ready: false, error: `model '${model}'${version ? ` version ${version}` : ''} is not ready: ${status.reason}` });
    } catch (err) {
      return sendError(reply, err);
    }
  };
  app.get('/v2/models/:model/ready', modelReady);
  app.get('/v2/models/:model/versions/:version/ready', modelReady);

  // --- inference ---------------------------------------------------------------------------
  const responseLimit = options.responseLimit ?? DEFAULT_RESPONSE_LIMIT;
  const infer = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    try {
      const { model, version } = request.params;
      const body = bodyOf(request);
      const headerLen = headerLength(request.headers['inference-header-content-length'], body.length);
      const inferRequest = decodeInferRequest(body, headerLen, model, version, () => service.resolve(model, version).inputs);
      inferRequest.signal = abortSignal(reply);
      inferRequest.protocol = 'rest';
      inferRequest.routeKey = routeKey(request);
      inferRequest.jsonText = v2JsonTextSpec(inferRequest, responseLimit);
      const response = await service.infer(inferRequest);
      if (response.requestId) void reply.header('x-request-id', response.requestId);
      const encoded = encodeInferResponse(response, inferRequest, responseLimit);
      if (encoded.headerLength !== undefined) void reply.header('inference-header-content-length', String(encoded.headerLength));
      return reply.type(encoded.contentType).send(await compress(request, reply, encoded.body));
    } catch (err) {
      return sendError(reply, err);
    }
  };
  app.post('/v2/models/:model/infer', infer);
  app.post('/v2/models/:model/versions/:version/infer', infer);

  // --- V1 (TF-Serving style) ---------------------------------------------------------------
  // `NAME:predict` is one path segment, so match it whole and split off the verb.
  app.post('/v1/models/:target', async (request: FastifyRequest<{ Params: { target: string } }>, reply) => {
    try {
      const { target } = request.params;
      if (!target.endsWith(':predict')) throw notFound(`unknown V1 method in '${target}'; use /v1/models/NAME:predict`);
      const model = target.slice(0, -':predict'.length);
      const body = bodyOf(request);
      if (body.length === 0) throw invalidArgument('request body is empty; expected {"instances": [...]}');
      const inputs = decodePredictRequest(body, service.resolve(model).inputs);
      const jsonText = { layout: 'rows' as const, maxBytes: responseLimit };
      const response = await service.infer({ modelName: model, inputs, signal: abortSignal(reply), protocol: 'v1', id: headerId(request), routeKey: routeKey(request), jsonText });
      if (response.requestId) void reply.header('x-request-id', response.requestId);
      return reply.type('application/json').send(encodePredictions(response, responseLimit));
    } catch (err) {
      return sendError(reply, err);
    }
  });
  app.get('/v1/models/:model', async (request: FastifyRequest<{ Params: ModelParams }>, reply) => {
    try {
      const { model } = request.params;
      const statuses = service.versionStatuses().filter((s) => s.name === model);
      if (statuses.length === 0) service.modelStatus(model); // throws NOT_FOUND
      return reply.send({
        model_version_status: statuses.map((s) => ({
          version: s.version,
          state: s.state === 'READY' ? 'AVAILABLE' : s.state === 'LOADING' ? 'LOADING' : s.state === 'UNLOADING' ? 'UNLOADING' : 'END',
          status: { error_code: s.state === 'READY' ? 'OK' : 'UNAVAILABLE', error_message: s.reason },
        })),
      });
    } catch (err) {
      return sendError(reply, err);
    }
  });

  registerExtensionRoutes(app, service, control);
  return app;
}

/** V1 bodies have no id field: a client may name its request with an x-request-id header. */
function headerId(request: FastifyRequest): string | undefined {
  const id = request.headers['x-request-id'];
  return typeof id === 'string' && id.length > 0 && id.length <= 256 ? id : undefined;
}

/** Sticky rollout routing: requests with the same x-berth-route-key see the same version. */
function routeKey(request: FastifyRequest): string | undefined {
  const key = request.headers['x-berth-route-key'];
  return typeof key === 'string' && key.length > 0 && key.length <= 1024 ? key : undefined;
}

/** Aborts queued work when the client disconnects before its answer. */
function abortSignal(reply: FastifyReply): ClientGoneSignal {
  return new ClientGoneSignal(reply.raw);
}
