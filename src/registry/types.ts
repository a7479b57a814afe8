/**
 * The registry's records: registered models, their immutable versions, aliases, rollouts, the
 * append-only audit log and API keys. Shared by the catalog backends, the CLI and the admin API.
 * Each is defined once, as a zod schema in registry/schemas.ts; these are its TypeScript types
 * (type-only: importing them does not load zod).
 */
import type { z } from 'zod';
import type {
  AuditActionSchema, AuditEntrySchema, FileEntrySchema, KeyInfoSchema, KeyScopeSchema, ModelRecordSchema, RolloutSchema, TensorSignatureSchema, VersionRecordSchema,
} from './schemas.js';

/** One file of a version, stored content-addressed under blobs/sha256/<hex>. */
export type FileEntry = z.infer<typeof FileEntrySchema>;
/** A model input or output as the Open Inference Protocol describes it. */
export type TensorSignature = z.infer<typeof TensorSignatureSchema>;
export type ModelRecord = z.infer<typeof ModelRecordSchema>;
export type VersionRecord = z.infer<typeof VersionRecordSchema>;
export type AuditAction = z.infer<typeof AuditActionSchema>;
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
export type Rollout = z.infer<typeof RolloutSchema>;
export type KeyScope = z.infer<typeof KeyScopeSchema>;
export type KeyInfo = z.infer<typeof KeyInfoSchema>;

export { KEY_SCOPES } from './constants.js';

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
