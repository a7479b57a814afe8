/** The Open Inference Protocol (V2) over REST: health, server and model metadata, readiness, inference. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InferenceService } from '../core/inference-service.js';
import { EXTENSIONS, SERVER_NAME, SERVER_VERSION } from '../core/inference-service.js';
import { compress } from './content-encoding.js';
import { sendError } from './errors.js';
import { v2JsonTextSpec } from './json-encode.js';
import { abortSignal, bodyOf, headerId, routeKey, type ModelParams } from './request-context.js';
import { decodeInferRequest, encodeInferResponse, headerLength, metadataTensor } from './v2-codec.js';

export function registerV2Routes(app: FastifyInstance, service: InferenceService, responseLimit: number): void {
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
  const infer = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    try {
      const { model, version } = request.params;
      const requestId = headerId(request, reply);
      const body = bodyOf(request);
      const headerLen = headerLength(request.headers['inference-header-content-length'], body.length);
      const inferRequest = decodeInferRequest(body, headerLen, model, version, () => service.resolve(model, version).inputs);
      inferRequest.signal = abortSignal(reply);
      inferRequest.protocol = 'rest';
      inferRequest.routeKey = routeKey(request);
      inferRequest.requestId = requestId;
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
}
