/**
 * The admin REST API (/api/v1) and API keys, through a running server: the 401/403/200 matrix,
 * keys never in the logs, name validation (path traversal → 400, nothing written outside the
 * store), uploads, rollouts with live stats and the audit trail, and the OpenAPI document.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { Registry } from '../../src/registry/registry.js';
import { createServerLogger } from '../../src/http/auth.js';
import { tempDir } from '../helpers/models.js';
import { waitFor } from '../helpers/wait.js';
import { inferBody, rowFor, writeScaledAffine } from './helpers.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function call(url: string, init: { method?: string; key?: string; json?: unknown; body?: Buffer; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  let body: string | Uint8Array<ArrayBuffer> | undefined = init.body ? new Uint8Array(init.body) : undefined;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url, { method: init.method ?? 'GET', headers, body });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

describe('admin API and API keys', () => {
  let home: string;
  let registry: Registry;
  let open: RunningServer;
  let locked: RunningServer;
  let logText = '';
  const keys: Record<'read' | 'infer' | 'admin', { id: string; key: string }> = {} as never;
  let modelFile: string;

  before(async () => {
    const dir = tempDir('berth-admin-');
    home = join(dir, 'home');
    registry = await Registry.open({ home });
    modelFile = await writeScaledAffine(join(dir, 'src'), 'm', 1, 1);
    await registry.push(modelFile, { name: 'm', description: 'affine' });
    await registry.setAlias('m', 'production', 1);
    for (const scope of ['read', 'infer', 'admin'] as const) keys[scope] = await registry.createKey(scope, { name: `${scope}-key` });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logText += chunk.toString();
        done();
      },
    });
    const logger = createServerLogger('trace', sink);
    open = await startServer({ paths: [], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false }, logger, registry: { instance: registry, pollSecs: 0.05 } });
    locked = await startServer({ paths: [], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false }, logger, registry: { instance: registry, pollSecs: 0.05 }, requireAuth: true });
  });

  after(async () => {
    await open.close();
    await locked.close();
    await registry.close();
  });

  test('admin endpoints: 401 without a key, 403 with the wrong scope, 200 with the right one', async () => {
    const models = `${open.url}/api/v1/models`;
    const alias = `${open.url}/api/v1/models/m/aliases/staging`;
    const none = await call(models);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await call(models, { key: 'berth_000000000000_notavalidkeynotavalidkeynotavalidkeynotava' })).status, 401);
    assert.equal((await call(models, { key: keys.read.key })).status, 200);
    assert.equal((await call(models, { key: keys.admin.key })).status, 200);
    assert.equal((await call(models, { key: keys.infer.key })).status, 403);
    assert.equal((await call(alias, { method: 'PUT', json: { version: 1 } })).status, 401);
    assert.equal((await call(alias, { method: 'PUT', json: { version: 1 }, key: keys.read.key })).status, 403);
    assert.equal((await call(alias, { method: 'PUT', json: { version: 1 }, key: keys.infer.key })).status, 403);
    const ok = await call(alias, { method: 'PUT', json: { version: 1 }, key: keys.admin.key });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body, { model: 'm', alias: 'staging', version: 1 });
    const audit = await call(`${open.url}/api/v1/audit?model=m&limit=1`, { key: keys.read.key });
    const entry = (audit.body.entries as { action: string; actor: string }[])[0]!;
    assert.equal(entry.action, 'alias.set');
    assert.equal(entry.actor, `api-key:${keys.admin.id}`);
    assert.equal((await call(alias, { method: 'DELETE', key: keys.admin.key })).status, 200);
  });

  test('inference: open by default; with requireAuth it needs an infer or admin key', async () => {
    const body = inferBody(rowFor(3));
    assert.equal((await call(`${open.url}/v2/models/m/infer`, { method: 'POST', json: body })).status, 200);
    const infer = `${locked.url}/v2/models/m/infer`;
    const none = await call(infer, { method: 'POST', json: body });
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /Bearer/);
    assert.equal((await call(infer, { method: 'POST', json: body, key: keys.read.key })).status, 403);
    assert.equal((await call(infer, { method: 'POST', json: body, key: keys.infer.key })).status, 200);
    assert.equal((await call(infer, { method: 'POST', json: body, key: keys.admin.key })).status, 200);
    assert.equal((await call(`${locked.url}/v1/models/m:predict`, { method: 'POST', json: { instances: [rowFor(1)] } })).status, 401);
    assert.equal((await call(`${locked.url}/v1/models/m:predict`, { method: 'POST', json: { instances: [rowFor(1)] }, key: keys.infer.key })).status, 200);
    // Probes stay open; metadata needs some key.
    assert.equal((await call(`${locked.url}/v2/health/ready`)).status, 200);
    assert.equal((await call(`${locked.url}/v2/models/m`)).status, 401);
    assert.equal((await call(`${locked.url}/v2/models/m`, { key: keys.read.key })).status, 200);
    assert.equal((await call(`${locked.url}/v2/repository/models/m/unload`, { method: 'POST', key: keys.infer.key })).status, 403);
  });

  test('keys never appear in the logs', async () => {
    // Make sure every kind of request was logged at least once, then look for the keys.
    await call(`${open.url}/api/v1/models`, { key: keys.infer.key });
    await call(`${open.url}/api/v1/models`, { key: 'berth_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    await call(`${open.url}/api/v1/models`, { key: keys.admin.key });
    assert.match(logText, /API key of the wrong scope refused/);
    assert.match(logText, /unknown or revoked API key refused/);
    assert.match(logText, /API key accepted/);
    // refusals name the request (fastify's request id), as a request logger's lines did
    assert.match(logText, /"reqId":"req-[0-9a-z]+"[^\n]*API key of the wrong scope refused/);
    for (const k of Object.values(keys)) assert.ok(!logText.includes(k.key), 'a key was logged');
    assert.ok(!logText.includes('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), 'a rejected key was logged');
    assert.ok(!/bearer\s+berth_/i.test(logText));
    // And a logger that is handed request headers redacts the Authorization header.
    let line = '';
    const capture = new Writable({ write(chunk: Buffer, _e, done) { line += chunk.toString(); done(); } });
    createServerLogger('info', capture).info({ req: { headers: { authorization: `Bearer ${keys.admin.key}` } }, headers: { authorization: 'Bearer x' } }, 'request');
    assert.ok(!line.includes(keys.admin.key));
    assert.match(line, /\[redacted\]/);
  });

  test('names are validated: path traversal and odd names get 400, nothing is written outside the store', async () => {
    const before = readdirSync(join(home, '..')).sort();
    const bad = ['..%2F..%2Fetc%2Fpasswd', '..', '.hidden', 'a%2Fb', 'a%00b', 'x'.repeat(129), '%20lead'];
    for (const name of bad) {
      const url = `${open.url}/api/v1/models/${name}`;
      const get = await call(url, { key: keys.admin.key });
      assert.ok(get.status === 400 || get.status === 404, `${name}: ${get.status}`);
      if (name !== '..') assert.equal(get.status, 400, `GET ${name}`);
      const upload = await call(`${url}/versions`, { method: 'POST', key: keys.admin.key, body: readFileSync(modelFile), headers: { 'content-type': 'application/octet-stream' } });
      if (name !== '..') assert.equal(upload.status, 400, `upload ${name}: ${JSON.stringify(upload.body)}`);
      else assert.notEqual(upload.status, 201);
    }
    assert.equal((await call(`${open.url}/api/v1/models/m/aliases/..%2Fescape`, { method: 'PUT', json: { version: 1 }, key: keys.admin.key })).status, 400);
    assert.equal((await call(`${open.url}/api/v1/audit?model=..%2Fx`, { key: keys.read.key })).status, 400);
    assert.equal((await call(`${open.url}/api/v1/models/m/versions/0`, { key: keys.read.key })).status, 400);
    assert.equal((await call(`${open.url}/api/v1/models/m/versions/1%2F..`, { key: keys.read.key })).status, 400);
    assert.deepEqual(readdirSync(join(home, '..')).sort(), before);
    const models = await registry.listModels();
    assert.deepEqual(models.map((m) => m.name), ['m']);
  });

  test('upload a version (raw body + query metadata), then canary, live stats, promote and rollback through the API', async () => {
    const dir = tempDir('berth-admin-up-');
    const v2 = await writeScaledAffine(dir, 'm', 2, 2);
    const up = await call(`${open.url}/api/v1/models/m/versions?description=affine&tag=stage=test&tag=owner=ml&metric=accuracy=0.97&parent=m:1&derived_by=scaled%20by%202`, {
      method: 'POST', key: keys.admin.key, body: readFileSync(v2), headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    assert.equal(up.body.version, 2);
    assert.deepEqual(up.body.tags, { stage: 'test', owner: 'ml' });
    assert.deepEqual(up.body.metrics, { accuracy: 0.97 });
    assert.deepEqual(up.body.parent, { name: 'm', version: 1 });
    assert.equal(up.body.derivedBy, 'scaled by 2');
    assert.equal(up.body.createdBy, `api-key:${keys.admin.id}`);
    const empty = await call(`${open.url}/api/v1/models/m/versions`, { method: 'POST', key: keys.admin.key, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(empty.status, 400);
    const junk = await call(`${open.url}/api/v1/models/m/versions`, { method: 'POST', key: keys.admin.key, body: Buffer.from('not onnx'), headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(junk.status, 400, JSON.stringify(junk.body));
    const versions = await call(`${open.url}/api/v1/models/m/versions`, { key: keys.read.key });
    assert.deepEqual((versions.body.versions as { version: number }[]).map((v) => v.version), [1, 2]);
    const artifact = await fetch(`${open.url}/api/v1/models/m/versions/2/artifact`, { headers: { authorization: `Bearer ${keys.read.key}` } });
    assert.equal(artifact.status, 200);
    assert.deepEqual(Buffer.from(await artifact.arrayBuffer()), readFileSync(v2));

    const badPercent = await call(`${open.url}/api/v1/models/m/rollout`, { method: 'POST', key: keys.admin.key, json: { canary: { version: 2, percent: 150 } } });
    assert.equal(badPercent.status, 400);
    const canary = await call(`${open.url}/api/v1/models/m/rollout`, { method: 'POST', key: keys.admin.key, json: { canary: { version: 2, percent: 50 } } });
    assert.equal(canary.status, 200, JSON.stringify(canary.body));
    assert.deepEqual(canary.body.canary, { version: 2, percent: 50 });
    assert.equal(canary.body.production, 1);
    await waitFor(() => open.service.getTraffic('m')?.canary?.version === '2', 10000, 'canary applied');
    for (let i = 0; i < 40; i++) assert.equal((await call(`${open.url}/v2/models/m/infer`, { method: 'POST', json: inferBody(rowFor(i)) })).status, 200);
    const stats = await call(`${open.url}/api/v1/models/m/rollout/stats`, { key: keys.read.key });
    assert.equal(stats.status, 200);
    const requests = stats.body.requests as Record<string, { success: number }>;
    assert.equal((requests['1']?.success ?? 0) + (requests['2']?.success ?? 0), 40);
    assert.equal(typeof stats.body.canaryShare, 'number');
    assert.deepEqual(stats.body.policy, { production: '1', canary: { version: '2', percent: 50 } });
    const serving = await call(`${open.url}/api/v1/serving`, { key: keys.read.key });
    assert.equal((serving.body.models as { name: string }[])[0]!.name, 'm');

    const promoted = await call(`${open.url}/api/v1/models/m/rollout/promote`, { method: 'POST', key: keys.admin.key });
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    assert.equal(promoted.body.production, 2);
    assert.equal(promoted.body.canary, null);
    await waitFor(() => open.service.getTraffic('m')?.production === '2', 10000, 'promoted');
    const back = await call(`${open.url}/api/v1/models/m/rollback`, { method: 'POST', key: keys.admin.key });
    assert.equal(back.status, 200);
    assert.equal(back.body.production, 1);
    await waitFor(() => open.service.getTraffic('m')?.production === '1', 10000, 'rolled back');
    const audit = await call(`${open.url}/api/v1/audit?model=m`, { key: keys.read.key });
    const actions = (audit.body.entries as { action: string }[]).map((e) => e.action);
    for (const a of ['rollout.rollback', 'rollout.promote', 'rollout.start', 'version.create']) assert.ok(actions.includes(a), `audit has ${a}`);
  });

  test('models: get, update description and tags; unknown model 404; bad JSON 400', async () => {
    const patched = await call(`${open.url}/api/v1/models/m`, { method: 'PATCH', key: keys.admin.key, json: { description: 'the affine model', tags: { team: 'ml' } } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.description, 'the affine model');
    const got = await call(`${open.url}/api/v1/models/m`, { key: keys.read.key });
    assert.deepEqual(got.body.tags, { team: 'ml' });
    assert.equal((got.body.aliases as Record<string, number>).production, 1);
    assert.equal((await call(`${open.url}/api/v1/models/nope`, { key: keys.read.key })).status, 404);
    const bad = await fetch(`${open.url}/api/v1/models/m`, { method: 'PATCH', body: '{not json', headers: { authorization: `Bearer ${keys.admin.key}`, 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    // curl -d sends application/x-www-form-urlencoded: the body is still read as JSON.
    const form = await fetch(`${open.url}/api/v1/models/m/aliases/staging`, { method: 'PUT', body: '{"version":1}', headers: { authorization: `Bearer ${keys.admin.key}`, 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.status, 200);
  });

  test('OpenAPI 3 document lists the routes; /docs works offline', async () => {
    const doc = await call(`${open.url}/api/v1/openapi.json`);
    assert.equal(doc.status, 200);
    assert.match(String(doc.body.openapi), /^3\./);
    const paths = doc.body.paths as Record<string, Record<string, { requestBody?: { content: Record<string, unknown> }; security?: unknown }>>;
    for (const p of ['/api/v1/models', '/api/v1/models/{name}', '/api/v1/models/{name}/versions', '/api/v1/models/{name}/versions/{version}',
      '/api/v1/models/{name}/aliases/{alias}', '/api/v1/models/{name}/rollout', '/api/v1/models/{name}/rollout/promote',
      '/api/v1/models/{name}/rollout/abort', '/api/v1/models/{name}/rollback', '/api/v1/models/{name}/rollout/stats', '/api/v1/audit']) {
      assert.ok(paths[p], `OpenAPI lacks ${p}; has ${Object.keys(paths).join(', ')}`);
    }
    assert.ok(paths['/api/v1/models/{name}/versions']!.post!.requestBody!.content['application/octet-stream']);
    assert.ok(paths['/api/v1/models/{name}/aliases/{alias}']!.put!.requestBody!.content['application/json']);
    assert.ok(!Object.keys(paths).some((p) => p.startsWith('/docs')), 'swagger-ui routes are hidden');
    const components = doc.body.components as { securitySchemes: Record<string, { scheme: string }> };
    assert.equal(components.securitySchemes.bearer!.scheme, 'bearer');
    const ui = await fetch(`${open.url}/docs/`);
    assert.equal(ui.status, 200);
    const html = await ui.text();
    assert.match(html, /swagger-ui-bundle\.js/);
    assert.ok(!/src="https?:/.test(html) && !/href="https?:/.test(html), 'no CDN assets');
    const bundle = await fetch(`${open.url}/docs/static/swagger-ui-bundle.js`);
    assert.equal(bundle.status, 200);
    assert.ok((await bundle.arrayBuffer()).byteLength > 100000);
    assert.equal((await fetch(`${open.url}/docs/json`)).status, 200);
  });

  test('the OpenAPI schemas are the zod records: every field of a version, nullable rollout fields', async () => {
    type Schema = { type?: string; nullable?: boolean; properties?: Record<string, Schema>; required?: string[]; items?: Schema };
    const doc = await call(`${open.url}/api/v1/openapi.json`);
    const paths = doc.body.paths as Record<string, Record<string, { responses: Record<string, { content: { 'application/json': { schema: Schema } } }> }>>;
    const ok = (path: string, method = 'get') => paths[path]![method]!.responses['200']!.content['application/json'].schema;
    const version = ok('/api/v1/models/{name}/versions/{version}');
    assert.deepEqual(Object.keys(version.properties!).sort(),
      ['createdAt', 'createdBy', 'derivedBy', 'digest', 'files', 'inputs', 'metrics', 'name', 'outputs', 'parent', 'size', 'tags', 'version']);
    assert.ok(!version.required!.includes('parent') && version.required!.includes('digest'), 'optional lineage, required digest');
    assert.deepEqual(version.properties!.inputs!.items!.required, ['name', 'datatype', 'shape']);
    const rollout = ok('/api/v1/models/{name}/rollout');
    assert.equal(rollout.properties!.production!.type, 'integer');
    assert.equal(rollout.properties!.production!.nullable, true);
    assert.equal(rollout.properties!.canary!.nullable, true);
    assert.ok(ok('/api/v1/models/{name}/rollout/stats').properties!.shadow!.properties!.latencyMs);
  });
});
