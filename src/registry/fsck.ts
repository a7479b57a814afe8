/** The blob store's consistency check against the catalog, and its repair of leftovers. */
import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { RegistryContext } from './context.js';
import type { FsckReport } from './types.js';

export interface FsckOptions {
  repair?: boolean;
  /**
   * Orphan blobs and temporary files younger than this are left alone, since a push may be
   * between writing its blobs and committing its catalog row (default 900 s). Temporary files
   * whose writer is a dead process on this host are stale at any age.
   */
  graceSeconds?: number;
}

/**
 * Checks every blob the catalog references (present, content hashes to its name, size as
 * recorded), lists blobs nothing references and leftovers of interrupted writes. With
 * `repair`, removes orphans and leftovers older than the grace period (and leftovers of dead
 * processes). Missing or corrupt blobs cannot be repaired from here: they are reported.
 */
export async function fsck(reg: RegistryContext, opts: FsckOptions = {}): Promise<FsckReport> {
  const graceMs = (opts.graceSeconds ?? 900) * 1000;
  const files = await reg.catalog.allFiles();
  const refs = new Map<string, { size: number; refs: string[] }>();
  for (const { name, version, file } of files) {
    const entry = refs.get(file.digest) ?? { size: file.size, refs: [] };
    entry.refs.push(`${name}:${version}/${file.path}`);
    refs.set(file.digest, entry);
  }
  const cache = reg.blobs.location !== 'filesystem';
  const corruptCopies: string[] = [];
  const report: FsckReport = { missing: [], corrupt: [], orphans: [], stale: [], recent: [], checked: 0, repaired: false };
  for (const [digest, { size, refs: where }] of refs) {
    const check = await reg.blobs.verify(digest, size);
    report.checked++;
    // The local store of a remote one (the OCI artifact store) is a cache: a blob it lacks is
    // fetched when needed, and a corrupt copy can be removed and fetched again.
    if (!check.present) {
      if (!cache) report.missing.push({ digest, refs: where });
    } else if (!check.ok) {
      report.corrupt.push({ digest, actual: check.actual!, size: check.size!, refs: where });
      if (cache) corruptCopies.push(digest);
    }
  }
  const now = Date.now();
  const removable: string[] = [];
  for (const blob of await reg.blobs.list()) {
    if (blob.digest !== '' && refs.has(blob.digest)) continue;
    const label = blob.digest || relative(reg.home, blob.path);
    if (now - blob.mtimeMs < graceMs) {
      report.recent.push(label);
      continue;
    }
    report.orphans.push(label);
    removable.push(blob.path);
  }
  const staleTemps: string[] = [];
  for (const t of await reg.blobs.temps()) {
    // A live writer's files are never touched; a dead writer's (same host) are stale at once;
    // others (another host sharing HOME, unparseable names) after the grace period.
    if (t.writer === 'live' || (t.writer === 'unknown' && now - t.mtimeMs < graceMs)) {
      report.recent.push(t.path);
      continue;
    }
    report.stale.push(t.path);
    staleTemps.push(join(reg.home, t.path));
  }
  if (opts.repair && (removable.length > 0 || staleTemps.length > 0 || corruptCopies.length > 0)) {
    for (const path of [...removable, ...corruptCopies]) await reg.blobs.remove(path);
    for (const path of staleTemps) await rm(path, { recursive: true, force: true });
    await reg.blobs.syncBlobDir();
    report.repaired = true;
  }
  return report;
}
