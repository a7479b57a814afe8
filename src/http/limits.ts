/**
 * The HTTP front end's resource limits and how their defaults are worked out (the values are in
 * config/defaults.ts; docs/configuration.md lists them with the flags that set them).
 */
import { readFileSync } from 'node:fs';
import { DEFAULTS, DEFAULT_BODY_LIMIT_BYTES } from '../config/defaults.js';

export interface HttpLimits {
  /** largest request body after Content-Encoding is undone, bytes; the wire size is bounded by it too */
  bodyLimit: number;
  /**
   * Bytes in flight across the whole server: request bodies being read and decoded, and answers
   * not yet handed to the kernel. Past it, new requests get 429 + Retry-After.
   */
  maxInflightBytes: number;
  /** the request line and headers must arrive within this, ms (slowloris) */
  headersTimeoutMs: number;
  /** the whole request, body included, must arrive within this, ms; an answer the client does not read within it closes the connection */
  requestTimeoutMs: number;
  /** an idle keep-alive connection is closed after this, ms */
  keepAliveTimeoutMs: number;
  /** open HTTP connections; past it the longest-stalled idle or still-sending connection is closed, or the new one when every connection is busy */
  maxConnections: number;
}

// The values live in config/defaults.ts with the rest of the server configuration; these are
// the units this module works in, for buildHttpApp() used on its own (tests, embedding).
export const DEFAULT_BODY_LIMIT = DEFAULT_BODY_LIMIT_BYTES;
export const DEFAULT_HEADERS_TIMEOUT_MS = DEFAULTS.http.headersTimeoutSecs * 1000;
export const DEFAULT_REQUEST_TIMEOUT_MS = DEFAULTS.http.requestTimeoutSecs * 1000;
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = DEFAULTS.http.keepAliveTimeoutSecs * 1000;
export const DEFAULT_MAX_CONNECTIONS = DEFAULTS.http.maxConnections;

/** Four bodies at the limit, at least 256 MiB: a few large requests proceed together, a flood of them does not. */
export function defaultInflightBytes(bodyLimit: number): number {
  return Math.max(4 * bodyLimit, 256 * 1024 * 1024);
}

/**
 * The default connection cap: 4096, but below the open-file limit, so that the cap (which
 * closes stalled connections to make room) acts before accept() fails with EMFILE, which
 * would starve health checks. Files, models and gRPC keep a reserve of 128 descriptors.
 */
export function defaultMaxConnections(): number {
  const fdLimit = openFileLimit();
  return fdLimit === undefined ? DEFAULT_MAX_CONNECTIONS : Math.max(16, Math.min(DEFAULT_MAX_CONNECTIONS, fdLimit - 128));
}

function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function resolveLimits(partial: Partial<HttpLimits> = {}): HttpLimits {
  const bodyLimit = partial.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const requestTimeoutMs = partial.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return {
    bodyLimit,
    maxInflightBytes: partial.maxInflightBytes ?? defaultInflightBytes(bodyLimit),
    // node refuses a headers timeout longer than the request timeout
    headersTimeoutMs: Math.min(partial.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeoutMs),
    requestTimeoutMs,
    keepAliveTimeoutMs: partial.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: partial.maxConnections ?? defaultMaxConnections(),
  };
}
