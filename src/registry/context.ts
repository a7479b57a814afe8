/**
 * What the registry's operations (push.ts, pull.ts, models.ts, aliases.ts, rollouts.ts, keys.ts,
 * fsck.ts) need of the Registry they run on; the Registry class (registry.ts) is the facade that
 * callers use and passes itself.
 */
import type { BlobStore } from './blob-store.js';
import type { Catalog } from './catalog.js';
import type { VersionRecord } from './types.js';

export interface RegistryContext {
  readonly home: string;
  readonly catalog: Catalog;
  readonly blobs: BlobStore;
  getVersion(name: string, version: number): Promise<VersionRecord>;
  /** 'N:V', 'N@alias' or 'N' */
  resolve(ref: string): Promise<VersionRecord>;
}
