/**
 * The SQLite catalog (better-sqlite3): one file, WAL journal, no server. Writers from any number
 * of processes are serialized by BEGIN IMMEDIATE (the database's single write lock) with a busy
 * timeout, so "latest + 1" allocated inside the transaction is race-free. In-process, one
 * connection is shared, so a mutex keeps one statement sequence (and one transaction) at a time.
 *
 * better-sqlite3 is synchronous: a statement blocks the event loop for its duration (micro- to
 * milliseconds here), and waiting for another process's write lock blocks up to the busy timeout.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { BerthError } from '../core/errors.js';
import { Mutex, fromJson, toJson, type AuditQuery, type Catalog, type CatalogWriter, type StoredKey } from './catalog.js';
import type { AuditEntry, FileEntry, KeyInfo, KeyScope, ModelRecord, Rollout, VersionRecord } from './types.js';

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  change_seq INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (id, change_seq) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS models (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  latest_version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS versions (
  name TEXT NOT NULL REFERENCES models(name),
  version INTEGER NOT NULL CHECK (version >= 1),
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  inputs TEXT NOT NULL,
  outputs TEXT NOT NULL,
  metrics TEXT NOT NULL,
  tags TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  parent_name TEXT,
  parent_version INTEGER,
  derived_by TEXT,
  PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS version_files (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  path TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  ord INTEGER NOT NULL,
  PRIMARY KEY (name, version, path),
  FOREIGN KEY (name, version) REFERENCES versions(name, version)
);
CREATE INDEX IF NOT EXISTS version_files_digest ON version_files(digest);
CREATE TABLE IF NOT EXISTS aliases (
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (name, alias),
  FOREIGN KEY (name, version) REFERENCES versions(name, version)
);
CREATE TABLE IF NOT EXISTS rollouts (
  name TEXT PRIMARY KEY REFERENCES models(name),
  spec TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  model TEXT,
  before_json TEXT,
  after_json TEXT
);
CREATE INDEX IF NOT EXISTS audit_model ON audit(model, id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS versions_immutable BEFORE UPDATE ON versions BEGIN SELECT RAISE(ABORT, 'versions are immutable'); END;
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  scope TEXT NOT NULL,
  name TEXT,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
`;

type Row = Record<string, unknown>;

/** The statements, run on one connection; used directly inside a transaction. */
class SqliteOps implements CatalogWriter {
  constructor(private readonly db: Database.Database) {}

  private aliasesOf(name: string): Record<string, number> {
    const rows = this.db.prepare('SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias').all(name) as Row[];
    return Object.fromEntries(rows.map((r) => [String(r.alias), Number(r.version)]));
  }

  private model(row: Row): ModelRecord {
    return {
      name: String(row.name),
      description: String(row.description),
      tags: fromJson<Record<string, string>>(row.tags) ?? {},
      createdAt: String(row.created_at),
      latestVersion: Number(row.latest_version),
      aliases: this.aliasesOf(String(row.name)),
    };
  }

  private version(row: Row): VersionRecord {
    const files = (this.db.prepare('SELECT path, digest, size FROM version_files WHERE name = ? AND version = ? ORDER BY ord').all(row.name, row.version) as Row[]).map(
      (f): FileEntry => ({ path: String(f.path), digest: String(f.digest), size: Number(f.size) }),
    );
    const v: VersionRecord = {
      name: String(row.name),
      version: Number(row.version),
      digest: String(row.digest),
      files,
      size: Number(row.size),
      inputs: fromJson(row.inputs) ?? [],
      outputs: fromJson(row.outputs) ?? [],
      metrics: fromJson(row.metrics) ?? {},
      tags: fromJson(row.tags) ?? {},
      createdAt: String(row.created_at),
      createdBy: String(row.created_by),
    };
    if (row.parent_name !== null && row.parent_name !== undefined) v.parent = { name: String(row.parent_name), version: Number(row.parent_version) };
    if (row.derived_by !== null && row.derived_by !== undefined) v.derivedBy = String(row.derived_by);
    return v;
  }

  private rollout(row: Row): Rollout {
    const spec = fromJson<Pick<Rollout, 'canary' | 'shadow'>>(row.spec) ?? {};
    return { model: String(row.name), ...spec, updatedAt: String(row.updated_at) };
  }

  async getModel(name: string): Promise<ModelRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM models WHERE name = ?').get(name) as Row | undefined;
    return row ? this.model(row) : undefined;
  }

  async listModels(): Promise<ModelRecord[]> {
    return (this.db.prepare('SELECT * FROM models ORDER BY name').all() as Row[]).map((r) => this.model(r));
  }

  async getVersion(name: string, version: number): Promise<VersionRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM versions WHERE name = ? AND version = ?').get(name, version) as Row | undefined;
    return row ? this.version(row) : undefined;
  }

  async listVersions(name: string): Promise<VersionRecord[]> {
    return (this.db.prepare('SELECT * FROM versions WHERE name = ? ORDER BY version').all(name) as Row[]).map((r) => this.version(r));
  }

  async getRollout(name: string): Promise<Rollout | undefined> {
    const row = this.db.prepare('SELECT * FROM rollouts WHERE name = ?').get(name) as Row | undefined;
    return row ? this.rollout(row) : undefined;
  }

  async listRollouts(): Promise<Rollout[]> {
    return (this.db.prepare('SELECT * FROM rollouts ORDER BY name').all() as Row[]).map((r) => this.rollout(r));
  }

  async audit(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.model !== undefined) {
      where.push('model = ?');
      params.push(query.model);
    }
    if (query.actions && query.actions.length > 0) {
      where.push(`action IN (${query.actions.map(() => '?').join(', ')})`);
      params.push(...query.actions);
    }
    let sql = `SELECT * FROM audit${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC`;
    if (query.limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(query.limit);
    }
    return (this.db.prepare(sql).all(...params) as Row[]).map((r) => {
      const e: AuditEntry = { id: Number(r.id), at: String(r.at), actor: String(r.actor), action: String(r.action) };
      if (r.model !== null) e.model = String(r.model);
      const before = fromJson(r.before_json);
      const after = fromJson(r.after_json);
      if (before !== undefined) e.before = before;
      if (after !== undefined) e.after = after;
      return e;
    });
  }

  async getKey(id: string): Promise<StoredKey | undefined> {
    const r = this.db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id) as Row | undefined;
    if (!r) return undefined;
    const key: StoredKey = { id: String(r.id), hash: String(r.hash), scope: String(r.scope) as KeyScope, createdAt: String(r.created_at) };
    if (r.name !== null) key.name = String(r.name);
    if (r.revoked_at !== null) key.revokedAt = String(r.revoked_at);
    return key;
  }

  async listKeys(): Promise<KeyInfo[]> {
    return (this.db.prepare('SELECT id, scope, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id').all() as Row[]).map((r) => {
      const k: KeyInfo = { id: String(r.id), scope: String(r.scope) as KeyScope, createdAt: String(r.created_at), revoked: r.revoked_at !== null };
      if (r.name !== null) k.name = String(r.name);
      return k;
    });
  }

  async allFiles(): Promise<{ name: string; version: number; file: FileEntry }[]> {
    return (this.db.prepare('SELECT * FROM version_files ORDER BY name, version, ord').all() as Row[]).map((r) => ({
      name: String(r.name),
      version: Number(r.version),
      file: { path: String(r.path), digest: String(r.digest), size: Number(r.size) },
    }));
  }

  async changeSeq(): Promise<number> {
    return Number((this.db.prepare('SELECT change_seq FROM meta WHERE id = 1').get() as Row).change_seq);
  }

  async insertModel(m: { name: string; description: string; tags: Record<string, string>; createdAt: string }): Promise<void> {
    this.db.prepare('INSERT INTO models (name, description, tags, created_at, latest_version) VALUES (?, ?, ?, ?, 0)').run(m.name, m.description, JSON.stringify(m.tags), m.createdAt);
  }

  async updateModel(name: string, patch: { description?: string; tags?: Record<string, string> }): Promise<void> {
    if (patch.description !== undefined) this.db.prepare('UPDATE models SET description = ? WHERE name = ?').run(patch.description, name);
    if (patch.tags !== undefined) this.db.prepare('UPDATE models SET tags = ? WHERE name = ?').run(JSON.stringify(patch.tags), name);
  }

  async insertVersion(v: VersionRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO versions (name, version, digest, size, inputs, outputs, metrics, tags, created_at, created_by, parent_name, parent_version, derived_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        v.name, v.version, v.digest, v.size, JSON.stringify(v.inputs), JSON.stringify(v.outputs), JSON.stringify(v.metrics), JSON.stringify(v.tags),
        v.createdAt, v.createdBy, v.parent?.name ?? null, v.parent?.version ?? null, v.derivedBy ?? null,
      );
    const file = this.db.prepare('INSERT INTO version_files (name, version, path, digest, size, ord) VALUES (?, ?, ?, ?, ?, ?)');
    v.files.forEach((f, i) => file.run(v.name, v.version, f.path, f.digest, f.size, i));
    this.db.prepare('UPDATE models SET latest_version = MAX(latest_version, ?) WHERE name = ?').run(v.version, v.name);
  }

  async setAlias(name: string, alias: string, version: number): Promise<void> {
    this.db.prepare('INSERT INTO aliases (name, alias, version) VALUES (?, ?, ?) ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version').run(name, alias, version);
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    this.db.prepare('DELETE FROM aliases WHERE name = ? AND alias = ?').run(name, alias);
  }

  async putRollout(r: Rollout): Promise<void> {
    const spec = JSON.stringify({ ...(r.canary ? { canary: r.canary } : {}), ...(r.shadow ? { shadow: r.shadow } : {}) });
    this.db.prepare('INSERT INTO rollouts (name, spec, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at').run(r.model, spec, r.updatedAt);
  }

  async deleteRollout(name: string): Promise<void> {
    this.db.prepare('DELETE FROM rollouts WHERE name = ?').run(name);
  }

  async appendAudit(e: Omit<AuditEntry, 'id'>): Promise<number> {
    const info = this.db
      .prepare('INSERT INTO audit (at, actor, action, model, before_json, after_json) VALUES (?, ?, ?, ?, ?, ?)')
      .run(e.at, e.actor, e.action, e.model ?? null, toJson(e.before), toJson(e.after));
    return Number(info.lastInsertRowid);
  }

  async insertKey(k: StoredKey): Promise<void> {
    this.db.prepare('INSERT INTO api_keys (id, hash, scope, name, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)').run(k.id, k.hash, k.scope, k.name ?? null, k.createdAt, k.revokedAt ?? null);
  }

  async revokeKey(id: string, at: string): Promise<void> {
    this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id);
  }
}

export interface SqliteCatalogOptions {
  /** how long to wait for another process's write lock (default 30 s) */
  busyTimeoutMs?: number;
}

/**
 * Switches a catalog to WAL. Switching a new database file takes an exclusive lock, and when
 * several processes open the same new catalog at once SQLite can answer SQLITE_BUSY without
 * calling the busy handler (waiting could deadlock); so retry here, within the busy timeout.
 */
function enableWal(db: Database.Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      // a synchronous pause: opening the catalog is synchronous
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(50, 2 * attempt));
    }
  }
}

export class SqliteCatalog implements Catalog {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  private readonly db: Database.Database;
  private readonly ops: SqliteOps;
  private readonly mutex = new Mutex();
  private closed = false;

  private constructor(path: string, db: Database.Database) {
    this.location = path;
    this.db = db;
    this.ops = new SqliteOps(db);
  }

  static open(path: string, options: SqliteCatalogOptions = {}): SqliteCatalog {
    mkdirSync(dirname(path), { recursive: true });
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: options.busyTimeoutMs ?? 30_000 });
    } catch (err) {
      throw new BerthError('UNAVAILABLE', `cannot open the catalog ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      // WAL: readers never block the writer and a crash leaves the last committed state.
      // synchronous=FULL: a commit is on disk before push prints N:V.
      enableWal(db, options.busyTimeoutMs ?? 30_000);
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      const version = Number(db.pragma('user_version', { simple: true }));
      if (version < SCHEMA_VERSION) {
        db.exec('BEGIN IMMEDIATE');
        try {
          db.exec(SCHEMA);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
          db.exec('COMMIT');
        } catch (err) {
          db.exec('ROLLBACK');
          throw err;
        }
      } else if (version > SCHEMA_VERSION) {
        throw new BerthError('UNSUPPORTED', `the catalog ${path} has schema version ${version}; this berth knows up to ${SCHEMA_VERSION}: upgrade berth`);
      }
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteCatalog(path, db);
  }

  private read<T>(fn: (ops: SqliteOps) => Promise<T>): Promise<T> {
    return this.mutex.run(() => {
      if (this.closed) throw new BerthError('UNAVAILABLE', 'the catalog is closed');
      return fn(this.ops);
    });
  }

  getModel(name: string) { return this.read((o) => o.getModel(name)); }
  listModels() { return this.read((o) => o.listModels()); }
  getVersion(name: string, version: number) { return this.read((o) => o.getVersion(name, version)); }
  listVersions(name: string) { return this.read((o) => o.listVersions(name)); }
  getRollout(name: string) { return this.read((o) => o.getRollout(name)); }
  listRollouts() { return this.read((o) => o.listRollouts()); }
  audit(query?: AuditQuery) { return this.read((o) => o.audit(query)); }
  getKey(id: string) { return this.read((o) => o.getKey(id)); }
  listKeys() { return this.read((o) => o.listKeys()); }
  allFiles() { return this.read((o) => o.allFiles()); }
  changeSeq() { return this.read((o) => o.changeSeq()); }

  write<T>(fn: (tx: CatalogWriter) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      if (this.closed) throw new BerthError('UNAVAILABLE', 'the catalog is closed');
      // Takes the database's write lock now (not at the first write), waiting up to the busy
      // timeout for other processes: everything read below is current until COMMIT.
      try {
        this.db.exec('BEGIN IMMEDIATE');
      } catch (err) {
        throw new BerthError('UNAVAILABLE', `the catalog is locked by another writer: ${(err as Error).message}`, { retryAfterSeconds: 1, cause: err });
      }
      try {
        this.db.prepare('UPDATE meta SET change_seq = change_seq + 1 WHERE id = 1').run();
        const result = await fn(this.ops);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  close(): Promise<void> {
    return this.mutex.run(() => {
      if (this.closed) return;
      this.closed = true;
      this.db.close();
    });
  }
}
