/**
 * The serving core's facade: what the HTTP and gRPC front ends call. It knows models and
 * versions, readiness and draining, and turns protocol-neutral requests into batcher work.
 */
import { randomUUID } from 'node:crypto';
import { BerthError, asBerthError, invalidArgument, notFound, unavailable } from './errors.js';
import type { Backend } from './backend.js';
import type { InferenceObserver, RequestRecord } from './observer.js';
import type { Tensor } from './tensor.js';
import type { ModelConfig } from './model-config.js';
import { DEFAULT_CONFIG, resolveConfig, selectVersions } from './model-config.js';
import { ModelVersion } from './model-version.js';
import type { ModelSource } from './repository.js';
import type { InferRequest, InferResponse, ModelMetadata, ModelVersionStatus } from './types.js';
import { batchSizeOf, validateInputs, validateOutputs } from './validate.js';
import { statSync } from 'node:fs';
import { BackendRegistry } from './backends.js';
import { configView, statisticsView } from './triton-views.js';
import type { RolloutStats, TrafficPolicy } from './traffic.js';
import { ModelTraffic, chooseVersion, cloneTensors, compareOutputs, validatePolicy } from './traffic.js';
import type { RequestedOutput } from './types.js';
import { DEFAULTS } from '../config/defaults.js';

/** Identifies a model file's content cheaply (size + mtime), to notice changed files on reload. */
function fileFingerprint(path: string): string {
  try {
    const st = statSync(path);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

export const SERVER_NAME = 'berth';
export const SERVER_VERSION = '0.1.0';
export const EXTENSIONS = ['binary_tensor_data', 'schedule_policy', 'parameters', 'model_configuration', 'statistics', 'model_repository'];

export interface ServiceOptions {
  /** defaults for every model, overridden by each model's config.json */
  defaults?: Partial<ModelConfig>;
  /** notified of load failures and crashes */
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** shadow copies in flight per model before further copies are skipped (default 128) */
  maxShadowInFlight?: number;
  /**
   * The backends models can run on, chosen per model by its config (core/backends.ts). The
   * server registers onnxruntime; without any, every model fails to load naming the backend.
   */
  backends?: BackendRegistry;
}

interface ModelEntry {
  name: string;
  source: ModelSource;
  config: ModelConfig;
  /** version string → loaded version */
  versions: Map<string, ModelVersion>;
  /** set when the model itself could not be read (bad config.json, no versions) */
  error?: string;
}

export class InferenceService {
  private readonly models = new Map<string, ModelEntry>();
  private readonly loadLocks = new Map<string, Promise<void>>();
  private readonly observers: InferenceObserver[] = [];
  /** the observers that sample requests' inputs (sampleRequest) */
  private readonly samplers: InferenceObserver[] = [];
  /** rollout traffic policies (canary, shadow) by model name */
  private readonly traffic = new Map<string, ModelTraffic>();
  private readonly defaults: ModelConfig;
  private readonly backends: BackendRegistry;
  /** refusing new requests (drain's last step): they get UNAVAILABLE */
  private draining = false;
  /** readiness withdrawn (drain's first step, withdrawReadiness()): not ready, still serving */
  private unready = false;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: ServiceOptions = {}) {
    this.defaults = { ...DEFAULT_CONFIG, ...options.defaults };
    this.backends = options.backends ?? new BackendRegistry();
  }

  /** Loads every source; failures are recorded per model, never thrown. */
  async loadModels(sources: readonly ModelSource[]): Promise<void> {
    await Promise.all(sources.map((s) => this.loadSource(s)));
  }

  /**
   * Loads or reloads one model without downtime: new and changed versions are loaded and
   * warmed beside the live ones, then the version map is swapped in one step, then versions
   * that left are drained (their queued and running requests finish) and unloaded. A failed
   * reload leaves what was serving in place. Loads of one model are serialised.
   */
  loadSource(source: ModelSource, options: { configOverride?: unknown } = {}): Promise<void> {
    const previous = this.loadLocks.get(source.name) ?? Promise.resolve();
    const next = previous.then(() => this.doLoad(source, options), () => this.doLoad(source, options));
    this.loadLocks.set(source.name, next);
    return next;
  }

  private async doLoad(source: ModelSource, options: { configOverride?: unknown }): Promise<void> {
    const log = this.options.log;
    const existing = this.models.get(source.name);
    // A config override replaces config.json (as in Triton), so it can load a model whose file is broken.
    if (source.error !== undefined && (options.configOverride === undefined || source.versions.size === 0)) return this.recordModelError(source, existing, source.error);
    const configFile = options.configOverride ?? source.configFile;
    let config: ModelConfig;
    let backend: Backend;
    try {
      const where = options.configOverride ? 'config override' : source.configPath ?? source.name;
      config = resolveConfig(configFile, this.defaults, where);
      backend = this.backends.choose(config, where);
    } catch (err) {
      return this.recordModelError(source, existing, (err as Error).message);
    }
    const wanted = selectVersions(config.versionPolicy, [...source.versions.keys()]);
    if (wanted.length === 0) {
      const why = source.versions.size === 0 ? 'no version directories (expected NAME/1/model.onnx)' : 'the version policy selects no version';
      return this.recordModelError(source, existing, why);
    }
    const entry: ModelEntry = existing ?? { name: source.name, source, config, versions: new Map() };
    if (!existing) this.models.set(source.name, entry);
    // The version policy only chooses which versions load, not how they run: changing it
    // (a rollout adding a canary) must not reload the versions that stay.
    const sameConfig = JSON.stringify({ ...config, versionPolicy: null }) === JSON.stringify({ ...entry.config, versionPolicy: null });
    const next = new Map<string, ModelVersion>();
    const loading: ModelVersion[] = [];
    for (const v of wanted) {
      const version = String(v);
      const path = source.versions.get(v)!;
      const fingerprint = fileFingerprint(path);
      const live = entry.versions.get(version);
      if (live && live.state === 'READY' && sameConfig && live.path === path && live.fingerprint === fingerprint) {
        next.set(version, live); // unchanged: keep serving it
        continue;
      }
      const mv = new ModelVersion({
        name: source.name,
        version,
        path,
        config,
        backend,
        configFile,
        fingerprint,
        onInstanceCrash: (reason) => {
          log?.error({ model: source.name, version }, `model instance crashed, restarting it: ${reason}`);
          for (const o of this.observers) o.onInstanceCrash?.(source.name, version, reason);
        },
        observer: { onExecution: (size, ns) => { for (const o of this.observers) o.onExecution?.(source.name, version, size, ns); } },
      });
      loading.push(mv);
      next.set(version, mv);
      // A first load shows its versions as LOADING; a reload keeps the live map until the swap.
      if (!live) entry.versions.set(version, mv);
    }
    await Promise.all(loading.map((mv) => mv.load()));
    for (const mv of loading) {
      if (mv.state === 'READY') {
        for (const w of mv.warnings) log?.warn({ model: mv.name, version: mv.version, ...w.fields }, w.message);
        log?.info({ model: mv.name, version: mv.version, load_ms: Math.round(mv.loadMs), batching: mv.batching }, `model '${mv.name}' version ${mv.version} ready`);
        for (const o of this.observers) o.onModelLoaded?.(mv.name, mv.version, mv.loadMs);
        if (mv.warmupError) log?.warn({ model: mv.name, version: mv.version }, `model '${mv.name}' version ${mv.version}: warm-up inference with zero inputs failed (${mv.warmupError}); serving anyway`);
      } else {
        log?.error({ model: mv.name, version: mv.version }, `model '${mv.name}' version ${mv.version} not ready: ${mv.reason}`);
        const live = entry.versions.get(mv.version);
        if (live && live !== mv && live.state === 'READY') next.set(mv.version, live); // failed reload: keep the old one
      }
    }
    // The switch: one synchronous assignment, so no request sees a half-updated model.
    const retired = [...entry.versions.values()].filter((old) => ![...next.values()].includes(old));
    entry.versions = next;
    entry.config = config;
    entry.source = source;
    entry.error = undefined;
    await Promise.all(retired.map(async (old) => {
      await old.unload();
      for (const o of this.observers) o.onModelUnloaded?.(old.name, old.version);
      log?.info({ model: old.name, version: old.version }, `model '${old.name}' version ${old.version} unloaded`);
    }));
  }

  private recordModelError(source: ModelSource, existing: ModelEntry | undefined, message: string): void {
    this.options.log?.error({ model: source.name }, `model '${source.name}' not loaded: ${message}`);
    if (existing && this.pickVersion(existing)) return; // keep serving what works
    this.models.set(source.name, { name: source.name, source, config: this.defaults, versions: existing?.versions ?? new Map(), error: message });
  }

  /** Drains and unloads every version of a model, then forgets it. */
  async unloadModel(name: string): Promise<void> {
    const entry = this.entry(name);
    await (this.loadLocks.get(name) ?? Promise.resolve()).catch(() => undefined);
    this.models.delete(name);
    this.traffic.delete(name);
    await Promise.all([...entry.versions.values()].map((v) => v.unload()));
    this.options.log?.info({ model: name }, `model '${name}' unloaded`);
  }

  isLoaded(name: string): boolean {
    return this.models.has(name);
  }

  /** Server readiness: not draining and every model has a ready version (Triton's strict readiness). */
  isReady(): boolean {
    if (this.isDraining) return false;
    for (const m of this.models.values()) if (!this.pickVersion(m)) return false;
    return true;
  }

  /** the drain has begun: readiness is false from now on, whether or not requests are still served */
  get isDraining(): boolean {
    return this.draining || this.unready;
  }

  modelNames(): string[] {
    return [...this.models.keys()].sort();
  }

  private entry(name: string): ModelEntry {
    const entry = this.models.get(name);
    if (!entry) throw notFound(`unknown model '${name}'`);
    return entry;
  }

  /**
   * The choice for unversioned requests (before any canary split): the traffic policy's
   * production version when it is ready, else the highest-numbered ready version.
   */
  private pickVersion(entry: ModelEntry): ModelVersion | undefined {
    const production = this.traffic.get(entry.name)?.policy.production;
    if (production !== undefined) {
      const mv = entry.versions.get(production);
      if (mv?.state === 'READY') return mv;
    }
    let best: ModelVersion | undefined;
    for (const v of entry.versions.values()) {
      if (v.state === 'READY' && (!best || Number(v.version) > Number(best.version))) best = v;
    }
    return best;
  }

  /** Resolves a model (and optional version) to a loaded version, or throws NOT_FOUND/UNAVAILABLE. */
  resolve(name: string, version?: string): ModelVersion {
    const entry = this.entry(name);
    if (version !== undefined && version !== '') {
      const mv = entry.versions.get(version);
      if (!mv) throw notFound(`unknown version '${version}' of model '${name}'`);
      return mv;
    }
    const best = this.pickVersion(entry);
    if (best) return best;
    const reason = entry.error ?? [...entry.versions.values()].map((v) => v.reason).find((r) => r) ?? 'loading';
    throw unavailable(`model '${name}' is not ready: ${reason}`);
  }

  /** Readiness of a model or one version, with the reason when it is not ready. */
  modelStatus(name: string, version?: string): { ready: boolean; reason: string; version?: string } {
    const entry = this.entry(name);
    if (version !== undefined) {
      const mv = entry.versions.get(version);
      if (!mv) throw notFound(`unknown version '${version}' of model '${name}'`);
      return { ready: mv.state === 'READY' && !this.isDraining, reason: mv.state === 'READY' && this.isDraining ? 'server is shutting down' : mv.reason, version };
    }
    const best = this.pickVersion(entry);
    if (best) return { ready: !this.isDraining, reason: this.isDraining ? 'server is shutting down' : '', version: best.version };
    const reason = entry.error ?? [...entry.versions.values()].map((v) => `version ${v.version}: ${v.reason || v.state}`).join('; ');
    return { ready: false, reason };
  }

  versionStatuses(): ModelVersionStatus[] {
    const out: ModelVersionStatus[] = [];
    for (const entry of this.models.values()) {
      if (entry.versions.size === 0) out.push({ name: entry.name, version: '', state: 'UNAVAILABLE', reason: entry.error ?? '' });
      for (const v of entry.versions.values()) out.push({ name: entry.name, version: v.version, state: v.state, reason: v.reason });
    }
    return out;
  }

  modelConfig(name: string): ModelConfig {
    return this.entry(name).config;
  }

  /** Triton-shaped effective configuration (GET /v2/models/{m}/config). */
  modelConfigView(name: string, version?: string): Record<string, unknown> {
    return configView(this.resolve(name, version));
  }

  /** Triton-shaped statistics for all models, one model, or one version. */
  statistics(name?: string, version?: string): { model_stats: Record<string, unknown>[] } {
    if (name === undefined) {
      const all = [...this.models.values()].flatMap((e) => [...e.versions.values()]).filter((v) => v.state === 'READY');
      return { model_stats: all.map(statisticsView) };
    }
    const entry = this.entry(name);
    if (version !== undefined) return { model_stats: [statisticsView(this.resolve(name, version))] };
    return { model_stats: [...entry.versions.values()].map(statisticsView) };
  }

  modelMetadata(name: string, version?: string): ModelMetadata {
    const entry = this.entry(name);
    const mv = this.resolve(name, version);
    return {
      name,
      versions: [...entry.versions.keys()].sort((a, b) => Number(a) - Number(b)),
      platform: mv.platform,
      inputs: mv.inputs,
      outputs: mv.outputs,
    };
  }

  /**
   * Sets (or, with undefined, removes) a model's traffic policy, in one synchronous step. The
   * versions it names should already be loaded and warm (see applyTraffic in traffic.ts); until
   * they are, requests fall back to the production version. Setting the policy already in
   * force keeps its statistics; any other policy starts them afresh.
   */
  setTraffic(name: string, policy: TrafficPolicy | undefined): void {
    if (!policy) {
      this.traffic.delete(name);
      return;
    }
    const clean: TrafficPolicy = { production: String(policy.production) };
    if (policy.canary) clean.canary = { version: String(policy.canary.version), percent: policy.canary.percent };
    if (policy.shadow !== undefined) clean.shadow = String(policy.shadow);
    validatePolicy(clean);
    const current = this.traffic.get(name);
    if (current && JSON.stringify(current.policy) === JSON.stringify(clean)) return;
    this.traffic.set(name, new ModelTraffic(name, clean, this.options.maxShadowInFlight ?? DEFAULTS.maxShadowInFlight));
    this.options.log?.info({ model: name, policy: clean }, `model '${name}' traffic: production ${clean.production}${clean.canary ? `, canary ${clean.canary.version} at ${clean.canary.percent}%` : ''}${clean.shadow ? `, shadow ${clean.shadow}` : ''}`);
  }

  getTraffic(name: string): TrafficPolicy | undefined {
    return this.traffic.get(name)?.policy;
  }

  /** Live statistics of a model's traffic policy (per-version counts, canary share, shadow agreement). */
  rolloutStats(name: string): RolloutStats | undefined {
    this.entry(name);
    return this.traffic.get(name)?.stats();
  }

  /** The version strings a model has in its version map (any state). */
  loadedVersions(name: string): string[] {
    return [...this.entry(name).versions.keys()].sort((a, b) => Number(a) - Number(b));
  }

  /** The model file each loaded version was loaded from. */
  loadedVersionFiles(name: string): Map<string, string> {
    return new Map([...this.entry(name).versions].map(([v, mv]) => [v, mv.path]));
  }

  /**
   * Routes a request: an explicit version is served as asked; an unversioned one follows the
   * model's traffic policy (canary share, sticky by route key) when it has one, falling back to
   * production and then to the highest ready version when the chosen one is not ready.
   */
  private route(request: InferRequest): { mv: ModelVersion; traffic?: ModelTraffic; unversioned: boolean } {
    const traffic = this.traffic.get(request.modelName);
    const explicit = request.modelVersion !== undefined && request.modelVersion !== '';
    if (!traffic || explicit) return { mv: this.resolve(request.modelName, request.modelVersion), traffic, unversioned: !explicit };
    const entry = this.entry(request.modelName);
    const policy = traffic.policy;
    const role = chooseVersion(entry.name, policy, request.routeKey);
    const chosen = entry.versions.get(role === 'canary' ? policy.canary!.version : policy.production);
    const mv = chosen?.state === 'READY' ? chosen : this.resolve(request.modelName);
    traffic.unversioned++;
    if (policy.canary && mv.version === policy.canary.version) traffic.toCanary++;
    return { mv, traffic, unversioned: true };
  }

  /** Sends a copy of a completed request to the shadow version; counts, never throws. */
  private async mirror(traffic: ModelTraffic, inputs: Tensor[], requested: RequestedOutput[] | undefined, primary: readonly Tensor[], primaryMs: number): Promise<void> {
    const version = traffic.policy.shadow!;
    try {
      const smv = this.models.get(traffic.model)?.versions.get(version);
      if (this.traffic.get(traffic.model) !== traffic || this.draining || !smv || smv.state !== 'READY') {
        traffic.failed++;
        return;
      }
      const started = performance.now();
      const result = await smv.infer(validateInputs(smv.inputs, inputs), {});
      const ns = Math.round((performance.now() - started) * 1e6);
      smv.stats.recordSuccess(ns, result.timing.queueNs, result.timing.computeNs);
      const outputs = requested ? requested.map((o) => result.outputs.find((t) => t.name === o.name)).filter((t): t is Tensor => t !== undefined) : result.outputs;
      traffic.recordComparison(compareOutputs(primary, outputs), primaryMs, ns / 1e6);
    } catch (err) {
      traffic.failed++;
      this.options.log?.warn({ model: traffic.model, version, err: (err as Error).message }, `shadow request to '${traffic.model}' version ${version} failed`);
    } finally {
      traffic.releaseShadow();
    }
  }

  async infer(request: InferRequest): Promise<InferResponse> {
    const startedAt = Date.now();
    const started = performance.now();
    const requestId = request.id || randomUUID();
    let mv: ModelVersion | undefined;
    let traffic: ModelTraffic | undefined;
    let rows = 1;
    let timing = { queueNs: 0, computeNs: 0 };
    // Before anything can hand the inputs to a backend: sampled requests' inputs are copied now.
    const sampled = this.samplers.length > 0 ? this.sampleInputs(request) : undefined;
    const report = (outcome: 'success' | 'failure', outputs?: readonly Tensor[], err?: unknown): void => {
      if (this.observers.length === 0) return;
      const e = err === undefined ? undefined : asBerthError(err);
      const record: RequestRecord = {
        model: request.modelName,
        version: mv?.version ?? '',
        id: request.id,
        requestId,
        outcome,
        errorCode: e?.code,
        errorMessage: e?.message,
        shedReason: e?.shed,
        rows,
        inputs: request.inputs,
        outputs,
        durationNs: Math.round((performance.now() - started) * 1e6),
        queueNs: timing.queueNs,
        computeNs: timing.computeNs,
        startedAt,
        protocol: request.protocol,
      };
      for (const o of this.observers) o.onRequest?.(record);
      if (sampled) for (const [o, mark] of sampled.marks) o.onSampledRequest?.(record, sampled.inputs, mark);
    };
    try {
      if (this.draining) throw unavailable('server is shutting down', 1);
      const routed = this.route(request);
      mv = routed.mv;
      traffic = routed.traffic;
      if (mv.state !== 'READY') {
        throw unavailable(`model '${mv.name}' version ${mv.version} is not ready${mv.reason ? `: ${mv.reason}` : ''}`);
      }
      const inputs = validateInputs(mv.inputs, request.inputs);
      if (mv.batching) {
        rows = batchSizeOf(inputs);
        if (rows < 1) throw invalidArgument(`batch size must be at least 1, got ${rows}`);
      }
      validateOutputs(mv.outputs, request.outputs);
      const params = request.parameters ?? {};
      const priority = numberParam(params, 'priority');
      const timeoutUs = timeoutParam(params);
      // Shadow: copy the inputs before the runtime takes (transfers) their buffers.
      const shadow = routed.unversioned && traffic?.policy.shadow !== undefined && traffic.policy.shadow !== mv.version && !this.draining && traffic.reserveShadow()
        ? cloneTensors(inputs)
        : undefined;
      this.inFlight++;
      try {
        const result = await mv.infer(inputs, { priority, timeoutUs, signal: request.signal, jsonText: request.jsonText });
        timing = result.timing;
        const elapsedMs = performance.now() - started;
        mv.stats.recordSuccess(Math.round(elapsedMs * 1e6), timing.queueNs, timing.computeNs);
        const selected = request.outputs
          ? request.outputs.map((o) => result.outputs.find((t) => t.name === o.name)!)
          : result.outputs;
        for (const t of selected) if (t.json?.overLimit !== undefined) throw jsonTooLarge(t.name, t.json.overLimit);
        traffic?.recordRequest(mv.version, 'success');
        if (shadow) {
          const t = traffic!;
          setImmediate(() => void this.mirror(t, shadow, request.outputs, selected, elapsedMs));
        }
        report('success', selected);
        return { modelName: mv.name, modelVersion: mv.version, id: request.id, requestId, outputs: selected };
      } catch (err) {
        if (shadow) traffic!.releaseShadow();
        traffic?.recordRequest(mv.version, 'failure');
        mv.stats.recordFailure(Math.round((performance.now() - started) * 1e6));
        throw err;
      } finally {
        this.inFlight--;
        if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      }
    } catch (err) {
      report('failure', undefined, err);
      throw err;
    }
  }

  /** Registers a monitoring observer (metrics, logs, capture...). */
  addObserver(observer: InferenceObserver): void {
    this.observers.push(observer);
    if (observer.sampleRequest) this.samplers.push(observer);
  }

  /** Asks the sampling observers about a request; one copy of its inputs for all that want it. */
  private sampleInputs(request: InferRequest): { inputs: readonly Tensor[]; marks: [InferenceObserver, unknown][] } | undefined {
    let marks: [InferenceObserver, unknown][] | undefined;
    for (const o of this.samplers) {
      const mark = o.sampleRequest!(request.modelName);
      if (mark !== undefined) (marks ??= []).push([o, mark]);
    }
    if (!marks) return undefined;
    try {
      return { inputs: cloneTensors(request.inputs), marks };
    } catch {
      return undefined; // inputs already unreadable (a detached buffer): not sampled
    }
  }

  /**
   * The drain's first step: readiness (server, models, the gRPC health service) turns false, so
   * balancers and Kubernetes take this replica out, while requests are still served as before
   * (those already routed here, during the --drain-delay that endpoint removal takes).
   */
  withdrawReadiness(): void {
    this.unready = true;
  }

  /**
   * Graceful shutdown: readiness turns false at once, new requests get 503, requests already
   * accepted finish, then every instance stops.
   */
  async drain(): Promise<void> {
    this.draining = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.close();
  }

  async close(): Promise<void> {
    this.draining = true;
    const versions = [...this.models.values()].flatMap((m) => [...m.versions.values()]);
    await Promise.all(versions.map((v) => v.unload()));
  }
}

/** The answer's JSON text passed the response limit: the client can ask for binary outputs or fewer rows. */
export function jsonTooLarge(output: string, limit: number): BerthError {
  return new BerthError('PAYLOAD_TOO_LARGE', `the JSON answer is larger than the response limit of ${limit} bytes (at output '${output}'; the server's --max-response-mb); ask for binary outputs ("binary_data_output": true) or send fewer rows`);
}

function numberParam(params: Record<string, unknown>, key: string): number | undefined {
  const value = params[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw invalidArgument(`parameter '${key}' must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The longest queue timeout a request may ask for, in microseconds: Node's timers hold at most
 * 2^31−1 ms (about 24.8 days), and a longer delay fires at once instead of never.
 */
export const MAX_TIMEOUT_US = (2 ** 31 - 1) * 1000;

function timeoutParam(params: Record<string, unknown>): number | undefined {
  const value = params.timeout;
  // (a gRPC int64 beyond 2^53 arrives as its decimal string)
  const tooLarge = (typeof value === 'number' && value > MAX_TIMEOUT_US) || (typeof value === 'string' && /^[0-9]+$/.test(value) && Number(value) > MAX_TIMEOUT_US);
  if (tooLarge) {
    throw invalidArgument(`parameter 'timeout' must be at most ${MAX_TIMEOUT_US} microseconds (2^31-1 ms, about 24.8 days), got ${String(value)}`);
  }
  return numberParam(params, 'timeout');
}

export { BerthError };
