/**
 * The closed catalogue of errors the serving core can raise. Front ends map each code in one
 * table (core/status-codes.ts, read by http/errors.ts and grpc/status.ts); the core's logic
 * never uses HTTP statuses.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'UNAVAILABLE'
  | 'OVERLOADED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED'
  | 'ALREADY_EXISTS'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'INTERNAL';

/*
 * Overload and not-ready are two codes on purpose. Triton answers a full queue and a queue
 * timeout with UNAVAILABLE (503), the same answer as "not ready" or "shutting down", and a load
 * balancer cannot tell them apart: HAProxy with `retry-on 503` replays every shed request on
 * the next replica (multiplying the load that caused the shedding), and with `observe layer7`
 * a burst of shed 503s marks every busy-but-healthy replica down, which turns overload into an
 * outage. So berth answers:
 * - UNAVAILABLE (HTTP 503, gRPC 14): this replica cannot serve it now and another may (not
 *   ready, draining, model not loaded, a dependency unreachable). Balancers retry elsewhere;
 *   while draining the HTTP answer also carries `Connection: close`.
 * - OVERLOADED (HTTP 429 + Retry-After, gRPC RESOURCE_EXHAUSTED 8 + a retry-after trailer):
 *   the request was shed for load (queue full, queue timeout, in-flight byte budget, connection
 *   cap). It is the client's back-off signal, the one vLLM/TGI-style servers and API gateways
 *   send; balancers pass 4xx through without counting the server as failed, and gRPC clients
 *   do not retry RESOURCE_EXHAUSTED transparently the way they retry UNAVAILABLE.
 * Triton clients that retried 503 for a full queue retry 429 the same way (both say Retry-After).
 */

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
/** This replica cannot serve it now, another may (not ready, draining, a dependency unreachable): 503 / UNAVAILABLE. */
export const unavailable = (message: string, retryAfterSeconds?: number): BerthError =>
  new BerthError('UNAVAILABLE', message, { retryAfterSeconds });
/** The request was shed for load (a full queue, a queue timeout, a byte or connection budget): 429 / RESOURCE_EXHAUSTED. */
export const overloaded = (message: string, retryAfterSeconds: number, shed?: ShedReason): BerthError =>
  new BerthError('OVERLOADED', message, { retryAfterSeconds, shed });
export const internal = (message: string, cause?: unknown): BerthError => new BerthError('INTERNAL', message, { cause });

/** Wraps anything thrown into a BerthError, keeping BerthErrors as they are. */
export function asBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return internal(message, err);
}
