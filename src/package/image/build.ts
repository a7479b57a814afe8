// Writes an image plan into an OCI layout: the base's layers copied as they are (checked against
// their digests), each planned layer as a deterministic tar layer, then the config, the manifest
// and the tag. Nothing here reads the clock or the environment: the plan decides every byte.

import { MEDIA_TYPES, type Descriptor, type Digest, type ImageConfig, type ImageManifest } from '../oci/types.js';
import type { OciLayout } from '../oci/layout.js';
import { writeTarLayer, type WrittenLayer } from '../layers/tar-layer.js';
import type { LayerCache } from '../layers/layer-cache.js';
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
  /** reused from the layer cache rather than written */
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

export interface BuildOptions {
  mtime: number;
  progress?: BuildProgress;
  /** built layers to reuse by their inputs; the models layer, the one that changes, is never cached */
  cache?: LayerCache;
}

/** A planned layer from the cache when its inputs are unchanged, else written (and then cached). */
async function layerFor(lp: ImagePlan['layers'][number], layout: OciLayout, opts: BuildOptions): Promise<WrittenLayer & { cached: boolean }> {
  const cache = lp.name === 'models' ? undefined : opts.cache;
  const key = cache ? await cache.key(lp.entries, opts.mtime).catch(() => undefined) : undefined;
  if (cache && key) {
    const hit = await cache.restore(key, layout);
    if (hit) return { ...hit, cached: true };
  }
  const written = await writeTarLayer(layout, lp.entries, { mtime: opts.mtime, onBytes: (n) => opts.progress?.layerBytes?.(lp.name, n) });
  if (cache && key) await cache.store(key, layout, written);
  return { ...written, cached: false };
}

export async function buildImage(plan: ImagePlan, layout: OciLayout, opts: BuildOptions): Promise<BuiltImage> {
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
    history.push(...(base.config.history ?? []));
  }

  for (const lp of plan.layers) {
    opts.progress?.layerStarted?.(lp.name, plannedBytes(lp));
    const written = await layerFor(lp, layout, opts);
    descriptors.push(written.descriptor);
    diffIds.push(written.diffId);
    history.push({ created, created_by: `berth package: ${lp.name}`, comment: lp.description });
    const built: BuiltLayer = { name: lp.name, digest: written.descriptor.digest, size: written.descriptor.size, diffId: written.diffId, tarSize: written.tarSize, cached: written.cached };
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
