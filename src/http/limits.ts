/**
 * The HTTP front end's resource limits and their defaults, in one place (docs/serving.md,
 * "Limits and timeouts", lists the same values and the flags that set them).
 */
import { readFileSync } from 'node:fs';

export interface HttpLimits {
  /** largest request body after Content-Encoding is undone, bytes; the wire size is bounded by it too */
  bodyLimit: number;
  /**
   * Bytes in flight across the whole server: request bodies being read and decoded, and answers
   * not yet handed to the kernel. Past it, new requests get 503 + Retry-After.
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

export const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** Longer than the 60 s idle timeout of common load balancers, so that they close first (fastify's default). */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 72_000;
export const DEFAULT_MAX_CONNECTIONS = 4096;

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
