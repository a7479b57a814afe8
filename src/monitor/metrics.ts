/**
 * Prometheus metrics for the serving core, exposed at `GET /metrics`.
 *
 * Recording sits on the hot path (an observer called once per request and once per batch), so
 * the per-request figures are kept in plain numbers and typed arrays, one record per
 * (model, version) looked up in two Maps, and only turned into Prometheus samples when
 * Prometheus scrapes. prom-client's own labelled children re-hash and re-validate their label
 * values on every call (about 1 µs per histogram observation, measured); ours cost tens of ns.
 * prom-client still owns the registry, the text format, the gauges read at scrape time and the
 * process metrics.
 *
 * Conventions (checked by `promtool check metrics` in test/monitor/prometheus.test.ts): base
 * units (seconds), counters end in `_total`, every metric has HELP and TYPE.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { ShedReason } from '../core/errors.js';
import type { InferenceService } from '../core/inference-service.js';
import type { InferenceObserver, RequestRecord } from '../core/observer.js';

/** Latency buckets, seconds: 100 µs to 10 s, roughly 1-2.5-5 per decade. */
export const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Batch size buckets, rows. */
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** Why a request was refused without running: the `reason` label of berth_requests_shed_total. */
export type { ShedReason };

// --- hot-path series ------------------------------------------------------------------------

type Labels = Record<string, string>;

/** What prom-client's Registry reads from a metric's get() to render it. */
interface Exposition {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: { metricName?: string; value: number; labels: Labels }[];
  aggregator: 'sum';
}

/** One counter series: a number and its labels. */
class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/** One histogram series: per-bucket counts (not cumulative; the last slot is +Inf), sum, count. */
class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly labels: Labels, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A labelled counter or histogram whose series are created once and then updated directly.
 * It implements what prom-client's Registry reads from a metric (name, help, type, get(),
 * reset()), so it is rendered by prom-client like any other.
 */
abstract class FastMetric<S extends CounterSeries | HistogramSeries> {
  readonly aggregator = 'sum' as const;
  protected readonly series = new Map<string, S>();
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'histogram', readonly labelNames: readonly string[]) {}

  /** The series for these label values (in labelNames order), created on first use. */
  child(...values: string[]): S {
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ''));
      s = this.create(labels);
      this.series.set(key, s);
    }
    return s;
  }

  protected abstract create(labels: Labels): S;
  abstract get(): Promise<Exposition>;

  reset(): void {
    this.series.clear();
  }
}

class FastCounter extends FastMetric<CounterSeries> {
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, 'counter', labelNames);
  }
  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(labels);
  }
  async get(): Promise<Exposition> {
    const values = [...this.series.values()].map((s) => ({ value: s.value, labels: s.labels }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

class FastHistogram extends FastMetric<HistogramSeries> {
  constructor(name: string, help: string, labelNames: readonly string[], private readonly bounds: readonly number[]) {
    super(name, help, 'histogram', labelNames);
  }
  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }
  async get(): Promise<Exposition> {
    const values: Exposition['values'] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, value: cumulative, labels: { ...s.labels, le } });
      }
      values.push({ metricName: `${this.name}_sum`, value: s.sum, labels: s.labels });
      values.push({ metricName: `${this.name}_count`, value: s.count, labels: s.labels });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

/** Everything recorded for one (model, version): each series resolved once, on first use. */
interface VersionSeries {
  success?: CounterSeries;
  failures?: Map<string, CounterSeries>;
  request?: HistogramSeries;
  queue?: HistogramSeries;
  compute?: HistogramSeries;
  batch?: HistogramSeries;
  shed?: Partial<Record<ShedReason, CounterSeries>>;
}

export interface MetricsOptions {
  /** prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC); default true */
  processMetrics?: boolean;
  /** register into this registry instead of a new one */
  registry?: Registry;
}

/**
 * The metrics observer: register it with `service.addObserver(metrics)` and serve
 * `metrics.render()` (the HTTP front end does: http/metrics-route.ts).
 */
export class ServingMetrics implements InferenceObserver {
  readonly registry: Registry;
  private readonly requests = new FastCounter('berth_inference_requests_total', 'Inference requests that reached the serving core, by outcome (success|failure) and error code (OK on success).', ['model', 'version', 'outcome', 'code']);
  private readonly requestDuration = new FastHistogram('berth_request_duration_seconds', 'Time in the serving core of successful requests (validation, queue, batch execution), seconds.', ['model', 'version'], DURATION_BUCKETS);
  private readonly queueDuration = new FastHistogram('berth_queue_duration_seconds', 'Time successful requests waited in the batching queue, seconds.', ['model', 'version'], DURATION_BUCKETS);
  private readonly computeDuration = new FastHistogram('berth_compute_duration_seconds', 'Execution time of the batch each successful request ran in (inputs to the worker, inference, outputs back), seconds.', ['model', 'version'], DURATION_BUCKETS);
  private readonly batchSize = new FastHistogram('berth_batch_size', 'Rows per executed batch (_count = executions, _sum = rows inferred).', ['model', 'version'], BATCH_BUCKETS);
  private readonly shed = new FastCounter('berth_requests_shed_total', 'Requests refused without running because the queue was full (queue_full) or their queue timeout expired (timeout).', ['model', 'version', 'reason']);
  private readonly http = new FastCounter('berth_http_responses_total', 'HTTP responses by method, route pattern (empty when no route matched) and status code, including requests refused before they reach the serving core (unparseable body, too large, unauthorised).', ['method', 'route', 'code']);
  /** route → method → status → series; route strings come from fastify's route table, so their hashes are cached */
  private readonly httpSeries = new Map<string, Map<string, Map<number, CounterSeries>>>();
  private readonly restarts: Counter<'model' | 'version'>;
  private readonly byModel = new Map<string, Map<string, VersionSeries>>();
  private lastModel?: string;
  private lastVersion?: string;
  private lastSeries?: VersionSeries;

  constructor(private readonly service: InferenceService, options: MetricsOptions = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    for (const m of [this.requests, this.requestDuration, this.queueDuration, this.computeDuration, this.batchSize, this.shed, this.http]) {
      registry.registerMetric(m as unknown as Metric);
    }
    this.restarts = new Counter({
      name: 'berth_worker_restarts_total',
      help: 'Model instance workers that died and were restarted.',
      labelNames: ['model', 'version'],
      registers: [registry],
    });
    const versions = () => this.versions();
    const core = this.service;
    new Gauge({
      name: 'berth_queue_depth',
      help: 'Requests waiting in the batching queue.',
      labelNames: ['model', 'version'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { model, version, mv } of versions()) if (mv?.batcher) this.set({ model, version }, mv.batcher.queueDepth);
      },
    });
    new Gauge({
      name: 'berth_inflight_batches',
      help: 'Batches executing on model instances right now (at most the instance count).',
      labelNames: ['model', 'version'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { model, version, mv } of versions()) if (mv?.batcher) this.set({ model, version }, mv.batcher.inFlight);
      },
    });
    new Gauge({
      name: 'berth_model_ready',
      help: '1 when the model version is loaded and serving, else 0.',
      labelNames: ['model', 'version'],
      registers: [registry],
      collect() {
        this.reset();
        const draining = core.isDraining;
        for (const { model, version, state } of versions()) this.set({ model, version }, state === 'READY' && !draining ? 1 : 0);
      },
    });
    new Gauge({
      name: 'berth_model_load_duration_seconds',
      help: 'Time the model version took to load and warm up, seconds.',
      labelNames: ['model', 'version'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { model, version, mv } of versions()) if (mv && mv.state === 'READY') this.set({ model, version }, mv.loadMs / 1000);
      },
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
    for (const name of NON_CONFORMING_DEFAULTS) registry.removeSingleMetric(name);
  }

  /** Every known model version, with its ModelVersion when it exists. */
  private versions(): { model: string; version: string; state: string; mv?: ReturnType<InferenceService['resolve']> }[] {
    const out = [];
    for (const s of this.service.versionStatuses()) {
      if (s.version === '') continue;
      let mv: ReturnType<InferenceService['resolve']> | undefined;
      try {
        mv = this.service.resolve(s.name, s.version);
      } catch {
        mv = undefined;
      }
      out.push({ model: s.name, version: s.version, state: s.state, mv });
    }
    return out;
  }

  private seriesFor(model: string, version: string): VersionSeries {
    // most requests name the model and version the previous one did (series are never removed)
    if (model === this.lastModel && version === this.lastVersion) return this.lastSeries!;
    let versions = this.byModel.get(model);
    if (!versions) {
      versions = new Map();
      this.byModel.set(model, versions);
    }
    let s = versions.get(version);
    if (!s) {
      s = {};
      versions.set(version, s);
    }
    this.lastModel = model;
    this.lastVersion = version;
    this.lastSeries = s;
    return s;
  }

  onRequest(record: RequestRecord): void {
    // A request for a model that does not exist is counted without its (client-chosen) name,
    // so that random names cannot grow the number of series without bound.
    const model = record.version !== '' || this.service.isLoaded(record.model) ? record.model : '';
    const version = record.version;
    const s = this.seriesFor(model, version);
    if (record.outcome === 'success') {
      (s.success ??= this.requests.child(model, version, 'success', 'OK')).value++;
      (s.request ??= this.requestDuration.child(model, version)).observe(record.durationNs / 1e9);
      (s.queue ??= this.queueDuration.child(model, version)).observe(record.queueNs / 1e9);
      (s.compute ??= this.computeDuration.child(model, version)).observe(record.computeNs / 1e9);
      return;
    }
    const code = record.errorCode ?? 'INTERNAL';
    const failures = (s.failures ??= new Map());
    let counter = failures.get(code);
    if (!counter) {
      counter = this.requests.child(model, version, 'failure', code);
      failures.set(code, counter);
    }
    counter.value++;
    const reason = record.shedReason;
    if (reason) ((s.shed ??= {})[reason] ??= this.shed.child(model, version, reason)).value++;
  }

  onExecution(model: string, version: string, batchSize: number): void {
    const s = this.seriesFor(model, version);
    (s.batch ??= this.batchSize.child(model, version)).observe(batchSize);
  }

  /** A version that starts serving gets its success and shed series at 0, so rate() works from its first scrape. */
  onModelLoaded(model: string, version: string): void {
    const s = this.seriesFor(model, version);
    s.success ??= this.requests.child(model, version, 'success', 'OK');
    s.shed ??= {};
    s.shed.queue_full ??= this.shed.child(model, version, 'queue_full');
    s.shed.timeout ??= this.shed.child(model, version, 'timeout');
  }

  onInstanceCrash(model: string, version: string): void {
    this.restarts.inc({ model, version });
  }

  /** Counts one HTTP response (called from the HTTP front end's hook, http/metrics-route.ts). */
  onHttpResponse(method: string, route: string, status: number): void {
    let methods = this.httpSeries.get(route);
    if (!methods) this.httpSeries.set(route, (methods = new Map()));
    let statuses = methods.get(method);
    if (!statuses) methods.set(method, (statuses = new Map()));
    let c = statuses.get(status);
    if (!c) statuses.set(status, (c = this.http.child(method, route, String(status))));
    c.value++;
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * prom-client's default metrics that `promtool check metrics` rejects: gauges named `_total`
 * (promtool: "non-counter metrics should not have _total suffix"). The same figures remain
 * as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
 */
const NON_CONFORMING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
