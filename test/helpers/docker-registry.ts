/**
 * A real CNCF distribution registry (`docker-registry serve`, Debian's package) on 127.0.0.1 with
 * its storage in a temporary directory, for tests that push and pull over the Distribution API.
 * Basic auth from an htpasswd file (bcrypt, which the registry requires), or bearer tokens from a
 * realm the test runs. Tests skip when the binaries are missing; CI installs them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function which(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

import { freePort } from './ports.js';
export { freePort };

export interface RunningRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  port: number;
  /** the directory holding the configuration and the storage (a restart passes it back) */
  dir: string;
  storage: string;
  stop(): Promise<void>;
  /** Stops the registry, keeping its storage: startDockerRegistry(auth, { dir, port }) resumes it. */
  halt(): Promise<void>;
  /** Blobs (layers, configs and manifests) the registry holds on disk. */
  blobCount(): number;
}

export type RegistryAuth =
  | { htpasswd: { user: string; pass: string } }
  | { token: { realm: string; service: string; issuer: string; rootCertBundle: string } };

export async function startDockerRegistry(auth: RegistryAuth, opts: { dir?: string; port?: number } = {}): Promise<RunningRegistry> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'berth-docker-registry-'));
  const storage = join(dir, 'storage');
  const port = opts.port ?? await freePort();
  let authYaml: string;
  if ('htpasswd' in auth) {
    const h = spawnSync('htpasswd', ['-Bbn', auth.htpasswd.user, auth.htpasswd.pass], { encoding: 'utf8' });
    if (h.status !== 0) throw new Error(`htpasswd failed: ${h.stderr}`);
    writeFileSync(join(dir, 'htpasswd'), h.stdout);
    authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else {
    const t = auth.token;
    authYaml = `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.rootCertBundle}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: berth-test-secret',
    authYaml,
  ].join('\n'));
  // distribution reads REGISTRY_* variables as configuration overrides (REGISTRY_AUTH_FILE, the
  // auth file podman and berth read, would become auth.file): the registry gets none of them
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start within 15 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const halt = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  };
  return {
    host,
    port,
    dir,
    storage,
    halt,
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    blobCount() {
      const root = join(storage, 'docker', 'registry', 'v2', 'blobs', 'sha256');
      if (!existsSync(root)) return 0;
      let n = 0;
      for (const prefix of readdirSync(root)) {
        for (const hex of readdirSync(join(root, prefix))) if (existsSync(join(root, prefix, hex, 'data'))) n++;
      }
      return n;
    },
  };
}
