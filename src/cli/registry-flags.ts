/**
 * The flags every command that talks to an image registry takes (`berth package --push/--base`):
 * `--creds USER:PASS`, `--authfile FILE`, `--insecure`, `--chunk-size MIB`, and the push itself with
 * its progress display.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { OciLayout } from '../package/oci/layout.js';
import type { RegistryFlags } from '../oci/connect.js';
import type { PushResult } from '../package/distribution/push.js';
import { registryProgress } from './registry-progress.js';

// The registry client is loaded when a command talks to a registry, not when any berth command starts.
const client = (): Promise<[typeof import('../oci/connect.js'), typeof import('../package/distribution/push.js')]> =>
  Promise.all([import('../oci/connect.js'), import('../package/distribution/push.js')]);

export interface RegistryCliOptions {
  creds?: string;
  authfile?: string;
  insecure?: boolean;
  chunkSize?: number;
}

export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option('--creds <user:pass>', 'registry credentials (otherwise $REGISTRY_AUTH_FILE, podman\'s auth.json or ~/.docker/config.json)')
    .option('--authfile <file>', 'registry credentials from this auth file (docker config.json / podman auth.json format)')
    .option('--insecure', 'plain http to a registry that is not on this machine (loopback registries always get http)')
    .option('--chunk-size <MiB>', 'blobs above this size are uploaded in chunks of it (default 16)', mebibytes);
}

export function registryFlags(opts: RegistryCliOptions): RegistryFlags {
  return {
    ...(opts.creds !== undefined ? { creds: opts.creds } : {}),
    ...(opts.authfile !== undefined ? { authfile: opts.authfile } : {}),
    ...(opts.insecure ? { insecure: true } : {}),
    ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
  };
}

/**
 * Pushes the image `tag` (or the only one) of an OCI layout to `reference`, showing progress on
 * stderr. A reference without a tag or digest takes the tag of `tag` (`--tag digits:3 --push
 * reg/team/digits` pushes reg/team/digits:3).
 */
export async function pushOciLayout(layout: OciLayout | string, tag: string | undefined, reference: string, opts: RegistryCliOptions & { json?: boolean }): Promise<PushResult> {
  const [{ connect }, { pushLayout }] = await client();
  const { ref, client: registry } = connect(reference, registryFlags(opts));
  if (ref.tag === undefined && ref.digest === undefined && tag) ref.tag = tag.slice(tag.lastIndexOf('/') + 1).split(':')[1] ?? 'latest';
  const progress = registryProgress({ json: opts.json });
  try {
    return await pushLayout(typeof layout === 'string' ? new OciLayout(layout) : layout, tag, ref, { client: registry, onProgress: progress.onProgress });
  } finally {
    progress.finish();
  }
}

function mebibytes(value: string): number {
  const n = Number(value);
  if (!(n >= 0.001 && n <= 4096)) throw new InvalidArgumentError('--chunk-size takes MiB between 0.001 and 4096');
  return Math.round(n * 1024 * 1024);
}
