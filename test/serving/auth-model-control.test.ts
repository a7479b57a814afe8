/**
 * Model control on a server without a registry (no API keys): bounded config overrides,
 * --restricted-api (Triton's --http-restricted-api), cross-site writes refused by Origin, and
 * the Host allow-list against DNS rebinding.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { parseRestrictedApi } from '../../src/serving/access.js';
import { defaultAllowedHosts, parseAllowedHosts, parseAllowedOrigins } from '../../src/http/origin-guard.js';
import { overrideLimits } from '../../src/core/model-config.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { connect } from '../grpc/helpers.js';
import { rawRequest } from './auth-helpers.js';
import type { RawAnswer } from './auth-helpers.js';

const json = (a: RawAnswer): Record<string, unknown> => JSON.parse(a.body) as Record<string, unknown>;
const loadWith = (port: number, config: object, headers: Record<string, string> = {}) =>
  rawRequest(port, 'POST', '/v2/repository/models/affine/load', headers, JSON.stringify({ parameters: { config: JSON.stringify(config) } }));

describe('model control without a registry', () => {
  let repo: string;
  let server: RunningServer;
  let restricted: RunningServer;
  let secretFile: string;

  before(async () => {
    repo = tempDir('berth-control-');
    await writeAffine(repo, 'affine');
    secretFile = join(repo, '..', 'admin-secret');
    writeFileSync(secretFile, 'from-a-file-0123456789\n');
    const common = { paths: [repo], http: { port: 0 }, grpc: { port: 0 }, monitoring: { enabled: false }, modelControl: { mode: 'explicit' as const, startupModels: ['*'] } };
    server = await startServer({ ...common, access: { allowedOrigins: ['https://app.example'] } });
    restricted = await startServer({ ...common, access: { restricted: [parseRestrictedApi(`model-repository:berth-admin=@${secretFile}`)] } });
  });

  after(async () => {
    await server?.close();
    await restricted?.close();
  });

  test('a load asking for 300 instances is refused at once with 400 naming the field and the cap', async () => {
    const started = Date.now();
    const a = await loadWith(server.port, { instance_group: [{ count: 300 }] });
    const elapsed = Date.now() - started;
    assert.equal(a.status, 400, a.body);
    const cap = overrideLimits().instances;
    assert.match(String(json(a).error), new RegExp(`instance_group\\[\\]\\.count.*300.*at most ${cap}`));
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    assert.equal(server.service.modelStatus('affine').ready, true, 'the served model is untouched');
    // the same over gRPC
    const client = connect(server.grpcPort!);
    try {
      await assert.rejects(client.call('RepositoryModelLoad', { model_name: 'affine', parameters: { config: { string_param: JSON.stringify({ instances: 300 }) } } }), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
        assert.match(err.details, /instances is 300/);
        return true;
      });
    } finally {
      client.close();
    }
  });

  test('a config override nested deeper than 100 levels is refused over gRPC as over REST', async () => {
    let deep = '1';
    for (let i = 0; i < 5000; i++) deep = `{"a":${deep}}`;
    const client = connect(server.grpcPort!);
    try {
      await assert.rejects(client.call('RepositoryModelLoad', { model_name: 'affine', parameters: { config: { string_param: deep } } }), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
        assert.match(err.details, /nested deeper than 100 levels/);
        return true;
      });
    } finally {
      client.close();
    }
    const a = await rawRequest(server.port, 'POST', '/v2/repository/models/affine/load', {}, JSON.stringify({ parameters: { config: deep } }));
    assert.equal(a.status, 400, a.body);
    assert.match(String(json(a).error), /nested deeper than 100 levels/);
    assert.equal(server.service.modelStatus('affine').ready, true, 'the served model is untouched');
  });

  test('every capped field of an override', async () => {
    const limits = overrideLimits();
    const cases: [object, RegExp][] = [
      [{ max_batch_size: 1_000_000_000 }, /max_batch_size is 1000000000; .* at most 8192/],
      [{ intra_op_threads: 10_000 }, /intra_op_threads/],
      [{ dynamic_batching: { max_queue_delay_microseconds: 1e13 } }, /max_queue_delay_microseconds/],
      [{ dynamic_batching: { default_queue_policy: { max_queue_size: 0 } } }, /max_queue_size 0 \(unbounded\)/],
      [{ dynamic_batching: { default_queue_policy: { max_queue_size: 10_000_000 } } }, /max_queue_size is 10000000/],
      [{ dynamic_batching: { preferred_batch_size: Array.from({ length: 100 }, (_, i) => i + 1) } }, /preferred_batch_size \(entries\)/],
      [{ version_policy: { latest: { num_versions: 1000 } } }, /version_policy/],
      [{ version_policy: { specific: { versions: [1, 2, 3] } }, instances: limits.instances }, /instances × versions/],
    ];
    for (const [config, pattern] of cases) {
      const a = await loadWith(server.port, config);
      assert.equal(a.status, 400, `${JSON.stringify(config)}: ${a.body}`);
      assert.match(String(json(a).error), pattern);
    }
    const ok = await loadWith(server.port, { instances: 2, max_batch_size: 8 });
    assert.equal(ok.status, 200, ok.body);
  });

  test('a cross-site form post cannot unload a model; same-origin and allowed origins can', async () => {
    const port = server.port;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${port + 1}`, 'not a url']) {
      const a = await rawRequest(port, 'POST', '/v2/repository/models/affine/unload', { ...form, origin }, 'x=1');
      assert.equal(a.status, 403, `${origin}: ${a.body}`);
      assert.match(String(json(a).error), /cross-origin POST refused/);
    }
    assert.equal(server.service.modelStatus('affine').ready, true);
    // reads are not state-changing: a foreign Origin is no reason to refuse them
    assert.equal((await rawRequest(port, 'GET', '/v2/models/affine', { origin: 'https://evil.example' })).status, 200);
    assert.equal((await loadWith(port, {}, { origin: `http://127.0.0.1:${port}` })).status, 200, 'same origin');
    assert.equal((await loadWith(port, {}, { origin: 'https://app.example' })).status, 200, '--allowed-origins');
    const infer = await rawRequest(port, 'POST', '/v2/models/affine/infer', { origin: 'https://evil.example' }, '{}');
    assert.equal(infer.status, 403, 'every state-changing method is covered, not only model control');
  });

  test('--restricted-api model-repository: load, unload and index need the header; the rest does not', async () => {
    const port = restricted.port;
    for (const [target, body] of [['/v2/repository/models/affine/unload', '{}'], ['/v2/repository/models/affine/load', '{}'], ['/v2/repository/index', '{}']] as const) {
      const none = await rawRequest(port, 'POST', target, {}, body);
      assert.equal(none.status, 403, none.body);
      assert.match(String(json(none).error), /restricted.*berth-admin/);
      const wrong = await rawRequest(port, 'POST', target, { 'berth-admin': 'from-a-file-012345678' }, body);
      assert.equal(wrong.status, 403);
    }
    assert.equal(restricted.service.modelStatus('affine').ready, true);
    const ok = await rawRequest(port, 'POST', '/v2/repository/models/affine/load', { 'berth-admin': 'from-a-file-0123456789' }, '{}');
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await rawRequest(port, 'GET', '/v2/models/affine')).status, 200, 'metadata is not restricted');
  });

  test('--restricted-api values: categories, header names and short values are checked', () => {
    assert.throws(() => parseRestrictedApi('model-repo:h=0123456789'), /unknown API category 'model-repo'/);
    assert.throws(() => parseRestrictedApi('model-repository:authorization=0123456789'), /cannot be the header/);
    assert.throws(() => parseRestrictedApi('model-repository:h=short'), /at least 8/);
    assert.throws(() => parseRestrictedApi('model-repository'), /expected CATEGORY/);
    assert.deepEqual(parseRestrictedApi('inference,model-repository:X-Admin=0123456789').categories, ['inference', 'model-repository']);
  });
});

describe('Host allow-list (DNS rebinding)', () => {
  let repo: string;
  let loopback: RunningServer;
  let listed: RunningServer;

  before(async () => {
    repo = tempDir('berth-hosts-');
    await writeAffine(repo, 'affine');
    loopback = await startServer({ paths: [repo], http: { port: 0, host: '127.0.0.1' }, grpc: { enabled: false }, monitoring: { enabled: false } });
    listed = await startServer({ paths: [repo], http: { port: 0, host: '127.0.0.1' }, access: { allowedHosts: parseAllowedHosts('api.example.com,*.internal.example') }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });

  after(async () => {
    await loopback?.close();
    await listed?.close();
  });

  test('on loopback, by default: loopback names and IP addresses only', async () => {
    const port = loopback.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, `app.localhost:${port}`, '10.1.2.3:8000']) {
      const a = await rawRequest(port, 'GET', '/v2/models/affine', { host });
      assert.equal(a.status, 200, `${host}: ${a.body}`);
    }
    for (const host of [`evil.example:${port}`, 'evil.example', 'localhost.evil.example', '127.0.0.1.nip.io']) {
      const a = await rawRequest(port, 'GET', '/v2/models/affine', { host });
      assert.equal(a.status, 403, `${host}: ${a.body}`);
      assert.match(String(json(a).error), /host .* is not allowed .*--allowed-hosts/);
    }
    // an absolute-form target names the host too
    const abs = await rawRequest(port, 'GET', `http://evil.example:${port}/v2/models/affine`);
    assert.equal(abs.status, 403, abs.body);
    // probes answer whatever the Host (kubelets ask by pod IP; nothing to read there)
    assert.equal((await rawRequest(port, 'GET', '/v2/health/live', { host: 'evil.example' })).status, 200);
  });

  test('--allowed-hosts: exactly the listed names', async () => {
    const port = listed.port;
    for (const host of ['api.example.com', `API.example.com:${port}`, 'a.internal.example']) {
      assert.equal((await rawRequest(port, 'GET', '/v2/models/affine', { host })).status, 200, host);
    }
    for (const host of [`127.0.0.1:${port}`, 'example.com', 'internal.example', 'xapi.example.com']) {
      assert.equal((await rawRequest(port, 'GET', '/v2/models/affine', { host })).status, 403, host);
    }
  });

  test('defaults and parsing', () => {
    assert.equal(defaultAllowedHosts('0.0.0.0'), undefined, 'any host when listening beyond loopback');
    assert.equal(defaultAllowedHosts('::'), undefined);
    assert.ok(defaultAllowedHosts('127.0.0.1'));
    assert.ok(defaultAllowedHosts(undefined), 'berth listens on 127.0.0.1 by default');
    assert.deepEqual(parseAllowedHosts('a.example, *'), ['*']);
    assert.throws(() => parseAllowedHosts('a b'), /not a host name/);
    assert.deepEqual(parseAllowedOrigins('https://app.example,http://b.example:8080'), ['https://app.example', 'http://b.example:8080']);
    assert.throws(() => parseAllowedOrigins('https://app.example/path'), /not an origin/);
  });
});
