/** berth's model registry: content-addressed artifacts, a catalog (SQLite or PostgreSQL), aliases, rollouts, audit log, API keys. */
export * from './types.js';
export { Registry, defaultHome, MODEL_FILE, PRODUCTION, type OpenOptions, type PushMeta, type PushPhase, type RolloutSpec, type FsckOptions } from './registry.js';
export type { Catalog, CatalogReader, CatalogWriter, StoredKey, AuditQuery } from './catalog.js';
export { SqliteCatalog } from './sqlite-catalog.js';
export { PostgresCatalog } from './postgres-catalog.js';
export { parseRef, checkName, checkAlias, isValidName, type ParsedRef } from './names.js';
