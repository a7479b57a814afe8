/**
 * The backends a server offers, by name. The server registers them (server.ts registers
 * onnxruntime) and hands the registry to the InferenceService; each model's config chooses
 * one with `backend` (or Triton's `platform`), onnxruntime when it names neither.
 */
import type { Backend } from './backend.js';
import { invalidArgument } from './errors.js';

/** What a model config says about its backend. */
export interface BackendChoice {
  backend?: string;
  platform?: string;
}

export const DEFAULT_BACKEND = 'onnxruntime';

/** A name from a config file, made safe to quote in a message (it may come from a client). */
const quoted = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

export class BackendRegistry {
  private readonly byName = new Map<string, Backend>();

  constructor(backends: readonly Backend[] = []) {
    for (const b of backends) this.register(b);
  }

  /** Adds a backend; a second one with the same name or platform is refused. */
  register(backend: Backend): this {
    if (this.byName.has(backend.name)) throw new Error(`backend '${backend.name}' is registered already`);
    if ([...this.byName.values()].some((b) => b.platform === backend.platform)) throw new Error(`platform '${backend.platform}' is served by a registered backend already`);
    this.byName.set(backend.name, backend);
    return this;
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  /**
   * The backend a model's config chooses: by `backend`, else by `platform`, else onnxruntime.
   * Throws INVALID_ARGUMENT naming what is available when there is no such backend, or when
   * `backend` and `platform` disagree.
   */
  choose(choice: BackendChoice, source = 'config'): Backend {
    const available = this.names().join(', ') || 'none';
    let backend: Backend | undefined;
    if (choice.backend !== undefined) {
      backend = this.byName.get(choice.backend);
      if (!backend) throw invalidArgument(`${source}: backend ${quoted(choice.backend)} is not available on this server (available: ${available})`);
    }
    if (choice.platform !== undefined) {
      const byPlatform = [...this.byName.values()].find((b) => b.platform === choice.platform);
      if (!byPlatform) {
        const platforms = [...this.byName.values()].map((b) => b.platform).sort().join(', ') || 'none';
        throw invalidArgument(`${source}: platform ${quoted(choice.platform)} is not available on this server (available: ${platforms})`);
      }
      if (backend && backend !== byPlatform) throw invalidArgument(`${source}: platform ${quoted(choice.platform)} is not served by backend ${quoted(backend.name)}`);
      backend = byPlatform;
    }
    backend ??= this.byName.get(DEFAULT_BACKEND);
    if (!backend) throw invalidArgument(`${source}: no backend named in the config, and the default '${DEFAULT_BACKEND}' is not available on this server (available: ${available})`);
    return backend;
  }
}
