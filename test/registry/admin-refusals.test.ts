/**
 * Over the admin REST API, a refused change (no key, the wrong scope, a name or alias the
 * rules refuse, a missing version, a body the schema refuses, a rollout the registry refuses)
 * answers 4xx and leaves the audit log exactly as it was: the log records what happened.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { Registry } from '../../src/registry/registry.js';
import { tempDir, writeAffine } from './helpers.js';

let registry: Registry;
let server: RunningServer;
let model: string;
const keys: Record<string, string> = {};

before(async () => {
  const dir = tempDir('berth-admin-refusals-');
  registry = await Registry.open({ home: join(dir, 'home') });
  model = await writeAffine(join(dir, 'src'));
  await registry.push(model, { name: 'm' });
  await registry.push(model, { name: 'm' });
  await registry.setAlias('m', 'production', 1);
  for (const scope of ['read', 'infer', 'admin'] as const) keys[scope] = (await registry.createKey(scope)).key;
  server = await startServer({ paths: [], http: { port: 0 }, registry: { instance: registry, pollSecs: 3600 }, grpc: { enabled: false }, monitoring: { enabled: false } });
});
after(async () => {
  await server.close();
  await registry.close();
});

async function send(method: string, path: string, key: string | undefined, body?: unknown, raw?: Buffer): Promise<number> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (raw) headers['content-type'] = 'application/octet-stream';
  const res = await fetch(`${server.url}/api/v1${path}`, { method, headers, body: raw ? new Uint8Array(raw) : body === undefined ? undefined : JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

test('refused changes answer 4xx and write no audit entry', async () => {
  const admin = keys.admin;
  const refused: [string, string, string | undefined, unknown?, Buffer?][] = [
    ['PUT', '/models/m/aliases/production', undefined, { version: 2 }],
    ['PUT', '/models/m/aliases/production', 'berth_000000000000_' + 'x'.repeat(43), { version: 2 }],
    ['PUT', '/models/m/aliases/production', keys.read, { version: 2 }],
    ['PUT', '/models/m/aliases/production', keys.infer, { version: 2 }],
    ['PUT', '/models/m/aliases/production', admin, { version: 9 }],
    ['PUT', '/models/m/aliases/production', admin, { version: 'two' }],
    ['PUT', '/models/m/aliases/latest', admin, { version: 2 }],
    ['PUT', '/models/m/aliases/2', admin, { version: 2 }],
    ['POST', '/models/m/rollout', admin, { canary: { version: 1, percent: 10 } }],
    ['POST', '/models/m/rollout', admin, { canary: { version: 2, percent: 101 } }],
    ['POST', '/models/m/rollout', keys.read, { canary: { version: 2, percent: 10 } }],
    ['POST', '/models/m/rollout/promote', admin],
    ['POST', '/models/m/rollout/abort', admin],
    ['POST', '/models', admin, { name: 'latest' }],
    ['POST', '/models', admin, { name: 'M' }],
    ['POST', '/models/stats/versions', admin, undefined, readFileSync(model)],
    ['POST', '/models/m/versions', admin, undefined, Buffer.from('not a model')],
  ];
  for (const [method, path, key, body, raw] of refused) {
    const before = (await registry.audit()).length;
    const status = await send(method, path, key, body, raw);
    const label = `${method} ${path} ${JSON.stringify(body ?? '')} (key ${key === admin ? 'admin' : key === keys.read ? 'read' : key === keys.infer ? 'infer' : key ? 'bogus' : 'none'})`;
    assert.ok(status >= 400 && status < 500, `${label}: ${status}`);
    assert.equal((await registry.audit()).length, before, `${label}: audited although refused`);
  }
  const before = (await registry.audit()).length;
  assert.equal(await send('PUT', '/models/m/aliases/production', admin, { version: 2 }), 200);
  const entries = await registry.audit();
  assert.equal(entries.length, before + 1);
  assert.equal(entries[0]!.action, 'alias.set');
});
