import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { InferenceService } from '../../src/core/inference-service.js';
import type { RequestRecord } from '../../src/core/observer.js';
import { DURATION_BUCKETS, ServingMetrics } from '../../src/monitor/metrics.js';
import { DynamicBatcher } from '../../src/core/batcher.js';
import { BerthError } from '../../src/core/errors.js';
import { tempDir, writeAffine, writeSlow } from '../helpers/models.js';
import { postBinary, postJson } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

/** Parses Prometheus text into "name{labels}" → value, labels in the order written. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

const key = (name: string, labels: Record<string, string>): string =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

async function scrape(server: RunningServer): Promise<Map<string, number>> {
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

const row = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };

describe('metrics at GET /metrics', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1, { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 2000 } });
    await writeSlow(repo, 'slow', 24, { max_batch_size: 4096, dynamic_batching: { max_queue_delay_microseconds: 0, default_queue_policy: { max_queue_size: 1 } } });
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  const affine = { model: 'affine', version: '1' };
  const requests = (labels: Record<string, string>, outcome: string, code: string) => key('berth_inference_requests_total', { ...labels, outcome, code });

  test('successes count once each, in the request, queue, compute and batch size histograms', async () => {
    const before = await scrape(server);
    const n = 12;
    const answers = await Promise.all(Array.from({ length: n }, () => postJson(`${server.url}/v2/models/affine/infer`, row)));
    for (const a of answers) assert.equal(a.status, 200);
    const m = await scrape(server);
    const delta = (k: string) => (m.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(delta(requests(affine, 'success', 'OK')), n);
    for (const h of ['berth_request_duration_seconds', 'berth_queue_duration_seconds', 'berth_compute_duration_seconds']) {
      assert.equal(delta(key(`${h}_count`, affine)), n, h);
      assert.equal(delta(key(`${h}_bucket`, { ...affine, le: '+Inf' })), n, h);
      assert.ok(delta(key(`${h}_sum`, affine)) > 0, `${h}_sum grows`);
    }
    // every row went through exactly one batch; concurrent requests shared some
    assert.equal(delta(key('berth_batch_size_sum', affine)), n);
    const executions = delta(key('berth_batch_size_count', affine));
    assert.ok(executions >= 2 && executions < n, `expected batching, got ${executions} executions for ${n} requests`);
    // the request duration is at least the queue plus the compute time
    assert.ok(delta(key('berth_request_duration_seconds_sum', affine)) >= delta(key('berth_queue_duration_seconds_sum', affine)) + delta(key('berth_compute_duration_seconds_sum', affine)) - 1e-6);
    // buckets are cumulative
    let previous = 0;
    for (const le of [...DURATION_BUCKETS.map(String), '+Inf']) {
      const v = m.get(key('berth_request_duration_seconds_bucket', { ...affine, le }))!;
      assert.ok(v >= previous, `bucket le=${le} is cumulative`);
      previous = v;
    }
  });

  test('failures count by code: 400 bad shape, 404 unknown model or version, and no histogram entry', async () => {
    const before = await scrape(server);
    const bad = await postJson(`${server.url}/v2/models/affine/infer`, { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    assert.equal(bad.status, 400);
    const unknownModel = await postJson(`${server.url}/v2/models/no-such-model/infer`, row);
    assert.equal(unknownModel.status, 404);
    const unknownVersion = await postJson(`${server.url}/v2/models/affine/versions/7/infer`, row);
    assert.equal(unknownVersion.status, 404);
    const m = await scrape(server);
    const delta = (k: string) => (m.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(delta(requests(affine, 'failure', 'INVALID_ARGUMENT')), 1);
    // an unknown model is counted without its name, so clients cannot create series at will
    assert.equal(delta(requests({ model: '', version: '' }, 'failure', 'NOT_FOUND')), 1);
    assert.ok(![...m.keys()].some((k) => k.includes('no-such-model')));
    assert.equal(delta(requests({ model: 'affine', version: '' }, 'failure', 'NOT_FOUND')), 1);
    assert.equal(delta(key('berth_request_duration_seconds_count', affine)), 0);
  });

  test('HTTP responses are counted by route and status, including those refused before the core', async () => {
    const before = await scrape(server);
    assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, '{not json')).status, 400);
    assert.equal((await postJson(`${server.url}/v1/models/affine:predict`, row)).status, 400);
    assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, row)).status, 200);
    assert.equal((await fetch(`${server.url}/no/such/route`)).status, 404);
    const m = await scrape(server);
    const delta = (k: string) => (m.get(k) ?? 0) - (before.get(k) ?? 0);
    const http = (method: string, route: string, code: string) => key('berth_http_responses_total', { method, route, code });
    assert.equal(delta(http('POST', '/v2/models/:model/infer', '400')), 1);
    assert.equal(delta(http('POST', '/v2/models/:model/infer', '200')), 1);
    assert.equal(delta(http('POST', '/v1/models/:target', '400')), 1);
    assert.equal(delta(http('GET', '', '404')), 1);
    assert.ok(m.get(http('GET', '/metrics', '200'))! >= 1);
  });

  test('shed requests: 429 queue full and 429 timeout, counted by reason', async () => {
    const slow = { model: 'slow', version: '1' };
    const url = `${server.url}/v2/models/slow/infer`;
    const big = (rows: number, parameters?: object) => postBinary(url,
      { inputs: [{ name: 'input', shape: [rows, 512], datatype: 'FP32', parameters: { binary_data_size: rows * 512 * 4 } }], outputs: [{ name: 'output', parameters: { binary_data: true } }], ...(parameters ? { parameters } : {}) },
      [new Uint8Array(new Float32Array(rows * 512).fill(0.5).buffer)]);
    const before = await scrape(server);
    // one running, one queued (the queue holds 1), the rest refused at once
    const busy = big(2048);
    const mv = server.service.resolve('slow');
    await waitFor(() => mv.batcher!.inFlight === 1, 5000);
    const queued = big(2048);
    await waitFor(() => mv.batcher!.queueDepth === 1, 5000);
    const during = await scrape(server);
    assert.equal(during.get(key('berth_queue_depth', slow)), 1);
    assert.equal(during.get(key('berth_inflight_batches', slow)), 1);
    const refused = await Promise.all([big(1), big(1), big(1)]);
    for (const r of refused) {
      assert.equal(r.status, 429);
      assert.match(String(r.header.error), /Exceeds maximum queue size/);
    }
    await Promise.all([busy, queued]);
    // a queue timeout: keep the instance busy, then queue a request that may wait 1 ms
    const busy2 = big(2048);
    await waitFor(() => mv.batcher!.inFlight === 1, 5000);
    const timedOut = await big(1, { timeout: 1000 });
    assert.equal(timedOut.status, 429);
    assert.match(String(timedOut.header.error), /Request timeout expired/);
    await busy2;
    const m = await scrape(server);
    const delta = (k: string) => (m.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(delta(key('berth_requests_shed_total', { ...slow, reason: 'queue_full' })), 3);
    assert.equal(delta(key('berth_requests_shed_total', { ...slow, reason: 'timeout' })), 1);
    assert.equal(delta(requests(slow, 'failure', 'OVERLOADED')), 4);
    assert.equal(delta(requests(slow, 'success', 'OK')), 3);
    assert.equal(m.get(key('berth_queue_depth', slow)), 0);
  });

  test('model gauges, worker restarts and process metrics', async () => {
    let m = await scrape(server);
    assert.equal(m.get(key('berth_model_ready', affine)), 1);
    assert.ok(m.get(key('berth_model_load_duration_seconds', affine))! > 0);
    assert.ok(m.get('process_cpu_seconds_total')! > 0);
    assert.ok(m.get('process_resident_memory_bytes')! > 0);
    assert.ok(m.has('nodejs_eventloop_lag_seconds'));
    const mv = server.service.resolve('affine');
    mv.workerInstances[0]!.crashOnNextRun();
    const failed = await postJson(`${server.url}/v2/models/affine/infer`, row);
    assert.equal(failed.status, 500);
    await waitFor(() => mv.slots === 1, 10000);
    m = await scrape(server);
    assert.equal(m.get(key('berth_worker_restarts_total', affine)), 1);
    assert.ok(m.get(requests(affine, 'failure', 'INTERNAL'))! >= 1);
  });
});

describe('metrics switched off', () => {
  test('metrics: false serves no /metrics', async () => {
    const repo = tempDir();
    await writeAffine(repo);
    const server = await startServer({ paths: [repo], http: { port: 0 }, metrics: false, grpc: { enabled: false }, monitoring: { enabled: false } });
    try {
      assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
      assert.equal(server.metrics, undefined);
    } finally {
      await server.close();
    }
  });
});

describe('ServingMetrics (unit)', () => {
  const record = (over: Partial<RequestRecord>): RequestRecord => ({
    model: 'm', version: '1', requestId: 'r', outcome: 'success', rows: 1, inputs: [], durationNs: 0, queueNs: 0, computeNs: 0, startedAt: 0, ...over,
  });

  test('observations land in the right buckets; histogram lines are cumulative with +Inf, _sum and _count', async () => {
    const metrics = new ServingMetrics(new InferenceService(), { processMetrics: false });
    metrics.onRequest(record({ durationNs: 50_000, queueNs: 10_000, computeNs: 30_000 })); // 50 µs
    metrics.onRequest(record({ durationNs: 3_000_000 })); // 3 ms
    metrics.onRequest(record({ durationNs: 20e9 })); // 20 s: only +Inf
    metrics.onExecution('m', '1', 3);
    metrics.onExecution('m', '1', 40);
    const m = parseMetrics(await metrics.render());
    const h = (le: string) => m.get(key('berth_request_duration_seconds_bucket', { model: 'm', version: '1', le }));
    assert.equal(h('0.0001'), 1);
    assert.equal(h('0.0025'), 1);
    assert.equal(h('0.005'), 2);
    assert.equal(h('10'), 2);
    assert.equal(h('+Inf'), 3);
    assert.equal(m.get(key('berth_request_duration_seconds_count', { model: 'm', version: '1' })), 3);
    assert.ok(Math.abs(m.get(key('berth_request_duration_seconds_sum', { model: 'm', version: '1' }))! - 20.00305) < 1e-9);
    const b = (le: string) => m.get(key('berth_batch_size_bucket', { model: 'm', version: '1', le }));
    assert.equal(b('2'), 0);
    assert.equal(b('4'), 1);
    assert.equal(b('32'), 1);
    assert.equal(b('64'), 2);
    assert.equal(m.get(key('berth_batch_size_sum', { model: 'm', version: '1' })), 43);
  });

  test('the batcher marks what it sheds: a full queue and an expired queue timeout', async () => {
    let release!: () => void;
    const busy = new Promise<void>((r) => { release = r; });
    const executor = { slots: 1, run: async (inputs: never[]) => { await busy; return inputs; } };
    const b = new DynamicBatcher(executor, { maxBatchSize: 0, maxQueueDelayUs: 0, maxQueueSize: 1, defaultPriorityLevel: 1 }, false);
    const row = [{ name: 'x', datatype: 'FP32' as const, shape: [1], data: new Float32Array(1) }];
    const running = b.enqueue(row);
    const timed = b.enqueue(row, { timeoutUs: 1000 });
    const full = await b.enqueue(row).then(() => undefined, (e: unknown) => e);
    assert.ok(full instanceof BerthError && full.shed === 'queue_full', String(full));
    const expired = await timed.then(() => undefined, (e: unknown) => e);
    assert.ok(expired instanceof BerthError && expired.shed === 'timeout', String(expired));
    release();
    await running;
  });

  test('recording a request costs well under a microsecond', () => {
    const metrics = new ServingMetrics(new InferenceService(), { processMetrics: false });
    const r = record({ durationNs: 1_200_000, queueNs: 300_000, computeNs: 800_000 });
    for (let i = 0; i < 10_000; i++) metrics.onRequest(r);
    const n = 200_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) metrics.onRequest(r);
    const nsPer = ((performance.now() - t0) * 1e6) / n;
    assert.ok(nsPer < 1000, `onRequest took ${nsPer.toFixed(0)} ns`);
  });
});
