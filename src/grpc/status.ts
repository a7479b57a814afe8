/**
 * The one place where core error codes become gRPC status codes (Triton's mapping, extended to
 * the rest of berth's catalogue). The status message is the core's message, the same text the
 * REST front end puts in `{"error": ...}`.
 */
import { Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import type { ErrorCode } from '../core/errors.js';
import { asBerthError } from '../core/errors.js';

export const GRPC_STATUS: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT, // 3
  NOT_FOUND: status.NOT_FOUND, // 5
  UNAVAILABLE: status.UNAVAILABLE, // 14
  PAYLOAD_TOO_LARGE: status.RESOURCE_EXHAUSTED, // 8
  UNSUPPORTED: status.UNIMPLEMENTED, // 12
  ALREADY_EXISTS: status.ALREADY_EXISTS, // 6
  UNAUTHENTICATED: status.UNAUTHENTICATED, // 16
  PERMISSION_DENIED: status.PERMISSION_DENIED, // 7
  INTERNAL: status.INTERNAL, // 13
};

/**
 * Anything thrown, as the error object grpc-js sends as the call's status. An overload
 * rejection also carries a `retry-after` (seconds) trailer, as REST sends the header.
 */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  const e = asBerthError(err);
  const metadata = new Metadata();
  if (e.retryAfterSeconds !== undefined) metadata.set('retry-after', String(e.retryAfterSeconds));
  return { code: GRPC_STATUS[e.code], details: e.message, metadata };
}
