/**
 * When the server's history cannot be read (no key yet on a server with API keys, or a berth
 * without GET /api/v1/metrics/history), the dashboard samples the public GET /metrics itself and
 * builds the same points from the moment the page opened: requests per second, error rate and
 * p50/p99 latency per model and version, from the request counter and the duration histogram.
 */
import { bucketDelta, histogramQuantile, parseLe } from '../../../src/monitor/histogram-quantile';
import type { CumulativeBucket } from '../../../src/monitor/histogram-quantile';
import { parsePrometheusText } from '../lib/prometheus-text';
import { request } from './client';
import type { HistorySnapshot, ModelHistory, SeriesColumns } from './types';

interface Reading {
  total: number;
  failures: number;
  buckets: CumulativeBucket[];
}

const WINDOW_SECS = 900;
const SEP = '\u0000';

function emptyColumns(): SeriesColumns {
  return { t: [], rps: [], error_rate: [], p50_ms: [], p99_ms: [] };
}

/** Cumulative figures per "model\0version" and per "model" (all its versions). */
function readingsOf(text: string): Map<string, Reading> {
  const out = new Map<string, Reading>();
  const at = (key: string): Reading => {
    let r = out.get(key);
    if (!r) out.set(key, (r = { total: 0, failures: 0, buckets: [] }));
    return r;
  };
  const bucketSums = new Map<string, Map<number, number>>();
  for (const s of parsePrometheusText(text, ['berth_inference_requests_total', 'berth_request_duration_seconds_bucket'])) {
    const { model, version } = s.labels;
    if (!model || !version) continue;
    for (const key of [model, `${model}${SEP}${version}`]) {
      if (s.name === 'berth_inference_requests_total') {
        const r = at(key);
        r.total += s.value;
        if (s.labels.outcome === 'failure') r.failures += s.value;
      } else {
        const le = parseLe(s.labels.le ?? '+Inf');
        let sums = bucketSums.get(key);
        if (!sums) bucketSums.set(key, (sums = new Map()));
        sums.set(le, (sums.get(le) ?? 0) + s.value);
      }
    }
  }
  for (const [key, sums] of bucketSums) at(key).buckets = [...sums].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  return out;
}

/** Samples /metrics on each call of `next()`, keeping up to 15 minutes of points. */
export class MetricsSampler {
  private previous: Map<string, Reading> | undefined;
  private previousAt = 0;
  private readonly series = new Map<string, SeriesColumns>();

  async next(): Promise<HistorySnapshot> {
    const text = await (await request('/metrics')).text();
    const now = Date.now();
    const readings = readingsOf(text);
    const before = this.previous;
    const seconds = (now - this.previousAt) / 1000;
    this.previous = readings;
    this.previousAt = now;
    if (before && seconds > 0) {
      for (const [key, r] of readings) {
        const old = before.get(key);
        const reset = old !== undefined && r.total < old.total;
        const total = !old || reset ? r.total : r.total - old.total;
        const failures = !old || reset ? r.failures : r.failures - old.failures;
        const buckets = bucketDelta(r.buckets, old?.buckets);
        let c = this.series.get(key);
        if (!c) this.series.set(key, (c = emptyColumns()));
        const q = (p: number): number | null => {
          const v = histogramQuantile(p, buckets);
          return v === null ? null : v * 1000;
        };
        c.t.push(now / 1000);
        c.rps.push(total / seconds);
        c.error_rate.push(total > 0 ? failures / total : null);
        c.p50_ms.push(q(0.5));
        c.p99_ms.push(q(0.99));
        while (c.t.length && c.t[0]! < now / 1000 - WINDOW_SECS) for (const k of Object.keys(c) as (keyof SeriesColumns)[]) c[k].shift();
      }
    }
    const models: ModelHistory[] = [...readings.keys()]
      .filter((key) => !key.includes(SEP))
      .sort()
      .map((model) => ({
        model,
        ready: true,
        series: this.series.get(model) ?? emptyColumns(),
        versions: [...readings.keys()]
          .filter((key) => key.startsWith(`${model}${SEP}`))
          .map((key) => ({ version: key.slice(model.length + 1), state: 'READY', series: this.series.get(key) ?? emptyColumns() }))
          .sort((a, b) => Number(a.version) - Number(b.version)),
      }));
    return { interval_secs: 5, window_secs: WINDOW_SECS, sampled_at: now / 1000, models };
  }
}
