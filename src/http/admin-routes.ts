/**
 * The admin REST API under /api/v1/: models, versions (with upload), aliases, rollouts (with
 * this server's live rollout statistics) and the audit log, over the registry. Every route has
 * JSON Schemas, from which @fastify/swagger builds the OpenAPI 3 document served at
 * /api/v1/openapi.json and browsed at /docs (swagger-ui's assets are bundled: no CDN).
 *
 * Auth (http/auth.ts) runs before any of this: reads need a read or admin key, writes an admin
 * key. The key's name (or id) is the actor recorded in the audit log.
 *
 * Upload: `POST /api/v1/models/{name}/versions` takes the raw .onnx file as the body
 * (`Content-Type: application/octet-stream`, streamed to a temporary file, never buffered
 * whole) and its metadata as query parameters: description, tag=k=v (repeatable),
 * metric=k=v (repeatable), parent=N:V, derived_by.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import { BerthError, invalidArgument, notFound } from '../core/errors.js';
import type { InferenceService } from '../core/inference-service.js';
import { SERVER_VERSION } from '../core/inference-service.js';
import type { RegistryApi } from '../serving/registry-api.js';
import type { RegistrySync } from '../serving/registry-sync.js';
import { PRODUCTION_ALIAS } from '../serving/registry-sync.js';
import { actorOf } from './auth.js';
import { sendError } from './errors.js';
import { checkBodyDepth } from './json-decode.js';
import { AuditEntrySchema, ModelRecordSchema, NAME_PATTERN, VersionRecordSchema } from '../registry/schemas.js';
import type { AliasResult, RolloutRequest, RolloutState, RolloutStats, ServingState } from './admin-schemas.js';
import {
  AliasResultSchema, ErrorSchema, RolloutRequestSchema, RolloutStateSchema, RolloutStatsSchema, ServingStateSchema,
} from './admin-schemas.js';
import { jsonSchema, openRecord } from './zod-json-schema.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the route reads its body as a raw stream (model uploads) */
    rawUpload?: boolean;
  }
}

export interface AdminDeps {
  registry: RegistryApi;
  service: InferenceService;
  /** the registry sync of `serve --registry`, for what this server serves */
  sync?: RegistrySync;
  /** largest accepted model upload, bytes (default 2 GiB + 1 MiB: a single .onnx file is at most 2 GiB) */
  uploadLimitBytes?: number;
  /** largest JSON body, bytes (default 1 MiB) */
  jsonLimitBytes?: number;
}

export { NAME_PATTERN };

// JSON Schemas derived from the zod records (registry/schemas.ts, http/admin-schemas.ts).
const name = { type: 'string', pattern: NAME_PATTERN, description: 'model name' } as const;
const alias = { type: 'string', pattern: NAME_PATTERN, description: 'alias, e.g. production, staging, champion' } as const;
const versionNumber = { type: 'integer', minimum: 1 } as const;
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const error = jsonSchema(ErrorSchema);
const model = openRecord(ModelRecordSchema);
const version = openRecord(VersionRecordSchema);
const audit = openRecord(AuditEntrySchema);
const rolloutState = jsonSchema(RolloutStateSchema);
const liveStats = jsonSchema(RolloutStatsSchema);
const aliasResult = jsonSchema(AliasResultSchema);
const servingState = jsonSchema(ServingStateSchema);
const rolloutRequest = jsonSchema(RolloutRequestSchema, 'input');

const withErrors = (ok: Record<number, unknown>) => ({ ...ok, 400: error, 401: error, 403: error, 404: error });

interface NameParams {
  name: string;
}
interface VersionParams extends NameParams {
  version: number;
}
interface AliasParams extends NameParams {
  alias: string;
}

/** Reads a stream into memory up to a limit (JSON bodies). */
async function readLimited(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += buf.length;
    if (size > limit) throw new BerthError('PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** `k=v` strings (repeatable query parameters) → a map. */
function pairs(values: string[] | undefined, what: string): Record<string, string> | undefined {
  if (!values || values.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw invalidArgument(`${what} '${v}' must look like key=value`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

function metricsOf(values: string[] | undefined): Record<string, number> | undefined {
  const raw = pairs(values, 'metric');
  if (!raw) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw invalidArgument(`metric '${k}' must be a number, got '${v}'`);
    out[k] = n;
  }
  return out;
}

/** The catalog's rollout state of a model, in the API's shape. */
async function catalogRollout(registry: RegistryApi, modelName: string): Promise<RolloutState> {
  const [m, rollout] = await Promise.all([registry.getModel(modelName), registry.getRollout(modelName)]);
  return {
    model: modelName,
    production: m.aliases[PRODUCTION_ALIAS] ?? null,
    canary: rollout?.canary ?? null,
    shadow: rollout?.shadow ?? null,
    updatedAt: rollout?.updatedAt ?? null,
  };
}

/** This server's live view of a model's rollout. */
export function liveRolloutStats(service: InferenceService, modelName: string): RolloutStats {
  if (!service.isLoaded(modelName)) return { model: modelName, served: false, versions: [], policy: null, since: null, requests: {}, canaryShare: null, shadow: null };
  const stats = service.rolloutStats(modelName);
  const versions = service.versionStatuses().filter((s) => s.name === modelName).map((s) => ({ version: s.version, state: s.state, reason: s.reason }));
  return {
    model: modelName,
    served: true,
    versions,
    policy: stats?.policy ?? null,
    since: stats?.since ?? null,
    requests: stats?.requests ?? {},
    canaryShare: stats?.canaryShare ?? null,
    shadow: stats?.shadow ?? null,
  };
}

async function adminApi(api: FastifyInstance, deps: AdminDeps): Promise<void> {
  const { registry, service } = deps;
  const uploadLimit = deps.uploadLimitBytes ?? 2 * 1024 * 1024 * 1024 + 1024 * 1024;
  const jsonLimit = deps.jsonLimitBytes ?? 1024 * 1024;

  // Bodies: the upload route gets the raw stream; every other route JSON, whatever the
  // Content-Type says (curl -d sends application/x-www-form-urlencoded).
  api.removeAllContentTypeParsers();
  api.addContentTypeParser('*', (request, payload, done) => {
    if (request.routeOptions.config?.rawUpload) {
      done(null, payload);
      return;
    }
    readLimited(payload, jsonLimit).then((buf) => {
      if (buf.length === 0) return done(null, undefined);
      try {
        const body: unknown = JSON.parse(buf.toString('utf8'));
        checkBodyDepth(body);
        done(null, body);
      } catch (err) {
        done(err instanceof BerthError ? err : invalidArgument(`request body is not valid JSON: ${(err as Error).message}`), undefined);
      }
    }, (err: Error) => done(err, undefined));
  });
  api.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _request, reply) => {
    if (err instanceof BerthError) return sendError(reply, err);
    if (err.validation) return reply.code(400).send({ error: err.message });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    return sendError(reply, err);
  });

  const actor = (request: FastifyRequest): string | undefined => actorOf(request);

  // --- models ------------------------------------------------------------------------------
  api.get('/models', {
    schema: { tags: ['models'], summary: 'List registered models', response: withErrors({ 200: { type: 'object', properties: { models: { type: 'array', items: model } } } }) },
  }, async () => ({ models: await registry.listModels() }));

  // Only when the registry can create an empty model; otherwise the first upload creates it.
  const createModel = registry.createModel?.bind(registry);
  if (createModel) {
    api.post<{ Body: { name: string; description?: string; tags?: Record<string, string> } }>('/models', {
      schema: {
        tags: ['models'],
        summary: 'Register a model with no version yet (versions are uploaded separately)',
        body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name, description: { type: 'string', maxLength: 10000 }, tags: stringMap } },
        response: withErrors({ 201: model, 409: error }),
      },
    }, async (request, reply) => {
      const created = await createModel(request.body.name, { description: request.body.description, tags: request.body.tags, actor: actor(request) });
      return reply.code(201).send(created);
    });
  }

  api.get<{ Params: NameParams }>('/models/:name', {
    schema: { tags: ['models'], summary: 'A model: description, tags, latest version, aliases', params: { type: 'object', properties: { name }, required: ['name'] }, response: withErrors({ 200: model }) },
  }, async (request) => registry.getModel(request.params.name));

  api.patch<{ Params: NameParams; Body: { description?: string; tags?: Record<string, string> } }>('/models/:name', {
    schema: {
      tags: ['models'],
      summary: "Change a model's description and tags",
      params: { type: 'object', properties: { name }, required: ['name'] },
      body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { description: { type: 'string', maxLength: 10000 }, tags: stringMap } },
      response: withErrors({ 200: model, 501: error }),
    },
  }, async (request) => {
    if (!registry.updateModel) throw new BerthError('UNSUPPORTED', 'this registry cannot change model metadata');
    return registry.updateModel(request.params.name, request.body, actor(request));
  });

  // --- versions ----------------------------------------------------------------------------
  const nameParams = { type: 'object', properties: { name }, required: ['name'] } as const;
  const versionParams = { type: 'object', properties: { name, version: versionNumber }, required: ['name', 'version'] } as const;

  api.get<{ Params: NameParams }>('/models/:name/versions', {
    schema: { tags: ['versions'], summary: "A model's versions", params: nameParams, response: withErrors({ 200: { type: 'object', properties: { versions: { type: 'array', items: version } } } }) },
  }, async (request) => ({ versions: await registry.listVersions(request.params.name) }));

  api.post<{ Params: NameParams; Querystring: { description?: string; tag?: string[]; metric?: string[]; parent?: string; derived_by?: string } }>('/models/:name/versions', {
    config: {
      rawUpload: true,
      // The body is a stream, not validated against a schema; document it for OpenAPI only.
      swaggerTransform: ({ schema, url }: { schema: FastifySchema; url: string }) => ({
        schema: { ...schema, consumes: ['application/octet-stream'], body: { type: 'string', format: 'binary', description: 'the .onnx file, as the raw request body' } } as FastifySchema,
        url,
      }),
    },
    schema: {
      tags: ['versions'],
      summary: 'Upload a new version (raw .onnx body; metadata in the query string)',
      params: nameParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string', maxLength: 10000 },
          tag: { type: 'array', items: { type: 'string' }, description: 'key=value, repeatable' },
          metric: { type: 'array', items: { type: 'string' }, description: 'key=number, repeatable' },
          parent: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}:[1-9][0-9]*$', description: 'the version this one was derived from, NAME:VERSION' },
          derived_by: { type: 'string', maxLength: 10000, description: 'how it was derived, e.g. "quantize dynamic int8"' },
        },
      },
      response: withErrors({ 201: version, 413: error }),
    },
  }, async (request, reply) => {
    const q = request.query;
    const options = {
      name: request.params.name,
      description: q.description,
      tags: pairs(q.tag, 'tag'),
      metrics: metricsOf(q.metric),
      parent: q.parent === undefined ? undefined : { name: q.parent.slice(0, q.parent.lastIndexOf(':')), version: Number(q.parent.slice(q.parent.lastIndexOf(':') + 1)) },
      derivedBy: q.derived_by,
      actor: actor(request),
    };
    const body = request.body as Readable | undefined;
    if (!body || typeof body.pipe !== 'function') throw invalidArgument('the request body must be the .onnx file (Content-Type: application/octet-stream)');
    const dir = await mkdtemp(join(tmpdir(), 'berth-upload-'));
    try {
      const file = join(dir, 'model.onnx');
      let size = 0;
      const limiter = new Transform({
        transform(chunk: Buffer, _enc, callback) {
          size += chunk.length;
          if (size > uploadLimit) callback(new BerthError('PAYLOAD_TOO_LARGE', `the upload is larger than the limit of ${uploadLimit} bytes`));
          else callback(null, chunk);
        },
      });
      await pipeline(body, limiter, createWriteStream(file));
      if (size === 0) throw invalidArgument('the request body is empty: send the .onnx file as the body (curl --data-binary @model.onnx)');
      const pushed = await registry.push(file, options);
      return reply.code(201).send(pushed);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  api.get<{ Params: VersionParams }>('/models/:name/versions/:version', {
    schema: { tags: ['versions'], summary: 'One version: digest, size, signature, metrics, lineage', params: versionParams, response: withErrors({ 200: version }) },
  }, async (request) => registry.getVersion(request.params.name, request.params.version));

  api.get<{ Params: VersionParams }>('/models/:name/versions/:version/artifact', {
    schema: {
      tags: ['versions'],
      summary: "Download a version's model.onnx (digest-verified)",
      params: versionParams,
      response: withErrors({ 200: { description: 'the .onnx file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } }),
    },
  }, async (request, reply) => {
    const path = await registry.materialize(request.params.name, request.params.version);
    const { createReadStream } = await import('node:fs');
    void reply.header('content-disposition', `attachment; filename="${request.params.name}-${request.params.version}.onnx"`);
    return reply.type('application/octet-stream').send(createReadStream(path));
  });

  // --- aliases -----------------------------------------------------------------------------
  const aliasParams = { type: 'object', properties: { name, alias }, required: ['name', 'alias'] } as const;

  api.put<{ Params: AliasParams; Body: { version: number } }>('/models/:name/aliases/:alias', {
    schema: {
      tags: ['aliases'],
      summary: 'Point an alias at a version (servers following the registry pick it up)',
      params: aliasParams,
      body: { type: 'object', required: ['version'], additionalProperties: false, properties: { version: versionNumber } },
      response: withErrors({ 200: aliasResult }),
    },
  }, async (request): Promise<AliasResult> => {
    const { name: model, alias: a } = request.params;
    await registry.setAlias(model, a, request.body.version, actor(request));
    return { model, alias: a, version: request.body.version };
  });

  api.delete<{ Params: AliasParams }>('/models/:name/aliases/:alias', {
    schema: { tags: ['aliases'], summary: 'Remove an alias', params: aliasParams, response: withErrors({ 200: aliasResult }) },
  }, async (request): Promise<AliasResult> => {
    const { name: model, alias: a } = request.params;
    await registry.deleteAlias(model, a, actor(request));
    return { model, alias: a, version: null };
  });

  // --- rollouts ----------------------------------------------------------------------------
  api.get<{ Params: NameParams }>('/models/:name/rollout', {
    schema: { tags: ['rollouts'], summary: "The catalog's rollout of a model: production, canary, shadow", params: nameParams, response: withErrors({ 200: rolloutState }) },
  }, async (request) => catalogRollout(registry, request.params.name));

  api.post<{ Params: NameParams; Body: RolloutRequest }>('/models/:name/rollout', {
    schema: {
      tags: ['rollouts'],
      summary: 'Start or change a rollout: a canary share and/or a shadow version',
      params: nameParams,
      body: rolloutRequest,
      response: withErrors({ 200: rolloutState }),
    },
  }, async (request) => {
    await registry.startRollout(request.params.name, request.body, actor(request));
    return catalogRollout(registry, request.params.name);
  });

  api.post<{ Params: NameParams }>('/models/:name/rollout/promote', {
    schema: { tags: ['rollouts'], summary: 'Promote: the production alias moves to the canary (else the shadow) and the rollout ends', params: nameParams, response: withErrors({ 200: rolloutState }) },
  }, async (request) => {
    await registry.promote(request.params.name, actor(request));
    return catalogRollout(registry, request.params.name);
  });

  api.post<{ Params: NameParams }>('/models/:name/rollout/abort', {
    schema: { tags: ['rollouts'], summary: 'End the canary and shadow: all traffic back to production', params: nameParams, response: withErrors({ 200: rolloutState }) },
  }, async (request) => {
    await registry.abortRollout(request.params.name, actor(request));
    return catalogRollout(registry, request.params.name);
  });

  api.post<{ Params: NameParams }>('/models/:name/rollback', {
    schema: { tags: ['rollouts'], summary: 'Return the production alias to the previous production version, in one step', params: nameParams, response: withErrors({ 200: rolloutState }) },
  }, async (request) => {
    await registry.rollback(request.params.name, actor(request));
    return catalogRollout(registry, request.params.name);
  });

  api.get<{ Params: NameParams }>('/models/:name/rollout/stats', {
    schema: {
      tags: ['rollouts'],
      summary: "This server's live rollout statistics: requests per version, canary share, shadow agreement and latency",
      params: nameParams,
      response: withErrors({ 200: liveStats }),
    },
  }, async (request) => liveRolloutStats(service, request.params.name));

  // --- audit and server state ------------------------------------------------------------
  api.get<{ Querystring: { model?: string; limit?: number } }>('/audit', {
    schema: {
      tags: ['audit'],
      summary: 'The audit log, newest first: who changed what, when, before → after',
      querystring: { type: 'object', additionalProperties: false, properties: { model: name, limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100 } } },
      response: withErrors({ 200: { type: 'object', properties: { entries: { type: 'array', items: audit } } } }),
    },
  }, async (request) => ({ entries: await registry.audit({ model: request.query.model, limit: request.query.limit }) }));

  api.get('/serving', {
    schema: {
      tags: ['rollouts'],
      summary: 'What this server serves from the registry, and the catalog change it last applied',
      response: withErrors({ 200: servingState }),
    },
  }, async (): Promise<ServingState> => {
    const sync = deps.sync;
    return {
      changeSeq: sync?.changeSeq ?? null,
      lastSyncAt: sync && sync.lastSyncAt ? new Date(sync.lastSyncAt).toISOString() : null,
      models: sync?.models() ?? [],
    };
  });

  api.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => sendError(reply, notFound(`no such admin endpoint: ${request.method} ${request.url.split('?', 1)[0]}`)));
}

/**
 * Registers the admin API (under /api/v1), its OpenAPI document (/api/v1/openapi.json, also
 * /docs/json) and swagger-ui (/docs). Call before the app starts listening.
 */
export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  void app.register(async (scope) => {
    await scope.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'berth admin API',
          version: SERVER_VERSION,
          description: 'Models, versions, aliases, rollouts and the audit log of the berth registry. Send `Authorization: Bearer KEY`: reads need a read or admin key, writes an admin key (`berth keys create --scope admin`).',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a berth API key' } } },
        security: [{ bearer: [] }],
        tags: [
          { name: 'models', description: 'registered models' },
          { name: 'versions', description: 'model versions and uploads' },
          { name: 'aliases', description: 'named pointers to versions (production, staging, ...)' },
          { name: 'rollouts', description: 'canary, shadow, promote, abort, rollback' },
          { name: 'audit', description: 'who changed what, when' },
        ],
      },
    });
    await scope.register(swaggerUi, { routePrefix: '/docs' });
    scope.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => scope.swagger());
    await scope.register(async (api) => adminApi(api, deps), { prefix: '/api/v1' });
  });
}
