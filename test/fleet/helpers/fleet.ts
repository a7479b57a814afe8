/**
 * A fleet on loopback for the HAProxy tests: N `berth serve` processes (the built CLI) on fixed
 * ports, so that a restarted replica comes back where HAProxy expects it, a real HAProxy in
 * front of them with the configuration `berth manifests haproxy` generates, and its stats socket
 * to read what HAProxy saw (server status, retries, redispatches, UP→DOWN transitions).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { haproxyConfig } from '../../../src/package/manifests/haproxy.js';
import { haproxyOptions } from '../../../src/package/manifests/haproxy-options.js';
import type { HaproxyFlags } from '../../../src/package/manifests/haproxy-options.js';
import { CLI } from '../../helpers/cli-server.js';

export const HAPROXY = process.env.BERTH_TEST_HAPROXY ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy');

export const TASKSET = '/usr/bin/taskset';

/** Why the HAProxy tests cannot run here, or false when they can. */
export function haproxyMissing(): string | false {
  const r = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `haproxy is not installed (${HAPROXY}; Debian: apt-get install haproxy; CI installs it)`;
  return false;
}

export function distMissing(): string | false {
  return existsSync(CLI) ? false : `${CLI} is missing: npm run build first`;
}

/** A port nobody listens on right now (the replica binds it a moment later). */
import { freePort } from '../../helpers/ports.js';
export { freePort };

export class Replica {
  child?: ChildProcess;
  exited?: Promise<number | null>;
  private logText = '';

  constructor(
    readonly name: string,
    readonly port: number,
    readonly grpcPort: number,
    private readonly args: string[],
    /** CPUs to pin the replica to (taskset -c), so a fleet's compute can be held below the machine's */
    private readonly cpuList?: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  log(): string {
    return this.logText;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts `berth serve` on this replica's ports and waits until it answers ready. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running()) throw new Error(`${this.name} is already running`);
    const argv = [process.execPath, CLI, 'serve', '--host', '127.0.0.1', '--port', String(this.port), '--grpc-port', String(this.grpcPort), '--no-access-log', ...this.args];
    if (this.cpuList !== undefined) argv.unshift(TASKSET, '-c', this.cpuList);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
    child.stdout!.on('data', (d: Buffer) => (this.logText = (this.logText + d.toString()).slice(-200_000)));
    child.stderr!.on('data', (d: Buffer) => (this.logText = (this.logText + d.toString()).slice(-200_000)));
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running()) throw new Error(`${this.name} exited while starting:\n${this.logText.slice(-4000)}`);
      if (Date.now() > end) throw new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.logText.slice(-4000)}`);
      const ok = await fetch(`${this.url}/v2/health/ready`, { headers: { host: 'localhost' } }).then((r) => r.status === 200, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends a signal; with wait, resolves with the exit code once the process is gone. */
  async signal(sig: NodeJS.Signals, wait = true, timeoutMs = 30_000): Promise<number | null> {
    if (!this.running()) throw new Error(`${this.name} is not running`);
    this.child!.kill(sig);
    if (!wait) return null;
    const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms of ${sig}`)), timeoutMs).unref());
    return Promise.race([this.exited!, timer]);
  }

  /** Peak resident memory (VmHWM) of the running process, bytes. */
  peakRss(): number {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  }

  async stop(): Promise<void> {
    if (!this.running()) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }
}

/** One row of `show stat`: a frontend, a backend or a server. */
export type StatRow = Record<string, string>;

export class Haproxy {
  child?: ChildProcess;
  private logText = '';
  readonly socket: string;
  readonly configFile: string;

  constructor(
    readonly dir: string,
    readonly port: number,
    readonly flags: HaproxyFlags,
  ) {
    this.socket = join(dir, 'haproxy.sock');
    this.configFile = join(dir, 'haproxy.cfg');
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  log(): string {
    return this.logText;
  }

  config(): string {
    return haproxyConfig(haproxyOptions({ ...this.flags, bind: '127.0.0.1', port: String(this.port), statsSocket: this.socket }));
  }

  /** Writes the generated configuration, runs `haproxy -db` (foreground) and waits for the stats socket. */
  async start(): Promise<void> {
    writeFileSync(this.configFile, this.config());
    const child = spawn(HAPROXY, ['-db', '-f', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    // the last 1 MB: with --log, HAProxy writes a line per request
    child.stdout!.on('data', (d: Buffer) => (this.logText = (this.logText + d.toString()).slice(-1_000_000)));
    child.stderr!.on('data', (d: Buffer) => (this.logText = (this.logText + d.toString()).slice(-1_000_000)));
    const end = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`haproxy exited:\n${this.logText}`);
      if (Date.now() > end) throw new Error(`haproxy's stats socket did not appear:\n${this.logText}`);
      if (existsSync(this.socket) && (await this.command('show info').then(() => true, () => false))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** One command on the stats socket (a connection per command, as `socat` would). */
  async command(cmd: string): Promise<string> {
    const sock = connect(this.socket);
    let out = '';
    sock.on('data', (d: Buffer) => (out += d.toString()));
    await once(sock, 'connect');
    sock.write(`${cmd}\n`);
    await once(sock, 'end');
    sock.destroy();
    return out;
  }

  /** `show stat`, parsed (its header line names the columns). */
  async stats(): Promise<StatRow[]> {
    const text = await this.command('show stat');
    const [head, ...rows] = text.trim().split('\n');
    const cols = head!.replace(/^# /, '').split(',');
    return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i]!, v])));
  }

  async servers(backend = 'berth_http'): Promise<StatRow[]> {
    return (await this.stats()).filter((r) => r.pxname === backend && r.svname !== 'FRONTEND' && r.svname !== 'BACKEND');
  }

  async backend(backend = 'berth_http'): Promise<StatRow> {
    return (await this.stats()).find((r) => r.pxname === backend && r.svname === 'BACKEND')!;
  }

  /** Waits until HAProxy's own health checks show the server UP (or DOWN). */
  async waitStatus(server: string, status: 'UP' | 'DOWN', timeoutMs = 15_000, backend = 'berth_http'): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const row = (await this.servers(backend)).find((r) => r.svname === server);
      if (row?.status === status) return;
      if (Date.now() > end) throw new Error(`${server} not ${status} in HAProxy within ${timeoutMs} ms (status ${row?.status})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}

export interface Fleet {
  replicas: Replica[];
  haproxy: Haproxy;
  stop(): Promise<void>;
}

export interface FleetOptions {
  /** more `berth manifests haproxy` flags */
  flags?: HaproxyFlags;
  /** CPUs every replica is pinned to (taskset -c) */
  cpuList?: string;
  /** also the gRPC frontend, to the replicas' gRPC ports */
  grpc?: boolean;
}

/** N replicas serving `serveArgs` (model paths and flags), HAProxy in front with the generated configuration. */
export async function startFleet(dir: string, n: number, serveArgs: string[], options: FleetOptions = {}): Promise<Fleet> {
  const replicas: Replica[] = [];
  for (let i = 0; i < n; i++) replicas.push(new Replica(`replica${i + 1}`, await freePort(), await freePort(), serveArgs, options.cpuList));
  const flags: HaproxyFlags = { ...options.flags, replica: replicas.map((r) => `127.0.0.1:${r.port}`) };
  if (options.grpc) {
    flags.grpcReplica = replicas.map((r) => `127.0.0.1:${r.grpcPort}`);
    flags.grpcPort = String(await freePort());
  }
  const haproxy = new Haproxy(dir, await freePort(), flags);
  const fleet: Fleet = {
    replicas,
    haproxy,
    async stop() {
      await haproxy.stop();
      await Promise.all(replicas.map((r) => r.stop()));
    },
  };
  try {
    await Promise.all(replicas.map((r) => r.start()));
    await haproxy.start();
    for (const r of replicas) await haproxy.waitStatus(r.name, 'UP');
  } catch (err) {
    await fleet.stop();
    throw err;
  }
  return fleet;
}
