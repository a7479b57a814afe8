/**
 * Model control, as Triton's --model-control-mode: `none` loads everything at start and
 * refuses load/unload calls; `explicit` loads only what it is told (at start and through the
 * repository API); `poll` rescans the repository every few seconds and loads new or changed
 * versions, unloads removed ones, all without downtime.
 */
import { BerthError, notFound, unavailable } from './errors.js';
import type { InferenceService } from './inference-service.js';
import type { ModelSource } from './repository.js';
import { discoverModels } from './repository.js';
import { statSync } from 'node:fs';
import { checkOverrideLimits } from './model-config.js';
import { DEFAULTS } from '../config/defaults.js';

export type ModelControlMode = 'none' | 'explicit' | 'poll';

export interface ModelControlOptions {
  mode: ModelControlMode;
  /** explicit mode: models to load at start; ['*'] = all */
  startupModels?: string[];
  /** poll mode: seconds between scans (Triton's default: 15) */
  pollSecs?: number;
  log?: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export interface RepositoryEntry {
  name: string;
  version: string;
  state: string;
  reason: string;
}

/** What about a source decides whether a poll reloads it. */
function sourceSignature(source: ModelSource): string {
  const versions = [...source.versions.entries()].sort((a, b) => a[0] - b[0]).map(([v, path]) => {
    try {
      const st = statSync(path);
      return `${v}:${st.size}:${st.mtimeMs}`;
    } catch {
      return `${v}:missing`;
    }
  });
  return `${versions.join(',')}|${JSON.stringify(source.configFile ?? null)}|${source.error ?? ''}`;
}

export class ModelControl {
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private readonly signatures = new Map<string, string>();

  constructor(
    private readonly service: InferenceService,
    private readonly paths: readonly string[],
    private readonly options: ModelControlOptions,
  ) {}

  get mode(): ModelControlMode {
    return this.options.mode;
  }

  /** Initial load according to the mode; starts polling in poll mode. */
  async start(): Promise<void> {
    const sources = discoverModels(this.paths);
    const wanted = this.options.mode === 'explicit'
      ? sources.filter((s) => this.options.startupModels?.includes('*') || this.options.startupModels?.includes(s.name))
      : sources;
    if (this.options.mode === 'explicit') {
      for (const name of this.options.startupModels ?? []) {
        if (name !== '*' && !sources.some((s) => s.name === name)) throw notFound(`--load-model ${name}: no such model in the repository`);
      }
    }
    for (const s of wanted) this.signatures.set(s.name, sourceSignature(s));
    await this.service.loadModels(wanted);
    if (this.options.mode === 'poll') this.schedulePoll();
  }

  stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return this.polling ?? Promise.resolve();
  }

  /** Every model in the repository, loaded or not (POST /v2/repository/index). */
  index(): RepositoryEntry[] {
    const loaded = this.service.versionStatuses();
    const out: RepositoryEntry[] = loaded.map((s) => ({ name: s.name, version: s.version, state: s.state, reason: s.reason }));
    let sources: ModelSource[] = [];
    try {
      sources = discoverModels(this.paths);
    } catch {
      // a repository that became unreadable still lists what is loaded
    }
    for (const s of sources) {
      if (!this.service.isLoaded(s.name)) out.push({ name: s.name, version: '', state: 'UNAVAILABLE', reason: 'unloaded' });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || Number(a.version) - Number(b.version));
  }

  private requireExplicit(action: string): void {
    if (this.options.mode === 'explicit') return;
    const why = this.options.mode === 'poll' ? 'polling is enabled' : 'model control is disabled (--model-control none)';
    throw unavailable(`explicit model ${action} is not allowed: ${why}; start with --model-control explicit`);
  }

  /** Loads (or reloads, without downtime) a model by name; `config` overrides config.json. */
  async load(name: string, config?: unknown): Promise<void> {
    this.requireExplicit('load');
    // before anything else: a refused override costs nothing
    if (config !== undefined) checkOverrideLimits(config);
    const source = discoverModels(this.paths).find((s) => s.name === name);
    if (!source) throw notFound(`failed to load '${name}': no such model in the repository`);
    if (config !== undefined) checkOverrideLimits(config, undefined, source.versions.size);
    await this.service.loadSource(source, config === undefined ? {} : { configOverride: config });
    const status = this.service.modelStatus(name);
    if (!status.ready) throw new BerthError('INVALID_ARGUMENT', `failed to load '${name}': ${status.reason}`);
  }

  async unload(name: string): Promise<void> {
    this.requireExplicit('unload');
    await this.service.unloadModel(name);
  }

  private schedulePoll(): void {
    const secs = this.options.pollSecs ?? DEFAULTS.modelControl.pollSecs;
    this.timer = setTimeout(() => {
      this.polling = this.pollOnce().finally(() => {
        this.polling = undefined;
        if (this.timer) this.schedulePoll();
      });
    }, secs * 1000);
  }

  /** One scan: load new and changed models, unload removed ones. */
  async pollOnce(): Promise<void> {
    let sources: ModelSource[];
    try {
      sources = discoverModels(this.paths);
    } catch (err) {
      this.options.log?.error({ err }, `repository poll failed: ${(err as Error).message}`);
      return;
    }
    const seen = new Set<string>();
    const work: Promise<void>[] = [];
    for (const s of sources) {
      seen.add(s.name);
      const signature = sourceSignature(s);
      if (this.signatures.get(s.name) === signature && this.service.isLoaded(s.name)) continue;
      this.signatures.set(s.name, signature);
      this.options.log?.info({ model: s.name }, `repository changed: (re)loading model '${s.name}'`);
      work.push(this.service.loadSource(s));
    }
    for (const name of this.service.modelNames()) {
      if (seen.has(name)) continue;
      this.signatures.delete(name);
      this.options.log?.info({ model: name }, `repository changed: model '${name}' removed, unloading`);
      work.push(this.service.unloadModel(name));
    }
    await Promise.all(work);
  }
}
