/** The V1 (TF-Serving style) REST protocol: NAME:predict and the model's version status. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalidArgument, notFound } from '../core/errors.js';
import type { InferenceService } from '../core/inference-service.js';
import { sendError } from './errors.js';
import { abortSignal, bodyOf, headerId, routeKey, type ModelParams } from './request-context.js';
import { decodePredictRequest, encodePredictions } from './v1-codec.js';

export function registerV1Routes(app: FastifyInstance, service: InferenceService, responseLimit: number): void {
  // `NAME:predict` is one path segment, so match it whole and split off the verb.
  app.post('/v1/models/:target', async (request: FastifyRequest<{ Params: { target: string } }>, reply) => {
    try {
      const { target } = request.params;
      const requestId = headerId(request, reply);
      if (!target.endsWith(':predict')) throw notFound(`unknown V1 method in '${target}'; use /v1/models/NAME:predict`);
      const model = target.slice(0, -':predict'.length);
      const body = bodyOf(request);
      if (body.length === 0) throw invalidArgument('request body is empty; expected {"instances": [...]}');
      const inputs = decodePredictRequest(body, service.resolve(model).inputs);
      const jsonText = { layout: 'rows' as const, maxBytes: responseLimit };
      const response = await service.infer({ modelName: model, inputs, signal: abortSignal(reply), protocol: 'v1', requestId, routeKey: routeKey(request), jsonText });
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
}
