/**
 * What `serve --registry` last applied from the catalog, kept on disk so that a replica that
 * starts while the catalog cannot be read still serves what it served before
 * (HOME/serving/applied-<catalog hash>.json). Written after every catalog read that applied at
 * least one model (tmp file, fsync, rename, fsync of the directory: a crash leaves the old file
 * or the new one, never half of one). Replicas sharing a HOME share the file: it describes the
 * catalog's state as last applied there, and every replica follows the same catalog.
 *
 * Each version lists its materialized model.onnx and the digest of every file, so that a start
 * without the catalog loads only bytes that still verify.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { z } from 'zod';
import type { TrafficPolicy } from '../core/traffic.js';

const FileSchema = z.strictObject({ path: z.string().min(1), digest: z.string().regex(/^sha256:[0-9a-f]{64}$/), size: z.number().int().nonnegative() });
const PolicySchema = z.strictObject({
  production: z.string(),
  canary: z.strictObject({ version: z.string(), percent: z.number() }).optional(),
  shadow: z.string().optional(),
});
const StateSchema = z.strictObject({
  format: z.literal(1),
  catalog: z.string(),
  changeSeq: z.number().int().nullable(),
  savedAt: z.string(),
  models: z.record(z.string(), z.strictObject({
    policy: PolicySchema,
    versions: z.record(z.string(), z.strictObject({ modelPath: z.string(), files: z.array(FileSchema) })),
  })),
});

export type AppliedState = z.infer<typeof StateSchema>;
export type CachedVersion = AppliedState['models'][string]['versions'][string];

/** HOME/serving/applied-<first 16 hex of sha256(catalog location)>.json */
export function appliedStatePath(home: string, catalogLocation: string): string {
  const hash = createHash('sha256').update(catalogLocation).digest('hex').slice(0, 16);
  return join(home, 'serving', `applied-${hash}.json`);
}

/** Atomic replace: readers see the previous file or this one. */
export async function writeAppliedState(path: string, state: AppliedState): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(JSON.stringify(state));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** The saved state, undefined when there is none; a damaged file is an error (with its reason). */
export async function readAppliedState(path: string): Promise<AppliedState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = StateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${path} is not a saved serving state: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

async function sha256(path: string): Promise<{ digest: string; size: number }> {
  const fh = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of fh.createReadStream({ autoClose: false })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { digest: `sha256:${hash.digest('hex')}`, size };
  } finally {
    await fh.close();
  }
}

/**
 * The model path of a cached version when every one of its files is still there with the
 * digest the catalog gave it; otherwise throws the reason.
 */
export async function verifyCachedVersion(version: CachedVersion): Promise<string> {
  const dir = dirname(version.modelPath);
  for (const f of version.files) {
    const rel = normalize(f.path);
    if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) throw new Error(`refusing file path '${f.path}'`);
    let got;
    try {
      got = await sha256(join(dir, rel));
    } catch (err) {
      throw new Error(`${f.path} is not in the local cache (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (got.digest !== f.digest || got.size !== f.size) throw new Error(`${f.path} in the local cache hashes to ${got.digest}, expected ${f.digest}`);
  }
  return version.modelPath;
}

/** A policy as saved (a plain copy, without undefined fields). */
export function savedPolicy(policy: TrafficPolicy): AppliedState['models'][string]['policy'] {
  return {
    production: policy.production,
    ...(policy.canary ? { canary: { version: policy.canary.version, percent: policy.canary.percent } } : {}),
    ...(policy.shadow !== undefined ? { shadow: policy.shadow } : {}),
  };
}
