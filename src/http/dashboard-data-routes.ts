/**
 * Read-only endpoints the web dashboard needs beyond the Open Inference Protocol, the admin API
 * and /metrics. They exist whether or not the dashboard's files are served (`--no-dashboard`),
 * so a dashboard elsewhere can read any berth:
 *
 * | method | path | |
 * |---|---|---|
 * | GET | /api/v1/server | what this server has turned on: registry (admin API), API keys, metrics, monitoring; the catalog state it has applied (convergence) |
 * | GET | /api/v1/metrics/history[?model=M] | the last 15 minutes per model and version: req/s, error rate, p50/p99 |
 * | GET | /api/v1/serving/models/{m}/versions/{v}/model.onnx | the bytes a loaded version was loaded from (409 when it is not loaded or its file changed in place) |
 *
 * They sit under /api/v1, so http/auth.ts asks for a read (or admin) key whenever the server
 * has API keys (`serve --registry`), and for none otherwise.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { notFound } from '../core/errors.js';
import type { InferenceService } from '../core/inference-service.js';
import { SERVER_NAME, SERVER_VERSION } from '../core/inference-service.js';
import type { MetricsHistory } from '../monitor/history.js';
import { sendError } from './errors.js';
import { jsonSchema } from './zod-json-schema.js';
import { ServerInfoSchema } from './dashboard-data-schemas.js';
import type { Convergence, ServerCapabilities, ServerInfo } from './dashboard-data-schemas.js';

/** What GET /api/v1/server reports (defined in dashboard-data-schemas.ts). */
export type { ServerCapabilities };

export interface DashboardDataDeps {
  service: InferenceService;
  capabilities: ServerCapabilities;
  /** the sampler behind /api/v1/metrics/history; absent when metrics are off */
  history?: MetricsHistory;
  /** serve --registry: the catalog state applied (RegistrySync.report) */
  convergence?: () => Convergence;
}

interface ModelFileRoute {
  Params: { name: string; version: string };
}

export function registerDashboardDataRoutes(app: FastifyInstance, deps: DashboardDataDeps): void {
  const { service, capabilities, history, convergence } = deps;

  app.get('/api/v1/server', { schema: { response: { 200: jsonSchema(ServerInfoSchema) } } }, async (): Promise<ServerInfo> => ({
    name: SERVER_NAME,
    version: SERVER_VERSION,
    ...capabilities,
    history: history ? { interval_secs: history.intervalSecs, window_secs: history.windowSecs } : null,
    convergence: convergence ? convergence() : null,
  }));

  app.get('/api/v1/metrics/history', async (request: FastifyRequest<{ Querystring: { model?: string } }>, reply: FastifyReply) => {
    if (!history) return reply.code(404).send({ error: 'metrics are off on this server (berth serve --no-metrics): there is no history' });
    const { model } = request.query;
    if (model !== undefined && !service.isLoaded(model) && !history.snapshot(model).models.length) {
      return sendError(reply, notFound(`unknown model '${model}'`));
    }
    return reply.send(history.snapshot(model));
  });

  // The model file itself, so that a browser (onnxruntime-web) can run the same model as the
  // server. Only versions this server has loaded, and only the file they were loaded from.
  app.get('/api/v1/serving/models/:name/versions/:version/model.onnx', async (request: FastifyRequest<ModelFileRoute>, reply: FastifyReply) => {
    try {
      const { name, version } = request.params;
      if (!service.isLoaded(name)) throw notFound(`unknown model '${name}'`);
      // The bytes the version was loaded from (held open since load), never whatever the path
      // names now: a version that failed to load has nothing to offer, and a file replaced or
      // rewritten on disk since is not the model being served.
      const mv = service.resolve(name, version);
      if (mv.state !== 'READY') {
        return reply.code(409).send({ error: `model '${name}' version ${version} is not loaded (${mv.state}${mv.reason ? `: ${mv.reason}` : ''}): there is no model file to serve` });
      }
      const file = await mv.modelFileStream();
      if (!file) {
        return reply.code(409).send({ error: `the file of model '${name}' version ${version} changed on disk after it was loaded: reload the model to serve the new file` });
      }
      void reply.header('content-length', String(file.size));
      void reply.header('content-disposition', `attachment; filename="${name}-${version}.onnx"`);
      // A version can be reloaded from a changed file (model control poll mode): browsers
      // revalidate rather than keep an old copy.
      void reply.header('cache-control', 'no-cache');
      return reply.type('application/octet-stream').send(file.stream);
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
