/**
 * The catalog: where registered models, versions, aliases, rollouts, the audit log and API keys
 * live. Two implementations: SQLite (sqlite-catalog.ts, the default, one machine, no server)
 * and PostgreSQL (postgres-catalog.ts, several berth processes sharing one registry). The
 * Registry talks to this interface only; the conformance suite in test/registry runs against both.
 *
 * Consistency model: every change goes through write(), one transaction that first takes the
 * catalog-wide write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: a row lock on the meta row) and
 * bumps the change sequence. Writers are therefore serialized across processes, which is what
 * lets the Registry allocate version numbers as "latest + 1" inside the transaction; the
 * (name, version) primary key is the backstop.
 */
import type { AuditEntry, FileEntry, KeyInfo, KeyScope, ModelRecord, Rollout, VersionRecord } from './types.js';

export interface StoredKey {
  id: string;
  /** hex sha256 of the whole key */
  hash: string;
  scope: KeyScope;
  name?: string;
  createdAt: string;
  revokedAt?: string;
}

export interface AuditQuery {
  model?: string;
  /** only these actions */
  actions?: string[];
  /** newest first; default: all */
  limit?: number;
}

export interface CatalogReader {
  getModel(name: string): Promise<ModelRecord | undefined>;
  /** ordered by name */
  listModels(): Promise<ModelRecord[]>;
  getVersion(name: string, version: number): Promise<VersionRecord | undefined>;
  /** ordered by version, oldest first */
  listVersions(name: string): Promise<VersionRecord[]>;
  getRollout(name: string): Promise<Rollout | undefined>;
  listRollouts(): Promise<Rollout[]>;
  /** newest first */
  audit(query?: AuditQuery): Promise<AuditEntry[]>;
  getKey(id: string): Promise<StoredKey | undefined>;
  /** ordered by creation */
  listKeys(): Promise<KeyInfo[]>;
  /** every file of every version (fsck) */
  allFiles(): Promise<{ name: string; version: number; file: FileEntry }[]>;
  /** increases with every committed write() */
  changeSeq(): Promise<number>;
}

export interface CatalogWriter extends CatalogReader {
  insertModel(model: { name: string; description: string; tags: Record<string, string>; createdAt: string }): Promise<void>;
  updateModel(name: string, patch: { description?: string; tags?: Record<string, string> }): Promise<void>;
  /** inserts the version and its files and sets the model's latest version to it */
  insertVersion(version: VersionRecord): Promise<void>;
  setAlias(name: string, alias: string, version: number): Promise<void>;
  deleteAlias(name: string, alias: string): Promise<void>;
  putRollout(rollout: Rollout): Promise<void>;
  deleteRollout(name: string): Promise<void>;
  /** appends to the audit log and returns the entry's id */
  appendAudit(entry: Omit<AuditEntry, 'id'>): Promise<number>;
  insertKey(key: StoredKey): Promise<void>;
  revokeKey(id: string, at: string): Promise<void>;
}

export interface Catalog extends CatalogReader {
  readonly kind: 'sqlite' | 'postgres';
  /** where it is, for messages (passwords removed) */
  readonly location: string;
  /**
   * Runs `fn` in one transaction holding the catalog's write lock, bumping the change sequence.
   * Commits when `fn` resolves, rolls back (nothing visible, sequence unchanged) when it throws.
   * `fn` must not do slow I/O: other writers wait for it.
   */
  write<T>(fn: (tx: CatalogWriter) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Serializes async sections within one process (one catalog connection, one transaction at a time). */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** JSON for a column that may be absent. */
export function toJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function fromJson<T>(text: unknown): T | undefined {
  if (text === null || text === undefined) return undefined;
  return JSON.parse(String(text)) as T;
}

/** A URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:\/\/([^:/@]+):[^@]*@/, '://$1:***@');
  }
}
