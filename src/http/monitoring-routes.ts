/**
 * Monitoring endpoints under /api/v1 (covered by the API-key check of http/auth.ts):
 *
 * | method | path | |
 * |---|---|---|
 * | GET  | /api/v1/models/{m}/drift[?version=V&window=current] | the last closed window's drift report (or the one being filled) |
 * | POST | /api/v1/models/{m}/feedback | ground-truth labels by request id, single or batch |
 * | GET  | /api/v1/models/{m}/accuracy[?version=V] | accuracy from feedback: overall, rolling, time buckets |
 * | GET  | /api/v1/alerts | alert rules, their states and recent notifications |
 * | GET  | /api/v1/capture | the prediction capture store's state |
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidArgument, notFound } from '../core/errors.js';
import { parseFeedbackBody } from '../monitor/feedback.js';
import type { MonitoringRouteDeps } from '../monitor/monitoring.js';
import { sendError } from './errors.js';
import { checkBodyDepth } from './json-decode.js';

interface ModelRoute {
  Params: { name: string };
  Querystring: { version?: string; window?: string };
}

function jsonBody(request: FastifyRequest): unknown {
  const raw = request.body;
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : raw === undefined || raw === null ? '' : JSON.stringify(raw);
  if (text.trim() === '') throw invalidArgument('request body is empty: expected JSON');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`request body is not valid JSON: ${(err as Error).message}`);
  }
  checkBodyDepth(parsed);
  return parsed;
}

export function registerMonitoringRoutes(app: FastifyInstance, deps: MonitoringRouteDeps): void {
  const { service, feedback, drift, capture, alerts } = deps;
  const known = (model: string): void => {
    if (!service.isLoaded(model) && feedback.versions(model).length === 0 && !(drift?.versions(model).length)) throw notFound(`unknown model '${model}'`);
  };

  app.get('/api/v1/models/:name/drift', async (request: FastifyRequest<ModelRoute>, reply: FastifyReply) => {
    try {
      const { name: model } = request.params;
      const { version, window } = request.query;
      known(model);
      if (!drift) return reply.code(404).send({ error: 'drift monitoring is off (--drift-window 0)' });
      await drift.flush();
      const report = window === 'current' ? drift.current(model, version) : drift.snapshot(model, version);
      if (!report) {
        if (version !== undefined) throw notFound(`no drift figures for model '${model}' version ${version} yet`);
        return reply.send({ model, status: 'no_traffic', dataset_drift: null, drifted_share: null, features: [], prediction_drift: null, reference: null, window: null, versions: [] });
      }
      return reply.send({ ...report, versions: drift.versions(model) });
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post('/api/v1/models/:name/feedback', async (request: FastifyRequest<ModelRoute>, reply: FastifyReply) => {
    try {
      const { name: model } = request.params;
      known(model);
      const items = parseFeedbackBody(jsonBody(request));
      if (typeof items === 'string') throw invalidArgument(items);
      if (items.length === 0) throw invalidArgument('no feedback items');
      if (items.length > 100_000) throw invalidArgument(`at most 100000 feedback items per request, got ${items.length}`);
      return reply.send(feedback.submit(model, items));
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/api/v1/models/:name/accuracy', async (request: FastifyRequest<ModelRoute>, reply: FastifyReply) => {
    try {
      const { name: model } = request.params;
      const { version } = request.query;
      known(model);
      const versions = version !== undefined ? [version] : feedback.versions(model);
      const figures = versions.map((v) => feedback.figures(model, v)).filter((f) => f !== undefined);
      if (version !== undefined && figures.length === 0) throw notFound(`no labelled predictions for model '${model}' version ${version}`);
      const latest = figures.at(-1);
      return reply.send({
        model,
        window: feedback.window,
        version: latest?.version ?? null,
        accuracy: latest?.rolling.accuracy ?? null,
        labelled: latest?.labelled ?? 0,
        unmatched_total: feedback.unmatchedTotal.get(model) ?? 0,
        versions: figures,
      });
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/api/v1/alerts', async (_request, reply) => {
    if (!alerts) return reply.send({ interval_secs: null, rules: [], notifications: [], note: 'no alert rules (berth serve --alerts rules.yaml)' });
    return reply.send(alerts.list());
  });

  app.get('/api/v1/capture', async (_request, reply) => {
    if (!capture) return reply.send({ rate: 0, note: 'prediction capture is off (berth serve --capture-rate R)' });
    return reply.send(capture.stats());
  });
}
