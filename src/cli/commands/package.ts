/**
 * `berth package MODEL... --tag NAME:TAG`: a reproducible OCI image of the server and its models
 * (or of the models alone, --model-only), without a Docker daemon; or a Dockerfile producing the
 * same image. docs/packaging.md.
 */
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { berthHome } from '../../config/defaults.js';
import { formatBytes } from '../../onnx/inspect.js';
import { Registry } from '../../registry/registry.js';
import type { PackageOptions, PackageResult } from '../../package/package-image.js';
import type { BuildProgress } from '../../package/image/build.js';
import { fail } from '../fail.js';
import type { OciLayout } from '../../package/oci/layout.js';
import { addRegistryOptions, pushOciLayout, registryFlags } from '../registry-flags.js';

/** The options that pass straight through to packageImage, and the CLI's own. */
interface PackageFlags extends Pick<PackageOptions, 'tag' | 'oci' | 'archive' | 'dockerfile' | 'base' | 'platform' | 'node' | 'modelOnly'> {
  json?: boolean;
  home?: string;
  catalog?: string;
  push?: string;
  creds?: string;
  authfile?: string;
  insecure?: boolean;
  chunkSize?: number;
  cache?: boolean;
}

/** One line per layer on a terminal, rewritten as bytes go by. */
function terminalProgress(): BuildProgress {
  let total = 0;
  let done = 0;
  let last = 0;
  let name = '';
  const line = (text: string): void => {
    process.stderr.write(`\r\x1b[2K${text}`);
  };
  return {
    layerStarted(n, bytes) {
      name = n;
      total = bytes;
      done = 0;
      line(`${name}: 0%`);
    },
    layerBytes(_n, bytes) {
      done += bytes;
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      line(`${name}: ${total ? Math.min(100, Math.floor((done / total) * 100)) : 100}% of ${formatBytes(total)}`);
    },
    layerDone(l) {
      line(`${l.name}: ${formatBytes(l.tarSize ?? 0)} → ${formatBytes(l.size)} ${l.digest.slice(0, 19)}${l.cached ? ' (cached)' : ''}\n`);
    },
  };
}

function summary(r: PackageResult): string {
  const lines: string[] = [];
  if (r.manifestDigest) {
    lines.push(`${r.tag}  ${r.manifestDigest}  (${r.platform})`);
    for (const l of r.layers) lines.push(`  ${l.name.padEnd(13)} ${formatBytes(l.size).padStart(10)}  ${l.digest}${l.cached ? '  (cached)' : ''}`);
    lines.push(`  total         ${formatBytes(r.layers.reduce((n, l) => n + l.size, 0)).padStart(10)}`);
  }
  if (r.outputs.oci) lines.push(`OCI layout: ${r.outputs.oci} (skopeo inspect oci:${r.outputs.oci}:${r.tag})`);
  if (r.outputs.archive) lines.push(`archive:    ${r.outputs.archive} (podman load -i / docker load -i)`);
  if (r.push) lines.push(`pushed:     ${r.push.reference} (${r.push.uploaded} blobs uploaded, ${r.push.skipped} already there${r.push.mounted ? `, ${r.push.mounted} mounted` : ''})`);
  if (r.outputs.dockerfile) lines.push(`Dockerfile: ${r.outputs.dockerfile}/Dockerfile (buildah bud -t ${r.tag} ${r.outputs.dockerfile})`);
  return `${lines.join('\n')}\n`;
}

export function registerPackage(program: Command): void {
  const cmd = program
    .command('package')
    .description('build a reproducible OCI image of the server and its models, without a Docker daemon (docs/packaging.md)')
    .argument('<models...>', '.onnx files, model repositories, or registry references NAME:VERSION / NAME@ALIAS')
    .option('--tag <name:tag>', 'the image name and tag (default: FIRST-MODEL:latest)')
    .option('--oci <dir>', 'write an OCI image layout to DIR')
    .option('--archive <file>', 'write a tar that podman load and docker load read')
    .option('--dockerfile <dir>', 'write a Dockerfile and build context producing the same image')
    .option('--base <ref>', 'base image: REGISTRY/REPO:TAG (pulled, recorded by digest), oci:DIR[:TAG] (a local OCI layout); scratch for --model-only')
    .option('--push <ref>', 'push the image to REGISTRY/REPO[:TAG] (Distribution API; the tag defaults to --tag\'s)')
    .addOption(new Option('--platform <os/arch>', 'target platform').choices(['linux/amd64', 'linux/arm64']))
    .option('--node <path>', 'a Node binary for the target platform, added when the base has none (default: this one, for this machine\'s platform)')
    .option('--model-only', 'an image of /models and a static busybox shell only (KServe modelcar, oci:// storage)')
    .option('--json', 'print one JSON line: digests and sizes per layer')
    .option('--no-cache', 'write every layer again instead of reusing unchanged ones from HOME/cache/layers')
    .option('--home <dir>', 'registry home for registry references, and the layer cache (default: $BERTH_HOME or ~/.berth)')
    .option('--catalog <url>', 'registry catalog (default: $BERTH_CATALOG_URL, else HOME/catalog.db)');
  addRegistryOptions(cmd);
  cmd.action(async (models: string[], flags: PackageFlags) => {
      try {
        // The packager and the registry client load here, not when any berth command starts.
        const [{ packageImage }, { registryBaseResolver }, { parseReference }] = await Promise.all([
          import('../../package/package-image.js'),
          import('../../package/distribution/base.js'),
          import('../../oci/reference.js'),
        ]);
        if (flags.push) parseReference(flags.push); // a malformed --push fails before the build, not after it
        const result = await packageImage({
          models,
          tag: flags.tag,
          oci: flags.oci,
          archive: flags.archive,
          dockerfile: flags.dockerfile,
          base: flags.base,
          platform: flags.platform,
          node: flags.node,
          modelOnly: flags.modelOnly,
          openRegistry: () => Registry.open({ home: flags.home, catalogUrl: flags.catalog }),
          cacheDir: flags.cache === false ? undefined : join(flags.home ?? berthHome(), 'cache', 'layers'),
          progress: process.stderr.isTTY && !flags.json ? terminalProgress() : undefined,
          // image registries (--base REGISTRY/REPO:TAG, --push): bases cached in HOME/cache/base-images
          pullBase: registryBaseResolver(registryFlags(flags), join(flags.home ?? berthHome(), 'cache', 'base-images')),
          ...(flags.push ? { push: (layout: OciLayout, tag: string) => pushOciLayout(layout, tag, flags.push!, flags) } : {}),
        });
        process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : summary(result));
      } catch (err) {
        fail(err);
      }
    });
}
