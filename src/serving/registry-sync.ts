/**
 * `berth serve --registry`: serves every registry model that has a `production` alias, plus
 * the canary and shadow versions of its rollout, and follows the catalog while running. It
 * polls `changeSeq()`; when the catalog changed it reads the aliases and rollouts again and
 * moves each model to its new traffic policy without downtime (applyTraffic: load and warm,
 * switch, drain). A model whose production alias disappears is drained and unloaded. A pushed
 * version that no alias or rollout names is never loaded.
 *
 * Convergence (report(), in GET /api/v1/server): the catalog change it last saw, the one it has
 * fully applied, and per model what the catalog wants against what this replica routes. A
 * catalog change is served within one poll interval plus the time to load and warm the new
 * versions (docs/fleet.md).
 *
 * Offline start: when the catalog cannot be read at start, the state saved after the last
 * successful read (applied-state.ts) is applied instead, for the versions whose files are still
 * in the local cache; the catalog is retried with backoff (the poll interval doubling up to
 * maxBackoffSecs, with jitter) and followed again once it answers.
 */
import type { InferenceService } from '../core/inference-service.js';
import type { ModelSource } from '../core/repository.js';
import type { TrafficPolicy } from '../core/traffic.js';
import { applyTraffic, policyVersions } from '../core/traffic.js';
import { BerthError } from '../core/errors.js';
import { Registry, type OpenOptions } from '../registry/registry.js';
import type { ModelRecord, RegistryApi, Rollout } from './registry-api.js';
import { DEFAULTS } from '../config/defaults.js';
import { readAppliedState, savedPolicy, verifyCachedVersion, writeAppliedState, type AppliedState, type CachedVersion } from './applied-state.js';

export const PRODUCTION_ALIAS = 'production';

export interface RegistrySyncOptions {
  /** seconds between changeSeq() polls (default 2; fractions allowed) */
  pollSecs?: number;
  /** cap of the retry delay while the catalog cannot be read (default 30 s) */
  maxBackoffSecs?: number;
  /** per-model configuration (config.json fields) applied to registry models, e.g. max_batch_size */
  modelConfig?: (name: string) => Record<string, unknown> | undefined;
  /** where the last applied state is saved (applied-state.ts); without it, a start without the catalog fails */
  statePath?: string;
  /** the catalog's location as reported (credentials redacted) */
  catalog?: string;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export interface ServedModel {
  name: string;
  policy: TrafficPolicy;
  /** the last error applying this model's desired state, if the last attempt failed */
  error?: string;
}

interface ServedState extends ServedModel {
  /** the policy that failed to apply, and when to try it again (backoff) */
  failed?: { policy: string; attempts: number; retryAt: number };
  /** the files of the versions of `policy`, as saved for an offline start */
  versions: Map<string, CachedVersion>;
}

/** A traffic policy as reported: registry version numbers. */
export interface PolicyView {
  production: number;
  canary: { version: number; percent: number } | null;
  shadow: number | null;
}

export type ModelConvergenceState = 'converged' | 'applying' | 'pending' | 'failed' | 'unloading' | 'conflict';

/** What report() returns: GET /api/v1/server's `convergence` (dashboard-data-schemas.ts documents each field). */
export interface ConvergenceReport {
  catalog: 'reachable' | 'unreachable' | 'unknown';
  location: string | null;
  poll_secs: number;
  catalog_seq: number | null;
  checked_at: string | null;
  read_seq: number | null;
  read_at: string | null;
  applied_seq: number | null;
  applied_at: string | null;
  source: 'catalog' | 'cache' | 'none';
  converged: boolean;
  error: string | null;
  next_retry_at: string | null;
  models: { name: string; desired: PolicyView | null; applied: PolicyView | null; state: ModelConvergenceState; error: string | null }[];
}

/** The traffic policy a catalog entry asks for, or undefined when it has no production alias. */
export function desiredPolicy(model: ModelRecord, rollout: Rollout | undefined): TrafficPolicy | undefined {
  const production = model.aliases[PRODUCTION_ALIAS];
  if (production === undefined) return undefined;
  const policy: TrafficPolicy = { production: String(production) };
  if (rollout?.canary && rollout.canary.version !== production) policy.canary = { version: String(rollout.canary.version), percent: rollout.canary.percent };
  if (rollout?.shadow && rollout.shadow.version !== production) policy.shadow = String(rollout.shadow.version);
  return policy;
}

function view(policy: TrafficPolicy | undefined): PolicyView | null {
  if (!policy) return null;
  return {
    production: Number(policy.production),
    canary: policy.canary ? { version: Number(policy.canary.version), percent: policy.canary.percent } : null,
    shadow: policy.shadow !== undefined ? Number(policy.shadow) : null,
  };
}

function samePolicy(a: TrafficPolicy | undefined, b: TrafficPolicy | undefined): boolean {
  return JSON.stringify(view(a)) === JSON.stringify(view(b));
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export class RegistrySync {
  /** models this sync loaded → the policy last applied */
  private readonly served = new Map<string, ServedState>();
  private readonly conflicts = new Set<string>();
  private readonly applying = new Set<string>();
  private lastSeq?: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  /** what the catalog wants, as last read (or as saved, after an offline start) */
  private desired?: Map<string, TrafficPolicy>;
  private source: 'catalog' | 'cache' | 'none' = 'none';
  /** the catalog's change counter as last seen (by a poll or a read), and when */
  private catalogSeq?: number;
  private checkedAt?: number;
  private readSeq?: number;
  private readAt?: number;
  private appliedSeq?: number;
  private appliedAt?: number;
  private catalogError?: string;
  private catalogFailures = 0;
  private nextRetryAt?: number;
  /** what was last written to the state file, to skip rewriting the same */
  private savedKey?: string;
  /** when the catalog was last read (ms since the epoch) */
  lastSyncAt = 0;

  constructor(
    private readonly service: InferenceService,
    private readonly registry: RegistryApi,
    private readonly options: RegistrySyncOptions = {},
  ) {}

  /**
   * First sync (loads every production model), then polling. When the catalog cannot be read
   * and a state file is configured, the saved state is served instead and the catalog retried.
   */
  async start(): Promise<void> {
    try {
      await this.sync();
    } catch (err) {
      if (this.options.statePath === undefined) throw err;
      this.options.log?.error({ err: (err as Error).message }, `cannot read the registry catalog at start: serving the last applied state from ${this.options.statePath}; retrying with backoff`);
      await this.applySaved();
    }
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** What this sync serves now. */
  models(): ServedModel[] {
    return [...this.served.values()].map((m) => ({ name: m.name, policy: m.policy, ...(m.error ? { error: m.error } : {}) })).sort((a, b) => a.name.localeCompare(b.name));
  }

  get changeSeq(): number | undefined {
    return this.lastSeq;
  }

  /**
   * Whether this replica knows what to serve: it has read the catalog or applied a saved
   * state. A replica that started with the catalog unreachable and nothing saved is not ready
   * (server readiness) until the catalog answers; one serving its saved state is.
   */
  knowsDesiredState(): boolean {
    return this.source !== 'none';
  }

  /** Which catalog state this replica has applied, per model desired against applied. */
  report(): ConvergenceReport {
    const names = new Set([...this.desired?.keys() ?? [], ...this.served.keys(), ...this.conflicts]);
    const models = [...names].sort().map((name) => {
      const desired = this.desired?.get(name);
      const loaded = this.service.isLoaded(name) && !this.conflicts.has(name);
      const applied = loaded ? this.service.getTraffic(name) : undefined;
      const error = this.served.get(name)?.error;
      let state: ModelConvergenceState;
      if (this.conflicts.has(name)) state = 'conflict';
      else if (this.applying.has(name)) state = 'applying';
      else if (!desired) state = loaded ? 'unloading' : 'converged';
      else if (error !== undefined) state = 'failed';
      else state = samePolicy(desired, applied) ? 'converged' : 'pending';
      const reason = state === 'conflict' ? 'a model of that name is already loaded from a path' : error ?? null;
      return { name, desired: view(desired), applied: view(applied), state, error: reason };
    });
    const catalog = this.catalogError !== undefined ? 'unreachable' : this.checkedAt !== undefined ? 'reachable' : 'unknown';
    const converged = catalog === 'reachable' && this.source === 'catalog' && this.appliedSeq !== undefined && this.appliedSeq === this.catalogSeq
      && models.every((m) => m.state === 'converged');
    return {
      catalog,
      location: this.options.catalog ?? null,
      poll_secs: this.pollSecs,
      catalog_seq: this.catalogSeq ?? null,
      checked_at: iso(this.checkedAt),
      read_seq: this.readSeq ?? null,
      read_at: iso(this.readAt),
      applied_seq: this.appliedSeq ?? null,
      applied_at: iso(this.appliedAt),
      source: this.source,
      converged,
      error: this.catalogError ?? null,
      next_retry_at: this.catalogError !== undefined ? iso(this.nextRetryAt) : null,
      models,
    };
  }

  private get pollSecs(): number {
    return this.options.pollSecs ?? DEFAULTS.registry.pollSecs;
  }

  /** The poll interval; while the catalog fails, doubling per failure up to the cap, with jitter (50-100 %). */
  private nextDelayMs(): number {
    const poll = Math.max(50, this.pollSecs * 1000);
    if (this.catalogFailures === 0) return poll;
    const cap = Math.max(poll, (this.options.maxBackoffSecs ?? 30) * 1000);
    const base = Math.min(cap, poll * 2 ** Math.min(20, this.catalogFailures - 1));
    return Math.round(base * (0.5 + Math.random() / 2));
  }

  private schedule(): void {
    if (this.stopped) return;
    const ms = this.nextDelayMs();
    this.nextRetryAt = Date.now() + ms;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedule());
    }, ms);
  }

  private catalogFailed(err: unknown): void {
    const message = (err as Error).message;
    if (this.catalogError === undefined) this.options.log?.error({ err: message }, `registry catalog unreachable: ${message}`);
    this.catalogError = message;
    this.catalogFailures++;
  }

  private catalogAnswered(seq: number): void {
    if (this.catalogError !== undefined) this.options.log?.info({ change_seq: seq }, 'registry catalog reachable again');
    this.catalogError = undefined;
    this.catalogFailures = 0;
    this.catalogSeq = seq;
    this.checkedAt = Date.now();
  }

  /** One poll: re-read the catalog when its change counter moved (or the last sync failed). */
  async poll(): Promise<void> {
    let seq: number;
    try {
      seq = await this.registry.changeSeq();
    } catch (err) {
      this.catalogFailed(err);
      return;
    }
    this.catalogAnswered(seq);
    if (seq === this.lastSeq) return;
    await this.sync().catch(() => undefined); // recorded by syncOnce
  }

  /** Reads the catalog and applies it; concurrent calls share one run. */
  sync(): Promise<void> {
    if (this.running) return this.running.then(() => this.sync());
    this.running = this.syncOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The catalog's desired state: every model with a production alias → its policy. */
  private async readCatalog(): Promise<{ seq: number; desired: Map<string, TrafficPolicy> }> {
    try {
      const seq = await this.registry.changeSeq();
      const models = await this.registry.listModels();
      const desired = new Map<string, TrafficPolicy>();
      await Promise.all(models.map(async (m) => {
        if (m.aliases[PRODUCTION_ALIAS] === undefined) return;
        const policy = desiredPolicy(m, await this.registry.getRollout(m.name));
        if (policy) desired.set(m.name, policy);
      }));
      this.catalogAnswered(seq);
      return { seq, desired };
    } catch (err) {
      this.catalogFailed(err);
      throw err;
    }
  }

  private async syncOnce(): Promise<void> {
    const log = this.options.log;
    const { seq, desired } = await this.readCatalog();
    this.desired = desired;
    this.source = 'catalog';
    this.readSeq = seq;
    this.readAt = Date.now();
    let failures = 0;
    await Promise.all([...desired].map(async ([name, policy]) => {
      if (!this.served.has(name) && this.service.isLoaded(name)) {
        if (!this.conflicts.has(name)) log?.warn({ model: name }, `registry model '${name}' is not served from the registry: a model of that name is already loaded from a path`);
        this.conflicts.add(name);
        return;
      }
      this.conflicts.delete(name);
      const current = this.served.get(name);
      const wanted = JSON.stringify(policy);
      if (current && !current.error && samePolicy(current.policy, policy) && this.service.isLoaded(name)) return;
      // The same failing policy is retried with backoff (2 s, 4 s, ... 1 min), not every poll.
      if (current?.failed && current.failed.policy === wanted && Date.now() < current.failed.retryAt) {
        failures++;
        return;
      }
      this.applying.add(name);
      try {
        const versions = await this.apply(name, policy);
        this.served.set(name, { name, policy, versions });
      } catch (err) {
        failures++;
        const message = (err as Error).message;
        log?.error({ model: name, policy, err: message }, `registry model '${name}': could not apply ${describe(policy)}: ${message}`);
        const state: ServedState = current ?? { name, policy: this.service.getTraffic(name) ?? policy, versions: new Map() };
        state.error = message;
        if (err instanceof BerthError && err.code === 'UNAVAILABLE') {
          // the catalog went away mid-apply (materialize reads it): the catalog's backoff applies, not the model's
          this.catalogFailed(err);
          state.failed = undefined;
        } else {
          const attempts = current?.failed?.policy === wanted ? current.failed.attempts + 1 : 1;
          state.failed = { policy: wanted, attempts, retryAt: Date.now() + Math.min(60000, 2000 * 2 ** (attempts - 1)) };
        }
        this.served.set(name, state);
      } finally {
        this.applying.delete(name);
      }
    }));
    for (const name of [...this.conflicts]) if (!desired.has(name)) this.conflicts.delete(name);
    for (const name of [...this.served.keys()]) {
      if (desired.has(name)) continue;
      log?.info({ model: name }, `registry model '${name}' has no production alias any more: draining and unloading it`);
      this.served.delete(name);
      if (!this.service.isLoaded(name)) continue;
      try {
        await this.service.unloadModel(name);
      } catch (err) {
        log?.error({ model: name, err: (err as Error).message }, `unloading '${name}' failed: ${(err as Error).message}`);
      }
    }
    this.lastSyncAt = Date.now();
    // A failed model is retried at the next poll, changed catalog or not.
    this.lastSeq = failures === 0 ? seq : undefined;
    if (failures === 0) {
      this.appliedSeq = seq;
      this.appliedAt = Date.now();
    }
    await this.save(seq);
  }

  /** Saves what is served now (policies and their files) for an offline start. */
  private async save(seq: number): Promise<void> {
    const path = this.options.statePath;
    if (path === undefined) return;
    const models: AppliedState['models'] = {};
    for (const m of this.served.values()) {
      if (!this.service.isLoaded(m.name) || m.versions.size === 0) continue;
      const versions: AppliedState['models'][string]['versions'] = {};
      for (const [v, files] of m.versions) versions[v] = files;
      models[m.name] = { policy: savedPolicy(m.policy), versions };
    }
    // A model that keeps failing makes every poll re-read the catalog: write (and fsync) only changes.
    const key = JSON.stringify([seq, models]);
    if (key === this.savedKey) return;
    try {
      await writeAppliedState(path, { format: 1, catalog: this.options.catalog ?? '', changeSeq: seq, savedAt: new Date().toISOString(), models });
      this.savedKey = key;
    } catch (err) {
      this.options.log?.error({ err: (err as Error).message, path }, `could not save the applied serving state: ${(err as Error).message}`);
    }
  }

  /**
   * Offline start: applies the saved state, each model with the versions whose files still
   * verify locally. A model whose production version is not cached stays unloaded, reported
   * failed with the reason; a canary or shadow that is not cached is left out (production
   * answers all traffic) and reported too.
   */
  private async applySaved(): Promise<void> {
    const log = this.options.log;
    let saved: AppliedState | undefined;
    try {
      saved = await readAppliedState(this.options.statePath!);
    } catch (err) {
      log?.error({ err: (err as Error).message }, `the saved serving state cannot be used: ${(err as Error).message}`);
    }
    if (!saved) {
      log?.warn({ path: this.options.statePath }, 'no saved serving state: nothing to serve until the catalog answers');
      return;
    }
    this.source = 'cache';
    this.desired = new Map(Object.entries(saved.models).map(([name, m]) => [name, m.policy as TrafficPolicy]));
    await Promise.all(Object.entries(saved.models).map(async ([name, m]) => {
      const policy = m.policy as TrafficPolicy;
      if (this.service.isLoaded(name)) {
        this.conflicts.add(name);
        return;
      }
      const paths = new Map<number, string>();
      const missing: string[] = [];
      for (const v of policyVersions(policy)) {
        const cached = m.versions[v];
        try {
          if (!cached) throw new Error('no files saved for it');
          paths.set(Number(v), await verifyCachedVersion(cached));
        } catch (err) {
          missing.push(`version ${v}: ${(err as Error).message}`);
        }
      }
      const usable: TrafficPolicy = { production: policy.production };
      if (policy.canary && paths.has(Number(policy.canary.version))) usable.canary = policy.canary;
      if (policy.shadow !== undefined && paths.has(Number(policy.shadow))) usable.shadow = policy.shadow;
      const versions = new Map(Object.entries(m.versions).filter(([v]) => paths.has(Number(v))));
      const reason = missing.length ? `the catalog is unreachable and ${missing.join('; ')}` : undefined;
      if (!paths.has(Number(policy.production))) {
        log?.error({ model: name }, `registry model '${name}' not served: ${reason}`);
        this.served.set(name, { name, policy, versions, error: reason });
        return;
      }
      this.applying.add(name);
      try {
        await applyTraffic(this.service, { name, versions: paths, configFile: this.options.modelConfig?.(name) }, usable);
        log?.info({ model: name, policy: usable }, `registry model '${name}': serving ${describe(usable)} from the local cache`);
        this.served.set(name, { name, policy: usable, versions, ...(reason ? { error: reason } : {}) });
      } catch (err) {
        log?.error({ model: name, err: (err as Error).message }, `registry model '${name}': could not load from the local cache: ${(err as Error).message}`);
        this.served.set(name, { name, policy, versions, error: (err as Error).message });
      } finally {
        this.applying.delete(name);
      }
    }));
  }

  /** Loads and switches to `policy`; returns the files of its versions (for the saved state). */
  private async apply(name: string, policy: TrafficPolicy): Promise<Map<string, CachedVersion>> {
    const versions = new Map<number, string>();
    const saved = new Map<string, CachedVersion>();
    for (const v of policyVersions(policy)) {
      const modelPath = await this.registry.materialize(name, Number(v));
      versions.set(Number(v), modelPath);
      const record = await this.registry.getVersion(name, Number(v));
      saved.set(v, { modelPath, files: record.files.map((f) => ({ path: f.path, digest: f.digest, size: f.size })) });
    }
    const source: ModelSource = { name, versions, configFile: this.options.modelConfig?.(name) };
    this.options.log?.info({ model: name, policy }, `registry model '${name}': applying ${describe(policy)}`);
    await applyTraffic(this.service, source, policy);
    return saved;
  }
}

function describe(policy: TrafficPolicy): string {
  return `production ${policy.production}${policy.canary ? `, canary ${policy.canary.version} at ${policy.canary.percent}%` : ''}${policy.shadow ? `, shadow ${policy.shadow}` : ''}`;
}

/** Opens the registry at HOME (default $BERTH_HOME or ~/.berth), or the catalog at a URL. */
export async function openRegistry(options: OpenOptions): Promise<RegistryApi> {
  return Registry.open(options);
}
