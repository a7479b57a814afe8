// Writes an image plan into an OCI layout: the base's layers copied as they are (checked against
// their digests), each planned layer as a deterministic tar layer, then the config, the manifest
// and the tag. Nothing here reads the clock or the environment: the plan decides every byte.

import { MEDIA_TYPES, type Descriptor, type Digest, type ImageConfig, type ImageManifest } from '../../oci/types.js';
import type { OciLayout } from '../oci/layout.js';
import { writeTarLayer } from '../layers/tar-layer.js';
import type { LayerCache } from '../layers/cache.js';
import type { ImagePlan } from './plan.js';

export interface BuiltLayer {
  /** 'base', or the planned layer's name */
  name: string;
  digest: Digest;
  /** compressed bytes */
  size: number;
  diffId: Digest;
  /** uncompressed bytes, for the layers written here */
  tarSize?: number;
  /** true when the layer came from the layer cache instead of being written again */
  cached?: boolean;
}

export interface BuiltImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: BuiltLayer[];
}

export interface BuildProgress {
  layerStarted?(name: string, totalBytes: number): void;
  layerBytes?(name: string, n: number): void;
  layerDone?(layer: BuiltLayer): void;
}

/** Sum of the file sizes a layer will hold: the denominator of a progress bar. */
function plannedBytes(plan: ImagePlan['layers'][number]): number {
  let n = 0;
  for (const e of plan.entries) if (e.type === 'file') n += 'bytes' in e.source ? e.source.bytes.byteLength : e.source.size;
  return n;
}

export async function buildImage(plan: ImagePlan, layout: OciLayout, opts: { mtime: number; progress?: BuildProgress; cache?: LayerCache }): Promise<BuiltImage> {
  await layout.init();
  const layers: BuiltLayer[] = [];
  const descriptors: Descriptor[] = [];
  const diffIds: Digest[] = [];
  const history: NonNullable<ImageConfig['history']> = [];
  const created = plan.config.created;

  const base = plan.base;
  if (base.layout && base.manifest && base.config) {
    for (const [i, l] of base.manifest.layers.entries()) {
      if (!(await layout.hasBlob(l.digest, l.size))) await layout.writeBlobStream(base.layout.openBlob(l.digest), l.mediaType, { digest: l.digest, size: l.size });
      const mediaType = l.mediaType === MEDIA_TYPES.dockerLayerGzip ? MEDIA_TYPES.layerGzip : l.mediaType;
      descriptors.push({ mediaType, digest: l.digest, size: l.size });
      diffIds.push(base.config.rootfs.diff_ids[i]!);
      layers.push({ name: 'base', digest: l.digest, size: l.size, diffId: base.config.rootfs.diff_ids[i]! });
    }
    // tools (buildah, docker) require one non-empty history entry per layer; a base without a
    // consistent history gets one entry per layer instead
    const baseHistory = base.config.history ?? [];
    const nonEmpty = baseHistory.filter((h) => !h.empty_layer).length;
    if (nonEmpty === base.manifest.layers.length) history.push(...baseHistory);
    else history.push(...base.manifest.layers.map(() => ({ created, created_by: `base ${base.manifestDescriptor?.digest ?? ''}` })));
  }

  for (const lp of plan.layers) {
    opts.progress?.layerStarted?.(lp.name, plannedBytes(lp));
    const key = opts.cache ? await opts.cache.key(lp.entries, opts.mtime) : undefined;
    let written = key ? await opts.cache!.get(key, layout) : undefined;
    const cached = written !== undefined;
    written ??= await writeTarLayer(layout, lp.entries, { mtime: opts.mtime, onBytes: (n) => opts.progress?.layerBytes?.(lp.name, n) });
    if (key && !cached) await opts.cache!.put(key, layout, written);
    descriptors.push(written.descriptor);
    diffIds.push(written.diffId);
    history.push({ created, created_by: `berth package: ${lp.name}`, comment: lp.description });
    const built: BuiltLayer = { name: lp.name, digest: written.descriptor.digest, size: written.descriptor.size, diffId: written.diffId, tarSize: written.tarSize, cached };
    layers.push(built);
    opts.progress?.layerDone?.(built);
  }

  const config: ImageConfig = { ...plan.config, rootfs: { type: 'layers', diff_ids: diffIds }, history };
  const configDesc = await layout.writeBlobBytes(Buffer.from(JSON.stringify(config)), MEDIA_TYPES.config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: configDesc,
    layers: descriptors,
    annotations: plan.annotations,
  };
  const manifestDesc = await layout.writeBlobBytes(Buffer.from(JSON.stringify(manifest)), MEDIA_TYPES.manifest);
  const tagged: Descriptor = { ...manifestDesc, platform: { os: plan.platform.os, architecture: plan.platform.architecture } };
  await layout.tag(tagged, plan.tag);
  return { manifest: manifestDesc, config: configDesc, layers };
}
