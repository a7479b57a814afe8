/**
 * Two browser-borne attacks the API-key check cannot see, refused before any route runs:
 *
 * - DNS rebinding: a page on evil.example re-points its name to 127.0.0.1 and reads berth's
 *   answers as same-origin. The browser still sends `Host: evil.example`; `--allowed-hosts`
 *   refuses hosts not on the list. When the server listens on loopback only and no list is
 *   given, the list is the loopback names and IP literals (a rebinding page always has a name).
 * - Cross-site writes: a form on another site posts to berth (unloads a model, say). Browsers
 *   send `Origin` with every such request: a state-changing request (not GET/HEAD/OPTIONS)
 *   whose Origin is not this server (the Host it was sent to) nor on `--allowed-origins` is
 *   refused. Clients that are not browsers (curl, tritonclient) send no Origin and pass.
 */
import { isIP } from 'node:net';
import { DEFAULTS } from '../config/defaults.js';
import { parseAllowedHosts, parseAllowedOrigins, type HostPattern } from '../config/parsers.js';

// parsed with the rest of the configuration (config/parsers.ts); re-exported for the front end
export { parseAllowedHosts, parseAllowedOrigins, type HostPattern };


export interface OriginGuardOptions {
  /** undefined = any host */
  allowedHosts?: readonly HostPattern[];
  /** origins (`https://app.example:8443`) whose state-changing requests are accepted besides the server's own; `*` = any */
  allowedOrigins?: readonly string[];
}

/** In an allow-list: any IP address literal (a DNS-rebinding page always has a name). */
export const ANY_IP = '<any-ip>';

const LOOPBACK_BINDS = new Set(['127.0.0.1', '::1', 'localhost', '[::1]']);

/** berth's default: loopback names and IP literals when it listens on loopback, any host otherwise. */
export function defaultAllowedHosts(bindHost: string | undefined): HostPattern[] | undefined {
  const host = (bindHost ?? DEFAULTS.http.host).toLowerCase();
  if (!LOOPBACK_BINDS.has(host) && !host.startsWith('127.')) return undefined;
  return ['localhost', '*.localhost', ANY_IP];
}


/** The host name of a Host header value (no port, no brackets, lower case), or undefined if malformed. */
export function hostName(hostHeader: string): string | undefined {
  const v = hostHeader.trim().toLowerCase();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0) return undefined;
    const rest = v.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return v.slice(1, end);
  }
  const m = /^([a-z0-9_.-]+)(:\d{1,5})?$/.exec(v);
  return m ? m[1] : undefined;
}

export function hostAllowed(name: string, allowed: readonly HostPattern[]): boolean {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  for (const p of allowed) {
    if (p === ANY_IP) {
      if (isIP(n) !== 0) return true;
      continue;
    }
    const pattern = p.startsWith('[') && p.endsWith(']') ? p.slice(1, -1) : p;
    if (pattern.startsWith('*.')) {
      if (n.endsWith(pattern.slice(1)) && n.length > pattern.length - 1) return true;
    } else if (n === pattern) {
      return true;
    }
  }
  return false;
}

/**
 * Why a request's Host is refused, or undefined when it is allowed. `hostHeader` is the Host
 * header; `target` the raw request target (an absolute-form target names the host too).
 */
export function hostRefusal(hostHeader: unknown, target: string, allowed: readonly HostPattern[] | undefined): string | undefined {
  if (!allowed || allowed.includes('*')) return undefined;
  const names: string[] = [];
  if (typeof hostHeader !== 'string' || hostHeader === '') return 'the request has no Host header';
  const fromHeader = hostName(hostHeader);
  if (fromHeader === undefined) return `the Host header '${hostHeader.slice(0, 100)}' is malformed`;
  names.push(fromHeader);
  if (!target.startsWith('/') && target !== '*') {
    let authority: string;
    try {
      authority = new URL(target).host;
    } catch {
      return 'the request target is malformed';
    }
    const fromTarget = hostName(authority);
    if (fromTarget === undefined) return 'the request target names a malformed host';
    names.push(fromTarget);
  }
  for (const n of names) {
    if (!hostAllowed(n, allowed)) return `host '${n.slice(0, 100)}' is not allowed on this server (berth serve --allowed-hosts)`;
  }
  return undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Why a cross-origin request is refused, or undefined when it may go on. */
export function originRefusal(method: string, originHeader: unknown, hostHeader: unknown, allowedOrigins: readonly string[] | undefined): string | undefined {
  if (SAFE_METHODS.has(method.toUpperCase())) return undefined;
  if (originHeader === undefined) return undefined;
  if (typeof originHeader !== 'string') return 'the request has more than one Origin header';
  const origin = originHeader.trim();
  if (allowedOrigins?.includes('*')) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = origin === 'null' ? undefined : new URL(origin);
  } catch {
    parsed = undefined;
  }
  const refusal = `cross-origin ${method.toUpperCase()} refused: Origin '${origin.slice(0, 200)}' is not this server (berth serve --allowed-origins)`;
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) return refusal;
  if (allowedOrigins?.some((o) => o.toLowerCase() === parsed.origin.toLowerCase())) return undefined;
  // Same origin: the page was served by the host the browser sent this request to.
  if (typeof hostHeader === 'string') {
    let host: string | undefined;
    try {
      host = new URL(`${parsed.protocol}//${hostHeader.trim()}`).host;
    } catch {
      host = undefined;
    }
    if (host !== undefined && host.toLowerCase() === parsed.host.toLowerCase()) return undefined;
  }
  return refusal;
}

