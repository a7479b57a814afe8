/** Where core error codes become HTTP answers (the statuses: core/status-codes.ts, Triton's mapping). */
import type { FastifyReply } from 'fastify';
import { asBerthError } from '../core/errors.js';
import { HTTP_STATUS } from '../core/status-codes.js';

// the table itself is shared with the access log (core/status-codes.ts)
export { HTTP_STATUS };

export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = asBerthError(err);
  if (e.retryAfterSeconds !== undefined) void reply.header('retry-after', String(e.retryAfterSeconds));
  return reply.code(HTTP_STATUS[e.code]).type('application/json').send({ error: e.message });
}
