// The base an image is built on. `resolveBase` is the seam: it takes the --base reference and
// returns the base's layout, manifest and config. Here: `oci:DIR[:TAG]` (a local OCI image layout)
// and `scratch` (no base: the model-only image). A registry reference (`REGISTRY/REPO:TAG`) goes to
// the resolver handed in as `pullFromRegistry`, which pulls into a local layout and returns the
// same shape, recorded by digest.

import { resolve as resolvePath } from 'node:path';
import { OciLayout } from '../oci/layout.js';
import { MEDIA_TYPES, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../../oci/types.js';

export interface BaseImage {
  /** how to name the base in labels and in a Dockerfile's FROM: 'scratch', 'oci:/abs/dir:tag', 'registry/repo@sha256:…' */
  ref: string;
  /** the reference the user gave */
  given: string;
  /** undefined for scratch */
  layout?: OciLayout;
  manifestDescriptor?: Descriptor;
  manifest?: ImageManifest;
  config?: ImageConfig;
}

export type RegistryBaseResolver = (ref: string, platform: Platform) => Promise<BaseImage>;

/** `oci:DIR[:TAG]` → { dir, tag }. A tag is what follows the last ':' after the last '/'. */
export function parseOciRef(ref: string): { dir: string; tag?: string } {
  const rest = ref.slice('oci:'.length);
  const slash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', slash + 1);
  if (colon < 0) return { dir: rest };
  return { dir: rest.slice(0, colon), tag: rest.slice(colon + 1) || undefined };
}

function platformMatches(p: { os?: string; architecture?: string }, want: Platform): boolean {
  return p.os === want.os && p.architecture === want.architecture;
}

/** Reads a base from a local OCI layout, choosing the platform's manifest when the tag names an index. */
export async function baseFromLayout(given: string, dir: string, tag: string | undefined, platform: Platform): Promise<BaseImage> {
  const layout = new OciLayout(resolvePath(dir));
  let desc = await layout.resolve(tag);
  if (desc.mediaType === MEDIA_TYPES.index || desc.mediaType === MEDIA_TYPES.dockerManifestList) {
    const index = await layout.readJsonBlob<ImageIndex>(desc);
    const match = index.manifests.find((m) => m.platform && platformMatches(m.platform, platform));
    if (!match) throw new Error(`base ${given} has no image for ${platform.os}/${platform.architecture}`);
    desc = match;
  }
  if (desc.mediaType !== MEDIA_TYPES.manifest && desc.mediaType !== MEDIA_TYPES.dockerManifest) {
    throw new Error(`base ${given} is a ${desc.mediaType}, not an image manifest`);
  }
  const manifest = await layout.readJsonBlob<ImageManifest>(desc);
  const config = await layout.readJsonBlob<ImageConfig>(manifest.config);
  if (!platformMatches(config, platform)) {
    throw new Error(`base ${given} is ${config.os}/${config.architecture}, not ${platform.os}/${platform.architecture} (--platform)`);
  }
  if (config.rootfs?.diff_ids?.length !== manifest.layers.length) throw new Error(`base ${given}: its config lists ${config.rootfs?.diff_ids?.length ?? 0} layers, its manifest ${manifest.layers.length}`);
  for (const l of manifest.layers) {
    if (!(await layout.hasBlob(l.digest, l.size))) throw new Error(`base ${given} is incomplete: layer ${l.digest} is missing`);
  }
  return { ref: `oci:${layout.dir}${tag ? `:${tag}` : ''}`, given, layout, manifestDescriptor: desc, manifest, config };
}

export async function resolveBase(ref: string, platform: Platform, pullFromRegistry?: RegistryBaseResolver): Promise<BaseImage> {
  if (ref === 'scratch') return { ref: 'scratch', given: ref };
  if (ref.startsWith('oci:')) {
    const { dir, tag } = parseOciRef(ref);
    if (!dir) throw new Error(`--base ${ref}: expected oci:DIR[:TAG]`);
    return baseFromLayout(ref, dir, tag, platform);
  }
  if (!pullFromRegistry) throw new Error(`--base ${ref}: pulling a base from a registry is not available in this build; use oci:DIR[:TAG] (e.g. skopeo copy docker://${ref} oci:base:latest)`);
  return pullFromRegistry(ref, platform);
}

/** The base's Node version: config Env NODE_VERSION (the official images) or the label io.berth.node.version (our base script). */
export function baseNodeVersion(base: BaseImage): string | undefined {
  const label = base.config?.config?.Labels?.['io.berth.node.version'];
  if (label) return label.replace(/^v/, '');
  const env = base.config?.config?.Env?.find((e) => e.startsWith('NODE_VERSION='));
  return env ? env.slice('NODE_VERSION='.length).replace(/^v/, '') : undefined;
}

/** Where the base's node binary is: the label io.berth.node.path, else /usr/local/bin/node (official images, our base). */
export function baseNodePath(base: BaseImage): string {
  return base.config?.config?.Labels?.['io.berth.node.path'] ?? '/usr/local/bin/node';
}

/** berth's engines field, >=20.19. */
export const MIN_NODE: [number, number] = [20, 19];

export function nodeVersionUsable(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
}
