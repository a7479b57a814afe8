/**
 * The last 15 minutes of each model's serving figures, kept in the server so that a dashboard
 * opened now can draw them at once (Prometheus would keep them too, but berth must not need
 * one). Every few seconds it reads the Prometheus registry that GET /metrics renders — the
 * request counter and the request-duration histogram of monitor/metrics.ts — and turns the
 * difference since the previous reading into one point per model version: requests per
 * second, error rate, p50 and p99 latency. It adds nothing to the request path.
 *
 * Served as GET /api/v1/metrics/history (http/dashboard-data-routes.ts).
 */
import type { Registry } from 'prom-client';
import { bucketDelta, histogramQuantile, parseLe } from './histogram-quantile.js';
import type { CumulativeBucket } from './histogram-quantile.js';

const REQUESTS = 'berth_inference_requests_total';
const DURATION = 'berth_request_duration_seconds';

export interface HistoryOptions {
  /** seconds between readings (default 5) */
  intervalSecs?: number;
  /** seconds of points kept (default 900: 15 minutes) */
  windowSecs?: number;
}

/** What the sampler needs to know besides the metrics: the versions the server has now. */
export type VersionLister = () => readonly { name: string; version: string; state: string }[];

/** Points over time, column by column (what uPlot draws). Gaps are null. */
export interface SeriesColumns {
  /** unix time of each point, seconds (ms precision) */
  t: number[];
  /** requests per second over the interval that ended at t */
  rps: number[];
  /** failed / all requests; null when there were none */
  error_rate: (number | null)[];
  /** latency of successful requests, ms; null when there were none */
  p50_ms: (number | null)[];
  p99_ms: (number | null)[];
}

export interface VersionHistory {
  version: string;
  /** the version's state now (READY, LOADING, UNAVAILABLE, UNLOADING), or GONE once unloaded */
  state: string;
  series: SeriesColumns;
}

export interface ModelHistory {
  model: string;
  /** some version of the model serves now */
  ready: boolean;
  /** all versions together */
  series: SeriesColumns;
  versions: VersionHistory[];
}

export interface HistorySnapshot {
  interval_secs: number;
  window_secs: number;
  /** unix time of the last reading, seconds (null before the first) */
  sampled_at: number | null;
  models: ModelHistory[];
}

/** Cumulative figures of one series at one reading. */
interface Reading {
  total: number;
  failures: number;
  buckets: CumulativeBucket[];
}

const key = (model: string, version: string): string => `${model}\u0000${version}`;

function emptyColumns(): SeriesColumns {
  return { t: [], rps: [], error_rate: [], p50_ms: [], p99_ms: [] };
}

/**
 * Sums cumulative histograms that share their bounds (versions of one model). A version with no
 * successful request yet has no buckets at all (a shadow, a failing version): it adds nothing.
 */
function addBuckets(into: CumulativeBucket[] | undefined, more: readonly CumulativeBucket[]): CumulativeBucket[] {
  if (!into || into.length === 0) return more.map((b) => ({ ...b }));
  if (more.length === 0 || into.length !== more.length) return into;
  return into.map((b, i) => ({ le: b.le, count: b.count + more[i]!.count }));
}

function point(columns: SeriesColumns, t: number, seconds: number, delta: { total: number; failures: number; buckets: CumulativeBucket[] }): void {
  const ms = (v: number | null): number | null => (v === null ? null : Math.round(v * 1e6) / 1e3);
  columns.t.push(t);
  columns.rps.push(Math.round((delta.total / seconds) * 1000) / 1000);
  columns.error_rate.push(delta.total > 0 ? delta.failures / delta.total : null);
  columns.p50_ms.push(ms(histogramQuantile(0.5, delta.buckets)));
  columns.p99_ms.push(ms(histogramQuantile(0.99, delta.buckets)));
}

function trim(columns: SeriesColumns, oldest: number): void {
  let drop = 0;
  while (drop < columns.t.length && columns.t[drop]! < oldest) drop++;
  if (drop === 0) return;
  for (const k of Object.keys(columns) as (keyof SeriesColumns)[]) columns[k].splice(0, drop);
}

export class MetricsHistory {
  readonly intervalSecs: number;
  readonly windowSecs: number;
  private previous = new Map<string, Reading>();
  private previousAt: number | undefined;
  private readonly versionSeries = new Map<string, { model: string; version: string; columns: SeriesColumns }>();
  private readonly modelSeries = new Map<string, SeriesColumns>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;

  constructor(private readonly registry: Registry, private readonly listVersions: VersionLister, options: HistoryOptions = {}) {
    this.intervalSecs = options.intervalSecs ?? 5;
    this.windowSecs = options.windowSecs ?? 900;
    if (!(this.intervalSecs > 0) || !(this.windowSecs >= this.intervalSecs)) throw new RangeError(`history: interval ${this.intervalSecs}s and window ${this.windowSecs}s must be positive, the window at least one interval`);
  }

  /** Takes a first reading now, then one every interval (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalSecs * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the registry once and appends a point per series (the first reading only sets the baseline). */
  sample(nowMs = Date.now()): Promise<void> {
    // Readings must not overlap: each is the difference from the one before.
    this.sampling = (this.sampling ?? Promise.resolve()).then(() => this.read(nowMs)).catch(() => undefined);
    return this.sampling;
  }

  private async read(nowMs: number): Promise<void> {
    const readings = await this.readRegistry();
    const t = Math.round(nowMs) / 1000;
    const before = this.previous;
    const seconds = this.previousAt === undefined ? 0 : (nowMs - this.previousAt) / 1000;
    this.previous = readings;
    this.previousAt = nowMs;
    if (seconds <= 0) return;

    const loaded = new Set(this.listVersions().map((v) => key(v.name, v.version)));
    const perModel = new Map<string, { total: number; failures: number; buckets?: CumulativeBucket[] }>();
    for (const [k, now] of readings) {
      const [model, version] = k.split('\u0000') as [string, string];
      const old = before.get(k);
      // A version whose counters stand still after it was unloaded gets no more points.
      if (!loaded.has(k) && old && old.total === now.total) continue;
      const reset = old !== undefined && now.total < old.total;
      const delta = {
        total: reset || !old ? now.total : now.total - old.total,
        failures: reset || !old ? now.failures : Math.max(0, now.failures - old.failures),
        buckets: bucketDelta(now.buckets, old?.buckets),
      };
      let entry = this.versionSeries.get(k);
      if (!entry) this.versionSeries.set(k, (entry = { model, version, columns: emptyColumns() }));
      point(entry.columns, t, seconds, delta);
      const m = perModel.get(model) ?? { total: 0, failures: 0 };
      m.total += delta.total;
      m.failures += delta.failures;
      m.buckets = addBuckets(m.buckets, delta.buckets);
      perModel.set(model, m);
    }
    for (const [model, m] of perModel) {
      let columns = this.modelSeries.get(model);
      if (!columns) this.modelSeries.set(model, (columns = emptyColumns()));
      point(columns, t, seconds, { total: m.total, failures: m.failures, buckets: m.buckets ?? [] });
    }
    const oldest = t - this.windowSecs;
    for (const [k, entry] of this.versionSeries) {
      trim(entry.columns, oldest);
      if (entry.columns.t.length === 0) this.versionSeries.delete(k);
    }
    for (const [model, columns] of this.modelSeries) {
      trim(columns, oldest);
      if (columns.t.length === 0) this.modelSeries.delete(model);
    }
  }

  /** The cumulative request counts and duration buckets of every (model, version) now. */
  private async readRegistry(): Promise<Map<string, Reading>> {
    const out = new Map<string, Reading>();
    const at = (model: string, version: string): Reading => {
      const k = key(model, version);
      let r = out.get(k);
      if (!r) out.set(k, (r = { total: 0, failures: 0, buckets: [] }));
      return r;
    };
    const requests = await this.registry.getSingleMetric(REQUESTS)?.get();
    for (const v of requests?.values ?? []) {
      const { model, version, outcome } = v.labels as Record<string, string | undefined>;
      // Requests for unknown models (model "") and before a version was chosen have no series to show.
      if (!model || !version) continue;
      const r = at(model, version);
      r.total += v.value;
      if (outcome === 'failure') r.failures += v.value;
    }
    const durations = await this.registry.getSingleMetric(DURATION)?.get();
    for (const v of durations?.values ?? []) {
      const value = v as { metricName?: string; value: number; labels: Record<string, string | number | undefined> };
      if (value.metricName !== `${DURATION}_bucket`) continue;
      const model = String(value.labels.model ?? '');
      const version = String(value.labels.version ?? '');
      if (!model || !version) continue;
      at(model, version).buckets.push({ le: parseLe(String(value.labels.le)), count: value.value });
    }
    for (const r of out.values()) r.buckets.sort((a, b) => a.le - b.le);
    return out;
  }

  /** Every model's points (or one model's), newest last. */
  snapshot(model?: string): HistorySnapshot {
    const statuses = this.listVersions();
    const models = new Set<string>([...statuses.map((s) => s.name), ...this.modelSeries.keys()]);
    const out: ModelHistory[] = [];
    for (const name of [...models].sort()) {
      if (model !== undefined && name !== model) continue;
      const mine = statuses.filter((s) => s.name === name && s.version !== '');
      const versions = new Map<string, VersionHistory>();
      for (const s of mine) versions.set(s.version, { version: s.version, state: s.state, series: emptyColumns() });
      for (const entry of this.versionSeries.values()) {
        if (entry.model !== name) continue;
        const v = versions.get(entry.version) ?? { version: entry.version, state: 'GONE', series: emptyColumns() };
        v.series = entry.columns;
        versions.set(entry.version, v);
      }
      out.push({
        model: name,
        ready: mine.some((s) => s.state === 'READY'),
        series: this.modelSeries.get(name) ?? emptyColumns(),
        versions: [...versions.values()].sort((a, b) => Number(a.version) - Number(b.version)),
      });
    }
    return {
      interval_secs: this.intervalSecs,
      window_secs: this.windowSecs,
      sampled_at: this.previousAt === undefined ? null : Math.round(this.previousAt) / 1000,
      models: out,
    };
  }
}
