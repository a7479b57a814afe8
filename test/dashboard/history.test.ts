/**
 * The server-side history behind the dashboard's live charts (GET /api/v1/metrics/history):
 * quantiles from histogram buckets as PromQL estimates them, and the sampler's points from the
 * metrics registry, computed here by hand.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceService } from '../../src/core/inference-service.js';
import type { RequestRecord } from '../../src/core/observer.js';
import { bucketDelta, histogramQuantile } from '../../src/monitor/histogram-quantile.js';
import { MetricsHistory } from '../../src/monitor/history.js';
import { ServingMetrics } from '../../src/monitor/metrics.js';

const record = (over: Partial<RequestRecord>): RequestRecord => ({
  model: 'm', version: '1', requestId: 'r', outcome: 'success', rows: 1, inputs: [], durationNs: 0, queueNs: 0, computeNs: 0, startedAt: 0, ...over,
});

describe('histogramQuantile', () => {
  const buckets = [{ le: 1, count: 0 }, { le: 2, count: 10 }, { le: 4, count: 20 }, { le: Infinity, count: 20 }];

  test('interpolates linearly inside the bucket holding the rank', () => {
    assert.equal(histogramQuantile(0.5, buckets), 2); // rank 10: the top of (1, 2]
    assert.ok(Math.abs(histogramQuantile(0.99, buckets)! - 3.96) < 1e-12); // rank 19.8: 2 + 2·9.8/10
    assert.equal(histogramQuantile(0.25, buckets), 1.5);
  });

  test('the first bucket starts at 0; +Inf reports the highest finite bound; nothing observed is null', () => {
    assert.equal(histogramQuantile(0.5, [{ le: 0.001, count: 4 }, { le: Infinity, count: 4 }]), 0.0005);
    assert.equal(histogramQuantile(0.99, [{ le: 1, count: 0 }, { le: Infinity, count: 5 }]), 1);
    assert.equal(histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }]), null);
    assert.equal(histogramQuantile(0.5, []), null);
  });

  test('bucket deltas subtract, and a counter that went down counts as reset', () => {
    const before = [{ le: 1, count: 3 }, { le: Infinity, count: 5 }];
    assert.deepEqual(bucketDelta([{ le: 1, count: 4 }, { le: Infinity, count: 9 }], before), [{ le: 1, count: 1 }, { le: Infinity, count: 4 }]);
    assert.deepEqual(bucketDelta([{ le: 1, count: 1 }, { le: Infinity, count: 2 }], before), [{ le: 1, count: 1 }, { le: Infinity, count: 2 }]);
  });
});

describe('MetricsHistory', () => {
  test('turns counter and histogram differences into req/s, error rate and p50/p99 per version and per model', async () => {
    const metrics = new ServingMetrics(new InferenceService(), { processMetrics: false });
    // version 0 only ever fails, so it has no duration buckets: the model's quantiles must not mind
    let loaded = [{ name: 'm', version: '0', state: 'READY' }, { name: 'm', version: '1', state: 'READY' }, { name: 'm', version: '2', state: 'READY' }];
    const history = new MetricsHistory(metrics.registry, () => loaded, { intervalSecs: 5, windowSecs: 10 });
    const t0 = 1_700_000_000_000;
    metrics.onRequest(record({ version: '0', outcome: 'failure', errorCode: 'INTERNAL' }));
    await history.sample(t0); // the baseline: no point yet
    assert.equal(history.snapshot().models[0]!.series.t.length, 0);

    for (let i = 0; i < 100; i++) metrics.onRequest(record({ durationNs: 3_000_000 })); // 3 ms: bucket (2.5, 5] ms
    for (let i = 0; i < 5; i++) metrics.onRequest(record({ outcome: 'failure', errorCode: 'INVALID_ARGUMENT' }));
    for (let i = 0; i < 10; i++) metrics.onRequest(record({ version: '2', durationNs: 30_000_000 })); // 30 ms: (25, 50] ms
    await history.sample(t0 + 5000);

    const m = history.snapshot('m').models[0]!;
    const v1 = m.versions.find((v) => v.version === '1')!.series;
    assert.deepEqual(v1.t, [t0 / 1000 + 5]);
    assert.equal(v1.rps[0], 21); // 105 requests in 5 s
    assert.ok(Math.abs(v1.error_rate[0]! - 5 / 105) < 1e-12);
    assert.equal(v1.p50_ms[0], 3.75); // 2.5 + 2.5 · 50/100
    assert.equal(v1.p99_ms[0], 4.975);
    const v2 = m.versions.find((v) => v.version === '2')!.series;
    assert.equal(v2.rps[0], 2);
    assert.equal(v2.error_rate[0], 0);
    // the model: both versions' requests, and quantiles over both versions' buckets
    assert.equal(m.series.rps[0], 23);
    assert.ok(Math.abs(m.series.error_rate[0]! - 5 / 115) < 1e-12);
    assert.equal(m.series.p50_ms[0], 3.875); // rank 55 of 110 successes: 2.5 + 2.5 · 55/100 (version 2 lies above)
    assert.ok(m.series.p99_ms[0]! > 25 && m.series.p99_ms[0]! <= 50);
    assert.equal(m.ready, true);

    await history.sample(t0 + 10_000); // no traffic: 0 req/s and no latency
    assert.deepEqual(history.snapshot().models[0]!.series.rps, [23, 0]);
    assert.deepEqual(history.snapshot().models[0]!.series.p50_ms, [3.875, null]);
    assert.deepEqual(history.snapshot().models[0]!.series.error_rate, [5 / 115, null]);

    // version 2 is unloaded: its still counters get no more points, it is listed as GONE until
    // its points leave the window, and points older than the window are dropped
    loaded = [loaded[0]!, loaded[1]!];
    metrics.onRequest(record({ durationNs: 1_000_000 }));
    await history.sample(t0 + 15_000);
    const after = history.snapshot('m').models[0]!;
    assert.deepEqual(after.series.t, [t0 / 1000 + 5, t0 / 1000 + 10, t0 / 1000 + 15]);
    assert.deepEqual(after.versions.find((v) => v.version === '2')!.series.t, [t0 / 1000 + 5, t0 / 1000 + 10]);
    assert.equal(after.versions.find((v) => v.version === '2')!.state, 'GONE');
    await history.sample(t0 + 21_000);
    const later = history.snapshot('m').models[0]!;
    assert.deepEqual(later.series.t, [t0 / 1000 + 15, t0 / 1000 + 21]);
    assert.deepEqual(later.versions.map((v) => v.version), ['0', '1']);
    assert.ok(Math.abs(later.series.rps[1]! - 0) < 1e-12);
  });

  test('requests for unknown models (model "") are not shown', async () => {
    const metrics = new ServingMetrics(new InferenceService(), { processMetrics: false });
    const history = new MetricsHistory(metrics.registry, () => [], { intervalSecs: 1 });
    await history.sample(1000);
    metrics.onRequest(record({ model: 'nosuch', version: '', outcome: 'failure', errorCode: 'NOT_FOUND' }));
    await history.sample(2000);
    assert.deepEqual(history.snapshot().models, []);
  });

  test('rejects an interval or window that is not positive', () => {
    const metrics = new ServingMetrics(new InferenceService(), { processMetrics: false });
    assert.throws(() => new MetricsHistory(metrics.registry, () => [], { intervalSecs: 0 }), RangeError);
    assert.throws(() => new MetricsHistory(metrics.registry, () => [], { intervalSecs: 10, windowSecs: 5 }), RangeError);
  });
});
