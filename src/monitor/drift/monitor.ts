/**
 * Live drift monitoring: samples served requests, builds or loads a reference profile per model
 * version, cuts the traffic after it into windows (by count, or by time once a window is old
 * enough), and compares each closed window with the reference, feature by feature, for the
 * inputs (data drift) and the outputs (prediction drift).
 *
 * The hot path (`offer`) only decides whether to sample and copies the sampled tensors; feature
 * extraction, profiling and statistics run later in a setImmediate batch.
 */
import type { RequestRecord } from '../../core/observer.js';
import type { Tensor } from '../../core/tensor.js';
import type { Column, TensorLayout } from './features.js';
import { appendSamples, emptyColumns, layoutsOf } from './features.js';
import type { DriftProfile, FeatureDrift, TensorProfile, TensorsDrift } from './profile.js';
import { DRIFT_SHARE, PROFILE_FORMAT, compareTensors, loadProfile, profileTensor, saveProfile } from './profile.js';
import { DEFAULTS } from '../../config/defaults.js';

export interface DriftOptions {
  /** BERTH_HOME: profiles are read from and saved to HOME/monitor/profiles; undefined = memory only */
  home?: string;
  /** samples per window (default 500) */
  windowSize?: number;
  /** a window also closes when this old, if it holds at least minWindowSamples (default 3600 s) */
  windowSecs?: number;
  /** default 30 */
  minWindowSamples?: number;
  /** samples of live traffic that become the reference when no profile is saved (default 1000) */
  referenceSize?: number;
  /** share of successful requests looked at (default 1) */
  sampleRate?: number;
  /**
   * at most about this many requests a second are looked at (default 200): above it the
   * sampling probability adapts each second to target/observed, so drift costs the same CPU
   * at any traffic; 0 = no cap
   */
  maxSamplesPerSec?: number;
  /** closed windows remembered per version (default 100) */
  historySize?: number;
  /** largest number of sampled rows waiting to be processed before new ones are dropped */
  maxPendingRows?: number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

interface Pending {
  model: string;
  version: string;
  rows: number;
  at: number;
  inputs: Tensor[];
  outputs: Tensor[];
}

/** Columns gathered for some tensors. */
class Gather {
  readonly columns = new Map<string, Column[]>();
  rows = 0;
  constructor(readonly layouts: TensorLayout[]) {
    for (const l of layouts) this.columns.set(l.name, emptyColumns(l));
  }

  /** Appends a record's tensors; false when they do not fit the layouts (shape changed). */
  add(tensors: Tensor[], rows: number): boolean {
    const found: Tensor[] = [];
    for (const l of this.layouts) {
      // by name; a reference of one unnamed array (`input`) matches a model's only tensor
      const t = tensors.find((x) => x.name === l.name) ?? (this.layouts.length === 1 && tensors.length === 1 ? tensors[0] : undefined);
      if (!t) return false;
      const total = t.shape.reduce((a, b) => a * b, 1);
      if (total !== rows * l.elements || !sameKind(t.datatype, l.datatype)) return false;
      found.push(t);
    }
    this.layouts.forEach((l, i) => appendSamples(found[i].datatype === l.datatype ? l : { ...l, datatype: found[i].datatype }, found[i].data, rows, this.columns.get(l.name)!));
    this.rows += rows;
    return true;
  }

  profiles(): TensorProfile[] {
    return this.layouts.map((l) => profileTensor(l, this.columns.get(l.name)!));
  }
}

/** A reference made from a dataset may hold another numeric type than the served tensor (FP64 vs FP32). */
function sameKind(a: string, b: string): boolean {
  return a === b || (a !== 'BYTES' && b !== 'BYTES');
}

function layoutsFromProfiles(profiles: TensorProfile[]): TensorLayout[] {
  return profiles.map((p) => ({ name: p.name, datatype: p.datatype, shape: p.shape, elements: p.shape.reduce((a, b) => a * b, 1), mode: p.mode }));
}

export interface WindowInfo {
  index: number;
  samples: number;
  start: string;
  end: string;
  closed_by: 'count' | 'time' | 'request';
  size: number;
  secs: number;
}

export interface PredictionDrift extends TensorsDrift {
  consecutive_drifted_windows: number;
}

export interface DriftReport {
  model: string;
  version: string;
  /** building_reference: collecting the first K samples; collecting: reference ready, no window closed yet; ok */
  status: 'building_reference' | 'collecting' | 'ok';
  reference: {
    source?: 'dataset' | 'live';
    samples: number;
    created?: string;
    /** samples gathered so far while building from live traffic */
    progress?: { inputs: number; outputs: number; needed: number };
    input_features: number;
    output_features: number;
  };
  /** the window being filled now */
  current_window: { samples: number; started: string; size: number; secs: number };
  window?: WindowInfo;
  /** the last closed window's verdict; null while no window has closed (no verdict is not "no drift") */
  dataset_drift: boolean | null;
  /** null with dataset_drift */
  drifted_share: number | null;
  drift_share_threshold: number;
  n_features: number;
  n_drifted: number;
  features: FeatureDrift[];
  prediction_drift: PredictionDrift | null;
  consecutive_drifted_windows: number;
  windows_evaluated: number;
  /** requests whose tensors did not match the reference's layout */
  skipped_samples: number;
  history: { index: number; end: string; samples: number; dataset_drift: boolean; drifted_share: number; prediction_drift: boolean | null }[];
}

interface VersionState {
  model: string;
  version: string;
  loading?: Promise<void>;
  queue: Pending[];
  profile?: DriftProfile;
  refInputs?: Gather;
  refOutputs?: Gather;
  window?: { inputs?: Gather; outputs?: Gather; started: number; rows: number; index: number };
  last?: { drift: TensorsDrift; prediction: TensorsDrift | null; window: WindowInfo };
  history: DriftReport['history'];
  streak: number;
  predictionStreak: number;
  evaluated: number;
  skipped: number;
}

function copyTensor(t: Tensor): Tensor {
  const data = Array.isArray(t.data) ? t.data.map((b) => Buffer.from(b)) : t.data.slice();
  return { name: t.name, datatype: t.datatype, shape: t.shape.slice(), data };
}

export class DriftMonitor {
  readonly windowSize: number;
  readonly windowSecs: number;
  readonly minWindowSamples: number;
  readonly referenceSize: number;
  readonly sampleRate: number;
  readonly maxSamplesPerSec: number;
  /** the sampling probability in force (sampleRate, lowered under heavy traffic) */
  private probability: number;
  private seenThisSecond = 0;
  private takenThisSecond = 0;
  private rateTimer?: NodeJS.Timeout;
  private readonly historySize: number;
  private readonly maxPendingRows: number;
  private readonly states = new Map<string, VersionState>();
  private pending: Pending[] = [];
  private pendingRows = 0;
  private scheduled = false;
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** sampled rows dropped because processing fell behind */
  dropped = 0;
  /** called after every closed window (alerts re-evaluate on it) */
  onWindow?: (report: DriftReport) => void;

  constructor(private readonly options: DriftOptions = {}) {
    this.windowSize = options.windowSize ?? DEFAULTS.monitoring.driftWindow;
    this.windowSecs = options.windowSecs ?? DEFAULTS.monitoring.driftWindowSecs;
    this.minWindowSamples = options.minWindowSamples ?? 30;
    this.referenceSize = options.referenceSize ?? DEFAULTS.monitoring.driftReferenceSize;
    this.sampleRate = options.sampleRate ?? 1;
    this.maxSamplesPerSec = options.maxSamplesPerSec ?? DEFAULTS.monitoring.driftMaxSamplesPerSec;
    this.probability = this.sampleRate;
    if (this.maxSamplesPerSec > 0) {
      this.rateTimer = setInterval(() => {
        this.probability = Math.min(this.sampleRate, this.maxSamplesPerSec / Math.max(1, this.seenThisSecond));
        this.seenThisSecond = 0;
        this.takenThisSecond = 0;
      }, 1000);
      this.rateTimer.unref();
    }
    this.historySize = options.historySize ?? 100;
    this.maxPendingRows = options.maxPendingRows ?? 50_000;
    const tick = Math.max(250, Math.min(5000, (this.windowSecs * 1000) / 10));
    this.timer = setInterval(() => this.closeOldWindows(), tick);
    this.timer.unref();
  }

  /** Hot path: sampling decision, then a copy of the sampled tensors. */
  offer(record: RequestRecord): void {
    if (this.sample()) this.add(record, record.inputs.map(copyTensor));
  }

  /** The sampling decision alone (true for `sampleRate` of the calls). */
  sample(): boolean {
    if (this.closed) return false;
    this.seenThisSecond++;
    if (!(this.probability >= 1 || Math.random() < this.probability)) return false;
    // a hard cap too, for the second in which traffic jumps
    if (this.maxSamplesPerSec > 0 && ++this.takenThisSecond > 2 * this.maxSamplesPerSec) return false;
    return true;
  }

  /** Adds a sampled request whose inputs were already copied (before the runtime detached them). */
  add(record: RequestRecord, inputs: Tensor[]): void {
    if (this.closed || record.outcome !== 'success' || !record.outputs || !record.version) return;
    if (this.pendingRows + record.rows > this.maxPendingRows) {
      this.dropped += record.rows;
      return;
    }
    this.pending.push({
      model: record.model,
      version: record.version,
      rows: record.rows,
      at: record.startedAt,
      inputs,
      outputs: record.outputs.map(copyTensor),
    });
    this.pendingRows += record.rows;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.process());
    }
  }

  /** Processes what is pending now (tests and the API call it to see up-to-date figures). */
  flush(): Promise<void> {
    this.process();
    return Promise.all([...this.states.values()].map((s) => s.loading)).then(() => this.process());
  }

  /** Sets (or replaces) a version's reference; the current window starts over. */
  setProfile(model: string, version: string, profile: DriftProfile): void {
    const s = this.state(model, version);
    this.applyProfile(s, profile);
  }

  /** Forgets a version's reference in memory: it is rebuilt from the next live traffic. */
  resetReference(model: string, version: string): void {
    const s = this.state(model, version);
    s.profile = undefined;
    s.refInputs = undefined;
    s.refOutputs = undefined;
    s.window = undefined;
    s.last = undefined;
    s.streak = 0;
    s.predictionStreak = 0;
  }

  /** Drops the state of an unloaded version. */
  forget(model: string, version: string): void {
    this.states.delete(`${model}\u0000${version}`);
  }

  versions(model: string): string[] {
    return [...this.states.values()].filter((s) => s.model === model).map((s) => s.version).sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : 1));
  }

  /** Models with any drift state. */
  models(): string[] {
    return [...new Set([...this.states.values()].map((s) => s.model))].sort();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.rateTimer) clearInterval(this.rateTimer);
    this.pending = [];
  }

  private state(model: string, version: string): VersionState {
    const key = `${model}\u0000${version}`;
    let s = this.states.get(key);
    if (!s) {
      s = { model, version, queue: [], history: [], streak: 0, predictionStreak: 0, evaluated: 0, skipped: 0 };
      this.states.set(key, s);
      const home = this.options.home;
      if (home) {
        const st = s;
        st.loading = loadProfile(home, model, version).then(
          (profile) => {
            st.loading = undefined;
            if (profile && !st.profile) this.applyProfile(st, profile);
            this.drain(st);
          },
          (err: unknown) => {
            st.loading = undefined;
            this.options.log?.warn({ model, version, err: (err as Error).message }, 'could not read the drift reference profile; building one from live traffic');
            this.drain(st);
          },
        );
      }
    }
    return s;
  }

  private applyProfile(s: VersionState, profile: DriftProfile): void {
    s.profile = profile;
    s.refInputs = undefined;
    s.refOutputs = undefined;
    s.window = undefined;
  }

  private process(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    for (const p of batch) {
      const s = this.state(p.model, p.version);
      if (s.loading) s.queue.push(p);
      else this.feed(s, p);
    }
  }

  private drain(s: VersionState): void {
    const queued = s.queue;
    s.queue = [];
    for (const p of queued) this.feed(s, p);
  }

  private feed(s: VersionState, p: Pending): void {
    // 1. the reference, from live traffic, for whichever side has none yet
    const needInputs = !s.profile;
    const needOutputs = !s.profile?.outputs;
    let usedForOutputs = false;
    if (needInputs || needOutputs) {
      if (needInputs) {
        s.refInputs ??= this.gatherFor(p.inputs, p.rows);
        if (s.refInputs && s.refInputs.rows < this.referenceSize) s.refInputs.add(p.inputs, p.rows);
      }
      if (needOutputs) {
        s.refOutputs ??= this.gatherFor(p.outputs, p.rows);
        if (s.refOutputs && s.refOutputs.rows < this.referenceSize) usedForOutputs = s.refOutputs.add(p.outputs, p.rows);
      }
      const inputsDone = !needInputs || (s.refInputs !== undefined && s.refInputs.rows >= this.referenceSize);
      const outputsDone = !needOutputs || (s.refOutputs !== undefined && s.refOutputs.rows >= this.referenceSize);
      if (inputsDone && outputsDone) this.completeReference(s);
      // samples that built the reference are not also compared with it
      if (needInputs) return;
    }
    // 2. the current window
    const ref = s.profile!;
    if (!s.window) {
      s.window = { inputs: new Gather(layoutsFromProfiles(ref.inputs)), started: p.at, rows: 0, index: s.evaluated + 1 };
    }
    const w = s.window;
    if (ref.outputs && !w.outputs) w.outputs = new Gather(layoutsFromProfiles(ref.outputs));
    const okIn = w.inputs ? w.inputs.add(p.inputs, p.rows) : false;
    const okOut = w.outputs && !usedForOutputs ? w.outputs.add(p.outputs, p.rows) : false;
    if (!okIn && !okOut) {
      if (!usedForOutputs) s.skipped += p.rows;
      return;
    }
    w.rows += p.rows;
    if (w.rows >= this.windowSize) this.closeWindow(s, 'count');
  }

  private gatherFor(tensors: Tensor[], rows: number): Gather | undefined {
    const layouts = layoutsOf(tensors, rows);
    return layouts ? new Gather(layouts) : undefined;
  }

  private completeReference(s: VersionState): void {
    const hadProfile = s.profile !== undefined;
    const profile: DriftProfile = s.profile
      ? { ...s.profile, outputs: s.refOutputs?.profiles() }
      : {
          format: PROFILE_FORMAT,
          model: s.model,
          version: s.version,
          created: new Date().toISOString(),
          source: 'live',
          samples: s.refInputs?.rows ?? 0,
          inputs: s.refInputs?.profiles() ?? [],
          outputs: s.refOutputs?.profiles(),
        };
    s.profile = profile;
    s.refInputs = undefined;
    s.refOutputs = undefined;
    if (!hadProfile) s.window = undefined;
    this.options.log?.info({ model: s.model, version: s.version, samples: profile.samples, part: hadProfile ? 'outputs' : 'inputs and outputs' }, 'drift reference built from live traffic');
    const home = this.options.home;
    if (home) {
      saveProfile(home, s.model, s.version, profile).catch((err: unknown) => {
        this.options.log?.warn({ model: s.model, version: s.version, err: (err as Error).message }, 'could not save the drift reference profile');
      });
    }
  }

  private closeOldWindows(): void {
    const now = Date.now();
    for (const s of this.states.values()) {
      const w = s.window;
      if (w && w.rows >= this.minWindowSamples && now - w.started >= this.windowSecs * 1000) this.closeWindow(s, 'time');
    }
  }

  private evaluate(s: VersionState): { drift: TensorsDrift; prediction: TensorsDrift | null } {
    const ref = s.profile!;
    const w = s.window!;
    const drift = w.inputs ? compareTensors(ref.inputs, w.inputs.columns) : compareTensors([], new Map());
    const prediction = ref.outputs && w.outputs ? compareTensors(ref.outputs, w.outputs.columns) : null;
    return { drift, prediction };
  }

  private closeWindow(s: VersionState, by: WindowInfo['closed_by']): void {
    const w = s.window!;
    const { drift, prediction } = this.evaluate(s);
    s.evaluated++;
    s.streak = drift.drifted ? s.streak + 1 : 0;
    s.predictionStreak = prediction?.drifted ? s.predictionStreak + 1 : 0;
    const info: WindowInfo = { index: w.index, samples: w.rows, start: new Date(w.started).toISOString(), end: new Date().toISOString(), closed_by: by, size: this.windowSize, secs: this.windowSecs };
    s.last = { drift, prediction, window: info };
    s.history.push({ index: info.index, end: info.end, samples: info.samples, dataset_drift: drift.drifted, drifted_share: drift.drifted_share, prediction_drift: prediction ? prediction.drifted : null });
    if (s.history.length > this.historySize) s.history.shift();
    s.window = undefined;
    if (drift.drifted) this.options.log?.warn({ model: s.model, version: s.version, window: info.index, drifted_share: drift.drifted_share }, 'data drift detected');
    this.onWindow?.(this.report(s)!);
  }

  /** The latest version with drift state, by version number. */
  private latest(model: string): VersionState | undefined {
    const versions = this.versions(model);
    return versions.length ? this.states.get(`${model}\u0000${versions[versions.length - 1]}`) : undefined;
  }

  /** The report of the last closed window (or the status while there is none). */
  snapshot(model: string, version?: string): DriftReport | undefined {
    const s = version === undefined ? this.latest(model) : this.states.get(`${model}\u0000${version}`);
    return s ? this.report(s) : undefined;
  }

  /** Compares the window being filled now, without closing it. */
  current(model: string, version?: string): DriftReport | undefined {
    const s = version === undefined ? this.latest(model) : this.states.get(`${model}\u0000${version}`);
    if (!s) return undefined;
    if (!s.profile || !s.window || s.window.rows === 0) return this.report(s);
    const { drift, prediction } = this.evaluate(s);
    const w = s.window;
    const window: WindowInfo = { index: w.index, samples: w.rows, start: new Date(w.started).toISOString(), end: new Date().toISOString(), closed_by: 'request', size: this.windowSize, secs: this.windowSecs };
    return this.report(s, { drift, prediction, window });
  }

  private report(s: VersionState, override?: VersionState['last']): DriftReport {
    const last = override ?? s.last;
    const p = s.profile;
    const building = !p || !p.outputs;
    const inputFeatures = p?.inputs.reduce((n, t) => n + t.features.length, 0) ?? 0;
    const outputFeatures = p?.outputs?.reduce((n, t) => n + t.features.length, 0) ?? 0;
    const predictionStreak = override ? (last?.prediction?.drifted ? s.predictionStreak + 1 : 0) : s.predictionStreak;
    return {
      model: s.model,
      version: s.version,
      status: !p ? 'building_reference' : last ? 'ok' : 'collecting',
      reference: {
        source: p?.source,
        samples: p?.samples ?? 0,
        created: p?.created,
        progress: building ? { inputs: p ? p.samples : s.refInputs?.rows ?? 0, outputs: s.refOutputs?.rows ?? 0, needed: this.referenceSize } : undefined,
        input_features: inputFeatures,
        output_features: outputFeatures,
      },
      current_window: { samples: s.window?.rows ?? 0, started: new Date(s.window?.started ?? Date.now()).toISOString(), size: this.windowSize, secs: this.windowSecs },
      window: last?.window,
      dataset_drift: last ? last.drift.drifted : null,
      drifted_share: last ? last.drift.drifted_share : null,
      drift_share_threshold: DRIFT_SHARE,
      n_features: last?.drift.n_features ?? 0,
      n_drifted: last?.drift.n_drifted ?? 0,
      features: last?.drift.features ?? [],
      prediction_drift: last?.prediction ? { ...last.prediction, consecutive_drifted_windows: predictionStreak } : null,
      consecutive_drifted_windows: override ? (last?.drift.drifted ? s.streak + 1 : 0) : s.streak,
      windows_evaluated: s.evaluated,
      skipped_samples: s.skipped,
      history: s.history.slice(),
    };
  }
}

const active = new Set<DriftMonitor>();

/** Registers a monitor for `getDriftSnapshot` and the drift gauges. */
export function registerDriftMonitor(m: DriftMonitor): () => void {
  active.add(m);
  return () => active.delete(m);
}

export function activeDriftMonitors(): DriftMonitor[] {
  return [...active];
}

/**
 * The latest drift report of a model (the highest version with drift state, or `version`), from
 * whichever running server monitors it; what the metrics code and the dashboard read.
 */
export function getDriftSnapshot(model: string, version?: string): DriftReport | undefined {
  for (const m of active) {
    const r = m.snapshot(model, version);
    if (r) return r;
  }
  return undefined;
}
