/**
 * The app-wide answers for unmatched routes and for errors no route handled: berth's errors by
 * their code (errors.ts), fastify's 4xx as they are, anything else a logged 500.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.js';
import { sendError } from './errors.js';

export function registerErrorHandlers(app: FastifyInstance, bodyLimit: number, logger: FastifyBaseLogger | undefined): void {
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'Not Found' }));
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof BerthError) return sendError(reply, err);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: `request body is larger than the limit of ${bodyLimit} bytes` });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    logger?.error({ err }, 'unhandled error');
    return reply.code(500).send({ error: err.message || 'internal error' });
  });
}
