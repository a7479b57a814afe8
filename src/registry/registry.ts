/**
 * The model registry: content-addressed artifacts (blob-store.ts) described by a catalog
 * (catalog.ts: SQLite or PostgreSQL). Every change is one catalog transaction that also appends
 * to the audit log, so the log has an entry for every change, in commit order.
 *
 * Crash safety of push: the version's files are copied, hashed and fsynced into tmp/, linked to
 * their content addresses and the blob directory fsynced; only then is the catalog row written,
 * in one transaction. A process killed before the commit leaves at most orphan blobs and
 * temporary files (fsck removes them); one killed after it leaves a complete version.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { BerthError, invalidArgument, notFound } from '../core/errors.js';
import { datatypeFromOnnx } from '../core/tensor.js';
import { loadModel, InvalidModelError } from '../onnx/codec.js';
import { externalRef, isExternal, resolveLocation } from '../onnx/external.js';
import { inspectModel, type ValueSummary } from '../onnx/inspect.js';
import { elemTypeNumber } from '../onnx/tensor.js';
import { forEachTensor } from '../onnx/walk.js';
import { BlobStore, copyHashed, fsyncDir, hashFile, type StagedBlob } from './blob-store.js';
import type { Catalog, CatalogWriter } from './catalog.js';
import {
  checkActor, checkAlias, checkMetrics, checkName, checkNewModelName, checkNoCaseCollision, checkSettableAlias, checkTags, checkVersion,
  defaultActor, parseRef,
} from './names.js';
import { PostgresCatalog } from './postgres-catalog.js';
import { SqliteCatalog } from './sqlite-catalog.js';
import {
  KEY_SCOPES, type AuditEntry, type FileEntry, type FsckReport, type KeyInfo, type KeyScope, type ModelRecord, type Rollout,
  type TensorSignature, type VersionRecord,
} from './types.js';
import { berthHome, catalogUrlFromEnv } from '../config/defaults.js';

export const MODEL_FILE = 'model.onnx';
export const PRODUCTION = 'production';

export interface OpenOptions {
  /** default: $BERTH_HOME, else ~/.berth */
  home?: string;
  /** default: $BERTH_CATALOG_URL, else SQLite at HOME/catalog.db. postgres://… or sqlite:PATH */
  catalogUrl?: string;
  /** use this catalog instead (tests) */
  catalog?: Catalog;
}

export interface PushMeta {
  name: string;
  /** the model's description (set on creation; a different one updates it, audited as model.update) */
  description?: string;
  /** the version's tags */
  tags?: Record<string, string>;
  metrics?: Record<string, number>;
  /** the version this one derives from: { name, version } or a reference ('N:V', 'N@alias', 'N') */
  parent?: { name: string; version: number } | string;
  derivedBy?: string;
  actor?: string;
  /** progress: 'copying' files into the store, 'linking' blobs, 'committing' the catalog rows, 'committed' */
  onProgress?: (phase: PushPhase) => void;
}

export type PushPhase = 'copying' | 'linking' | 'committing' | 'committed';

export interface RolloutSpec {
  canary?: { version: number; percent: number };
  shadow?: { version: number };
}

export interface FsckOptions {
  repair?: boolean;
  /**
   * Orphan blobs and temporary files younger than this are left alone, since a push may be
   * between writing its blobs and committing its catalog row (default 900 s). Temporary files
   * whose writer is a dead process on this host are stale at any age.
   */
  graceSeconds?: number;
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

/** ONNX type name → OIP datatype (FP32, INT64, ...); the ONNX name when OIP has none. */
function signatureOf(v: ValueSummary): TensorSignature {
  const elem = elemTypeNumber(v.dtype);
  const datatype = (elem !== undefined ? datatypeFromOnnx(elem) : undefined) ?? v.dtype;
  const shape = (v.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: v.name, datatype, shape };
}

/** A version-relative path as stored: forward slashes, inside the version, not the model file. */
function storedPath(baseDir: string, full: string): string {
  const rel = relative(baseDir, full).split(sep).join('/');
  if (rel === '' || rel.startsWith('../') || rel === '..' || isAbsolute(rel)) throw invalidArgument(`external data file ${full} is outside the model's directory`);
  return rel;
}

/** Resolves a stored relative path under `dir`, refusing anything that would leave it. */
function under(dir: string, path: string): string {
  try {
    return resolveLocation(dir, path);
  } catch (err) {
    throw new BerthError('INTERNAL', `refusing file path '${path}': ${(err as Error).message}`);
  }
}

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

const KEY_FORMAT = /^berth_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/**
 * An external data file goes under the model's directory: no directory between the two may be
 * a symbolic link, or the file would land wherever the link points.
 */
async function checkLinkFreeUnder(dir: string, dest: string): Promise<void> {
  const parts = relative(dir, dirname(dest)).split(sep).filter((p) => p !== '');
  let at = dir;
  for (const part of parts) {
    at = join(at, part);
    const st = await lstat(at).catch(() => undefined);
    if (!st) return; // created by the pull itself from here on
    if (st.isSymbolicLink() || !st.isDirectory()) throw invalidArgument(`refusing to write ${dest}: ${at} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}`);
  }
}

/** What a pull may write over: nothing that exists without `force`, never a non-regular file. */
async function checkPullTarget(dest: string, force: boolean): Promise<void> {
  const link = await lstat(dest).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw invalidArgument(`cannot write ${dest}: ${err.message}`);
  });
  if (!link) return;
  const st = link.isSymbolicLink() ? await stat(dest).catch(() => undefined) : link;
  const kind = !st ? undefined
    : st.isDirectory() ? 'a directory'
      : st.isFIFO() ? 'a FIFO'
        : st.isCharacterDevice() || st.isBlockDevice() ? 'a device'
          : st.isSocket() ? 'a socket'
            : undefined;
  const via = link.isSymbolicLink() && st ? ' (through a symbolic link)' : '';
  if (kind !== undefined) throw invalidArgument(`refusing to write ${dest}: it is ${kind}${via}, not a regular file`);
  if (!force) {
    throw new BerthError('ALREADY_EXISTS', `${dest} already exists${link.isSymbolicLink() ? ' (a symbolic link; --force replaces the link, not its target)' : ''}: use --force to replace it`);
  }
}

/** The production-alias change an audit entry records, if it records one. */
function productionChange(e: AuditEntry): { from?: number; to?: number } | undefined {
  const b = (e.before ?? {}) as Record<string, unknown>;
  const a = (e.after ?? {}) as Record<string, unknown>;
  const num = (x: unknown) => (typeof x === 'number' ? x : undefined);
  if (e.action === 'alias.set' || e.action === 'alias.delete') {
    const alias = a.alias ?? b.alias;
    return alias === PRODUCTION ? { from: num(b.version), to: num(a.version) } : undefined;
  }
  if (e.action === 'rollout.promote' || e.action === 'rollout.rollback') return { from: num(b.production), to: num(a.production) };
  return undefined;
}

export class Registry {
  readonly home: string;
  readonly catalog: Catalog;
  readonly blobs: BlobStore;

  private constructor(home: string, catalog: Catalog) {
    this.home = home;
    this.catalog = catalog;
    this.blobs = new BlobStore(home);
  }

  static async open(opts: OpenOptions = {}): Promise<Registry> {
    const home = resolve(opts.home ?? defaultHome());
    const blobs = new BlobStore(home);
    await blobs.init();
    await mkdir(join(home, 'materialized'), { recursive: true });
    const catalog = opts.catalog ?? (await openCatalog(home, opts.catalogUrl ?? catalogUrlFromEnv()));
    return new Registry(home, catalog);
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

  // ---------------------------------------------------------------- push

  async push(file: string, meta: PushMeta): Promise<VersionRecord> {
    const name = checkName(meta.name);
    const tags = checkTags(meta.tags);
    const metrics = checkMetrics(meta.metrics);
    const actor = checkActor(meta.actor ?? defaultActor());
    if (meta.description !== undefined && (typeof meta.description !== 'string' || meta.description.length > 10_000)) throw invalidArgument('description must be a string of at most 10000 characters');
    if (meta.derivedBy !== undefined && (typeof meta.derivedBy !== 'string' || meta.derivedBy.length > 1000)) throw invalidArgument('derivedBy must be a string of at most 1000 characters');
    let parent: { name: string; version: number } | undefined;
    if (typeof meta.parent === 'string') {
      const p = await this.resolve(meta.parent);
      parent = { name: p.name, version: p.version };
    } else if (meta.parent !== undefined) {
      parent = { name: checkName(meta.parent.name, 'parent model name'), version: checkVersion(meta.parent.version) };
      await this.getVersion(parent.name, parent.version);
    }

    // A push that would create the model checks the new-name rules before any file is copied
    // (and again in the transaction, in case another writer created a model meanwhile).
    if (!(await this.catalog.getModel(name))) await this.checkCreatable(this.catalog, name);

    const source = resolve(file);
    const st = await stat(source).catch(() => undefined);
    if (!st?.isFile()) throw invalidArgument(`no such model file: ${file}`);
    const baseDir = dirname(source);

    const staged: StagedBlob[] = [];
    const progress = meta.onProgress ?? (() => undefined);
    try {
      progress('copying');
      // 1. The model file, copied and hashed; the signature is read from that copy, so it
      //    describes exactly the bytes registered.
      const modelBlob = await this.blobs.stage(source);
      staged.push(modelBlob);
      let model;
      try {
        model = await loadModel(modelBlob.tmp, { externalData: false });
      } catch (err) {
        if (err instanceof InvalidModelError) throw invalidArgument(`${file} is not a valid ONNX model: ${err.message.replace(/^not a valid ONNX model: [^:]*: /, '')}`);
        throw err;
      }
      // 2. External data files, under the locations the model refers to.
      const locations = new Map<string, { full: string; end: number }>();
      try {
        forEachTensor(model, (t) => {
          if (!isExternal(t)) return;
          const ref = externalRef(t);
          const full = resolveLocation(baseDir, ref.location);
          const end = ref.offset + (ref.length ?? 0);
          const seen = locations.get(ref.location);
          locations.set(ref.location, { full, end: Math.max(end, seen?.end ?? 0) });
        });
      } catch (err) {
        throw invalidArgument(`${file}: ${(err as Error).message}`);
      }
      const files: FileEntry[] = [{ path: MODEL_FILE, digest: modelBlob.digest, size: modelBlob.size }];
      for (const [location, { full, end }] of locations) {
        const path = storedPath(baseDir, full);
        if (path === MODEL_FILE || files.some((f) => f.path === path)) throw invalidArgument(`${file}: external data location '${location}' collides with another file of the version`);
        const fst = await stat(full).catch(() => undefined);
        if (!fst?.isFile()) throw invalidArgument(`${file}: external data file '${location}' is missing`);
        const blob = await this.blobs.stage(full);
        staged.push(blob);
        if (end > blob.size) throw invalidArgument(`${file}: external data '${location}' is ${blob.size} bytes but tensors reference up to byte ${end}`);
        files.push({ path, digest: blob.digest, size: blob.size });
      }
      const summary = inspectModel(model);
      const inputs = summary.inputs.map(signatureOf);
      const outputs = summary.outputs.map(signatureOf);

      // 3. Content addresses, made durable before any catalog row can point at them.
      progress('linking');
      for (const blob of staged) await this.blobs.commit(blob);
      await this.blobs.syncBlobDir();

      // 4. The catalog rows, last, in one transaction that allocates the version number.
      progress('committing');
      const record = await this.catalog.write(async (tx) => {
        const now = new Date().toISOString();
        let current = await tx.getModel(name);
        if (!current) {
          await this.checkCreatable(tx, name);
          const created = { name, description: meta.description ?? '', tags: {}, createdAt: now };
          await tx.insertModel(created);
          await tx.appendAudit({ at: now, actor, action: 'model.create', model: name, after: { name, description: created.description, tags: {} } });
          current = { ...created, latestVersion: 0, aliases: {} };
        } else if (meta.description !== undefined && meta.description !== current.description) {
          await tx.updateModel(name, { description: meta.description });
          await tx.appendAudit({ at: now, actor, action: 'model.update', model: name, before: { description: current.description }, after: { description: meta.description } });
        }
        if (parent && !(await tx.getVersion(parent.name, parent.version))) throw notFound(`parent ${parent.name}:${parent.version} does not exist`);
        const v: VersionRecord = {
          name,
          version: current.latestVersion + 1,
          digest: modelBlob.digest,
          files,
          size: files.reduce((n, f) => n + f.size, 0),
          inputs,
          outputs,
          metrics,
          tags,
          createdAt: now,
          createdBy: actor,
          ...(parent ? { parent } : {}),
          ...(meta.derivedBy !== undefined ? { derivedBy: meta.derivedBy } : {}),
        };
        await tx.insertVersion(v);
        await tx.appendAudit({
          at: now, actor, action: 'version.create', model: name,
          after: { version: v.version, digest: v.digest, size: v.size, files: v.files.length, ...(parent ? { parent } : {}), ...(v.derivedBy ? { derivedBy: v.derivedBy } : {}) },
        });
        return v;
      });
      progress('committed');
      // 5. A concurrent `fsck --repair` may have taken a deduplicated blob for an orphan.
      for (const blob of staged) await this.blobs.ensure(blob);
      return record;
    } finally {
      for (const blob of staged) await this.blobs.discard(blob);
    }
  }

  // ---------------------------------------------------------------- files out

  private materializedDir(name: string, version: number): string {
    return join(this.home, 'materialized', checkName(name), String(checkVersion(version)));
  }

  /** Hashes every file of a version under `dir`; the first problem found, or undefined. */
  private async checkFiles(dir: string, v: VersionRecord): Promise<string | undefined> {
    for (const f of v.files) {
      let got;
      try {
        got = await hashFile(under(dir, f.path));
      } catch (err) {
        return `${f.path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (err as Error).message}`;
      }
      if (got.digest !== f.digest || got.size !== f.size) return `${f.path} hashes to ${got.digest} (${got.size} bytes), expected ${f.digest} (${f.size} bytes)`;
    }
    return undefined;
  }

  /**
   * A directory holding the version's files under their own names (hard links to the blobs),
   * every file verified against its digest on each call; returns the model.onnx path in it.
   */
  async materialize(name: string, version: number): Promise<string> {
    const v = await this.getVersion(name, version);
    const dir = this.materializedDir(name, version);
    const modelPath = join(dir, MODEL_FILE);
    const existing = await stat(dir).catch(() => undefined);
    if (existing) {
      if ((await this.checkFiles(dir, v)) === undefined) return modelPath;
      await this.blobs.removeTree(dir);
    }
    const tmp = this.blobs.tempPath('mat');
    await mkdir(tmp, { recursive: true });
    try {
      for (const f of v.files) await this.blobs.place(f.digest, under(tmp, f.path));
      const problem = await this.checkFiles(tmp, v);
      if (problem !== undefined) {
        throw new BerthError('INTERNAL', `${name}:${version} failed verification: ${problem}; the blob store is damaged, run \`berth fsck\``);
      }
      await mkdir(dirname(dir), { recursive: true });
      try {
        await rename(tmp, dir);
        await fsyncDir(dirname(dir));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        // Another process materialized it first: use theirs once it verifies.
        const problem2 = await this.checkFiles(dir, v);
        if (problem2 !== undefined) throw new BerthError('INTERNAL', `${name}:${version} failed verification: ${problem2}`);
      }
      return modelPath;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Writes the model to `outPath` and its external data files beside it (under the locations
   * the model refers to), each verified against its digest while copied; external files are
   * renamed into place first and the model last, so a visible model always has its data.
   *
   * Every file goes to a fresh temporary file (created exclusively) and is renamed over its
   * destination, so a crash leaves the old file or the new one, never a mix, and nothing is
   * ever written through a link. A destination that exists is replaced only with `force`; one
   * that is not a regular file (a directory, a FIFO, a device, a socket, or a link to one) is
   * refused even then.
   */
  async pull(ref: string, outPath: string, opts: { force?: boolean } = {}): Promise<VersionRecord> {
    const v = await this.resolve(ref);
    const target = resolve(outPath);
    const dir = dirname(target);
    const plan = v.files.map((f) => ({ f, dest: f.path === MODEL_FILE ? target : under(dir, f.path) }));
    const dests = new Set(plan.map((p) => p.dest));
    if (dests.size !== plan.length) throw invalidArgument(`cannot write ${outPath}: it is also the name of one of the model's external data files`);
    for (const { dest } of plan) {
      await checkLinkFreeUnder(dir, dest);
      await checkPullTarget(dest, opts.force === true);
    }
    await mkdir(dir, { recursive: true });
    const written: { tmp: string; dest: string }[] = [];
    try {
      for (const { f, dest } of plan) {
        await mkdir(dirname(dest), { recursive: true });
        const tmp = join(dirname(dest), `.${randomBytes(6).toString('hex')}.berth-pull.tmp`);
        written.push({ tmp, dest });
        let got;
        try {
          got = await copyHashed(this.blobs.path(f.digest), tmp);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(await stat(this.blobs.path(f.digest)).catch(() => undefined))) {
            throw new BerthError('INTERNAL', `blob ${f.digest} of ${v.name}:${v.version}/${f.path} is missing: run \`berth fsck\``);
          }
          throw err;
        }
        if (got.digest !== f.digest || got.size !== f.size) {
          throw new BerthError('INTERNAL', `${v.name}:${v.version}/${f.path} failed verification: the blob hashes to ${got.digest}, expected ${f.digest}; run \`berth fsck\``);
        }
      }
      // Model last: once it is visible, the data it points at is there.
      const order = [...written.filter((w) => w.dest !== target), ...written.filter((w) => w.dest === target)];
      for (const w of order) await rename(w.tmp, w.dest);
      for (const d of new Set(order.map((w) => dirname(w.dest)))) await fsyncDir(d);
      written.length = 0;
      return v;
    } finally {
      for (const w of written) await unlink(w.tmp).catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- models, aliases

  /** Registers a model with no version yet (POST /api/v1/models); ALREADY_EXISTS when it exists. */
  async createModel(name: string, opts: { description?: string; tags?: Record<string, string>; actor?: string } = {}): Promise<ModelRecord> {
    checkName(name);
    const tags = checkTags(opts.tags);
    const who = checkActor(opts.actor ?? defaultActor());
    if (opts.description !== undefined && (typeof opts.description !== 'string' || opts.description.length > 10_000)) throw invalidArgument('description must be a string of at most 10000 characters');
    return this.catalog.write(async (tx) => {
      if (await tx.getModel(name)) throw new BerthError('ALREADY_EXISTS', `model '${name}' already exists`);
      await this.checkCreatable(tx, name);
      const model = { name, description: opts.description ?? '', tags, createdAt: new Date().toISOString() };
      await tx.insertModel(model);
      await tx.appendAudit({ at: model.createdAt, actor: who, action: 'model.create', model: name, after: { name, description: model.description, tags } });
      return { ...model, latestVersion: 0, aliases: {} };
    });
  }

  async updateModel(name: string, patch: { description?: string; tags?: Record<string, string> }, actor?: string): Promise<ModelRecord> {
    checkName(name);
    const who = checkActor(actor ?? defaultActor());
    const tags = patch.tags === undefined ? undefined : checkTags(patch.tags);
    if (patch.description !== undefined && (typeof patch.description !== 'string' || patch.description.length > 10_000)) throw invalidArgument('description must be a string of at most 10000 characters');
    return this.catalog.write(async (tx) => {
      const m = await tx.getModel(name);
      if (!m) throw notFound(`no model '${name}' in the registry`);
      const before: Record<string, unknown> = {};
      const after: Record<string, unknown> = {};
      if (patch.description !== undefined && patch.description !== m.description) {
        before.description = m.description;
        after.description = patch.description;
      }
      if (tags !== undefined && JSON.stringify(tags) !== JSON.stringify(m.tags)) {
        before.tags = m.tags;
        after.tags = tags;
      }
      if (Object.keys(after).length === 0) return m;
      await tx.updateModel(name, { description: after.description as string | undefined, tags: after.tags as Record<string, string> | undefined });
      await tx.appendAudit({ at: new Date().toISOString(), actor: who, action: 'model.update', model: name, before, after });
      return (await tx.getModel(name))!;
    });
  }

  /** The rules a new model's name follows beyond checkName (names.ts): not reserved, no case twin. */
  private async checkCreatable(reader: Pick<Catalog, 'listModels'>, name: string): Promise<void> {
    checkNewModelName(name);
    checkNoCaseCollision(name, (await reader.listModels()).map((m) => m.name));
  }

  private async requireVersion(tx: CatalogWriter, name: string, version: number): Promise<void> {
    if (await tx.getVersion(name, version)) return;
    if (!(await tx.getModel(name))) throw notFound(`no model '${name}' in the registry`);
    throw notFound(`model '${name}' has no version ${version}`);
  }

  async setAlias(name: string, alias: string, version: number, actor?: string): Promise<void> {
    checkName(name);
    checkSettableAlias(alias);
    checkVersion(version);
    const who = checkActor(actor ?? defaultActor());
    await this.catalog.write(async (tx) => {
      await this.requireVersion(tx, name, version);
      const current = (await tx.getModel(name))!.aliases[alias];
      if (current === version) return;
      await tx.setAlias(name, alias, version);
      await tx.appendAudit({
        at: new Date().toISOString(), actor: who, action: 'alias.set', model: name,
        before: { alias, ...(current !== undefined ? { version: current } : {}) }, after: { alias, version },
      });
    });
  }

  async deleteAlias(name: string, alias: string, actor?: string): Promise<void> {
    checkName(name);
    checkAlias(alias);
    const who = checkActor(actor ?? defaultActor());
    await this.catalog.write(async (tx) => {
      const m = await tx.getModel(name);
      if (!m) throw notFound(`no model '${name}' in the registry`);
      const current = m.aliases[alias];
      if (current === undefined) throw notFound(`model '${name}' has no alias '${alias}'`);
      await tx.deleteAlias(name, alias);
      await tx.appendAudit({ at: new Date().toISOString(), actor: who, action: 'alias.delete', model: name, before: { alias, version: current }, after: { alias } });
    });
  }

  // ---------------------------------------------------------------- rollouts

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
    checkName(name);
    const who = checkActor(actor ?? defaultActor());
    if (!spec || (!spec.canary && !spec.shadow)) throw invalidArgument('a rollout needs a canary, a shadow, or both');
    if (spec.canary) {
      checkVersion(spec.canary.version);
      const p = spec.canary.percent;
      if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) throw invalidArgument('canary percent must be a number from 0 to 100');
    }
    if (spec.shadow) checkVersion(spec.shadow.version);
    return this.catalog.write(async (tx) => {
      const m = await tx.getModel(name);
      if (!m) throw notFound(`no model '${name}' in the registry`);
      const production = m.aliases[PRODUCTION];
      if (production === undefined) throw invalidArgument(`model '${name}' has no '${PRODUCTION}' alias to roll out against: set one first`);
      for (const [what, v] of [['canary', spec.canary?.version], ['shadow', spec.shadow?.version]] as const) {
        if (v === undefined) continue;
        await this.requireVersion(tx, name, v);
        if (v === production) throw invalidArgument(`the ${what} version ${v} is already production`);
      }
      const before = await tx.getRollout(name);
      // The same rollout again changes nothing, so it is not audited as a change.
      const same = (a?: { version: number; percent?: number }, b?: { version: number; percent?: number }) => a?.version === b?.version && a?.percent === b?.percent;
      if (before && same(before.canary, spec.canary) && same(before.shadow, spec.shadow)) return before;
      const rollout: Rollout = {
        model: name,
        ...(spec.canary ? { canary: { version: spec.canary.version, percent: spec.canary.percent } } : {}),
        ...(spec.shadow ? { shadow: { version: spec.shadow.version } } : {}),
        updatedAt: new Date().toISOString(),
      };
      await tx.putRollout(rollout);
      await tx.appendAudit({
        at: rollout.updatedAt, actor: who, action: 'rollout.start', model: name,
        before: before ? { production, rollout: before } : { production }, after: { production, rollout },
      });
      return rollout;
    });
  }

  /** production ← the canary (or else shadow) version; the rollout ends. */
  async promote(name: string, actor?: string): Promise<number> {
    checkName(name);
    const who = checkActor(actor ?? defaultActor());
    return this.catalog.write(async (tx) => {
      const m = await tx.getModel(name);
      if (!m) throw notFound(`no model '${name}' in the registry`);
      const rollout = await tx.getRollout(name);
      if (!rollout) throw invalidArgument(`model '${name}' has no rollout in progress to promote`);
      const version = rollout.canary?.version ?? rollout.shadow!.version;
      const previous = m.aliases[PRODUCTION];
      await tx.setAlias(name, PRODUCTION, version);
      await tx.deleteRollout(name);
      await tx.appendAudit({
        at: new Date().toISOString(), actor: who, action: 'rollout.promote', model: name,
        before: { ...(previous !== undefined ? { production: previous } : {}), rollout }, after: { production: version },
      });
      return version;
    });
  }

  async abortRollout(name: string, actor?: string): Promise<void> {
    checkName(name);
    const who = checkActor(actor ?? defaultActor());
    await this.catalog.write(async (tx) => {
      if (!(await tx.getModel(name))) throw notFound(`no model '${name}' in the registry`);
      const rollout = await tx.getRollout(name);
      if (!rollout) throw invalidArgument(`model '${name}' has no rollout in progress to abort`);
      await tx.deleteRollout(name);
      await tx.appendAudit({ at: new Date().toISOString(), actor: who, action: 'rollout.abort', model: name, before: { rollout }, after: {} });
    });
  }

  /**
   * production ← the version it pointed to before its last change, read from the audit log.
   * A rollback is itself a change, so a second rollback undoes the first. Ends any rollout.
   */
  async rollback(name: string, actor?: string): Promise<number> {
    checkName(name);
    const who = checkActor(actor ?? defaultActor());
    return this.catalog.write(async (tx) => {
      const m = await tx.getModel(name);
      if (!m) throw notFound(`no model '${name}' in the registry`);
      const current = m.aliases[PRODUCTION];
      const entries = await tx.audit({ model: name, actions: ['alias.set', 'alias.delete', 'rollout.promote', 'rollout.rollback'] });
      const last = entries.map(productionChange).find((c) => c !== undefined);
      if (!last) throw invalidArgument(`model '${name}' has no change of its '${PRODUCTION}' alias to roll back`);
      if (last.from === undefined) throw invalidArgument(`before its last change, '${name}' had no '${PRODUCTION}' alias: nothing to roll back to`);
      const target = last.from;
      const rollout = await tx.getRollout(name);
      await tx.setAlias(name, PRODUCTION, target);
      if (rollout) await tx.deleteRollout(name);
      await tx.appendAudit({
        at: new Date().toISOString(), actor: who, action: 'rollout.rollback', model: name,
        before: { ...(current !== undefined ? { production: current } : {}), ...(rollout ? { rollout } : {}) }, after: { production: target },
      });
      return target;
    });
  }

  // ---------------------------------------------------------------- API keys

  /**
   * A new API key, returned once. Stored as sha256(key): the key carries 256 random bits, so
   * no guessing attack on the hash is feasible and a slow password hash (bcrypt, scrypt) would
   * only add milliseconds to every authenticated request. The id in the key locates the row;
   * the hash is then compared in constant time.
   */
  async createKey(scope: KeyScope, opts: { name?: string; actor?: string } = {}): Promise<{ id: string; key: string }> {
    if (!KEY_SCOPES.includes(scope)) throw invalidArgument(`invalid scope '${String(scope)}': use ${KEY_SCOPES.join(', ')}`);
    if (opts.name !== undefined && (typeof opts.name !== 'string' || opts.name.length > 200)) throw invalidArgument('key name must be a string of at most 200 characters');
    const who = checkActor(opts.actor ?? defaultActor());
    const id = randomBytes(6).toString('hex');
    const key = `berth_${id}_${randomBytes(32).toString('base64url')}`;
    const createdAt = new Date().toISOString();
    await this.catalog.write(async (tx) => {
      await tx.insertKey({ id, hash: hashKey(key).toString('hex'), scope, ...(opts.name !== undefined ? { name: opts.name } : {}), createdAt });
      await tx.appendAudit({ at: createdAt, actor: who, action: 'key.create', after: { id, scope, ...(opts.name !== undefined ? { name: opts.name } : {}) } });
    });
    return { id, key };
  }

  async verifyKey(key: string): Promise<{ id: string; scope: KeyScope; name?: string } | undefined> {
    const m = typeof key === 'string' ? KEY_FORMAT.exec(key) : null;
    if (!m) return undefined;
    const row = await this.catalog.getKey(m[1]);
    if (!row || row.revokedAt !== undefined) return undefined;
    const stored = Buffer.from(row.hash, 'hex');
    const given = hashKey(key);
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
    return { id: row.id, scope: row.scope, ...(row.name !== undefined ? { name: row.name } : {}) };
  }

  async listKeys(): Promise<KeyInfo[]> {
    return this.catalog.listKeys();
  }

  async revokeKey(id: string, actor?: string): Promise<void> {
    if (typeof id !== 'string' || !/^[0-9a-f]{12}$/.test(id)) throw invalidArgument(`invalid key id ${JSON.stringify(String(id))}`);
    const who = checkActor(actor ?? defaultActor());
    await this.catalog.write(async (tx) => {
      const key = await tx.getKey(id);
      if (!key) throw notFound(`no API key '${id}'`);
      if (key.revokedAt !== undefined) return;
      const at = new Date().toISOString();
      await tx.revokeKey(id, at);
      await tx.appendAudit({ at, actor: who, action: 'key.revoke', before: { id, scope: key.scope, revoked: false }, after: { id, scope: key.scope, revoked: true } });
    });
  }

  // ---------------------------------------------------------------- fsck

  /**
   * Checks every blob the catalog references (present, content hashes to its name, size as
   * recorded), lists blobs nothing references and leftovers of interrupted writes. With
   * `repair`, removes orphans and leftovers older than the grace period (and leftovers of dead
   * processes). Missing or corrupt blobs cannot be repaired from here: they are reported.
   */
  async fsck(opts: FsckOptions = {}): Promise<FsckReport> {
    const graceMs = (opts.graceSeconds ?? 900) * 1000;
    const files = await this.catalog.allFiles();
    const refs = new Map<string, { size: number; refs: string[] }>();
    for (const { name, version, file } of files) {
      const entry = refs.get(file.digest) ?? { size: file.size, refs: [] };
      entry.refs.push(`${name}:${version}/${file.path}`);
      refs.set(file.digest, entry);
    }
    const report: FsckReport = { missing: [], corrupt: [], orphans: [], stale: [], recent: [], checked: 0, repaired: false };
    for (const [digest, { size, refs: where }] of refs) {
      const check = await this.blobs.verify(digest, size);
      report.checked++;
      if (!check.present) report.missing.push({ digest, refs: where });
      else if (!check.ok) report.corrupt.push({ digest, actual: check.actual!, size: check.size!, refs: where });
    }
    const now = Date.now();
    const removable: string[] = [];
    for (const blob of await this.blobs.list()) {
      if (blob.digest !== '' && refs.has(blob.digest)) continue;
      const label = blob.digest || relative(this.home, blob.path);
      if (now - blob.mtimeMs < graceMs) {
        report.recent.push(label);
        continue;
      }
      report.orphans.push(label);
      removable.push(blob.path);
    }
    const staleTemps: string[] = [];
    for (const t of await this.blobs.temps()) {
      // A live writer's files are never touched; a dead writer's (same host) are stale at once;
      // others (another host sharing HOME, unparseable names) after the grace period.
      if (t.writer === 'live' || (t.writer === 'unknown' && now - t.mtimeMs < graceMs)) {
        report.recent.push(t.path);
        continue;
      }
      report.stale.push(t.path);
      staleTemps.push(join(this.home, t.path));
    }
    if (opts.repair && (removable.length > 0 || staleTemps.length > 0)) {
      for (const path of removable) await this.blobs.remove(path);
      for (const path of staleTemps) await rm(path, { recursive: true, force: true });
      await this.blobs.syncBlobDir();
      report.repaired = true;
    }
    return report;
  }

  /** Removes materialized copies of versions (they are recreated on demand). */
  async clearMaterialized(): Promise<void> {
    const dir = join(this.home, 'materialized');
    for (const entry of await readdir(dir).catch(() => [] as string[])) await this.blobs.removeTree(join(dir, entry));
  }
}
