/**
 * The status each front end answers a core error code with: an HTTP status for REST and V1, a
 * gRPC status code for gRPC (Triton's mapping, extended to the rest of berth's catalogue). One
 * table, data only: the front ends answer with it (http/errors.ts, grpc/status.ts) and the
 * access log writes the status the client saw from it (monitor/access-log.ts); the core's own
 * logic never uses it. A leaf module.
 */
import type { ErrorCode } from './errors.js';

export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  UNAVAILABLE: 503,
  OVERLOADED: 429, // Too Many Requests + Retry-After (why not 503: core/errors.ts)
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED: 501,
  ALREADY_EXISTS: 409,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  INTERNAL: 500,
};

/** gRPC status codes by number (grpc-js's `status` enum has the same values). */
export const GRPC_STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  UNAVAILABLE: 14,
  OVERLOADED: 8, // RESOURCE_EXHAUSTED
  PAYLOAD_TOO_LARGE: 8, // RESOURCE_EXHAUSTED
  UNSUPPORTED: 12, // UNIMPLEMENTED
  ALREADY_EXISTS: 6,
  UNAUTHENTICATED: 16,
  PERMISSION_DENIED: 7,
  INTERNAL: 13,
};
