/**
 * Triton's extensions over REST: model configuration, statistics and the model repository
 * (index, load, unload). Same JSON shapes as Triton so its tools work against berth.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidArgument } from '../core/errors.js';
import type { InferenceService } from '../core/inference-service.js';
import type { ModelControl } from '../core/model-control.js';
import { sendError } from './errors.js';
import { checkBodyDepth } from './json-decode.js';

interface ModelParams {
  model: string;
  version?: string;
}

function jsonBody(request: FastifyRequest): Record<string, unknown> {
  const raw = request.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidArgument('request body must be a JSON object');
  checkBodyDepth(parsed);
  return parsed as Record<string, unknown>;
}

/** tritonclient sends the override as a JSON string in parameters.config; accept an object too. */
function configOverride(body: Record<string, unknown>): unknown {
  const params = body.parameters as Record<string, unknown> | undefined;
  const config = params?.config;
  if (config === undefined) return undefined;
  if (typeof config === 'string') {
    try {
      const parsed: unknown = JSON.parse(config);
      checkBodyDepth(parsed, 'parameters.config');
      return parsed;
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      throw invalidArgument(`parameters.config is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (typeof config === 'object' && config !== null) return config;
  throw invalidArgument('parameters.config must be a JSON string or object');
}

export function registerExtensionRoutes(app: FastifyInstance, service: InferenceService, control?: ModelControl): void {
  const guard = (fn: (request: FastifyRequest<{ Params: ModelParams }>) => unknown | Promise<unknown>) =>
    async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
      try {
        return reply.send((await fn(request)) ?? {});
      } catch (err) {
        return sendError(reply, err);
      }
    };

  const config = guard((r) => service.modelConfigView(r.params.model, r.params.version));
  app.get('/v2/models/:model/config', config);
  app.get('/v2/models/:model/versions/:version/config', config);

  const stats = guard((r) => service.statistics(r.params.model, r.params.version));
  app.get('/v2/models/stats', guard(() => service.statistics()));
  app.get('/v2/models/:model/stats', stats);
  app.get('/v2/models/:model/versions/:version/stats', stats);

  app.post('/v2/repository/index', guard((r) => {
    const body = jsonBody(r);
    const entries = control ? control.index() : service.versionStatuses();
    return body.ready === true ? entries.filter((e) => e.state === 'READY') : entries;
  }));
  app.post('/v2/repository/models/:model/load', guard(async (r) => {
    if (!control) throw invalidArgument('this server has no model repository');
    await control.load(r.params.model, configOverride(jsonBody(r)));
    return { name: r.params.model, load: true };
  }));
  app.post('/v2/repository/models/:model/unload', guard(async (r) => {
    if (!control) throw invalidArgument('this server has no model repository');
    jsonBody(r); // validates; unload_dependents has no meaning without ensembles
    await control.unload(r.params.model);
    return { name: r.params.model, unload: true };
  }));
}
