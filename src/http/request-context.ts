/** What the inference routes (v2-routes.ts, v1-routes.ts) read off a request besides its body's content. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ClientGoneSignal } from './client-gone-signal.js';
import { REQUEST_ID_HEADER, requestIdOf } from '../core/request-id.js';

export interface ModelParams {
  model: string;
  version?: string;
}

/** The request body as bytes: already decoded (Content-Encoding) by the body parser. */
export function bodyOf(request: FastifyRequest): Buffer {
  const raw = request.body;
  return Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
}

/**
 * The x-request-id a client or balancer sent (core/request-id.ts: 1-256 printable ASCII, else
 * a 400), echoed at once in the answer's header so that error answers carry it too.
 */
export function headerId(request: FastifyRequest, reply?: FastifyReply): string | undefined {
  const id = requestIdOf(request.headers[REQUEST_ID_HEADER]);
  if (id !== undefined) void reply?.header(REQUEST_ID_HEADER, id);
  return id;
}

/** Sticky rollout routing: requests with the same x-berth-route-key see the same version. */
export function routeKey(request: FastifyRequest): string | undefined {
  const key = request.headers['x-berth-route-key'];
  return typeof key === 'string' && key.length > 0 && key.length <= 1024 ? key : undefined;
}

/** Aborts queued work when the client disconnects before its answer. */
export function abortSignal(reply: FastifyReply): ClientGoneSignal {
  return new ClientGoneSignal(reply.raw);
}
