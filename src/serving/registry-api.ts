/**
 * The part of the registry (src/registry/registry.ts, class Registry) that serving, the admin
 * API and the rollout commands use. It is structural so that tests can drive the serving side
 * with an in-memory registry; the real Registry satisfies it.
 */

import type { AuditEntry, KeyScope, ModelRecord, Rollout, VersionRecord } from '../registry/types.js';

export type { AuditEntry, KeyScope, ModelRecord, Rollout, VersionRecord };

export interface PushOptions {
  name: string;
  description?: string;
  tags?: Record<string, string>;
  metrics?: Record<string, number>;
  parent?: { name: string; version: number };
  derivedBy?: string;
  actor?: string;
}

export interface RegistryApi {
  listModels(): Promise<ModelRecord[]>;
  getModel(name: string): Promise<ModelRecord>;
  listVersions(name: string): Promise<VersionRecord[]>;
  getVersion(name: string, version: number): Promise<VersionRecord>;
  push(file: string, options: PushOptions): Promise<VersionRecord>;
  setAlias(name: string, alias: string, version: number, actor?: string): Promise<unknown>;
  deleteAlias(name: string, alias: string, actor?: string): Promise<unknown>;
  materialize(name: string, version: number): Promise<string>;
  audit(options: { model?: string; limit?: number }): Promise<AuditEntry[]>;
  getRollout(name: string): Promise<Rollout | undefined>;
  startRollout(name: string, spec: { canary?: { version: number; percent: number }; shadow?: { version: number } }, actor?: string): Promise<unknown>;
  promote(name: string, actor?: string): Promise<number>;
  abortRollout(name: string, actor?: string): Promise<unknown>;
  rollback(name: string, actor?: string): Promise<number>;
  changeSeq(): Promise<number>;
  verifyKey(key: string): Promise<{ id: string; scope: KeyScope; name?: string } | undefined>;
  close(): unknown;
  createKey?(scope: KeyScope, options?: { name?: string; actor?: string }): Promise<{ id: string; key: string }>;
  /** optional: create a model with no version yet (POST /api/v1/models) */
  createModel?(name: string, options: { description?: string; tags?: Record<string, string>; actor?: string }): Promise<ModelRecord>;
  /** optional: change a model's description and tags (PATCH /api/v1/models/{name}) */
  updateModel?(name: string, changes: { description?: string; tags?: Record<string, string> }, actor?: string): Promise<ModelRecord>;
}
