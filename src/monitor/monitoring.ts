/**
 * Model monitoring beside the serving metrics: prediction capture, drift against a reference,
 * accuracy from delayed labels, and alert rules with webhooks. `startMonitoring` wires them to
 * an InferenceService through one observer and returns what the HTTP routes need
 * (http/monitoring-routes.ts) and a close().
 *
 * The observer runs on the hot path: it only remembers the top-1 answer and request id, counts
 * latency for alert rules that need it, and hands sampled requests (capture, drift) to queues
 * processed off the request path. The sampling decision is taken as a request enters the core
 * (the observer's sampleRequest), and the core copies the sampled inputs then, because a
 * backend may hand input buffers to its worker threads and they are unreadable afterwards.
 */
import client from 'prom-client';
import type { Registry } from 'prom-client';
import { join } from 'node:path';
import type { InferenceService } from '../core/inference-service.js';
import type { InferenceObserver, RequestRecord } from '../core/observer.js';
import type { Tensor } from '../core/tensor.js';
import { CaptureStore, captureDir } from './capture/store.js';
import { DriftMonitor, registerDriftMonitor } from './drift/monitor.js';
import { FeedbackTracker } from './feedback.js';
import { AlertManager } from './alerts/manager.js';
import { RequestWindow } from './alerts/request-window.js';
import { loadAlertsFile, parseAlertsConfig } from './alerts/rules.js';
import type { AlertsConfig } from './alerts/rules.js';
import { DEFAULTS } from '../config/defaults.js';

export interface MonitoringOptions {
  /** BERTH_HOME: capture under HOME/monitor/capture, profiles under HOME/monitor/profiles */
  home: string;
  /** share of successful requests captured, 0..1 (default 0: off) */
  captureRate?: number;
  /** the capture store's bound, MiB (default 256) */
  captureMaxMb?: number;
  /** samples per drift window (default 500; 0 turns drift off) */
  driftWindow?: number;
  /** a drift window also closes after this many seconds with at least 30 samples (default 3600) */
  driftWindowSecs?: number;
  /** live samples that become the reference when a version has no saved profile (default 1000) */
  driftReferenceSize?: number;
  /** share of requests the drift monitor looks at (default 1) */
  driftSampleRate?: number;
  /** at most about this many requests a second go to drift (default 200; 0 = no cap) */
  driftMaxSamplesPerSec?: number;
  /** predictions remembered for the feedback join (default 100 000) */
  feedbackIndexSize?: number;
  /** labelled predictions in the rolling accuracy (default 1000) */
  accuracyWindow?: number;
  /** alert rules: a YAML file path or an already parsed document */
  alerts?: string | AlertsConfig | object;
  /** override the rules file's evaluation interval, seconds */
  alertIntervalSecs?: number;
  /** where the monitoring gauges go; default prom-client's default registry */
  registry?: Registry;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

const SAMPLE_CAPTURE = 1;
const SAMPLE_DRIFT = 2;

/** What the HTTP routes need. */
export interface MonitoringRouteDeps {
  service: InferenceService;
  feedback: FeedbackTracker;
  drift?: DriftMonitor;
  capture?: CaptureStore;
  alerts?: AlertManager;
}

export interface Monitoring {
  observer: InferenceObserver;
  routes: MonitoringRouteDeps;
  feedback: FeedbackTracker;
  drift?: DriftMonitor;
  capture?: CaptureStore;
  alerts?: AlertManager;
  requests?: RequestWindow;
  /** writes pending capture, stops timers, waits for webhook deliveries */
  close(): Promise<void>;
}

function inRange(name: string, value: number | undefined, min: number, max: number): void {
  if (value !== undefined && !(value >= min && value <= max)) throw new RangeError(`${name} must be within ${min}..${max}, got ${value}`);
}

/** Starts monitoring a service: registers its observer on the service and returns the parts. */
export async function startMonitoring(service: InferenceService, options: MonitoringOptions): Promise<Monitoring> {
  inRange('capture rate', options.captureRate, 0, 1);
  inRange('drift sample rate', options.driftSampleRate, 0, 1);
  const log = options.log;
  let alertsConfig: AlertsConfig | undefined;
  if (typeof options.alerts === 'string') alertsConfig = await loadAlertsFile(options.alerts);
  else if (options.alerts && 'intervalSecs' in options.alerts && 'rules' in options.alerts) alertsConfig = options.alerts as AlertsConfig;
  else if (options.alerts) alertsConfig = parseAlertsConfig(options.alerts);

  const feedback = new FeedbackTracker({
    indexSize: options.feedbackIndexSize,
    window: options.accuracyWindow,
    classNames: (model) => {
      try {
        return service.modelConfig(model).labels;
      } catch {
        return undefined;
      }
    },
  });
  const capture = options.captureRate && options.captureRate > 0
    ? new CaptureStore({ dir: captureDir(options.home), rate: options.captureRate, maxBytes: Math.round((options.captureMaxMb ?? DEFAULTS.monitoring.captureMaxMb) * 1024 * 1024), log })
    : undefined;
  const drift = options.driftWindow === 0
    ? undefined
    : new DriftMonitor({
        home: options.home,
        windowSize: options.driftWindow,
        windowSecs: options.driftWindowSecs,
        referenceSize: options.driftReferenceSize,
        sampleRate: options.driftSampleRate,
        maxSamplesPerSec: options.driftMaxSamplesPerSec,
        log,
      });
  const unregisterDrift = drift ? registerDriftMonitor(drift) : undefined;
  const requestSecs = alertsConfig ? AlertManager.requestWindowSecs(alertsConfig) : 0;
  const requests = requestSecs > 0 ? new RequestWindow(requestSecs) : undefined;
  const alerts = alertsConfig
    ? new AlertManager(alertsConfig, {
        models: () => service.modelNames(),
        accuracy: (model, version) => feedback.rolling(model, version),
        drift: drift
          ? (model, version) => {
              const r = drift.snapshot(model, version);
              if (!r || r.status !== 'ok') return undefined;
              return { version: r.version, consecutive: r.consecutive_drifted_windows, predictionConsecutive: r.prediction_drift ? r.prediction_drift.consecutive_drifted_windows : null };
            }
          : undefined,
        requests,
      }, { log, intervalSecs: options.alertIntervalSecs })
    : undefined;

  // A backend may take (transfer) a request's input buffers, so by the time the request ends
  // its inputs may be unreadable: capture and drift sample requests as they enter the core,
  // which then hands over a copy of the sampled ones' inputs (onSampledRequest).
  let closed = false;
  const observer: InferenceObserver = {
    onRequest(record: RequestRecord): void {
      try {
        if (requests && record.version !== '') requests.record(record.model, record.outcome === 'success', record.durationNs, record.startedAt);
        if (record.outcome !== 'success') return;
        feedback.recordPrediction(record);
      } catch (err) {
        log?.warn({ err: (err as Error).message }, 'monitoring observer failed');
      }
    },
    onModelUnloaded(model: string, version: string): void {
      drift?.forget(model, version);
      feedback.forgetVersion(model, version);
    },
    onModelLoaded(model: string, version: string): void {
      feedback.forgetVersion(model, version);
    },
  };
  if (capture || drift) {
    // the mark: bit 1 capture, bit 2 drift (both decide independently, as before the copy)
    observer.sampleRequest = (): number | undefined => {
      if (closed) return undefined;
      const mark = (capture?.sample() ? SAMPLE_CAPTURE : 0) | (drift?.sample() ? SAMPLE_DRIFT : 0);
      return mark === 0 ? undefined : mark;
    };
    observer.onSampledRequest = (record: RequestRecord, inputs: readonly Tensor[], mark: unknown): void => {
      try {
        if (record.outcome !== 'success' || closed) return;
        if (((mark as number) & SAMPLE_CAPTURE) !== 0) capture!.add(record, inputs as Tensor[]);
        if (((mark as number) & SAMPLE_DRIFT) !== 0) drift!.add(record, inputs as Tensor[]);
      } catch (err) {
        log?.warn({ err: (err as Error).message }, 'monitoring observer failed');
      }
    };
  }
  service.addObserver(observer);
  const unregisterGauges = registerGauges(options.registry ?? client.register, { feedback, drift, capture, alerts });
  alerts?.start();
  if (alertsConfig) log?.info({ rules: alertsConfig.rules.length, interval_secs: alerts!.intervalSecs }, 'alert rules loaded');

  let closing: Promise<void> | undefined;
  return {
    observer,
    routes: { service, feedback, drift, capture, alerts },
    feedback,
    drift,
    capture,
    alerts,
    requests,
    close() {
      closing ??= (async () => {
        closed = true;
        drift?.close();
        unregisterDrift?.();
        unregisterGauges();
        await alerts?.close();
        await capture?.close();
      })();
      return closing;
    },
  };
}

// --- Prometheus gauges, read at scrape time ---------------------------------------------------

interface GaugeSources {
  feedback: FeedbackTracker;
  drift?: DriftMonitor;
  capture?: CaptureStore;
  alerts?: AlertManager;
}

/**
 * Registers the monitoring gauges on a registry; their values are read from the sources when
 * Prometheus scrapes. Returns the function that removes them again.
 */
function registerGauges(registry: Registry, src: GaugeSources): () => void {
  const names: string[] = [];
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: client.Gauge) => void): void => {
    registry.removeSingleMetric(name); // a previous server in this process (tests) may have left one
    names.push(name);
    new client.Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collect(this);
      },
    });
  };
  const driftReports = () => {
    const d = src.drift;
    if (!d) return [];
    return d.models().flatMap((m) => d.versions(m).map((v) => d.snapshot(m, v)!)).filter((r) => r && r.status === 'ok');
  };
  gauge('berth_model_accuracy', 'Rolling accuracy of a model version over its last labelled predictions (feedback), 0..1', ['model', 'version'], (g) => {
    for (const { model, version } of src.feedback.entries()) {
      const r = src.feedback.rolling(model, version);
      if (r && r.accuracy !== null) g.set({ model, version }, r.accuracy);
    }
  });
  gauge('berth_model_accuracy_labelled', 'Labelled predictions in the rolling accuracy window', ['model', 'version'], (g) => {
    for (const { model, version } of src.feedback.entries()) {
      const r = src.feedback.rolling(model, version);
      if (r) g.set({ model, version }, r.labelled);
    }
  });
  gauge('berth_feedback_predictions_indexed', 'Predictions remembered by request id for joining feedback labels', [], (g) => g.set(src.feedback.indexed));
  if (src.drift) {
    gauge('berth_drift_dataset_drifted', 'Dataset drift verdict of the last closed window: 1 when the share of drifted input features is at least 0.5', ['model', 'version'], (g) => {
      // no sample until a window has closed: absent is "no verdict", 0 would say "no drift"
      for (const r of driftReports()) if (r.dataset_drift !== null) g.set({ model: r.model, version: r.version }, r.dataset_drift ? 1 : 0);
    });
    gauge('berth_drift_share', 'Share of input features drifted in the last closed window', ['model', 'version'], (g) => {
      for (const r of driftReports()) if (r.drifted_share !== null) g.set({ model: r.model, version: r.version }, r.drifted_share);
    });
    gauge('berth_drift_consecutive_windows', 'Consecutive closed windows with dataset drift', ['model', 'version'], (g) => {
      for (const r of driftReports()) g.set({ model: r.model, version: r.version }, r.consecutive_drifted_windows);
    });
    gauge('berth_prediction_drift_share', 'Share of output features drifted in the last closed window', ['model', 'version'], (g) => {
      for (const r of driftReports()) if (r.prediction_drift) g.set({ model: r.model, version: r.version }, r.prediction_drift.drifted_share);
    });
    gauge('berth_feature_drift_statistic', 'Drift score of a feature in the last closed window: a p-value (method ks, chisquare, z; drift when low) or a distance (wasserstein, jensenshannon; drift when high)', ['model', 'version', 'feature', 'method'], (g) => {
      for (const r of driftReports()) {
        for (const f of [...r.features, ...(r.prediction_drift?.features ?? [])]) {
          if (Number.isFinite(f.statistic)) g.set({ model: r.model, version: r.version, feature: f.name, method: f.method }, f.statistic);
        }
      }
    });
    gauge('berth_feature_drifted', 'Whether a feature drifted in the last closed window (1) or not (0)', ['model', 'version', 'feature'], (g) => {
      for (const r of driftReports()) for (const f of [...r.features, ...(r.prediction_drift?.features ?? [])]) g.set({ model: r.model, version: r.version, feature: f.name }, f.drifted ? 1 : 0);
    });
  }
  if (src.capture) {
    const cap = src.capture;
    gauge('berth_capture_store_bytes', 'Bytes in the prediction capture store', [], (g) => g.set(cap.stats().bytes));
    gauge('berth_capture_records_written', 'Captured records written by this process since it started', [], (g) => g.set(cap.stats().records));
    gauge('berth_capture_records_dropped', 'Sampled records dropped (writer behind or record too large) since start', [], (g) => g.set(cap.stats().dropped));
    gauge('berth_capture_records_duplicate', 'Sampled records not captured because their model and id were just captured (a retried request) since start', [], (g) => g.set(cap.stats().duplicates));
  }
  if (src.alerts) {
    const alerts = src.alerts;
    gauge('berth_alert_firing', 'Alerts firing now, per rule and model (1 firing, 0 not)', ['rule', 'model'], (g) => {
      for (const r of alerts.list().rules as { name: string; alerts: { model: string; state: string }[] }[]) {
        for (const a of r.alerts) g.set({ rule: r.name, model: a.model }, a.state === 'firing' ? 1 : 0);
      }
    });
  }
  return () => {
    for (const n of names) registry.removeSingleMetric(n);
  };
}

/** HOME/monitor: where monitoring keeps its files. */
export function monitorDir(home: string): string {
  return join(home, 'monitor');
}
