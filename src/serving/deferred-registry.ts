/**
 * A registry whose catalog could not be opened when `serve --registry` started (PostgreSQL
 * down or unreachable). Every call tries to open it again (concurrent calls share one attempt)
 * and fails UNAVAILABLE while it cannot, so the server starts, serves what it has cached
 * (registry-sync.ts) and the admin API answers 503 until the catalog is back.
 */
import { join, resolve } from 'node:path';
import { BerthError } from '../core/errors.js';
import { catalogUrlFromEnv } from '../config/defaults.js';
import type { PushOptions, RegistryApi } from './registry-api.js';
import type { KeyScope } from '../registry/types.js';

export class DeferredRegistry implements RegistryApi {
  private opened?: RegistryApi;
  private opening?: Promise<RegistryApi>;
  private closed = false;
  /** the last failed attempt: calls within a second of it fail at once instead of connecting again */
  private failure?: { at: number; error: unknown };

  constructor(private readonly open: () => Promise<RegistryApi>, private readonly retryMs = 1000) {}

  private async get(): Promise<RegistryApi> {
    if (this.opened) return this.opened;
    if (this.failure && Date.now() - this.failure.at < this.retryMs) throw this.failure.error;
    this.opening ??= this.open().then((r) => {
      if (this.closed) {
        void Promise.resolve(r.close()).catch(() => undefined);
        throw new Error('the registry is closed');
      }
      this.opened = r;
      this.failure = undefined;
      return r;
    }, (error: unknown) => {
      this.failure = { at: Date.now(), error };
      throw error;
    }).finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  listModels() { return this.get().then((r) => r.listModels()); }
  getModel(name: string) { return this.get().then((r) => r.getModel(name)); }
  listVersions(name: string) { return this.get().then((r) => r.listVersions(name)); }
  getVersion(name: string, version: number) { return this.get().then((r) => r.getVersion(name, version)); }
  push(file: string, options: PushOptions) { return this.get().then((r) => r.push(file, options)); }
  setAlias(name: string, alias: string, version: number, actor?: string) { return this.get().then((r) => r.setAlias(name, alias, version, actor)); }
  deleteAlias(name: string, alias: string, actor?: string) { return this.get().then((r) => r.deleteAlias(name, alias, actor)); }
  materialize(name: string, version: number) { return this.get().then((r) => r.materialize(name, version)); }
  audit(options: { model?: string; limit?: number }) { return this.get().then((r) => r.audit(options)); }
  getRollout(name: string) { return this.get().then((r) => r.getRollout(name)); }
  startRollout(name: string, spec: { canary?: { version: number; percent: number }; shadow?: { version: number } }, actor?: string) {
    return this.get().then((r) => r.startRollout(name, spec, actor));
  }
  promote(name: string, actor?: string) { return this.get().then((r) => r.promote(name, actor)); }
  abortRollout(name: string, actor?: string) { return this.get().then((r) => r.abortRollout(name, actor)); }
  rollback(name: string, actor?: string) { return this.get().then((r) => r.rollback(name, actor)); }
  changeSeq() { return this.get().then((r) => r.changeSeq()); }
  verifyKey(key: string) { return this.get().then((r) => r.verifyKey(key)); }
  createKey(scope: KeyScope, options?: { name?: string; actor?: string }) {
    return this.get().then((r) => {
      if (!r.createKey) throw new Error('this registry cannot create keys');
      return r.createKey(scope, options);
    });
  }
  createModel(name: string, options: { description?: string; tags?: Record<string, string>; actor?: string }) {
    return this.get().then((r) => {
      if (!r.createModel) throw new Error('this registry cannot create models');
      return r.createModel(name, options);
    });
  }
  updateModel(name: string, changes: { description?: string; tags?: Record<string, string> }, actor?: string) {
    return this.get().then((r) => {
      if (!r.updateModel) throw new Error('this registry cannot update models');
      return r.updateModel(name, changes, actor);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    await this.opened?.close();
  }
}

/**
 * The registry `serve --registry` follows, and what to call its catalog in reports and in the
 * saved state's name. A catalog that cannot be reached (UNAVAILABLE) does not stop the start:
 * the server gets a DeferredRegistry that keeps trying; any other problem (a malformed URL, a
 * newer schema) still does.
 */
export async function openServingRegistry<O extends { home: string; catalogUrl?: string }>(options: O, open: (o: O) => Promise<RegistryApi>, log?: { warn(obj: object, msg: string): void }): Promise<{ registry: RegistryApi; location: string }> {
  const url = options.catalogUrl ?? catalogUrlFromEnv();
  const location = url ? redactCredentials(url) : `sqlite:${join(resolve(options.home), 'catalog.db')}`;
  try {
    return { registry: await open(options), location };
  } catch (err) {
    if (!(err instanceof BerthError) || err.code !== 'UNAVAILABLE') throw err;
    log?.warn({ catalog: location, err: err.message }, `registry catalog unreachable at start: ${err.message}`);
    return { registry: new DeferredRegistry(() => open(options)), location };
  }
}

function redactCredentials(url: string): string {
  return url.replace(/:\/\/[^@/]*@/, '://***@');
}
