/**
 * `berth serve --registry`: serves every registry model that has a `production` alias, plus
 * the canary and shadow versions of its rollout, and follows the catalog while running. It
 * polls `changeSeq()`; when the catalog changed it reads the aliases and rollouts again and
 * moves each model to its new traffic policy without downtime (applyTraffic: load and warm,
 * switch, drain). A model whose production alias disappears is drained and unloaded.
 */
import type { InferenceService } from '../core/inference-service.js';
import type { ModelSource } from '../core/repository.js';
import type { TrafficPolicy } from '../core/traffic.js';
import { applyTraffic, policyVersions } from '../core/traffic.js';
import { Registry, type OpenOptions } from '../registry/registry.js';
import type { ModelRecord, RegistryApi, Rollout } from './registry-api.js';
import { DEFAULTS } from '../config/defaults.js';

export const PRODUCTION_ALIAS = 'production';

export interface RegistrySyncOptions {
  /** seconds between changeSeq() polls (default 2; fractions allowed) */
  pollSecs?: number;
  /** per-model configuration (config.json fields) applied to registry models, e.g. max_batch_size */
  modelConfig?: (name: string) => Record<string, unknown> | undefined;
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

export class RegistrySync {
  /** models this sync loaded → the policy last applied */
  private readonly served = new Map<string, ServedState>();
  private readonly conflicts = new Set<string>();
  private lastSeq?: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  /** when the catalog was last read (ms since the epoch) */
  lastSyncAt = 0;

  constructor(
    private readonly service: InferenceService,
    private readonly registry: RegistryApi,
    private readonly options: RegistrySyncOptions = {},
  ) {}

  /** First sync (loads every production model), then polling. */
  async start(): Promise<void> {
    await this.sync();
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

  private schedule(): void {
    if (this.stopped) return;
    const ms = Math.max(50, (this.options.pollSecs ?? DEFAULTS.registry.pollSecs) * 1000);
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedule());
    }, ms);
  }

  /** One poll: re-read the catalog when its change counter moved (or the last sync failed). */
  async poll(): Promise<void> {
    let seq: number;
    try {
      seq = await this.registry.changeSeq();
    } catch (err) {
      this.options.log?.error({ err: (err as Error).message }, `registry poll failed: ${(err as Error).message}`);
      return;
    }
    if (seq === this.lastSeq) return;
    await this.sync();
  }

  /** Reads the catalog and applies it; concurrent calls share one run. */
  sync(): Promise<void> {
    if (this.running) return this.running.then(() => this.sync());
    this.running = this.syncOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async syncOnce(): Promise<void> {
    const log = this.options.log;
    const seq = await this.registry.changeSeq();
    const models = await this.registry.listModels();
    const desired = new Map<string, TrafficPolicy>();
    await Promise.all(models.map(async (m) => {
      if (m.aliases[PRODUCTION_ALIAS] === undefined) return;
      const policy = desiredPolicy(m, await this.registry.getRollout(m.name));
      if (policy) desired.set(m.name, policy);
    }));
    let failures = 0;
    await Promise.all([...desired].map(async ([name, policy]) => {
      if (!this.served.has(name) && this.service.isLoaded(name)) {
        if (!this.conflicts.has(name)) log?.warn({ model: name }, `registry model '${name}' is not served from the registry: a model of that name is already loaded from a path`);
        this.conflicts.add(name);
        return;
      }
      const current = this.served.get(name);
      const wanted = JSON.stringify(policy);
      if (current && !current.error && JSON.stringify(current.policy) === wanted && this.service.isLoaded(name)) return;
      // The same failing policy is retried with backoff (2 s, 4 s, ... 1 min), not every poll.
      if (current?.failed && current.failed.policy === wanted && Date.now() < current.failed.retryAt) {
        failures++;
        return;
      }
      try {
        await this.apply(name, policy);
        this.served.set(name, { name, policy });
      } catch (err) {
        failures++;
        const message = (err as Error).message;
        log?.error({ model: name, policy, err: message }, `registry model '${name}': could not apply ${describe(policy)}: ${message}`);
        const attempts = current?.failed?.policy === wanted ? current.failed.attempts + 1 : 1;
        const failed = { policy: wanted, attempts, retryAt: Date.now() + Math.min(60000, 2000 * 2 ** (attempts - 1)) };
        const state: ServedState = current ?? { name, policy: this.service.getTraffic(name) ?? policy };
        state.error = message;
        state.failed = failed;
        this.served.set(name, state);
      }
    }));
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
  }

  private async apply(name: string, policy: TrafficPolicy): Promise<void> {
    const versions = new Map<number, string>();
    for (const v of policyVersions(policy)) versions.set(Number(v), await this.registry.materialize(name, Number(v)));
    const source: ModelSource = { name, versions, configFile: this.options.modelConfig?.(name) };
    this.options.log?.info({ model: name, policy }, `registry model '${name}': applying ${describe(policy)}`);
    await applyTraffic(this.service, source, policy);
  }
}

function describe(policy: TrafficPolicy): string {
  return `production ${policy.production}${policy.canary ? `, canary ${policy.canary.version} at ${policy.canary.percent}%` : ''}${policy.shadow ? `, shadow ${policy.shadow}` : ''}`;
}

/** Opens the registry at HOME (default $BERTH_HOME or ~/.berth), or the catalog at a URL. */
export async function openRegistry(options: OpenOptions): Promise<RegistryApi> {
  return Registry.open(options);
}
