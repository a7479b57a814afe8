/**
 * The closed catalogue of errors the serving core can raise. Front ends map each code in one
 * place (http/errors.ts, grpc/status.ts); the core never knows about HTTP statuses.
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

export class BerthError extends Error {
  readonly code: ErrorCode;
  /** Seconds a client should wait before retrying (set for overload rejections). */
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, message: string, options?: { retryAfterSeconds?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

export const invalidArgument = (message: string): BerthError => new BerthError('INVALID_ARGUMENT', message);
export const notFound = (message: string): BerthError => new BerthError('NOT_FOUND', message);
export const unavailable = (message: string, retryAfterSeconds?: number): BerthError =>
  new BerthError('UNAVAILABLE', message, { retryAfterSeconds });
export const internal = (message: string, cause?: unknown): BerthError => new BerthError('INTERNAL', message, { cause });

/** Wraps anything thrown into a BerthError, keeping BerthErrors as they are. */
export function asBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return internal(message, err);
}
