/**
 * Pushing a version. Crash safety: the version's files are copied, hashed and fsynced into tmp/,
 * linked to their content addresses and the blob directory fsynced; only then is the catalog row
 * written, in one transaction. A process killed before the commit leaves at most orphan blobs and
 * temporary files (fsck removes them); one killed after it leaves a complete version.
 */
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { invalidArgument, notFound } from '../core/errors.js';
import { datatypeFromOnnx } from '../core/tensor.js';
import { loadModel, InvalidModelError } from '../onnx/codec.js';
import { externalRef, isExternal, resolveLocation } from '../onnx/external.js';
import { inspectModel, type ValueSummary } from '../onnx/inspect.js';
import { elemTypeNumber } from '../onnx/tensor.js';
import { forEachTensor } from '../onnx/walk.js';
import type { StagedBlob } from './blob-store.js';
import type { RegistryContext } from './context.js';
import { MODEL_FILE, checkActor, checkMetrics, checkName, checkTags, checkVersion, defaultActor } from './names.js';
import type { FileEntry, TensorSignature, VersionRecord } from './types.js';
import { checkCreatable } from './write-checks.js';

export interface PushMeta {
  name: string;
  /** the model's description (set on creation; a different one updates it, audited as model.update) */
  description?: string;
  /** the version's tags */
  tags?: Record<string, string>;
  metrics?: Record<string, number>;
  /** the version this one derives from: { name, version } or a reference ('N:V', 'N@alias', 'N') */
  parent?: { name: string; version: number } | string;
  derivedBy?: string;
  actor?: string;
  /** progress: 'copying' files into the store, 'linking' blobs, 'publishing' them to a remote artifact store, 'committing' the catalog rows, 'committed' */
  onProgress?: (phase: PushPhase) => void;
}

export type PushPhase = 'copying' | 'linking' | 'publishing' | 'committing' | 'committed';

/** ONNX type name → OIP datatype (FP32, INT64, ...); the ONNX name when OIP has none. */
function signatureOf(v: ValueSummary): TensorSignature {
  const elem = elemTypeNumber(v.dtype);
  const datatype = (elem !== undefined ? datatypeFromOnnx(elem) : undefined) ?? v.dtype;
  const shape = (v.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: v.name, datatype, shape };
}

/** A version-relative path as stored: forward slashes, inside the version, not the model file. */
function storedPath(baseDir: string, full: string): string {
  const rel = relative(baseDir, full).split(sep).join('/');
  if (rel === '' || rel.startsWith('../') || rel === '..' || isAbsolute(rel)) throw invalidArgument(`external data file ${full} is outside the model's directory`);
  return rel;
}

export async function pushVersion(reg: RegistryContext, file: string, meta: PushMeta): Promise<VersionRecord> {
  const name = checkName(meta.name);
  const tags = checkTags(meta.tags);
  const metrics = checkMetrics(meta.metrics);
  const actor = checkActor(meta.actor ?? defaultActor());
  if (meta.description !== undefined && (typeof meta.description !== 'string' || meta.description.length > 10_000)) throw invalidArgument('description must be a string of at most 10000 characters');
  if (meta.derivedBy !== undefined && (typeof meta.derivedBy !== 'string' || meta.derivedBy.length > 1000)) throw invalidArgument('derivedBy must be a string of at most 1000 characters');
  let parent: { name: string; version: number } | undefined;
  if (typeof meta.parent === 'string') {
    const p = await reg.resolve(meta.parent);
    parent = { name: p.name, version: p.version };
  } else if (meta.parent !== undefined) {
    parent = { name: checkName(meta.parent.name, 'parent model name'), version: checkVersion(meta.parent.version) };
    await reg.getVersion(parent.name, parent.version);
  }

  // A push that would create the model checks the new-name rules before any file is copied
  // (and again in the transaction, in case another writer created a model meanwhile).
  if (!(await reg.catalog.getModel(name))) await checkCreatable(reg.catalog, name);

  const source = resolve(file);
  const st = await stat(source).catch(() => undefined);
  if (!st?.isFile()) throw invalidArgument(`no such model file: ${file}`);
  const baseDir = dirname(source);

  const staged: StagedBlob[] = [];
  const progress = meta.onProgress ?? (() => undefined);
  try {
    progress('copying');
    // 1. The model file, copied and hashed; the signature is read from that copy, so it
    //    describes exactly the bytes registered.
    const modelBlob = await reg.blobs.stage(source);
    staged.push(modelBlob);
    let model;
    try {
      model = await loadModel(modelBlob.tmp, { externalData: false });
    } catch (err) {
      if (err instanceof InvalidModelError) throw invalidArgument(`${file} is not a valid ONNX model: ${err.message.replace(/^not a valid ONNX model: [^:]*: /, '')}`);
      throw err;
    }
    // 2. External data files, under the locations the model refers to.
    const locations = new Map<string, { full: string; end: number }>();
    try {
      forEachTensor(model, (t) => {
        if (!isExternal(t)) return;
        const ref = externalRef(t);
        const full = resolveLocation(baseDir, ref.location);
        const end = ref.offset + (ref.length ?? 0);
        const seen = locations.get(ref.location);
        locations.set(ref.location, { full, end: Math.max(end, seen?.end ?? 0) });
      });
    } catch (err) {
      throw invalidArgument(`${file}: ${(err as Error).message}`);
    }
    const files: FileEntry[] = [{ path: MODEL_FILE, digest: modelBlob.digest, size: modelBlob.size }];
    for (const [location, { full, end }] of locations) {
      const path = storedPath(baseDir, full);
      if (path === MODEL_FILE || files.some((f) => f.path === path)) throw invalidArgument(`${file}: external data location '${location}' collides with another file of the version`);
      const fst = await stat(full).catch(() => undefined);
      if (!fst?.isFile()) throw invalidArgument(`${file}: external data file '${location}' is missing`);
      const blob = await reg.blobs.stage(full);
      staged.push(blob);
      if (end > blob.size) throw invalidArgument(`${file}: external data '${location}' is ${blob.size} bytes but tensors reference up to byte ${end}`);
      files.push({ path, digest: blob.digest, size: blob.size });
    }
    const summary = inspectModel(model);
    const inputs = summary.inputs.map(signatureOf);
    const outputs = summary.outputs.map(signatureOf);

    // 3. Content addresses, made durable before any catalog row can point at them.
    progress('linking');
    for (const blob of staged) await reg.blobs.commit(blob);
    await reg.blobs.syncBlobDir();
    // 3b. Where every replica reads them (an OCI registry: blobs, then the manifest), still
    //     before the catalog row exists.
    if (reg.blobs.location !== 'filesystem') progress('publishing');
    await reg.blobs.publish({ name, digest: modelBlob.digest, files });

    // 4. The catalog rows, last, in one transaction that allocates the version number.
    progress('committing');
    const record = await reg.catalog.write(async (tx) => {
      const now = new Date().toISOString();
      let current = await tx.getModel(name);
      if (!current) {
        await checkCreatable(tx, name);
        const created = { name, description: meta.description ?? '', tags: {}, createdAt: now };
        await tx.insertModel(created);
        await tx.appendAudit({ at: now, actor, action: 'model.create', model: name, after: { name, description: created.description, tags: {} } });
        current = { ...created, latestVersion: 0, aliases: {} };
      } else if (meta.description !== undefined && meta.description !== current.description) {
        await tx.updateModel(name, { description: meta.description });
        await tx.appendAudit({ at: now, actor, action: 'model.update', model: name, before: { description: current.description }, after: { description: meta.description } });
      }
      if (parent && !(await tx.getVersion(parent.name, parent.version))) throw notFound(`parent ${parent.name}:${parent.version} does not exist`);
      const v: VersionRecord = {
        name,
        version: current.latestVersion + 1,
        digest: modelBlob.digest,
        files,
        size: files.reduce((n, f) => n + f.size, 0),
        inputs,
        outputs,
        metrics,
        tags,
        createdAt: now,
        createdBy: actor,
        ...(parent ? { parent } : {}),
        ...(meta.derivedBy !== undefined ? { derivedBy: meta.derivedBy } : {}),
      };
      await tx.insertVersion(v);
      await tx.appendAudit({
        at: now, actor, action: 'version.create', model: name,
        after: { version: v.version, digest: v.digest, size: v.size, files: v.files.length, ...(parent ? { parent } : {}), ...(v.derivedBy ? { derivedBy: v.derivedBy } : {}) },
      });
      return v;
    });
    progress('committed');
    // 5. A concurrent `fsck --repair` may have taken a deduplicated blob for an orphan.
    for (const blob of staged) await reg.blobs.ensure(blob);
    // 6. The store's own name for the version (OCI: the tag NAME.vN). The version is complete
    //    without it (its manifest was stored by digest before the commit), hence best effort.
    await reg.blobs.label(record).catch(() => undefined);
    return record;
  } finally {
    for (const blob of staged) await reg.blobs.discard(blob);
  }
}
