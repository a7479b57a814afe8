// Shared by the packaging tests: a tiny base image (one layer: /etc/passwd, /etc/group, /tmp)
// written as an OCI layout, the digits example model, and a runner for the CLI.

import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciLayout } from '../../src/package/oci/layout.js';
import { writeTarLayer } from '../../src/package/layers/tar-layer.js';
import { MEDIA_TYPES, type ImageConfig, type ImageManifest } from '../../src/oci/types.js';
import { ensureDigitsModel } from '../../src/examples/digits/index.js';

export const REPO = join(import.meta.dirname, '..', '..');
export const CLI = join(REPO, 'src', 'cli', 'main.ts');

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `berth-pkg-${prefix}-`));
}

/** A base OCI layout tagged `base`; `nodeVersion` becomes the io.berth.node.version label (as the base script writes). */
export async function makeBase(dir: string, opts: { nodeVersion?: string; architecture?: string } = {}): Promise<string> {
  const layout = new OciLayout(dir);
  await layout.init();
  const layer = await writeTarLayer(layout, [
    { type: 'file', path: '/etc/passwd', mode: 0o644, source: { bytes: Buffer.from('root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n') } },
    { type: 'file', path: '/etc/group', mode: 0o644, source: { bytes: Buffer.from('root:x:0:\nnonroot:x:65532:\n') } },
    { type: 'dir', path: '/tmp', mode: 0o1777 },
  ], { mtime: 1 });
  const config: ImageConfig = {
    architecture: opts.architecture ?? 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/bin:/bin', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'], Labels: opts.nodeVersion ? { 'io.berth.node.version': opts.nodeVersion } : {} , Cmd: ['/bin/false'] },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'test base: /etc/passwd, /etc/group, /tmp' }],
  };
  const configDesc = await layout.writeBlobBytes(Buffer.from(JSON.stringify(config)), MEDIA_TYPES.config);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config: configDesc, layers: [layer.descriptor] };
  const desc = await layout.writeBlobBytes(Buffer.from(JSON.stringify(manifest)), MEDIA_TYPES.manifest);
  await layout.tag(desc, 'base');
  return `oci:${dir}:base`;
}

/** The digits example as a model repository under `dir` (trained in about a second). */
export async function digitsRepo(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await ensureDigitsModel(dir);
  return dir;
}

export interface CliResult { status: number | null; stdout: string; stderr: string }

/** The CLI's BERTH_HOME in tests (its layer cache lands there); the test file removes it. */
export const CLI_HOME = join(tmpdir(), `berth-pkg-cli-home-${process.pid}`);

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: REPO, encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: '', BERTH_HOME: CLI_HOME, ...env }, timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

export { writeFile };
