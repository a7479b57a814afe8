// What the CLI hands the Distribution client: a reference as the user typed it and the flags
// (`--creds`, `--authfile`, `--insecure`, `--chunk-size`), resolved into a client for that registry
// with the credentials the auth files hold for it. `--push` and `--base` both go through here.

import { resolveCredentials } from './auth.js';
import { RegistryClient, type ClientOptions } from './client.js';
import { parseReference, type ImageReference } from './reference.js';

export interface RegistryFlags {
  /** `USER:PASS` */
  creds?: string;
  /** An auth file in docker's config.json / podman's auth.json shape. */
  authfile?: string;
  /** Plain http to a registry that is not on this machine. */
  insecure?: boolean;
  /** Upload chunk size in bytes. */
  chunkSize?: number;
  env?: NodeJS.ProcessEnv;
}

export function connect(reference: string | ImageReference, flags: RegistryFlags = {}, extra: Omit<ClientOptions, 'credentials' | 'insecure' | 'chunkSize'> = {}): { ref: ImageReference; client: RegistryClient } {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const credentials = resolveCredentials(ref.registry, ref.repository, { creds: flags.creds, authfile: flags.authfile, env: flags.env });
  const client = new RegistryClient(ref.registry, {
    ...extra,
    ...(credentials ? { credentials } : {}),
    ...(flags.insecure ? { insecure: true } : {}),
    ...(flags.chunkSize ? { chunkSize: flags.chunkSize } : {}),
  });
  return { ref, client };
}
