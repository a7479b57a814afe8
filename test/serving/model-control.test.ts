import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { getJson, postJson } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const request = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };

describe('model control: explicit mode', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1);
    await writeAffine(repo, 'other', 1);
    server = await startServer({ paths: [repo], http: { port: 0 }, modelControl: { mode: 'explicit', startupModels: ['other'] }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  test('index lists loaded and unloaded models', async () => {
    const { status, body } = await postJson(`${server.url}/v2/repository/index`, '', {});
    assert.equal(status, 200);
    assert.deepEqual(body, [
      { name: 'affine', version: '', state: 'UNAVAILABLE', reason: 'unloaded' },
      { name: 'other', version: '1', state: 'READY', reason: '' },
    ]);
    assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, request)).status, 404);
  });

  test('load with a config override, then the effective config and statistics', async () => {
    const load = await postJson(`${server.url}/v2/repository/models/affine/load`, { parameters: { config: JSON.stringify({ max_batch_size: 4, dynamic_batching: { max_queue_delay_microseconds: 250 } }) } });
    assert.deepEqual([load.status, load.body], [200, { name: 'affine', load: true }]);
    const config = await getJson(`${server.url}/v2/models/affine/config`);
    assert.equal(config.status, 200);
    assert.equal(config.body.max_batch_size, 4);
    assert.deepEqual(config.body.input, [{ name: 'input', data_type: 'TYPE_FP32', dims: [4], is_shape_tensor: false, optional: false }]);
    assert.equal((config.body.dynamic_batching as { max_queue_delay_microseconds: number }).max_queue_delay_microseconds, 250);
    assert.deepEqual(config.body.model_transaction_policy, { decoupled: false });
    for (let i = 0; i < 3; i++) assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, request)).status, 200);
    const stats = await getJson(`${server.url}/v2/models/affine/stats`);
    const s = (stats.body.model_stats as Record<string, unknown>[])[0]!;
    assert.equal(s.name, 'affine');
    assert.equal(s.inference_count, 3);
    assert.equal((s.inference_stats as { success: { count: number } }).success.count, 3);
    assert.ok((s.batch_stats as unknown[]).length >= 1);
    const all = await getJson(`${server.url}/v2/models/stats`);
    assert.equal((all.body.model_stats as unknown[]).length, 2);
  });

  test('unload, and errors for unknown models and bad overrides', async () => {
    const unload = await postJson(`${server.url}/v2/repository/models/affine/unload`, {});
    assert.deepEqual([unload.status, unload.body], [200, { name: 'affine', unload: true }]);
    assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, request)).status, 404);
    const missing = await postJson(`${server.url}/v2/repository/models/nosuch/load`, {});
    assert.equal(missing.status, 404);
    const bad = await postJson(`${server.url}/v2/repository/models/affine/load`, { parameters: { config: '{"max_batch_size": -1}' } });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /max_batch_size/);
  });
});

describe('model control: none mode refuses load and unload', () => {
  test('503 with the reason', async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1);
    const server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    try {
      const r = await postJson(`${server.url}/v2/repository/models/affine/load`, {});
      assert.equal(r.status, 503);
      assert.match(String(r.body.error), /explicit model load is not allowed: model control is disabled/);
    } finally {
      await server.close();
    }
  });
});

describe('model control: poll mode', () => {
  test('picks up a new version, retires the old one, unloads a removed model', async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1);
    const server = await startServer({ paths: [repo], http: { port: 0 }, modelControl: { mode: 'poll', pollSecs: 1 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    try {
      assert.deepEqual((await getJson(`${server.url}/v2/models/affine`)).body.versions, ['1']);
      await writeAffine(repo, 'affine', 2);
      await waitFor(() => server.service.modelStatus('affine').version === '2', 15000, 'version 2 served');
      await waitFor(() => server.service.versionStatuses().length === 1, 15000, 'version 1 retired');
      const r = await postJson(`${server.url}/v2/models/affine/infer`, request);
      assert.equal(r.body.model_version, '2');
      rmSync(join(repo, 'affine'), { recursive: true });
      await waitFor(() => !server.service.isLoaded('affine'), 15000, 'model unloaded');
      assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, request)).status, 404);
    } finally {
      await server.close();
    }
  });
});

describe('zero-downtime updates under load', () => {
  test('32 clients for 10 s across five reloads, a new version and the old one removed: no failures', async () => {
    const repo = tempDir();
    const v1 = await writeAffine(repo, 'affine', 1);
    const server = await startServer({ paths: [repo], http: { port: 0 }, modelControl: { mode: 'explicit', startupModels: ['*'] }, grpc: { enabled: false }, monitoring: { enabled: false } });
    const results: { status: number; version: string; start: number; end: number }[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        const start = performance.now();
        const r = await postJson(`${server.url}/v2/models/affine/infer`, request).catch((err: Error) => ({ status: 0, body: { error: err.message } as Record<string, unknown> }));
        results.push({ status: r.status, version: String(r.body.model_version ?? r.body.error), start, end: performance.now() });
      }
    };
    const clients = Array.from({ length: 32 }, client);
    let reloads = 0;
    let swapStart = 0;
    let swapEnd = 0;
    try {
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        const t = new Date(Date.now() + (i + 1) * 1000);
        utimesSync(v1, t, t); // the file "changed": a reload loads it beside the old one
        const live = server.service.resolve('affine');
        await postJson(`${server.url}/v2/repository/models/affine/load`, {});
        reloads += server.service.resolve('affine') !== live ? 1 : 0;
      }
      await new Promise((r) => setTimeout(r, 1000));
      await writeAffine(repo, 'affine', 2);
      swapStart = performance.now();
      const load = await postJson(`${server.url}/v2/repository/models/affine/load`, {});
      swapEnd = performance.now();
      assert.equal(load.status, 200);
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      stop = true;
      await Promise.all(clients);
      await server.close();
    }
    const failures = results.filter((r) => r.status !== 200);
    assert.equal(failures.length, 0, `failed requests: ${JSON.stringify(failures.slice(0, 5))}`);
    assert.ok(results.length > 1000, `only ${results.length} requests`);
    for (const r of results) {
      if (r.version === '1') assert.ok(r.start < swapEnd, 'version 1 answered a request that started after it was removed');
      else if (r.version === '2') assert.ok(r.end > swapStart, 'version 2 answered before it was added');
      else assert.fail(`unexpected version ${r.version}`);
    }
    assert.ok(results.some((r) => r.version === '2'));
    assert.equal(reloads, 5, 'each reload swapped in a freshly loaded version');
  });
});
