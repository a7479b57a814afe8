/**
 * The PostgreSQL catalog (`pg`), for several berth processes or machines sharing one registry:
 * `--catalog postgres://user:pass@host:5432/db[?schema=berth]` or BERTH_CATALOG_URL.
 *
 * Tables live in their own schema (default `berth`, or `?schema=NAME`), created on first use
 * under an advisory lock so that processes starting together do not race. Every write()
 * transaction starts by updating the single meta row (bumping the change sequence), which takes
 * its row lock: writers are serialized in commit order, so version numbers allocated as
 * "latest + 1" inside the transaction are consecutive and audit ids increase in commit order.
 * Under READ COMMITTED each later statement sees everything the previous lock holder committed.
 */
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import { BerthError, invalidArgument } from '../core/errors.js';
import { redactUrl, type AuditQuery, type Catalog, type CatalogWriter, type StoredKey } from './catalog.js';
import type { AuditEntry, FileEntry, KeyInfo, KeyScope, ModelRecord, Rollout, VersionRecord } from './types.js';

const SCHEMA_VERSION = 1;

type Query = <R extends QueryResultRow = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;

function ddl(s: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${s}.meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  change_seq BIGINT NOT NULL,
  schema_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.models (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  tags JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ NOT NULL,
  latest_version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ${s}.versions (
  name TEXT NOT NULL REFERENCES ${s}.models(name),
  version INTEGER NOT NULL CHECK (version >= 1),
  digest TEXT NOT NULL,
  size BIGINT NOT NULL,
  inputs JSONB NOT NULL,
  outputs JSONB NOT NULL,
  metrics JSONB NOT NULL,
  tags JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  created_by TEXT NOT NULL,
  parent_name TEXT,
  parent_version INTEGER,
  derived_by TEXT,
  PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS ${s}.version_files (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  path TEXT NOT NULL,
  digest TEXT NOT NULL,
  size BIGINT NOT NULL,
  ord INTEGER NOT NULL,
  PRIMARY KEY (name, version, path),
  FOREIGN KEY (name, version) REFERENCES ${s}.versions(name, version)
);
CREATE INDEX IF NOT EXISTS version_files_digest ON ${s}.version_files(digest);
CREATE TABLE IF NOT EXISTS ${s}.aliases (
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (name, alias),
  FOREIGN KEY (name, version) REFERENCES ${s}.versions(name, version)
);
CREATE TABLE IF NOT EXISTS ${s}.rollouts (
  name TEXT PRIMARY KEY REFERENCES ${s}.models(name),
  spec JSONB NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.audit (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  model TEXT,
  before_json JSONB,
  after_json JSONB
);
CREATE INDEX IF NOT EXISTS audit_model ON ${s}.audit(model, id);
CREATE TABLE IF NOT EXISTS ${s}.api_keys (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  scope TEXT NOT NULL,
  name TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  revoked_at TIMESTAMPTZ
);
CREATE OR REPLACE FUNCTION ${s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$;
DROP TRIGGER IF EXISTS audit_append_only ON ${s}.audit;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON ${s}.audit
  FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_change('the audit log is append-only');
DROP TRIGGER IF EXISTS versions_immutable ON ${s}.versions;
CREATE TRIGGER versions_immutable BEFORE UPDATE ON ${s}.versions
  FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_change('versions are immutable');
INSERT INTO ${s}.meta (id, change_seq, schema_version) VALUES (1, 0, ${SCHEMA_VERSION}) ON CONFLICT (id) DO NOTHING;
`;
}

const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());

class PgOps implements CatalogWriter {
  constructor(
    private readonly q: Query,
    private readonly s: string,
  ) {}

  private async aliases(names: string[]): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>(names.map((n) => [n, {}]));
    if (names.length === 0) return out;
    const rows = await this.q(`SELECT name, alias, version FROM ${this.s}.aliases WHERE name = ANY($1) ORDER BY name, alias`, [names]);
    for (const r of rows) out.get(String(r.name))![String(r.alias)] = Number(r.version);
    return out;
  }

  private async models(rows: Record<string, unknown>[]): Promise<ModelRecord[]> {
    const aliases = await this.aliases(rows.map((r) => String(r.name)));
    return rows.map((r) => ({
      name: String(r.name),
      description: String(r.description),
      tags: (r.tags as Record<string, string>) ?? {},
      createdAt: iso(r.created_at),
      latestVersion: Number(r.latest_version),
      aliases: aliases.get(String(r.name)) ?? {},
    }));
  }

  private async versions(rows: Record<string, unknown>[]): Promise<VersionRecord[]> {
    if (rows.length === 0) return [];
    const files = await this.q(
      `SELECT f.name, f.version, f.path, f.digest, f.size FROM ${this.s}.version_files f
       JOIN unnest($1::text[], $2::int[]) AS k(name, version) ON f.name = k.name AND f.version = k.version
       ORDER BY f.name, f.version, f.ord`,
      [rows.map((r) => r.name), rows.map((r) => r.version)],
    );
    const byVersion = new Map<string, FileEntry[]>();
    for (const f of files) {
      const key = `${String(f.name)}:${Number(f.version)}`;
      if (!byVersion.has(key)) byVersion.set(key, []);
      byVersion.get(key)!.push({ path: String(f.path), digest: String(f.digest), size: Number(f.size) });
    }
    return rows.map((r) => {
      const v: VersionRecord = {
        name: String(r.name),
        version: Number(r.version),
        digest: String(r.digest),
        files: byVersion.get(`${String(r.name)}:${Number(r.version)}`) ?? [],
        size: Number(r.size),
        inputs: r.inputs as VersionRecord['inputs'],
        outputs: r.outputs as VersionRecord['outputs'],
        metrics: r.metrics as VersionRecord['metrics'],
        tags: r.tags as VersionRecord['tags'],
        createdAt: iso(r.created_at),
        createdBy: String(r.created_by),
      };
      if (r.parent_name !== null) v.parent = { name: String(r.parent_name), version: Number(r.parent_version) };
      if (r.derived_by !== null) v.derivedBy = String(r.derived_by);
      return v;
    });
  }

  private rollout(r: Record<string, unknown>): Rollout {
    const spec = (r.spec as Pick<Rollout, 'canary' | 'shadow'>) ?? {};
    return { model: String(r.name), ...spec, updatedAt: iso(r.updated_at) };
  }

  async getModel(name: string): Promise<ModelRecord | undefined> {
    return (await this.models(await this.q(`SELECT * FROM ${this.s}.models WHERE name = $1`, [name])))[0];
  }

  async listModels(): Promise<ModelRecord[]> {
    return this.models(await this.q(`SELECT * FROM ${this.s}.models ORDER BY name COLLATE "C"`));
  }

  async getVersion(name: string, version: number): Promise<VersionRecord | undefined> {
    return (await this.versions(await this.q(`SELECT * FROM ${this.s}.versions WHERE name = $1 AND version = $2`, [name, version])))[0];
  }

  async listVersions(name: string): Promise<VersionRecord[]> {
    return this.versions(await this.q(`SELECT * FROM ${this.s}.versions WHERE name = $1 ORDER BY version`, [name]));
  }

  async getRollout(name: string): Promise<Rollout | undefined> {
    const rows = await this.q(`SELECT * FROM ${this.s}.rollouts WHERE name = $1`, [name]);
    return rows[0] ? this.rollout(rows[0]) : undefined;
  }

  async listRollouts(): Promise<Rollout[]> {
    return (await this.q(`SELECT * FROM ${this.s}.rollouts ORDER BY name COLLATE "C"`)).map((r) => this.rollout(r));
  }

  async audit(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.model !== undefined) {
      params.push(query.model);
      where.push(`model = $${params.length}`);
    }
    if (query.actions && query.actions.length > 0) {
      params.push(query.actions);
      where.push(`action = ANY($${params.length})`);
    }
    let sql = `SELECT * FROM ${this.s}.audit${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC`;
    if (query.limit !== undefined) {
      params.push(query.limit);
      sql += ` LIMIT $${params.length}`;
    }
    return (await this.q(sql, params)).map((r) => {
      const e: AuditEntry = { id: Number(r.id), at: iso(r.at), actor: String(r.actor), action: String(r.action) };
      if (r.model !== null) e.model = String(r.model);
      if (r.before_json !== null) e.before = r.before_json;
      if (r.after_json !== null) e.after = r.after_json;
      return e;
    });
  }

  async getKey(id: string): Promise<StoredKey | undefined> {
    const r = (await this.q(`SELECT * FROM ${this.s}.api_keys WHERE id = $1`, [id]))[0];
    if (!r) return undefined;
    const key: StoredKey = { id: String(r.id), hash: String(r.hash), scope: String(r.scope) as KeyScope, createdAt: iso(r.created_at) };
    if (r.name !== null) key.name = String(r.name);
    if (r.revoked_at !== null) key.revokedAt = iso(r.revoked_at);
    return key;
  }

  async listKeys(): Promise<KeyInfo[]> {
    return (await this.q(`SELECT id, scope, name, created_at, revoked_at FROM ${this.s}.api_keys ORDER BY created_at, id`)).map((r) => {
      const k: KeyInfo = { id: String(r.id), scope: String(r.scope) as KeyScope, createdAt: iso(r.created_at), revoked: r.revoked_at !== null };
      if (r.name !== null) k.name = String(r.name);
      return k;
    });
  }

  async allFiles(): Promise<{ name: string; version: number; file: FileEntry }[]> {
    return (await this.q(`SELECT * FROM ${this.s}.version_files ORDER BY name, version, ord`)).map((r) => ({
      name: String(r.name),
      version: Number(r.version),
      file: { path: String(r.path), digest: String(r.digest), size: Number(r.size) },
    }));
  }

  async changeSeq(): Promise<number> {
    return Number((await this.q(`SELECT change_seq FROM ${this.s}.meta WHERE id = 1`))[0].change_seq);
  }

  async insertModel(m: { name: string; description: string; tags: Record<string, string>; createdAt: string }): Promise<void> {
    await this.q(`INSERT INTO ${this.s}.models (name, description, tags, created_at, latest_version) VALUES ($1, $2, $3::jsonb, $4, 0)`, [m.name, m.description, JSON.stringify(m.tags), m.createdAt]);
  }

  async updateModel(name: string, patch: { description?: string; tags?: Record<string, string> }): Promise<void> {
    if (patch.description !== undefined) await this.q(`UPDATE ${this.s}.models SET description = $1 WHERE name = $2`, [patch.description, name]);
    if (patch.tags !== undefined) await this.q(`UPDATE ${this.s}.models SET tags = $1::jsonb WHERE name = $2`, [JSON.stringify(patch.tags), name]);
  }

  async insertVersion(v: VersionRecord): Promise<void> {
    await this.q(
      `INSERT INTO ${this.s}.versions (name, version, digest, size, inputs, outputs, metrics, tags, created_at, created_by, parent_name, parent_version, derived_by)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13)`,
      [
        v.name, v.version, v.digest, v.size, JSON.stringify(v.inputs), JSON.stringify(v.outputs), JSON.stringify(v.metrics), JSON.stringify(v.tags),
        v.createdAt, v.createdBy, v.parent?.name ?? null, v.parent?.version ?? null, v.derivedBy ?? null,
      ],
    );
    if (v.files.length > 0) {
      await this.q(
        `INSERT INTO ${this.s}.version_files (name, version, path, digest, size, ord)
         SELECT $1, $2, f.path, f.digest, f.size, f.ord - 1 FROM unnest($3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS f(path, digest, size, ord)`,
        [v.name, v.version, v.files.map((f) => f.path), v.files.map((f) => f.digest), v.files.map((f) => f.size)],
      );
    }
    await this.q(`UPDATE ${this.s}.models SET latest_version = GREATEST(latest_version, $1) WHERE name = $2`, [v.version, v.name]);
  }

  async setAlias(name: string, alias: string, version: number): Promise<void> {
    await this.q(`INSERT INTO ${this.s}.aliases (name, alias, version) VALUES ($1, $2, $3) ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version`, [name, alias, version]);
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.q(`DELETE FROM ${this.s}.aliases WHERE name = $1 AND alias = $2`, [name, alias]);
  }

  async putRollout(r: Rollout): Promise<void> {
    const spec = JSON.stringify({ ...(r.canary ? { canary: r.canary } : {}), ...(r.shadow ? { shadow: r.shadow } : {}) });
    await this.q(
      `INSERT INTO ${this.s}.rollouts (name, spec, updated_at) VALUES ($1, $2::jsonb, $3) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`,
      [r.model, spec, r.updatedAt],
    );
  }

  async deleteRollout(name: string): Promise<void> {
    await this.q(`DELETE FROM ${this.s}.rollouts WHERE name = $1`, [name]);
  }

  async appendAudit(e: Omit<AuditEntry, 'id'>): Promise<number> {
    const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
    const rows = await this.q(
      `INSERT INTO ${this.s}.audit (at, actor, action, model, before_json, after_json) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb) RETURNING id`,
      [e.at, e.actor, e.action, e.model ?? null, json(e.before), json(e.after)],
    );
    return Number(rows[0].id);
  }

  async insertKey(k: StoredKey): Promise<void> {
    await this.q(`INSERT INTO ${this.s}.api_keys (id, hash, scope, name, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
      k.id, k.hash, k.scope, k.name ?? null, k.createdAt, k.revokedAt ?? null,
    ]);
  }

  async revokeKey(id: string, at: string): Promise<void> {
    await this.q(`UPDATE ${this.s}.api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, [at, id]);
  }
}

function unavailable(url: string, err: unknown): BerthError {
  return new BerthError('UNAVAILABLE', `cannot reach the catalog ${redactUrl(url)}: ${(err as Error).message}`, { retryAfterSeconds: 1, cause: err });
}

/** Errors of the connection (not of a statement) become UNAVAILABLE. */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|EPIPE|57P0[1-3]|08...)$/.test(code) || /Connection terminated/i.test(String((err as Error).message));
}

export class PostgresCatalog implements Catalog {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly ops: PgOps;
  private readonly url: string;

  private constructor(url: string, schema: string, pool: pg.Pool) {
    this.url = url;
    this.location = redactUrl(url);
    this.schema = schema;
    this.pool = pool;
    this.ops = new PgOps(this.query(pool), `"${schema}"`);
  }

  /** `url`: postgres://user:pass@host:port/db, with an optional `schema=NAME` query parameter (default berth). */
  static async open(url: string, options: { max?: number } = {}): Promise<PostgresCatalog> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalidArgument(`not a PostgreSQL URL: ${redactUrl(url)}`);
    }
    const schema = parsed.searchParams.get('schema') ?? 'berth';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw invalidArgument(`invalid schema '${schema}': use lowercase letters, digits and _`);
    parsed.searchParams.delete('schema');
    const pool = new pg.Pool({ connectionString: parsed.toString(), max: options.max ?? 4, allowExitOnIdle: true, connectionTimeoutMillis: 10_000 });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    const catalog = new PostgresCatalog(url, schema, pool);
    try {
      await catalog.migrate();
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (err instanceof BerthError) throw err;
      throw isConnectionError(err) ? unavailable(url, err) : err;
    }
    return catalog;
  }

  private query(on: pg.Pool | PoolClient): Query {
    return async <R extends QueryResultRow>(text: string, params?: unknown[]) => {
      try {
        return (await on.query<R>(text, params)).rows;
      } catch (err) {
        throw isConnectionError(err) ? unavailable(this.url, err) : err;
      }
    };
  }

  private async migrate(): Promise<void> {
    const s = `"${this.schema}"`;
    await this.transaction(async (client) => {
      // Serializes schema creation between processes starting at the same moment.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`berth-schema:${this.schema}`]);
      const exists = await client.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2', [this.schema, 'meta']);
      if (exists.rowCount === 0) {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
        await client.query(ddl(s));
        return;
      }
      const version = Number((await client.query(`SELECT schema_version FROM ${s}.meta WHERE id = 1`)).rows[0]?.schema_version ?? 0);
      if (version > SCHEMA_VERSION) {
        throw new BerthError('UNSUPPORTED', `the catalog ${this.location} has schema version ${version}; this berth knows up to ${SCHEMA_VERSION}: upgrade berth`);
      }
    });
  }

  private async transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unavailable(this.url, err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
      }
      throw isConnectionError(err) ? unavailable(this.url, err) : err;
    } finally {
      client.release(broken);
    }
  }

  getModel(name: string) { return this.ops.getModel(name); }
  listModels() { return this.ops.listModels(); }
  getVersion(name: string, version: number) { return this.ops.getVersion(name, version); }
  listVersions(name: string) { return this.ops.listVersions(name); }
  getRollout(name: string) { return this.ops.getRollout(name); }
  listRollouts() { return this.ops.listRollouts(); }
  audit(query?: AuditQuery) { return this.ops.audit(query); }
  getKey(id: string) { return this.ops.getKey(id); }
  listKeys() { return this.ops.listKeys(); }
  allFiles() { return this.ops.allFiles(); }
  changeSeq() { return this.ops.changeSeq(); }

  write<T>(fn: (tx: CatalogWriter) => Promise<T>): Promise<T> {
    return this.transaction(async (client) => {
      const s = `"${this.schema}"`;
      // The row lock on meta serializes writers across every process sharing this catalog.
      await client.query(`UPDATE ${s}.meta SET change_seq = change_seq + 1 WHERE id = 1`);
      return fn(new PgOps(this.query(client), s));
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** Drops the schema and everything in it (tests). */
  async dropSchema(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
  }
}
