/**
 * The access matrix over gRPC: every method of the services the server exposes (taken from
 * their definitions, so a method added later is covered) × {no metadata, wrong secret,
 * malformed values, a read, an infer and an admin key}. Also the
 * restricted-API metadata on RepositoryModelLoad/Unload.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/proto-loader';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { inferenceService } from '../../src/grpc/proto.js';
import { healthService } from '../../src/grpc/health.js';
import { GRPC_METHODS, parseRestrictedApi } from '../../src/serving/access.js';
import { writeAffine, tempDir } from '../helpers/models.js';
import { expectedScopes, keyedRegistry } from './auth-helpers.js';
import type { KeyedRegistry, Scope } from './auth-helpers.js';

type Cred = { name: string; values?: string[]; scope?: Scope };

function credentials(keys: Record<Scope, string>): Cred[] {
  return [
    { name: 'no key' },
    { name: 'wrong secret', values: ['Bearer berth_000000000000_notavalidkeynotavalidkeynotavalidkeynotava'] },
    { name: 'Bearer without a token', values: ['Bearer'] },
    { name: 'Basic scheme', values: ['Basic dXNlcjpwYXNz'] },
    { name: 'two tokens', values: [`Bearer ${keys.admin} ${keys.admin}`] },
    { name: 'read key', values: [`Bearer ${keys.read}`], scope: 'read' },
    { name: 'infer key', values: [`Bearer ${keys.infer}`], scope: 'infer' },
    { name: 'admin key', values: [`Bearer ${keys.admin}`], scope: 'admin' },
  ];
}

/** A request each method's own validation can answer (a refusal of another kind than access). */
const REQUESTS: Record<string, object> = {
  ModelReady: { name: 'm' },
  ModelMetadata: { name: 'm' },
  ModelInfer: { model_name: 'm' },
  ModelStreamInfer: { model_name: 'm' },
  ModelConfig: { name: 'm' },
  ModelStatistics: { name: 'm' },
  RepositoryIndex: {},
  RepositoryModelLoad: { model_name: 'affine' },
  RepositoryModelUnload: { model_name: 'nothing' },
};

interface Outcome {
  code: number;
  details: string;
}

type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function clientFor(definition: ServiceDefinition, port: number): AnyClient {
  const Ctor = grpc.makeGenericClientConstructor(definition as unknown as grpc.ServiceDefinition, 'S');
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as AnyClient;
}

function call(client: AnyClient, definition: ServiceDefinition, method: string, request: object, metadata: grpc.Metadata): Promise<Outcome> {
  const def = definition[method]!;
  return new Promise((resolve) => {
    if (def.requestStream) {
      const stream = client[method]!(metadata) as grpc.ClientDuplexStream<object, object>;
      stream.on('data', () => {});
      stream.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details }));
      stream.on('status', (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) resolve({ code: 0, details: '' });
      });
      stream.write(request);
      stream.end();
      return;
    }
    client[method]!(request, metadata, (err: grpc.ServiceError | null) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' }));
  });
}

function metadataOf(values: string[] = [], extra: Record<string, string> = {}): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const v of values) m.add('authorization', v);
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return m;
}

describe('access matrix (gRPC)', () => {
  let reg: KeyedRegistry;
  let locked: RunningServer;
  let open: RunningServer;
  let restricted: RunningServer;

  before(async () => {
    reg = await keyedRegistry();
    const common = { paths: [] as string[], http: { port: 0 }, grpc: { port: 0 }, monitoring: { enabled: false }, registry: { instance: reg.registry, pollSecs: 0.05 } };
    locked = await startServer({ ...common, requireAuth: true });
    open = await startServer(common);
    const repo = tempDir('berth-auth-grpc-');
    await writeAffine(repo, 'affine');
    restricted = await startServer({
      paths: [repo],
      http: { port: 0 },
      grpc: { port: 0 },
      modelControl: { mode: 'explicit' },
      access: { restricted: [parseRestrictedApi('model-repository:berth-admin=s3cret-value')] },
      monitoring: { enabled: false },
    });
  });

  after(async () => {
    await locked?.close();
    await open?.close();
    await restricted?.close();
    await reg?.registry.close();
  });

  const services: [string, () => ServiceDefinition, string][] = [
    ['inference', inferenceService, ''],
    ['health', healthService, 'grpc.health.v1.Health/'],
  ];

  test('every method of every service has a declared rule', () => {
    for (const [, definition, prefix] of services) {
      for (const method of Object.keys(definition())) assert.ok(GRPC_METHODS[`${prefix}${method}`], `${prefix}${method} has no rule in serving/access.ts`);
    }
  });

  for (const requireAuth of [true, false]) {
    test(`every method × every credential, ${requireAuth ? 'with' : 'without'} --require-auth`, async () => {
      const server = requireAuth ? locked : open;
      const failures: string[] = [];
      for (const [, definitionOf, prefix] of services) {
        const definition = definitionOf();
        const client = clientFor(definition, server.grpcPort!);
        try {
          for (const method of Object.keys(definition)) {
            const scopes = expectedScopes(GRPC_METHODS[`${prefix}${method}`]!.access, requireAuth);
            for (const cred of credentials(reg.keys)) {
              const out = await call(client, definition, method, REQUESTS[method] ?? {}, metadataOf(cred.values));
              const where = `${prefix}${method} with ${cred.name}: ${out.code} ${out.details}`;
              const refused = out.code === grpc.status.UNAUTHENTICATED || out.code === grpc.status.PERMISSION_DENIED;
              if (scopes === 'none') {
                if (refused) failures.push(`refused, expected open: ${where}`);
              } else if (!cred.scope) {
                if (out.code !== grpc.status.UNAUTHENTICATED) failures.push(`expected UNAUTHENTICATED: ${where}`);
              } else if (scopes.includes(cred.scope)) {
                if (refused) failures.push(`refused, expected allowed: ${where}`);
              } else if (out.code !== grpc.status.PERMISSION_DENIED) {
                failures.push(`expected PERMISSION_DENIED: ${where}`);
              }
            }
          }
        } finally {
          client.close();
        }
      }
      assert.deepEqual(failures, []);
    });
  }

  test('--restricted-api model-repository: load and unload need the metadata; the rest does not', async () => {
    const definition = inferenceService();
    const client = clientFor(definition, restricted.grpcPort!);
    try {
      for (const method of ['RepositoryIndex', 'RepositoryModelLoad', 'RepositoryModelUnload']) {
        const none = await call(client, definition, method, REQUESTS[method]!, metadataOf());
        assert.equal(none.code, grpc.status.PERMISSION_DENIED, `${method}: ${none.details}`);
        assert.match(none.details, /berth-admin/);
        const wrong = await call(client, definition, method, REQUESTS[method]!, metadataOf([], { 'berth-admin': 's3cret-valuE' }));
        assert.equal(wrong.code, grpc.status.PERMISSION_DENIED);
      }
      const load = await call(client, definition, 'RepositoryModelLoad', { model_name: 'affine' }, metadataOf([], { 'berth-admin': 's3cret-value' }));
      assert.equal(load.code, grpc.status.OK, load.details);
      const infer = await call(client, definition, 'ModelMetadata', { name: 'affine' }, metadataOf());
      assert.equal(infer.code, grpc.status.OK, infer.details);
      const unload = await call(client, definition, 'RepositoryModelUnload', { model_name: 'affine' }, metadataOf([], { 'berth-admin': 's3cret-value' }));
      assert.equal(unload.code, grpc.status.OK, unload.details);
    } finally {
      client.close();
    }
  });
});
