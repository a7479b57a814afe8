// `berth package` without the command line: resolve the base and the models, plan the image,
// build it once into a staging layout beside the first output, then publish the outputs
// (--oci: rename; --archive: a tar written beside its name and renamed; --dockerfile: a context).
// Every failure removes what it staged: an output is there complete or not at all.

import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Registry } from '../registry/registry.js';
import { buildImage, type BuildProgress, type BuiltLayer } from './image/build.js';
import { resolveBase, type RegistryBaseResolver } from './image/base.js';
import { hostPlatform, parsePlatform, planImage } from './image/plan.js';
import { layerMtime, sourceDateEpoch } from './layers/tar-layer.js';
import { LayerCache } from './layers/cache.js';
import { resolveModels } from './models.js';
import { OciLayout } from './oci/layout.js';
import { writeArchive } from './output/archive.js';
import { checkOciTarget, ensureParent, publishOciDir, stagingPath } from './output/oci-dir.js';
import { writeDockerfileContext } from './dockerfile.js';
import type { Digest } from '../oci/types.js';
import type { PushResult } from './distribution/push.js';

export interface PackageOptions {
  models: string[];
  /** NAME:TAG; default: the first model's name, tag latest */
  tag?: string;
  oci?: string;
  archive?: string;
  dockerfile?: string;
  /** oci:DIR[:TAG], scratch (model-only), or a registry reference (needs pullBase) */
  base?: string;
  platform?: string;
  node?: string;
  modelOnly?: boolean;
  busybox?: string;
  appRoot?: string;
  openRegistry: () => Promise<Registry>;
  pullBase?: RegistryBaseResolver;
  /** --push: sends the built image (tagged `tag` in the staging layout) to a registry, before any local output is published */
  push?: (layout: OciLayout, tag: string) => Promise<PushResult>;
  progress?: BuildProgress;
  env?: NodeJS.ProcessEnv;
  /** a layer cache directory (the CLI: BERTH_HOME/cache/layers); none when omitted */
  cacheDir?: string;
}

export interface PackageResult {
  tag: string;
  platform: string;
  /** undefined when only --dockerfile was asked for */
  manifestDigest?: Digest;
  configDigest?: Digest;
  layers: BuiltLayer[];
  base: { ref: string; digest?: Digest };
  models: { name: string; version: number; digest: Digest }[];
  outputs: { oci?: string; archive?: string; dockerfile?: string };
  /** what --push did: the reference by digest, blobs uploaded and skipped */
  push?: PushResult;
}

/** NAME[:TAG] as an image reference: lowercase repository path (an optional registry host[:port]), tag of [\w.-]. */
const TAG_RE = /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$/;

export function checkTag(tag: string): string {
  if (!TAG_RE.test(tag)) throw new Error(`--tag ${tag}: expected NAME:TAG (a lowercase repository name, e.g. digits-server:1)`);
  return tag.slice(tag.lastIndexOf('/') + 1).includes(':') ? tag : `${tag}:latest`;
}

/** A full or over-quota file system named by the output it was writing, not as a bare "ENOSPC: …, write". */
function outputError(err: unknown, o: PackageOptions): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
  const where = [o.oci && `--oci ${o.oci}`, o.archive && `--archive ${o.archive}`].filter(Boolean).join(' / ');
  const why = code === 'ENOSPC' ? 'no space left on the device' : 'the disk quota is exceeded';
  return new Error(`${where}: ${why} (${code}) while writing the image; nothing was left behind`, { cause: err });
}

export async function packageImage(o: PackageOptions): Promise<PackageResult> {
  if (!o.oci && !o.archive && !o.dockerfile && !o.push) throw new Error('name an output: --oci DIR, --archive FILE, --dockerfile DIR or --push REGISTRY/REPO:TAG');
  const platform = o.platform ?? hostPlatform() ?? 'linux/amd64';
  const { platform: target } = parsePlatform(platform);
  const env = o.env ?? process.env;
  const epoch = sourceDateEpoch(env);
  if (o.oci) await checkOciTarget(o.oci);
  if (o.archive) await ensureParent(o.archive);
  const baseRef = o.base ?? (o.modelOnly ? 'scratch' : undefined);
  if (!baseRef) throw new Error('the server image needs --base: oci:DIR[:TAG] (e.g. from scripts/build-base.sh) or a registry reference');
  const base = await resolveBase(baseRef, target, o.pullBase);
  const models = await resolveModels(o.models, o.openRegistry);
  const tag = checkTag(o.tag ?? `${models[0]!.name.toLowerCase()}:latest`);
  const plan = await planImage({ models, base, platform, modelOnly: o.modelOnly, node: o.node, tag, appRoot: o.appRoot, busybox: o.busybox, epoch });

  const result: PackageResult = {
    tag, platform, layers: [],
    base: { ref: base.ref, digest: base.manifestDescriptor?.digest },
    models: models.flatMap((m) => m.versions.map((v) => ({ name: m.name, version: v.version, digest: v.digest }))),
    outputs: {},
  };
  if (o.oci || o.archive || o.push) {
    const staging = stagingPath(o.oci ?? o.archive ?? join(tmpdir(), 'berth-push'), 'oci');
    try {
      const layout = new OciLayout(staging);
      const cache = o.cacheDir ? new LayerCache(o.cacheDir) : undefined;
      const built = await buildImage(plan, layout, { mtime: layerMtime(env), progress: o.progress, cache });
      // pushed first: a refused push (credentials, network) fails the command with nothing published
      if (o.push) result.push = await o.push(layout, tag);
      if (o.archive) await writeArchive(layout, built, tag, o.archive, layerMtime(env));
      if (o.oci) await publishOciDir(staging, o.oci);
      Object.assign(result, { manifestDigest: built.manifest.digest, configDigest: built.config.digest, layers: built.layers });
      if (o.oci) result.outputs.oci = resolve(o.oci);
      if (o.archive) result.outputs.archive = resolve(o.archive);
    } catch (err) {
      throw outputError(err, o);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  if (o.dockerfile) {
    await writeDockerfileContext(plan, o.dockerfile);
    result.outputs.dockerfile = resolve(o.dockerfile);
  }
  return result;
}
