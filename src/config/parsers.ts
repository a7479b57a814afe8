/**
 * Parsers of the configuration's structured values (`--allowed-hosts`, `--allowed-origins`,
 * `--restricted-api`), used by the schema (config/schema.ts) for flags, files and library
 * objects alike. They live here, not beside the front ends that apply the values, so that the
 * configuration imports no front end (eslint.layers.js).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Restrictable API groups: Triton's names where Triton has the group, berth's own beyond. */
export const CATEGORIES = ['health', 'metadata', 'inference', 'model-config', 'model-repository', 'statistics', 'metrics', 'admin', 'monitoring', 'static'] as const;
export type Category = (typeof CATEGORIES)[number];

/** `--restricted-api CATEGORY[,CATEGORY...]:HEADER=VALUE`: those APIs need that header. */
export interface RestrictedApi {
  categories: Category[];
  /** lower case: HTTP header names and gRPC metadata keys are case-insensitive */
  header: string;
  /** SHA-256 of the expected value (compared in constant time; the value is not kept) */
  digest: Buffer;
}

const HEADER_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * Parses one `--restricted-api` value. VALUE may be `@FILE`: the value is the file's content
 * (trimmed), so it does not show in the process list.
 */
export function parseRestrictedApi(spec: string): RestrictedApi {
  const colon = spec.indexOf(':');
  const eq = spec.indexOf('=', colon + 1);
  if (colon <= 0 || eq < 0) throw new Error(`--restricted-api '${spec}': expected CATEGORY[,CATEGORY...]:HEADER=VALUE`);
  const categories = spec.slice(0, colon).split(',').map((c) => c.trim());
  for (const c of categories) {
    if (!(CATEGORIES as readonly string[]).includes(c)) throw new Error(`--restricted-api: unknown API category '${c}' (known: ${CATEGORIES.join(', ')})`);
  }
  const header = spec.slice(colon + 1, eq).trim().toLowerCase();
  if (!HEADER_NAME.test(header) || header === 'authorization' || header.startsWith('grpc-')) {
    throw new Error(`--restricted-api: '${header}' cannot be the header (letters, digits, - and _; not authorization or grpc-*)`);
  }
  let value = spec.slice(eq + 1);
  if (value.startsWith('@')) {
    try {
      value = readFileSync(value.slice(1), 'utf8').trim();
    } catch (err) {
      throw new Error(`--restricted-api: cannot read the value file ${value.slice(1)}: ${(err as Error).message}`);
    }
  }
  if (value.length < 8) throw new Error(`--restricted-api: the value for header '${header}' must have at least 8 characters`);
  return { categories: categories as Category[], header, digest: createHash('sha256').update(value).digest() };
}

/** `*`, a host name (any port), `*.suffix` (any subdomain), or an IP literal (`::1` or `[::1]`). */
export type HostPattern = string;

/** Parses `--allowed-hosts a,b,*.c` (`*` = any host). */
export function parseAllowedHosts(value: string): HostPattern[] {
  const list = value.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0);
  if (list.length === 0) throw new Error(`--allowed-hosts: expected host names separated by commas, got '${value}'`);
  if (list.includes('*')) return ['*'];
  for (const h of list) {
    if (!/^(\*\.)?[a-z0-9_.:[\]-]+$/.test(h)) throw new Error(`--allowed-hosts: '${h}' is not a host name, *.domain or IP address`);
  }
  return list;
}

/** Parses `--allowed-origins https://a.example,http://b:8080` (`*` = any origin). */
export function parseAllowedOrigins(value: string): string[] {
  const list = value.split(',').map((o) => o.trim()).filter((o) => o.length > 0);
  if (list.length === 0) throw new Error(`--allowed-origins: expected origins separated by commas, got '${value}'`);
  return list.map((o) => {
    if (o === '*') return o;
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      throw new Error(`--allowed-origins: '${o}' is not an origin like https://app.example.com`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || o.endsWith('/')) {
      throw new Error(`--allowed-origins: '${o}' is not an origin like https://app.example.com (scheme, host, port; no path)`);
    }
    return url.origin;
  });
}
