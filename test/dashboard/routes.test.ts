/**
 * How berth serves the dashboard and the data it reads: the built files at / (public, cached by
 * hash), browser navigations redirected to hash routes, the APIs unchanged, --no-dashboard, the
 * new endpoints (server features, metrics history, model file) and their API-key checks, and
 * the size of what the dashboard adds to the package.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { dashboardDir } from '../../src/http/dashboard-routes.js';
import { ensureDigitsModel } from '../../src/examples/digits/index.js';
import { tempDir } from '../helpers/models.js';
import { digitsRegistry } from './scenario.js';
import type { DigitsRegistry } from './scenario.js';

const built = dashboardDir();
const notBuilt = built ? false : process.env.CI ? false : 'dist/web is not built: run npm run build';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

const PIXELS_4 = [0, 0, 0, 1, 11, 0, 0, 0, 0, 0, 0, 7, 8, 0, 0, 0, 0, 0, 1, 13, 6, 2, 2, 0, 0, 0, 7, 15, 0, 9, 8, 0, 0, 5, 16, 10, 0, 16, 6, 0, 0, 4, 15, 16, 13, 16, 1, 0, 0, 0, 0, 3, 15, 10, 0, 0, 0, 0, 0, 2, 16, 4, 0, 0];

describe('dashboard routes (no registry)', () => {
  let server: RunningServer;
  let modelPath: string;

  before(async () => {
    const dir = tempDir('berth-dashboard-routes-');
    modelPath = (await ensureDigitsModel(dir)).modelPath;
    server = await startServer({ paths: [join(dir, 'digits')], http: { port: 0 }, grpc: { enabled: false }, history: { intervalSecs: 0.2 }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  test('serves the dashboard at / with its assets; hashed assets are immutable, index.html is revalidated', { skip: notBuilt }, async () => {
    const index = await fetch(`${server.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const html = await index.text();
    assert.match(html, /<div id="app">/);
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, 'index.html loads a bundled script');
    const asset = await fetch(`${server.url}/${script}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    const wasm = await fetch(`${server.url}/ort/ort-wasm-simd-threaded.wasm`, { method: 'HEAD' });
    assert.equal(wasm.status, 200);
    assert.match(wasm.headers.get('content-type') ?? '', /application\/wasm/);
  });

  test('a browser navigating to a path outside the APIs is sent to its hash route; the APIs answer as before', { skip: notBuilt }, async () => {
    const nav = await fetch(`${server.url}/models/digits`, { headers: { accept: 'text/html,application/xhtml+xml' }, redirect: 'manual' });
    assert.equal(nav.status, 302);
    assert.equal(nav.headers.get('location'), '/#/models/digits');
    // not a browser navigation, or an API path: the usual JSON 404
    for (const [path, accept] of [['/models/digits', 'application/json'], ['/v2/nosuch', 'text/html'], ['/v3/anything', '*/*'], ['/api/v1/nosuch', 'text/html'], ['/docs', 'text/html']] as const) {
      const r = await fetch(`${server.url}${path}`, { headers: { accept }, redirect: 'manual' });
      assert.equal(r.status, 404, path);
      assert.deepEqual(await r.json(), { error: 'Not Found' }, path);
    }
    assert.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200);
    assert.equal((await fetch(`${server.url}/metrics`)).status, 200);
    const post = await fetch(`${server.url}/v2/models/digits/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'pixels', shape: [1, 64], datatype: 'FP32', data: PIXELS_4 }], outputs: [{ name: 'label' }] }) });
    assert.equal(((await post.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data[0], 4);
  });

  test('GET /api/v1/server says what the server has turned on', async () => {
    const info = (await (await fetch(`${server.url}/api/v1/server`)).json()) as Record<string, unknown>;
    assert.equal(info.name, 'berth');
    assert.equal(info.registry, false);
    assert.equal(info.apiKeys, false);
    assert.equal(info.metrics, true);
    assert.equal(info.monitoring, false);
    assert.equal(info.dashboard, true);
    assert.deepEqual(info.history, { interval_secs: 0.2, window_secs: 900 });
  });

  test('GET /api/v1/metrics/history has the traffic just served, per model and version', async () => {
    const body = JSON.stringify({ inputs: [{ name: 'pixels', shape: [1, 64], datatype: 'FP32', data: PIXELS_4 }] });
    for (let i = 0; i < 20; i++) assert.equal((await fetch(`${server.url}/v2/models/digits/infer`, { method: 'POST', body })).status, 200);
    await server.history!.sample(); // do not wait for the timer
    const h = (await (await fetch(`${server.url}/api/v1/metrics/history?model=digits`)).json()) as { models: { model: string; ready: boolean; series: { rps: number[]; p99_ms: (number | null)[] }; versions: { version: string; state: string }[] }[] };
    assert.equal(h.models.length, 1);
    const m = h.models[0]!;
    assert.equal(m.model, 'digits');
    assert.equal(m.ready, true);
    assert.deepEqual(m.versions.map((v) => [v.version, v.state]), [['1', 'READY']]);
    assert.ok(m.series.rps.some((r) => r > 0), 'some point has the requests');
    assert.ok(m.series.p99_ms.some((p) => p !== null && p > 0), 'some point has a latency');
    const unknown = await fetch(`${server.url}/api/v1/metrics/history?model=nosuch`);
    assert.equal(unknown.status, 404);
  });

  test('GET /api/v1/serving/models/{m}/versions/{v}/model.onnx is the file the version was loaded from', async () => {
    const res = await fetch(`${server.url}/api/v1/serving/models/digits/versions/1/model.onnx`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(modelPath));
    assert.equal((await fetch(`${server.url}/api/v1/serving/models/digits/versions/9/model.onnx`)).status, 404);
    assert.equal((await fetch(`${server.url}/api/v1/serving/models/nosuch/versions/1/model.onnx`)).status, 404);
  });

  test('the dashboard adds under 1 MB to the package, not counting onnxruntime-web\'s WebAssembly', { skip: notBuilt }, () => {
    const files = filesUnder(built!);
    const bytes = files.filter((f) => !f.endsWith('.wasm')).reduce((sum, f) => sum + statSync(f).size, 0);
    assert.ok(files.some((f) => f.endsWith('.wasm')), 'the WebAssembly runtime ships with it');
    assert.ok(bytes < 1024 * 1024, `dist/web without *.wasm is ${bytes} bytes`);
  });
});

describe('dashboard routes: --no-dashboard, and a server with API keys', () => {
  let plain: RunningServer;
  let guarded: RunningServer;
  let reg: DigitsRegistry;

  before(async () => {
    const dir = tempDir('berth-dashboard-keys-');
    await ensureDigitsModel(dir);
    plain = await startServer({ paths: [join(dir, 'digits')], http: { port: 0 }, grpc: { enabled: false }, dashboard: false, monitoring: { enabled: false } });
    reg = await digitsRegistry(dir);
    guarded = await startServer({ paths: [], http: { port: 0 }, grpc: { enabled: false }, registry: { instance: reg.registry, pollSecs: 0.2 }, requireAuth: true, monitoring: { enabled: false } });
  });
  after(async () => {
    await plain.close();
    await guarded.close();
    reg.registry.close();
  });

  test('--no-dashboard: / is a JSON 404, the data endpoints stay', async () => {
    const r = await fetch(`${plain.url}/`, { headers: { accept: 'text/html' } });
    assert.equal(r.status, 404);
    assert.deepEqual(await r.json(), { error: 'Not Found' });
    const info = (await (await fetch(`${plain.url}/api/v1/server`)).json()) as { dashboard: boolean };
    assert.equal(info.dashboard, false);
    assert.equal((await fetch(`${plain.url}/api/v1/metrics/history`)).status, 200);
  });

  test('with API keys the files stay public and the data endpoints need a read key; the model file is the registry version served', { skip: notBuilt }, async () => {
    assert.equal((await fetch(`${guarded.url}/`)).status, 200);
    for (const path of ['/api/v1/server', '/api/v1/metrics/history', '/api/v1/serving/models/digits/versions/1/model.onnx']) {
      assert.equal((await fetch(`${guarded.url}${path}`)).status, 401, path);
      const ok = await fetch(`${guarded.url}${path}`, { headers: { authorization: `Bearer ${reg.readKey}` } });
      assert.equal(ok.status, 200, path);
    }
    const info = (await (await fetch(`${guarded.url}/api/v1/server`, { headers: { authorization: `Bearer ${reg.readKey}` } })).json()) as Record<string, unknown>;
    assert.deepEqual([info.registry, info.apiKeys, info.requireAuth], [true, true, true]);
    const file = await fetch(`${guarded.url}/api/v1/serving/models/digits/versions/2/model.onnx`, { headers: { authorization: `Bearer ${reg.readKey}` } });
    const artifact = await fetch(`${guarded.url}/api/v1/models/digits/versions/2/artifact`, { headers: { authorization: `Bearer ${reg.readKey}` } });
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), Buffer.from(await artifact.arrayBuffer()));
  });
});
