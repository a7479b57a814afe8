/**
 * The closed catalogue of errors the serving core can raise. Front ends map each code in one
 * table (core/status-codes.ts, read by http/errors.ts and grpc/status.ts); the core's logic
 * never uses HTTP statuses.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'UNAVAILABLE'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED'
  | 'ALREADY_EXISTS'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'INTERNAL';

/** Why the core refused a request without running it: its queue was full, or its queue timeout expired. */
export type ShedReason = 'queue_full' | 'timeout';

export class BerthError extends Error {
  readonly code: ErrorCode;
  /** Seconds a client should wait before retrying (set for overload rejections). */
  readonly retryAfterSeconds?: number;
  /** set when the request was shed (load shedding, not a fault): what metrics count it as */
  readonly shed?: ShedReason;

  constructor(code: ErrorCode, message: string, options?: { retryAfterSeconds?: number; cause?: unknown; shed?: ShedReason }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.shed = options?.shed;
  }
}

export const invalidArgument = (message: string): BerthError => new BerthError('INVALID_ARGUMENT', message);
export const notFound = (message: string): BerthError => new BerthError('NOT_FOUND', message);
export const unavailable = (message: string, retryAfterSeconds?: number, shed?: ShedReason): BerthError =>
  new BerthError('UNAVAILABLE', message, { retryAfterSeconds, shed });
export const internal = (message: string, cause?: unknown): BerthError => new BerthError('INTERNAL', message, { cause });

/** Wraps anything thrown into a BerthError, keeping BerthErrors as they are. */
export function asBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return internal(message, err);
}
