// The models an image carries, from the three kinds of MODEL argument `berth package` takes:
// an .onnx file, a model directory or repository (as `berth serve` takes them, core/repository.ts),
// or a registry reference NAME:VERSION / NAME@ALIAS. Each version's files are model.onnx and the
// external data files the model refers to, nothing else of its directory; they go under
// /models/NAME/VERSION/ with the model's config.json at /models/NAME/config.json, so the image's
// `berth serve /models` sees the same repository. A version that came from the registry also gets
// /models/NAME/VERSION/registry.json: name, version, digest, files, lineage.

import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { discoverModels, MODEL_FILENAME } from '../core/repository.js';
import { loadModel } from '../onnx/codec.js';
import { externalRef, isExternal, resolveLocation } from '../onnx/external.js';
import { forEachTensor } from '../onnx/walk.js';
import type { Registry } from '../registry/registry.js';
import type { VersionRecord } from '../registry/types.js';
import { DIR_MODE, FILE_MODE, type LayerEntry } from './layers/entries.js';
import type { Digest } from '../oci/types.js';

export interface ModelFile {
  /** path inside the version directory ('model.onnx', 'weights/w.bin') */
  rel: string;
  abs: string;
  size: number;
}

export interface PackagedVersion {
  version: number;
  files: ModelFile[];
  /** sha256 of model.onnx (the registry's version digest) */
  digest: Digest;
  /** the registry's record, when the version came from the registry */
  record?: VersionRecord;
}

export interface PackagedModel {
  name: string;
  configPath?: string;
  versions: PackagedVersion[];
}

/** NAME:VERSION or NAME@ALIAS, the forms `berth registry pull` takes. */
const REGISTRY_REF = /^[A-Za-z0-9][A-Za-z0-9._-]*(?::[1-9][0-9]*|@[A-Za-z0-9][A-Za-z0-9._-]*)$/;

export function isRegistryRef(arg: string): boolean {
  return REGISTRY_REF.test(arg);
}

async function sha256File(path: string): Promise<Digest> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return `sha256:${hash.digest('hex')}`;
}

/** model.onnx plus the external data files it refers to (each must lie inside its directory). */
async function versionFiles(modelPath: string): Promise<ModelFile[]> {
  const st = await stat(modelPath).catch(() => undefined);
  if (!st?.isFile()) throw new Error(`${modelPath}: no such model file`);
  const baseDir = dirname(modelPath);
  let model;
  try {
    model = await loadModel(modelPath, { externalData: false });
  } catch (err) {
    throw new Error(`${modelPath} is not a valid ONNX model: ${(err as Error).message}`);
  }
  const locations = new Set<string>();
  forEachTensor(model, (t) => {
    if (isExternal(t)) locations.add(resolveLocation(baseDir, externalRef(t).location));
  });
  const files: ModelFile[] = [{ rel: MODEL_FILENAME, abs: modelPath, size: st.size }];
  for (const abs of [...locations].sort()) {
    const rel = relative(baseDir, abs).split(sep).join('/');
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel === MODEL_FILENAME) throw new Error(`${modelPath}: external data file ${abs} is not a separate file inside the model's directory`);
    const fst = await stat(abs).catch(() => undefined);
    if (!fst?.isFile()) throw new Error(`${modelPath}: external data file ${rel} is missing`);
    files.push({ rel, abs, size: fst.size });
  }
  return files;
}

async function fromDisk(arg: string): Promise<PackagedModel[]> {
  const out: PackagedModel[] = [];
  for (const src of discoverModels([arg])) {
    if (src.error !== undefined) throw new Error(src.error);
    if (src.versions.size === 0) throw new Error(`${src.dir ?? arg}: model '${src.name}' has no version directories (NAME/1/model.onnx)`);
    const versions: PackagedVersion[] = [];
    for (const [version, path] of [...src.versions].sort((a, b) => a[0] - b[0])) {
      const files = await versionFiles(path);
      versions.push({ version, files, digest: await sha256File(path) });
    }
    out.push({ name: src.name, configPath: src.configPath, versions });
  }
  return out;
}

async function fromRegistry(registry: Registry, ref: string): Promise<PackagedModel> {
  const record = await registry.resolve(ref);
  const modelPath = await registry.materialize(record.name, record.version);
  const dir = dirname(modelPath);
  const files = record.files
    .map((f) => ({ rel: f.path, abs: f.path === MODEL_FILENAME ? modelPath : join(dir, f.path), size: f.size }))
    .sort((a, b) => (a.rel === MODEL_FILENAME ? -1 : b.rel === MODEL_FILENAME ? 1 : a.rel < b.rel ? -1 : 1));
  return { name: record.name, versions: [{ version: record.version, files, digest: record.digest as Digest, record }] };
}

/**
 * Resolves every MODEL argument. A path that exists wins over a registry reference of the same
 * spelling; the registry is opened only when a reference is given. Names must be unique.
 */
export async function resolveModels(args: readonly string[], openRegistry: () => Promise<Registry>): Promise<PackagedModel[]> {
  if (args.length === 0) throw new Error('name at least one MODEL: an .onnx file, a model repository, or a registry reference NAME:VERSION or NAME@ALIAS');
  const models: PackagedModel[] = [];
  let registry: Registry | undefined;
  try {
    for (const arg of args) {
      if (existsSync(arg)) models.push(...(await fromDisk(arg)));
      else if (isRegistryRef(arg)) {
        registry ??= await openRegistry();
        models.push(await fromRegistry(registry, arg));
      } else throw new Error(`${arg}: no such file or directory, and not a registry reference (NAME:VERSION or NAME@ALIAS)`);
    }
  } finally {
    await registry?.close();
  }
  const seen = new Set<string>();
  for (const m of models) {
    if (seen.has(m.name)) throw new Error(`model '${m.name}' is given more than once`);
    seen.add(m.name);
  }
  return models.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The metadata file of a registry version: what it is and where it came from. */
function registryJson(r: VersionRecord): Buffer {
  const doc = {
    name: r.name, version: r.version, digest: r.digest, files: r.files, size: r.size,
    inputs: r.inputs, outputs: r.outputs, metrics: r.metrics, tags: r.tags,
    createdAt: r.createdAt, createdBy: r.createdBy,
    ...(r.parent ? { parent: r.parent } : {}),
    ...(r.derivedBy ? { derivedBy: r.derivedBy } : {}),
  };
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
}

/** The model layer's entries under `root` (/models). */
export async function modelEntries(models: readonly PackagedModel[], root = '/models'): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [{ type: 'dir', path: root, mode: DIR_MODE }];
  for (const m of models) {
    out.push({ type: 'dir', path: `${root}/${m.name}`, mode: DIR_MODE });
    if (m.configPath) {
      const st = await stat(m.configPath);
      out.push({ type: 'file', path: `${root}/${m.name}/config.json`, mode: FILE_MODE, source: { file: m.configPath, size: st.size } });
    }
    for (const v of m.versions) {
      const vdir = `${root}/${m.name}/${v.version}`;
      out.push({ type: 'dir', path: vdir, mode: DIR_MODE });
      for (const f of v.files) out.push({ type: 'file', path: `${vdir}/${f.rel}`, mode: FILE_MODE, source: { file: f.abs, size: f.size } });
      if (v.record) out.push({ type: 'file', path: `${vdir}/registry.json`, mode: FILE_MODE, source: { bytes: registryJson(v.record) } });
    }
  }
  return out;
}
