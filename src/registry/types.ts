/**
 * The registry's records: registered models, their immutable versions, aliases, rollouts, the
 * append-only audit log and API keys. Shared by the catalog backends, the CLI and the admin API.
 */

/** One file of a version, stored content-addressed under blobs/sha256/<hex>. */
export interface FileEntry {
  /** relative path inside the version: 'model.onnx', or an external-data location such as 'weights.bin' */
  path: string;
  /** 'sha256:<64 lowercase hex>' */
  digest: string;
  size: number;
}

/** A model input or output as the Open Inference Protocol describes it. */
export interface TensorSignature {
  name: string;
  /** OIP datatype: FP32, INT64, ... (the ONNX type name for types OIP has no name for) */
  datatype: string;
  /** -1 for a dynamic (symbolic or unknown) dimension; [] when the rank is unknown or 0 */
  shape: number[];
}

export interface ModelRecord {
  name: string;
  description: string;
  tags: Record<string, string>;
  createdAt: string;
  /** 0 while the model has no version yet */
  latestVersion: number;
  /** alias → version */
  aliases: Record<string, number>;
}

export interface VersionRecord {
  name: string;
  version: number;
  /** digest of model.onnx */
  digest: string;
  files: FileEntry[];
  /** bytes of all files */
  size: number;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  metrics: Record<string, number>;
  tags: Record<string, string>;
  createdAt: string;
  createdBy: string;
  /** the version this one was derived from (lineage) */
  parent?: { name: string; version: number };
  /** how it was derived, e.g. 'quantize dynamic int8 of digits:3' */
  derivedBy?: string;
}

export type AuditAction =
  | 'model.create'
  | 'model.update'
  | 'version.create'
  | 'alias.set'
  | 'alias.delete'
  | 'rollout.start'
  | 'rollout.promote'
  | 'rollout.abort'
  | 'rollout.rollback'
  | 'key.create'
  | 'key.revoke';

export interface AuditEntry {
  /** increasing in commit order */
  id: number;
  /** ISO 8601 */
  at: string;
  /** `--actor`, $USER, or 'api-key:<id>' */
  actor: string;
  /** one of AuditAction */
  action: string;
  model?: string;
  before?: unknown;
  after?: unknown;
}

export interface Rollout {
  model: string;
  /** `percent`% of unversioned requests go to `version`, the rest to production */
  canary?: { version: number; percent: number };
  /** every request is mirrored to `version`; responses come from production */
  shadow?: { version: number };
  updatedAt: string;
}

export type KeyScope = 'read' | 'infer' | 'admin';

export const KEY_SCOPES: readonly KeyScope[] = ['read', 'infer', 'admin'];

export interface KeyInfo {
  id: string;
  scope: KeyScope;
  name?: string;
  createdAt: string;
  revoked: boolean;
}

/** What `fsck` found. Digests are 'sha256:<hex>'. */
export interface FsckReport {
  /** blobs some version needs that are not in the store */
  missing: { digest: string; refs: string[] }[];
  /** blobs whose content does not hash to their name (or whose size differs from the catalog's) */
  corrupt: { digest: string; actual: string; size: number; refs: string[] }[];
  /** blobs no version references */
  orphans: string[];
  /** leftovers of interrupted writes under HOME/tmp (paths relative to HOME) */
  stale: string[];
  /** orphans and leftovers kept because they are younger than the grace period (a write may be in flight) */
  recent: string[];
  /** blobs checked */
  checked: number;
  /** true when --repair removed something */
  repaired: boolean;
}
