/**
 * Files out of the registry: materialized copies for serving (hard links to the blobs, verified
 * on every call) and pulls to a path of the user's choosing.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { BerthError, invalidArgument } from '../core/errors.js';
import { resolveLocation } from '../onnx/external.js';
import { copyHashed, fsyncDir, hashFile } from './blob-store.js';
import type { RegistryContext } from './context.js';
import { MODEL_FILE, checkName, checkVersion } from './names.js';
import type { VersionRecord } from './types.js';

/** Resolves a stored relative path under `dir`, refusing anything that would leave it. */
function under(dir: string, path: string): string {
  try {
    return resolveLocation(dir, path);
  } catch (err) {
    throw new BerthError('INTERNAL', `refusing file path '${path}': ${(err as Error).message}`);
  }
}

/**
 * An external data file goes under the model's directory: no directory between the two may be
 * a symbolic link, or the file would land wherever the link points.
 */
async function checkLinkFreeUnder(dir: string, dest: string): Promise<void> {
  const parts = relative(dir, dirname(dest)).split(sep).filter((p) => p !== '');
  let at = dir;
  for (const part of parts) {
    at = join(at, part);
    const st = await lstat(at).catch(() => undefined);
    if (!st) return; // created by the pull itself from here on
    if (st.isSymbolicLink() || !st.isDirectory()) throw invalidArgument(`refusing to write ${dest}: ${at} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}`);
  }
}

/** What a pull may write over: nothing that exists without `force`, never a non-regular file. */
async function checkPullTarget(dest: string, force: boolean): Promise<void> {
  const link = await lstat(dest).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw invalidArgument(`cannot write ${dest}: ${err.message}`);
  });
  if (!link) return;
  const st = link.isSymbolicLink() ? await stat(dest).catch(() => undefined) : link;
  const kind = !st ? undefined
    : st.isDirectory() ? 'a directory'
      : st.isFIFO() ? 'a FIFO'
        : st.isCharacterDevice() || st.isBlockDevice() ? 'a device'
          : st.isSocket() ? 'a socket'
            : undefined;
  const via = link.isSymbolicLink() && st ? ' (through a symbolic link)' : '';
  if (kind !== undefined) throw invalidArgument(`refusing to write ${dest}: it is ${kind}${via}, not a regular file`);
  if (!force) {
    throw new BerthError('ALREADY_EXISTS', `${dest} already exists${link.isSymbolicLink() ? ' (a symbolic link; --force replaces the link, not its target)' : ''}: use --force to replace it`);
  }
}

function materializedDir(reg: RegistryContext, name: string, version: number): string {
  return join(reg.home, 'materialized', checkName(name), String(checkVersion(version)));
}

/** Hashes every file of a version under `dir`; the first problem found, or undefined. */
async function checkFiles(dir: string, v: VersionRecord): Promise<string | undefined> {
  for (const f of v.files) {
    let got;
    try {
      got = await hashFile(under(dir, f.path));
    } catch (err) {
      return `${f.path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (err as Error).message}`;
    }
    if (got.digest !== f.digest || got.size !== f.size) return `${f.path} hashes to ${got.digest} (${got.size} bytes), expected ${f.digest} (${f.size} bytes)`;
  }
  return undefined;
}

/**
 * A directory holding the version's files under their own names (hard links to the blobs),
 * every file verified against its digest on each call; returns the model.onnx path in it.
 */
export async function materializeVersion(reg: RegistryContext, name: string, version: number): Promise<string> {
  const v = await reg.getVersion(name, version);
  const dir = materializedDir(reg, name, version);
  const modelPath = join(dir, MODEL_FILE);
  const existing = await stat(dir).catch(() => undefined);
  if (existing) {
    if ((await checkFiles(dir, v)) === undefined) return modelPath;
    await reg.blobs.removeTree(dir);
  }
  // A remote artifact store fills its local cache first (what is cached is not fetched again).
  await reg.blobs.fetch(v.files);
  const tmp = reg.blobs.tempPath('mat');
  await mkdir(tmp, { recursive: true });
  try {
    for (const f of v.files) await reg.blobs.place(f.digest, under(tmp, f.path));
    let problem = await checkFiles(tmp, v);
    if (problem !== undefined && reg.blobs.location !== 'filesystem') {
      // The local store is a cache of a remote one: a damaged copy is dropped and fetched again
      // (verified on the way in), once.
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      for (const f of v.files) if (!(await reg.blobs.verify(f.digest, f.size)).ok) await reg.blobs.remove(f.digest);
      await reg.blobs.fetch(v.files);
      for (const f of v.files) await reg.blobs.place(f.digest, under(tmp, f.path));
      problem = await checkFiles(tmp, v);
    }
    if (problem !== undefined) {
      throw new BerthError('INTERNAL', `${name}:${version} failed verification: ${problem}; the blob store is damaged, run \`berth fsck\``);
    }
    await mkdir(dirname(dir), { recursive: true });
    try {
      await rename(tmp, dir);
      await fsyncDir(dirname(dir));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Another process materialized it first: use theirs once it verifies.
      const problem2 = await checkFiles(dir, v);
      if (problem2 !== undefined) throw new BerthError('INTERNAL', `${name}:${version} failed verification: ${problem2}`);
    }
    return modelPath;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Writes the model to `outPath` and its external data files beside it (under the locations
 * the model refers to), each verified against its digest while copied; external files are
 * renamed into place first and the model last, so a visible model always has its data.
 *
 * Every file goes to a fresh temporary file (created exclusively) and is renamed over its
 * destination, so a crash leaves the old file or the new one, never a mix, and nothing is
 * ever written through a link. A destination that exists is replaced only with `force`; one
 * that is not a regular file (a directory, a FIFO, a device, a socket, or a link to one) is
 * refused even then.
 */
export async function pullVersion(reg: RegistryContext, ref: string, outPath: string, opts: { force?: boolean } = {}): Promise<VersionRecord> {
  const v = await reg.resolve(ref);
  const target = resolve(outPath);
  const dir = dirname(target);
  const plan = v.files.map((f) => ({ f, dest: f.path === MODEL_FILE ? target : under(dir, f.path) }));
  const dests = new Set(plan.map((p) => p.dest));
  if (dests.size !== plan.length) throw invalidArgument(`cannot write ${outPath}: it is also the name of one of the model's external data files`);
  for (const { dest } of plan) {
    await checkLinkFreeUnder(dir, dest);
    await checkPullTarget(dest, opts.force === true);
  }
  await reg.blobs.fetch(v.files);
  await mkdir(dir, { recursive: true });
  const written: { tmp: string; dest: string }[] = [];
  try {
    for (const { f, dest } of plan) {
      await mkdir(dirname(dest), { recursive: true });
      const tmp = join(dirname(dest), `.${randomBytes(6).toString('hex')}.berth-pull.tmp`);
      written.push({ tmp, dest });
      let got;
      try {
        got = await copyHashed(reg.blobs.path(f.digest), tmp);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(await stat(reg.blobs.path(f.digest)).catch(() => undefined))) {
          throw new BerthError('INTERNAL', `blob ${f.digest} of ${v.name}:${v.version}/${f.path} is missing: run \`berth fsck\``);
        }
        throw err;
      }
      if (got.digest !== f.digest || got.size !== f.size) {
        throw new BerthError('INTERNAL', `${v.name}:${v.version}/${f.path} failed verification: the blob hashes to ${got.digest}, expected ${f.digest}; run \`berth fsck\``);
      }
    }
    // Model last: once it is visible, the data it points at is there.
    const order = [...written.filter((w) => w.dest !== target), ...written.filter((w) => w.dest === target)];
    for (const w of order) await rename(w.tmp, w.dest);
    for (const d of new Set(order.map((w) => dirname(w.dest)))) await fsyncDir(d);
    written.length = 0;
    return v;
  } finally {
    for (const w of written) await unlink(w.tmp).catch(() => undefined);
  }
}

/** Removes materialized copies of versions (they are recreated on demand). */
export async function clearMaterialized(reg: RegistryContext): Promise<void> {
  const dir = join(reg.home, 'materialized');
  for (const entry of await readdir(dir).catch(() => [] as string[])) await reg.blobs.removeTree(join(dir, entry));
}
