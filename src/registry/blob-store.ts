/**
 * The content-addressed file store under BERTH_HOME:
 *
 *   blobs/sha256/<hex>      one file per distinct content, read-only (0444), never modified
 *   tmp/<host>.<pid>.<rand>.<kind>   files and directories being written
 *   materialized/<name>/<version>/   a version's files under their own names (hard links to blobs)
 *
 * Writing a blob: copy into tmp/ while hashing, fsync, then link() it to its content address
 * (atomic, and it fails rather than replacing when the blob already exists), then fsync the
 * directory. The temporary file is kept until the catalog has committed, so that a blob removed
 * by a concurrent `fsck --repair` in between can be put back (ensure()).
 *
 * BlobStore is what the registry needs of a store; FileBlobStore is the filesystem one, and the
 * OCI artifact store (oci-store.ts) is a FileBlobStore that publishes versions to an OCI registry
 * and fetches what its local copy (then a cache) lacks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, rename, rm, stat, unlink, utimes, chmod, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { BerthError } from '../core/errors.js';
import { isDigest } from './names.js';
import type { FileEntry, VersionRecord } from './types.js';

const CHUNK = 4 << 20;

/** A file copied into tmp/ and hashed, waiting to become a blob. */
export interface StagedBlob {
  digest: string;
  size: number;
  /** absolute path of the temporary copy */
  tmp: string;
  /** true when this push created the blob (false: it already existed) */
  created?: boolean;
}

export interface BlobInfo {
  digest: string;
  path: string;
  size: number;
  mtimeMs: number;
}

export interface TempInfo {
  /** relative to HOME */
  path: string;
  mtimeMs: number;
  /** live: its writer runs on this host; dead: its writer was on this host and is gone; unknown: another host or an unknown name */
  writer: 'live' | 'dead' | 'unknown';
}

/** What a push publishes before its catalog commit: the version's files, under the model's name. */
export interface PublishedFiles {
  name: string;
  /** the model file's digest (the version's digest) */
  digest: string;
  files: readonly FileEntry[];
}

/**
 * A content-addressed store, as push.ts, pull.ts and fsck.ts use it. Every implementation keeps
 * a local directory of blobs (path(), place()) that serving reads; a remote store fills it on
 * demand (fetch()).
 */
export interface BlobStore {
  readonly home: string;
  readonly blobDir: string;
  readonly tmpDir: string;
  /** where versions live for every reader: 'filesystem' or 'oci://HOST/REPO' */
  readonly location: string;
  init(): Promise<void>;
  /** the local path of a blob (present or not) */
  path(digest: string): string;
  tempPath(kind: string): string;
  /** copies a file into tmp/ while hashing it */
  stage(src: string): Promise<StagedBlob>;
  /** gives a staged file its content address in the local store */
  commit(staged: StagedBlob): Promise<void>;
  syncBlobDir(): Promise<void>;
  /**
   * Before the catalog commit: makes a version's files (committed locally) readable by every
   * reader of the store. Nothing to do for the filesystem; the OCI store uploads the blobs, then a
   * manifest naming them, so a crash leaves no manifest pointing at missing blobs.
   */
  publish(version: PublishedFiles): Promise<void>;
  /** After the catalog commit: names the version in the store where it can (best effort). */
  label(version: VersionRecord): Promise<void>;
  /** After the catalog commit: puts a blob back if a concurrent fsck --repair removed it. */
  ensure(staged: StagedBlob): Promise<void>;
  discard(staged: StagedBlob): Promise<void>;
  /**
   * Makes the files present in the local store, fetching what is missing and refusing any
   * content that does not hash to its digest; an error names what could not be had and why.
   */
  fetch(files: readonly Pick<FileEntry, 'digest' | 'size' | 'path'>[]): Promise<void>;
  verify(digest: string, size?: number): Promise<{ ok: boolean; present: boolean; actual?: string; size?: number }>;
  list(): Promise<BlobInfo[]>;
  temps(): Promise<TempInfo[]>;
  remove(digestOrPath: string): Promise<void>;
  /** places a (local) blob at a new path: a hard link when possible */
  place(digest: string, dest: string): Promise<void>;
  removeTree(dir: string): Promise<void>;
}

export async function fsyncDir(dir: string): Promise<void> {
  // Makes renames and links durable; not supported everywhere, hence best effort.
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    /* best effort */
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

async function writeAll(fh: FileHandle, buf: Uint8Array, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesWritten } = await fh.write(buf, done, length - done, position + done);
    done += bytesWritten;
  }
}

/** sha256 of a file, read in chunks. */
export async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const fh = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, size);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { digest: `sha256:${hash.digest('hex')}`, size };
  } finally {
    await fh.close();
  }
}

/**
 * Copies `src` to `dest` (a new file) while hashing what was read, fsyncs `dest`, and returns
 * the digest of the bytes written.
 */
export async function copyHashed(src: string, dest: string, mode = 0o644): Promise<{ digest: string; size: number }> {
  const input = await open(src, 'r');
  try {
    const output = await open(dest, 'wx', mode);
    try {
      const hash = createHash('sha256');
      const buf = Buffer.allocUnsafe(CHUNK);
      let size = 0;
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, CHUNK, size);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        await writeAll(output, buf, bytesRead, size);
        size += bytesRead;
      }
      await output.sync();
      return { digest: `sha256:${hash.digest('hex')}`, size };
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

const HOST = hostname().replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'host';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileBlobStore implements BlobStore {
  readonly home: string;
  readonly blobDir: string;
  readonly tmpDir: string;
  readonly location: string = 'filesystem';

  constructor(home: string) {
    this.home = home;
    this.blobDir = join(home, 'blobs', 'sha256');
    this.tmpDir = join(home, 'tmp');
  }

  async init(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
  }

  /** The path of a blob; refuses anything that is not a well-formed digest. */
  path(digest: string): string {
    if (!isDigest(digest)) throw new BerthError('INTERNAL', `not a sha256 digest: ${JSON.stringify(digest)}`);
    return join(this.blobDir, digest.slice('sha256:'.length));
  }

  /** A fresh name under tmp/ that identifies this process (for fsck's liveness check). */
  tempPath(kind: string): string {
    return join(this.tmpDir, `${HOST}.${process.pid}.${randomBytes(6).toString('hex')}.${kind}`);
  }

  /** Copies a file into tmp/ (hashing it on the way) and fsyncs it. */
  async stage(src: string): Promise<StagedBlob> {
    const tmp = this.tempPath('blob');
    try {
      const { digest, size } = await copyHashed(src, tmp, 0o444);
      return { digest, size, tmp };
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Gives a staged file its content address. An existing blob is kept (same content by
   * definition) and its mtime refreshed, which tells fsck it is in use again.
   */
  async commit(staged: StagedBlob): Promise<void> {
    const dest = this.path(staged.digest);
    try {
      await link(staged.tmp, dest);
      staged.created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const now = new Date();
      await utimes(dest, now, now).catch(() => undefined);
      staged.created = false;
    }
  }

  /** The files are in this directory already: nothing to publish. */
  async publish(_version: PublishedFiles): Promise<void> {}

  async label(_version: VersionRecord): Promise<void> {}

  /** Nothing to fetch: a missing blob is reported by place() and fsck. */
  async fetch(_files: readonly Pick<FileEntry, 'digest' | 'size' | 'path'>[]): Promise<void> {}

  /** After the catalog commit: puts the blob back if something removed it meanwhile. */
  async ensure(staged: StagedBlob): Promise<void> {
    const dest = this.path(staged.digest);
    try {
      await stat(dest);
    } catch {
      await link(staged.tmp, dest).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
  }

  async discard(staged: StagedBlob): Promise<void> {
    await unlink(staged.tmp).catch(() => undefined);
  }

  async syncBlobDir(): Promise<void> {
    await fsyncDir(this.blobDir);
  }

  /** Hashes a blob; `ok` when it is present and its content matches its name (and `size`, when given). */
  async verify(digest: string, size?: number): Promise<{ ok: boolean; present: boolean; actual?: string; size?: number }> {
    let got: { digest: string; size: number };
    try {
      got = await hashFile(this.path(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, present: false };
      throw err;
    }
    return { ok: got.digest === digest && (size === undefined || got.size === size), present: true, actual: got.digest, size: got.size };
  }

  /** Every file under blobs/sha256 (names that are not digests are reported with digest ''). */
  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const entry of await readdir(this.blobDir).catch(() => [] as string[])) {
      const path = join(this.blobDir, entry);
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile()) continue;
      const digest = /^[0-9a-f]{64}$/.test(entry) ? `sha256:${entry}` : '';
      out.push({ digest, path, size: st.size, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  /** Entries under tmp/, with whether their writer is still running on this host. */
  async temps(): Promise<TempInfo[]> {
    const out: TempInfo[] = [];
    for (const entry of await readdir(this.tmpDir).catch(() => [] as string[])) {
      const st = await stat(join(this.tmpDir, entry)).catch(() => undefined);
      if (!st) continue;
      const m = /^(.+)\.(\d+)\.[0-9a-f]+\.[a-z]+$/.exec(entry);
      const writer = m === null || m[1] !== HOST ? 'unknown' : pidAlive(Number(m[2])) ? 'live' : 'dead';
      out.push({ path: join('tmp', entry), mtimeMs: st.mtimeMs, writer });
    }
    return out;
  }

  /** Removes a blob (fsck --repair). */
  async remove(digestOrPath: string): Promise<void> {
    const path = digestOrPath.startsWith('sha256:') ? this.path(digestOrPath) : digestOrPath;
    await chmod(path, 0o644).catch(() => undefined);
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /**
   * Places a blob at `dest` (a new path): a hard link when possible (no copy, same file system),
   * else a copy (reflinked where the file system can).
   */
  async place(digest: string, dest: string): Promise<void> {
    await mkdir(dirname(dest), { recursive: true });
    try {
      await link(this.path(digest), dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new BerthError('INTERNAL', `blob ${digest} is missing from ${this.blobDir}: run \`berth fsck\``);
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
      await copyFile(this.path(digest), dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    }
  }

  /** Moves a directory out of the way and removes it. */
  async removeTree(dir: string): Promise<void> {
    const trash = this.tempPath('trash');
    try {
      await rename(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rm(trash, { recursive: true, force: true });
  }
}
