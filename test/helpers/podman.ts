/**
 * Running images under podman in tests (docs/packaging.md; facts in the packaging reference §1):
 * every podman/skopeo call gets a CONTAINERS_CONF with ulimits the sandbox allows and runc (crun
 * refuses hybrid cgroups), containers and images get unique names, ports are published on
 * 127.0.0.1 only, and `cleanup()` removes everything the session made, even after a failure.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
`;

function has(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Why container tests cannot run here, or undefined when they can. */
export function containerSkipReason(tools: string[] = ['podman', 'skopeo', 'runc']): string | undefined {
  const missing = tools.filter((t) => !has(t));
  if (missing.length > 0) return `${missing.join(', ')} not installed (Debian: apt-get install ${missing.join(' ')})`;
  return undefined;
}

export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

/** A free TCP port on 127.0.0.1 (the kernel's choice; released before the caller binds it). */
import { freePort } from './ports.js';
export { freePort };

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export interface RunOptions {
  /** Arguments appended to the image's entrypoint. */
  args?: string[];
  /** Replaces the image's entrypoint (e.g. ['/usr/local/bin/node']). */
  entrypoint?: string[];
  user?: string;
  env?: Record<string, string>;
  /** Container ports published to fresh 127.0.0.1 ports, e.g. { http: 8000, grpc: 8001 }. */
  publish?: Record<string, number>;
}

export class Container {
  constructor(
    private readonly podman: Podman,
    readonly name: string,
    /** Host port (on 127.0.0.1) of each published container port, by the key given in RunOptions. */
    readonly ports: Record<string, number>,
  ) {}

  /** http://127.0.0.1:PORT of the `http` mapping. */
  get url(): string {
    const port = this.ports.http;
    if (port === undefined) throw new Error(`container ${this.name} publishes no http port`);
    return `http://127.0.0.1:${port}`;
  }

  async running(): Promise<boolean> {
    const r = await this.podman.exec(['inspect', '--format', '{{.State.Running}}', this.name]);
    return r.code === 0 && r.stdout.trim() === 'true';
  }

  /**
   * Polls GET /v2/health/ready until it answers 200; returns the milliseconds taken from the call.
   * Fails at once, with the logs, if the container exits first.
   */
  async waitReady(timeoutMs = 60000, path = '/v2/health/ready'): Promise<number> {
    const start = Date.now();
    let lastError = '';
    while (Date.now() - start < timeoutMs) {
      try {
        const res = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return Date.now() - start;
        lastError = `HTTP ${res.status}`;
      } catch (err) {
        lastError = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err);
      }
      if (!(await this.running())) throw new Error(`container ${this.name} exited before ready:\n${await this.logs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`container ${this.name} not ready within ${timeoutMs} ms (${lastError}):\n${await this.logs()}`);
  }

  /** Sends a signal to the container's main process. */
  async signal(sig: 'TERM' | 'INT' | 'KILL' = 'TERM'): Promise<void> {
    await this.podman.check(['kill', '--signal', sig, this.name]);
  }

  /** Waits for the container to exit; returns its exit code. */
  async wait(timeoutMs = 60000): Promise<number> {
    const r = await this.podman.exec(['wait', this.name], timeoutMs);
    if (r.code !== 0) throw new Error(`podman wait ${this.name}: ${r.stderr.trim()}`);
    return Number(r.stdout.trim());
  }

  async logs(): Promise<string> {
    const r = await this.podman.exec(['logs', this.name]);
    return `${r.stdout}${r.stderr}`;
  }

  /** Runs a command inside the running container. */
  async execIn(cmd: string[]): Promise<Exec> {
    return this.podman.exec(['exec', this.name, ...cmd]);
  }
}

/** One test file's podman session: its config file, and what to remove afterwards. */
export class Podman {
  private readonly containers = new Set<string>();
  private readonly images = new Set<string>();

  private constructor(readonly dir: string, readonly env: NodeJS.ProcessEnv) {}

  static async create(): Promise<Podman> {
    const dir = await mkdtemp(join(tmpdir(), 'berth-podman-'));
    const conf = join(dir, 'containers.conf');
    await writeFile(conf, CONTAINERS_CONF);
    return new Podman(dir, { ...process.env, CONTAINERS_CONF: conf });
  }

  /** Runs a tool (podman by default) with this session's environment; never throws on exit codes. */
  exec(args: string[], timeoutMs = 120000, tool = 'podman'): Promise<Exec> {
    return new Promise((resolve) => {
      execFile(tool, args, { env: this.env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: `${String(stderr)}${err && typeof err.code !== 'number' ? err.message : ''}` });
      });
    });
  }

  async check(args: string[], timeoutMs?: number, tool?: string): Promise<string> {
    const r = await this.exec(args, timeoutMs, tool);
    if (r.code !== 0) throw new Error(`${tool ?? 'podman'} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Copies the image `tag` of an OCI layout into podman's storage under a unique name. */
  async loadOci(layoutDir: string, tag?: string): Promise<string> {
    const image = `localhost/${uniqueName('berth-test')}:latest`;
    this.images.add(image);
    await this.check(['copy', '--quiet', `oci:${layoutDir}${tag ? `:${tag}` : ''}`, `containers-storage:${image}`], 300000, 'skopeo');
    return image;
  }

  /** Loads a `docker load` / `podman load` archive and gives it a unique name. */
  async loadArchive(archive: string): Promise<string> {
    const out = await this.check(['load', '--quiet', '--input', archive], 300000);
    const loaded = /Loaded image(?:\(s\))?: (\S+)/.exec(out)?.[1];
    if (!loaded) throw new Error(`podman load printed no image name: ${out}`);
    const image = `localhost/${uniqueName('berth-test')}:latest`;
    this.images.add(image);
    await this.check(['tag', loaded, image]);
    // only the loaded name: `podman untag IMAGE` alone would drop every name of that image id
    if (loaded !== image) await this.exec(['untag', loaded, loaded]);
    return image;
  }

  /** Remembers an image built some other way (buildah) so cleanup removes it. */
  track(image: string): void {
    this.images.add(image);
  }

  /** Starts a detached container; ports are published on 127.0.0.1 only. */
  async run(image: string, opts: RunOptions = {}): Promise<Container> {
    const name = uniqueName('berth-test');
    const ports: Record<string, number> = {};
    const args = ['run', '--detach', '--name', name];
    for (const [key, containerPort] of Object.entries(opts.publish ?? {})) {
      ports[key] = await freePort();
      args.push('--publish', `127.0.0.1:${ports[key]}:${containerPort}`);
    }
    if (opts.user !== undefined) args.push('--user', opts.user);
    for (const [k, v] of Object.entries(opts.env ?? {})) args.push('--env', `${k}=${v}`);
    if (opts.entrypoint) args.push('--entrypoint', JSON.stringify(opts.entrypoint));
    this.containers.add(name);
    await this.check([...args, image, ...(opts.args ?? [])]);
    return new Container(this, name, ports);
  }

  /** Runs a container to completion (`podman run --rm`) and returns what it printed. */
  async runOnce(image: string, cmd: string[], opts: { user?: string; entrypoint?: string[] } = {}): Promise<Exec> {
    const args = ['run', '--rm', '--network', 'none'];
    if (opts.user !== undefined) args.push('--user', opts.user);
    if (opts.entrypoint) args.push('--entrypoint', JSON.stringify(opts.entrypoint));
    return this.exec([...args, image, ...cmd]);
  }

  /** Removes this session's containers, images and config; safe to call twice. */
  async cleanup(): Promise<void> {
    for (const name of this.containers) await this.exec(['rm', '--force', '--time', '0', name]);
    this.containers.clear();
    for (const image of this.images) await this.exec(['rmi', '--force', image]);
    this.images.clear();
    await rm(this.dir, { recursive: true, force: true });
  }
}
