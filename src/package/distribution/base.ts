// `--base REGISTRY/REPO:TAG`: the registry side of image/base.ts's seam. The base is pulled into a
// content-addressed cache layout shared by builds (a second build with the same base downloads
// only the manifest), for the target platform, and recorded by the digest of its manifest.

import { OciLayout } from '../oci/layout.js';
import type { ImageManifest, Platform } from '../../oci/types.js';
import type { BaseImage, RegistryBaseResolver } from '../image/base.js';
import { connect, type RegistryFlags } from '../../oci/connect.js';
import { platformString, pullToLayout, type PullOptions } from './pull.js';

export function registryBaseResolver(flags: RegistryFlags, cacheDir: string, onProgress?: PullOptions['onProgress']): RegistryBaseResolver {
  return async (given: string, platform: Platform): Promise<BaseImage> => {
    try {
      const { ref, client } = connect(given, flags);
      const layout = new OciLayout(cacheDir);
      const pulled = await pullToLayout(ref, layout, { client, platform, ...(onProgress ? { onProgress } : {}) });
      const manifest = await layout.readJsonBlob<ImageManifest>(pulled.manifest);
      const { config } = pulled;
      if (config.os !== platform.os || config.architecture !== platform.architecture) {
        throw new Error(`it is ${platformString(config)}, not ${platformString(platform)} (--platform)`);
      }
      if (config.rootfs?.diff_ids?.length !== manifest.layers.length) {
        throw new Error(`its config lists ${config.rootfs?.diff_ids?.length ?? 0} layers, its manifest ${manifest.layers.length}`);
      }
      return { ref: pulled.pinned, given, layout, manifestDescriptor: pulled.manifest, manifest, config };
    } catch (err) {
      throw new Error(`--base ${given}: ${(err as Error).message}`);
    }
  };
}
