/** The one place where core error codes become HTTP statuses (Triton's mapping). */
import type { FastifyReply } from 'fastify';
import type { ErrorCode } from '../core/errors.js';
import { asBerthError } from '../core/errors.js';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  UNAVAILABLE: 503,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED: 501,
  ALREADY_EXISTS: 409,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  INTERNAL: 500,
};

export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = asBerthError(err);
  if (e.retryAfterSeconds !== undefined) void reply.header('retry-after', String(e.retryAfterSeconds));
  return reply.code(HTTP_STATUS[e.code]).type('application/json').send({ error: e.message });
}
