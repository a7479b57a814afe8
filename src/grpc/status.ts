/**
 * Where core error codes become gRPC statuses (the codes: core/status-codes.ts, Triton's
 * mapping extended to the rest of berth's catalogue). The status message is the core's message, the same text the
 * REST front end puts in `{"error": ...}`.
 */
import { Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import type { ErrorCode } from '../core/errors.js';
import { asBerthError } from '../core/errors.js';
import { GRPC_STATUS as GRPC_STATUS_CODES } from '../core/status-codes.js';

/** The table is shared with the access log (core/status-codes.ts); its numbers are grpc-js's `status` values. */
export const GRPC_STATUS = GRPC_STATUS_CODES as Readonly<Record<ErrorCode, status>>;

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
