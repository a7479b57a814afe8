/**
 * Builds the berth server image of a model repository on the offline base with `berth package`
 * (the built CLI), writing both an OCI layout and a `podman load` archive, for the container tests.
 */
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI } from '../helpers/cli-server.js';
import type { Podman } from '../helpers/podman.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);

export interface BuiltImage {
  /** The image's name in podman's storage, copied from the OCI layout (removed by the session's cleanup). */
  image: string;
  oci: string;
  archive: string;
  /** `berth package --json`'s answer: manifest digest, layers and their sizes. */
  result: { manifestDigest: string; configDigest: string; layers: { name: string; size: number; digest: string }[] };
  seconds: number;
}

/** Why images cannot be packaged here (the built CLI lacks `package`), or undefined. */
export function packageSkipReason(): string | undefined {
  // commander prints the top-level help, exit 0, for an unknown command's --help: look for ours
  const r = spawnSync(process.execPath, [CLI, 'package', '--help'], { encoding: 'utf8' });
  return r.status === 0 && /Usage: berth package/.test(r.stdout) ? undefined : 'dist/cli/main.js has no `package` command (npm run build)';
}

export async function buildServerImage(opts: { podman: Podman; baseDir: string; models: string; work: string }): Promise<BuiltImage> {
  const started = performance.now();
  const oci = join(opts.work, 'image-oci');
  const archive = join(opts.work, 'image.tar');
  const { stdout } = await run(process.execPath, [
    CLI, 'package', opts.models, '--tag', 'berth-test/digits:1', '--base', `oci:${opts.baseDir}:latest`, '--oci', oci, '--archive', archive, '--json',
  ], { cwd: ROOT, env: { ...process.env, SOURCE_DATE_EPOCH: '0' }, maxBuffer: 16 * 1024 * 1024 });
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as BuiltImage['result'];
  const seconds = (performance.now() - started) / 1000;
  const image = await opts.podman.loadOci(oci);
  return { image, oci, archive, result, seconds };
}
