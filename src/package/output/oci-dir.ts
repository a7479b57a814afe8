// Outputs appear whole or not at all: the image is built in a staging directory beside its
// destination (same filesystem, so the final step is a rename), and a failure removes it.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** A fresh staging directory name beside `target`. */
export function stagingPath(target: string, kind: string): string {
  const abs = resolve(target);
  return join(dirname(abs), `.${basename(abs)}.berth-${kind}-${randomBytes(6).toString('hex')}.tmp`);
}

/** Refuses, before any work, a destination that is neither absent, an empty directory nor an OCI layout. */
export async function checkOciTarget(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => undefined);
  if (!st) {
    const parent = await stat(dirname(resolve(dir))).catch(() => undefined);
    if (!parent?.isDirectory()) throw new Error(`--oci ${dir}: its parent directory does not exist`);
    return;
  }
  if (!st.isDirectory()) throw new Error(`--oci ${dir} exists and is not a directory`);
  const names = await readdir(dir);
  if (names.length > 0 && !names.includes('oci-layout')) throw new Error(`--oci ${dir} is a non-empty directory that is not an OCI image layout; refusing to replace it`);
}

/** Moves a complete staging layout to `dir`, replacing an OCI layout (or empty directory) that was there. */
export async function publishOciDir(staging: string, dir: string): Promise<void> {
  const target = resolve(dir);
  const old = await stat(target).catch(() => undefined);
  if (!old) {
    await rename(staging, target);
    return;
  }
  const aside = stagingPath(target, 'old');
  await rename(target, aside);
  try {
    await rename(staging, target);
  } catch (err) {
    await rename(aside, target).catch(() => undefined);
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
}

export async function ensureParent(file: string): Promise<void> {
  const parent = dirname(resolve(file));
  const st = await stat(parent).catch(() => undefined);
  if (!st?.isDirectory()) throw new Error(`${file}: its directory ${parent} does not exist`);
  await mkdir(parent, { recursive: true });
}
