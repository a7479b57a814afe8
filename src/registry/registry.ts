/**
 * The model registry: content-addressed artifacts (blob-store.ts) described by a catalog
 * (catalog.ts: SQLite or PostgreSQL). Every change is one catalog transaction that also appends
 * to the audit log, so the log has an entry for every change, in commit order.
 *
 * The Registry class is the facade callers use; each concern lives in its own file and gets the
 * registry as its context: push.ts (crash-safe push), pull.ts (materialize, pull), models.ts,
 * aliases.ts, rollouts.ts, keys.ts (API keys), fsck.ts.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BerthError, invalidArgument, notFound } from '../core/errors.js';
import { setAlias, deleteAlias } from './aliases.js';
import { FileBlobStore, type BlobStore } from './blob-store.js';
import type { Catalog } from './catalog.js';
import { fsck, type FsckOptions } from './fsck.js';
import { createKey, revokeKey, verifyKey } from './keys.js';
import { createModel, updateModel } from './models.js';
import { checkName, checkVersion, parseRef } from './names.js';
import { PostgresCatalog } from './postgres-catalog.js';
import { clearMaterialized, materializeVersion, pullVersion } from './pull.js';
import { pushVersion, type PushMeta } from './push.js';
import { abortRollout, promote, rollback, startRollout, type RolloutSpec } from './rollouts.js';
import { SqliteCatalog } from './sqlite-catalog.js';
import type { AuditEntry, FsckReport, KeyInfo, KeyScope, ModelRecord, Rollout, VersionRecord } from './types.js';
import { artifactStoreFromEnv, berthHome, catalogUrlFromEnv } from '../config/defaults.js';

export { MODEL_FILE, PRODUCTION } from './names.js';
export type { PushMeta, PushPhase } from './push.js';
export type { RolloutSpec } from './rollouts.js';
export type { FsckOptions } from './fsck.js';

export interface OpenOptions {
  /** default: $BERTH_HOME, else ~/.berth */
  home?: string;
  /** default: $BERTH_CATALOG_URL, else SQLite at HOME/catalog.db. postgres://… or sqlite:PATH */
  catalogUrl?: string;
  /** use this catalog instead (tests) */
  catalog?: Catalog;
  /**
   * default: $BERTH_ARTIFACT_STORE, else the filesystem under HOME. oci://HOST[:PORT]/REPO keeps
   * the versions' files in an OCI registry, HOME's blobs being its local cache (oci-store.ts).
   */
  artifactStore?: string;
  /** plain http to an artifact registry not on this machine (default: $BERTH_ARTIFACT_STORE_INSECURE=1) */
  artifactStoreInsecure?: boolean;
  /** the auth file for the artifact registry (default: $REGISTRY_AUTH_FILE, podman's, docker's) */
  authfile?: string;
}

async function openBlobStore(home: string, opts: OpenOptions): Promise<BlobStore> {
  const fromEnv = artifactStoreFromEnv();
  const url = opts.artifactStore ?? fromEnv.url;
  if (url === undefined || url === 'filesystem') return new FileBlobStore(home);
  // loaded only when used: commands on a filesystem store never load the OCI client
  const { OciBlobStore } = await import('./oci-store.js');
  return new OciBlobStore(home, { url, insecure: opts.artifactStoreInsecure ?? fromEnv.insecure, authfile: opts.authfile });
}

/** $BERTH_HOME, else ~/.berth (config/defaults.ts reads the variable, for every command alike). */
export function defaultHome(): string {
  return berthHome();
}

async function openCatalog(home: string, url: string | undefined): Promise<Catalog> {
  if (!url) return SqliteCatalog.open(join(home, 'catalog.db'));
  if (/^postgres(ql)?:\/\//i.test(url)) return PostgresCatalog.open(url);
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw invalidArgument('sqlite: URL without a path');
    return SqliteCatalog.open(resolve(path));
  }
  throw invalidArgument(`unsupported catalog URL '${url.replace(/:\/\/[^@]*@/, '://***@')}': use postgres://… or sqlite:PATH`);
}

export class Registry {
  readonly home: string;
  readonly catalog: Catalog;
  readonly blobs: BlobStore;

  private constructor(home: string, catalog: Catalog, blobs: BlobStore) {
    this.home = home;
    this.catalog = catalog;
    this.blobs = blobs;
  }

  static async open(opts: OpenOptions = {}): Promise<Registry> {
    const home = resolve(opts.home ?? defaultHome());
    const blobs = await openBlobStore(home, opts);
    await blobs.init();
    await mkdir(join(home, 'materialized'), { recursive: true });
    const catalog = opts.catalog ?? (await openCatalog(home, opts.catalogUrl ?? catalogUrlFromEnv()));
    return new Registry(home, catalog, blobs);
  }

  async close(): Promise<void> {
    await this.catalog.close();
  }

  // ---------------------------------------------------------------- reads

  async listModels(): Promise<ModelRecord[]> {
    return this.catalog.listModels();
  }

  async getModel(name: string): Promise<ModelRecord> {
    const model = await this.catalog.getModel(checkName(name));
    if (!model) throw notFound(`no model '${name}' in the registry`);
    return model;
  }

  async listVersions(name: string): Promise<VersionRecord[]> {
    await this.getModel(name);
    return this.catalog.listVersions(name);
  }

  async getVersion(name: string, version: number): Promise<VersionRecord> {
    checkName(name);
    const v = await this.catalog.getVersion(name, checkVersion(version));
    if (!v) {
      await this.getModel(name);
      throw notFound(`model '${name}' has no version ${version}`);
    }
    return v;
  }

  /** 'N:V', 'N@alias' or 'N' (= N@latest, the newest version). */
  async resolve(ref: string): Promise<VersionRecord> {
    const r = parseRef(ref);
    if (r.kind === 'version') return this.getVersion(r.name, r.version);
    const model = await this.getModel(r.name);
    if (r.kind === 'latest') {
      if (model.latestVersion === 0) throw notFound(`model '${r.name}' has no versions`);
      return this.getVersion(r.name, model.latestVersion);
    }
    const version = model.aliases[r.alias];
    if (version === undefined) throw notFound(`model '${r.name}' has no alias '${r.alias}'`);
    return this.getVersion(r.name, version);
  }

  async audit(opts: { model?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    if (opts.model !== undefined) checkName(opts.model);
    if (opts.limit !== undefined && !(Number.isSafeInteger(opts.limit) && opts.limit >= 1)) throw invalidArgument('limit must be a positive integer');
    return this.catalog.audit({ model: opts.model, limit: opts.limit });
  }

  async changeSeq(): Promise<number> {
    return this.catalog.changeSeq();
  }

  // ---------------------------------------------------------------- push (push.ts)

  /** Registers the model file (and the external data files it refers to) as a new version. */
  async push(file: string, meta: PushMeta): Promise<VersionRecord> {
    return pushVersion(this, file, meta);
  }

  /**
   * Publishes versions already in the catalog to the artifact store (all of them, or one
   * model's, or one version): how a registry kept on the filesystem moves to an OCI artifact
   * store. Blobs the store has are not sent again; each version's files must be in the local
   * store. Returns the versions published.
   */
  async publish(ref?: string): Promise<VersionRecord[]> {
    let versions: VersionRecord[];
    if (ref === undefined) versions = (await Promise.all((await this.listModels()).map((m) => this.catalog.listVersions(m.name)))).flat();
    else if (/[:@]/.test(ref)) versions = [await this.resolve(ref)];
    else versions = await this.listVersions(ref);
    for (const v of versions) {
      for (const f of v.files) {
        const check = await this.blobs.verify(f.digest, f.size);
        if (!check.ok) throw new BerthError('INTERNAL', `${v.name}:${v.version}/${f.path} ${check.present ? 'is damaged' : 'is missing'} in ${this.blobs.blobDir}: cannot publish it`);
      }
      await this.blobs.publish({ name: v.name, digest: v.digest, files: v.files });
      await this.blobs.label(v);
    }
    return versions;
  }

  // ---------------------------------------------------------------- files out (pull.ts)

  /**
   * A directory holding the version's files under their own names (hard links to the blobs),
   * every file verified against its digest on each call; returns the model.onnx path in it.
   */
  async materialize(name: string, version: number): Promise<string> {
    return materializeVersion(this, name, version);
  }

  /**
   * Writes the model to `outPath` and its external data files beside it, each verified against
   * its digest; a destination that exists is replaced only with `force` (pull.ts).
   */
  async pull(ref: string, outPath: string, opts: { force?: boolean } = {}): Promise<VersionRecord> {
    return pullVersion(this, ref, outPath, opts);
  }

  /** Removes materialized copies of versions (they are recreated on demand). */
  async clearMaterialized(): Promise<void> {
    return clearMaterialized(this);
  }

  // ---------------------------------------------------------------- models, aliases (models.ts, aliases.ts)

  /** Registers a model with no version yet (POST /api/v1/models); ALREADY_EXISTS when it exists. */
  async createModel(name: string, opts: { description?: string; tags?: Record<string, string>; actor?: string } = {}): Promise<ModelRecord> {
    return createModel(this, name, opts);
  }

  async updateModel(name: string, patch: { description?: string; tags?: Record<string, string> }, actor?: string): Promise<ModelRecord> {
    return updateModel(this, name, patch, actor);
  }

  async setAlias(name: string, alias: string, version: number, actor?: string): Promise<void> {
    return setAlias(this, name, alias, version, actor);
  }

  async deleteAlias(name: string, alias: string, actor?: string): Promise<void> {
    return deleteAlias(this, name, alias, actor);
  }

  // ---------------------------------------------------------------- rollouts (rollouts.ts)

  async getRollout(name: string): Promise<Rollout | undefined> {
    return this.catalog.getRollout(checkName(name));
  }

  async listRollouts(): Promise<Rollout[]> {
    return this.catalog.listRollouts();
  }

  /**
   * Starts (or changes) a canary and/or shadow against the production alias, which must exist.
   * Calling it again with a new percentage is how a canary is stepped up.
   */
  async startRollout(name: string, spec: RolloutSpec, actor?: string): Promise<Rollout> {
    return startRollout(this, name, spec, actor);
  }

  /** production ← the canary (or else shadow) version; the rollout ends. */
  async promote(name: string, actor?: string): Promise<number> {
    return promote(this, name, actor);
  }

  async abortRollout(name: string, actor?: string): Promise<void> {
    return abortRollout(this, name, actor);
  }

  /**
   * production ← the version it pointed to before its last change, read from the audit log.
   * A rollback is itself a change, so a second rollback undoes the first. Ends any rollout.
   */
  async rollback(name: string, actor?: string): Promise<number> {
    return rollback(this, name, actor);
  }

  // ---------------------------------------------------------------- API keys (keys.ts)

  /** A new API key, returned once; only its hash is stored. */
  async createKey(scope: KeyScope, opts: { name?: string; actor?: string } = {}): Promise<{ id: string; key: string }> {
    return createKey(this, scope, opts);
  }

  async verifyKey(key: string): Promise<{ id: string; scope: KeyScope; name?: string } | undefined> {
    return verifyKey(this, key);
  }

  async listKeys(): Promise<KeyInfo[]> {
    return this.catalog.listKeys();
  }

  async revokeKey(id: string, actor?: string): Promise<void> {
    return revokeKey(this, id, actor);
  }

  // ---------------------------------------------------------------- fsck (fsck.ts)

  /**
   * Checks every blob the catalog references, lists orphans and leftovers of interrupted
   * writes; with `repair`, removes those older than the grace period (fsck.ts).
   */
  async fsck(opts: FsckOptions = {}): Promise<FsckReport> {
    return fsck(this, opts);
  }
}
