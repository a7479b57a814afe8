/**
 * What `berth manifests haproxy` is asked for, checked once: every HOST:PORT parsed, no replica
 * twice, durations and sizes in range, so that a bad flag fails here with one line instead of
 * at `haproxy -c` or, worse, as a fleet that silently sends traffic to the wrong port.
 */
import { isIP } from 'node:net';
import { HAPROXY_DEFAULTS } from './haproxy.js';
import type { Endpoint, HaproxyOptions } from './haproxy.js';

/** The raw flag values, as commander hands them over. */
export interface HaproxyFlags {
  replica?: string[];
  grpcReplica?: string[];
  bind?: string;
  port?: string;
  grpcPort?: string;
  maxBody?: string;
  serverTimeout?: string;
  clientTimeout?: string;
  requestTimeout?: string;
  connectTimeout?: string;
  checkTimeout?: string;
  maxconn?: string;
  statsSocket?: string;
  statsBind?: string;
  log?: string;
}

/** A DNS name (labels of letters, digits, '-', '_'), as a replica's host. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

function port(flag: string, text: string, min = 1): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new Error(`${flag}: the port must be a number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < min || n > 65535) throw new Error(`${flag}: the port must be between ${min} and 65535, got ${text}`);
  return n;
}

function host(flag: string, text: string): string {
  if (isIP(text) !== 0 || HOST_NAME.test(text)) return text;
  throw new Error(`${flag}: ${JSON.stringify(text)} is neither an IP address nor a host name`);
}

/** HOST:PORT, [IPV6]:PORT. */
export function parseEndpoint(flag: string, text: string): Endpoint {
  const t = text.trim();
  const v6 = /^\[([^\]]+)\]:([^:]*)$/.exec(t);
  if (v6) {
    if (isIP(v6[1]!) !== 6) throw new Error(`${flag}: ${JSON.stringify(v6[1])} in brackets is not an IPv6 address`);
    return { host: v6[1]!, port: port(flag, v6[2]!) };
  }
  const i = t.lastIndexOf(':');
  if (i <= 0 || t.indexOf(':') !== i) {
    throw new Error(`${flag} must be HOST:PORT (an IPv6 address in brackets: [::1]:8000), got ${JSON.stringify(text)}`);
  }
  return { host: host(flag, t.slice(0, i)), port: port(flag, t.slice(i + 1)) };
}

function key(e: Endpoint): string {
  return `${e.host.toLowerCase()}:${e.port}`;
}

function endpoints(flag: string, texts: string[]): Endpoint[] {
  const seen = new Set<string>();
  return texts.map((t) => {
    const e = parseEndpoint(flag, t);
    if (seen.has(key(e))) throw new Error(`${flag} ${t} is given twice: each replica once`);
    seen.add(key(e));
    return e;
  });
}

/** "500ms", "2s", "1m", "1h", or bare seconds → milliseconds. */
export function duration(flag: string, text: string | undefined, fallback: number, minMs: number, maxMs: number): number {
  if (text === undefined) return fallback;
  const m = /^([0-9]+)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`${flag} must be a duration such as 500ms, 30s, 2m (bare numbers are seconds), got ${JSON.stringify(text)}`);
  const n = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  if (n < minMs || n > maxMs) throw new Error(`${flag} must be between ${minMs} ms and ${maxMs / 1000} s, got ${text}`);
  return n;
}

/** "1MiB", "512KiB", "1048576" → bytes. */
export function byteSize(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const m = /^([0-9]+)\s*(B|KiB|MiB|k|K|M)?$/.exec(text.trim());
  if (!m) throw new Error(`${flag} must be a size such as 1048576, 512KiB, 4MiB, got ${JSON.stringify(text)}`);
  const unit = m[2] ?? 'B';
  const n = Number(m[1]) * (unit === 'B' ? 1 : unit === 'KiB' || unit === 'k' || unit === 'K' ? 1024 : 1024 * 1024);
  if (n < min || n > max) throw new Error(`${flag} must be between ${min} and ${max} bytes, got ${text}`);
  return n;
}

export function haproxyOptions(flags: HaproxyFlags): HaproxyOptions {
  const replicas = endpoints('--replica', flags.replica ?? []);
  if (replicas.length === 0) throw new Error('--replica HOST:PORT is required: the HTTP port of each `berth serve` replica');
  const grpcReplicas = endpoints('--grpc-replica', flags.grpcReplica ?? []);
  if (grpcReplicas.length > 0 && grpcReplicas.length !== replicas.length) {
    throw new Error(`--grpc-replica is given ${grpcReplicas.length} times and --replica ${replicas.length}: one gRPC endpoint per replica, in the same order (its readiness is checked on the paired HTTP port)`);
  }
  const http = new Set(replicas.map(key));
  const clash = grpcReplicas.find((g) => http.has(key(g)));
  if (clash) throw new Error(`--grpc-replica ${key(clash)} is also a --replica: a replica's gRPC and HTTP ports differ`);
  const bind = flags.bind ?? HAPROXY_DEFAULTS.bind;
  if (bind !== '*') host('--bind', bind);
  const p = flags.port === undefined ? HAPROXY_DEFAULTS.port : port('--port', flags.port);
  const gp = flags.grpcPort === undefined ? HAPROXY_DEFAULTS.grpcPort : port('--grpc-port', flags.grpcPort);
  if (grpcReplicas.length > 0 && p === gp) throw new Error(`--port and --grpc-port must differ, both are ${p}`);
  const statsBind = flags.statsBind === undefined ? undefined : parseEndpoint('--stats-bind', flags.statsBind);
  if (statsBind && (statsBind.port === p || (grpcReplicas.length > 0 && statsBind.port === gp))) {
    throw new Error(`--stats-bind port ${statsBind.port} is already a frontend's port`);
  }
  // no spaces, quotes or '#': the path goes into the configuration file as one word
  if (flags.statsSocket !== undefined && !/^[A-Za-z0-9_./@%+=,:-]+$/.test(flags.statsSocket)) {
    throw new Error(`--stats-socket must be a file path of letters, digits and ./_-@%+=,: only, got ${JSON.stringify(flags.statsSocket)}`);
  }
  // a syslog target, one word: stdout, stderr, /dev/log, udp@host:514, 10.0.0.5:514
  if (flags.log !== undefined && !/^[A-Za-z0-9_./@:[\]-]+$/.test(flags.log)) {
    throw new Error(`--log must be a log target such as stdout, /dev/log or udp@10.0.0.5:514, got ${JSON.stringify(flags.log)}`);
  }
  const maxconn = flags.maxconn ?? String(HAPROXY_DEFAULTS.maxconn);
  if (!/^[0-9]+$/.test(maxconn) || Number(maxconn) < 1 || Number(maxconn) > 1_000_000) throw new Error(`--maxconn must be between 1 and 1000000, got ${JSON.stringify(maxconn)}`);
  return {
    replicas,
    grpcReplicas,
    bind,
    port: p,
    grpcPort: gp,
    // 64 MiB at most: two buffers of that size per connection is already a lot of memory
    maxBodyBytes: byteSize('--max-body', flags.maxBody, HAPROXY_DEFAULTS.maxBodyBytes, 1024, 64 * 1024 * 1024),
    serverTimeoutMs: duration('--server-timeout', flags.serverTimeout, HAPROXY_DEFAULTS.serverTimeoutMs, 100, 86_400_000),
    clientTimeoutMs: duration('--client-timeout', flags.clientTimeout, HAPROXY_DEFAULTS.clientTimeoutMs, 100, 86_400_000),
    requestTimeoutMs: duration('--request-timeout', flags.requestTimeout, HAPROXY_DEFAULTS.requestTimeoutMs, 100, 3_600_000),
    connectTimeoutMs: duration('--connect-timeout', flags.connectTimeout, HAPROXY_DEFAULTS.connectTimeoutMs, 10, 60_000),
    checkTimeoutMs: duration('--check-timeout', flags.checkTimeout, HAPROXY_DEFAULTS.checkTimeoutMs, 10, 60_000),
    maxconn: Number(maxconn),
    statsSocket: flags.statsSocket,
    statsBind,
    log: flags.log,
  };
}
