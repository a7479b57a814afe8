/** What the inference routes (v2-routes.ts, v1-routes.ts) read off a request besides its body's content. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ClientGoneSignal } from './client-gone-signal.js';

export interface ModelParams {
  model: string;
  version?: string;
}

/** The request body as bytes: already decoded (Content-Encoding) by the body parser. */
export function bodyOf(request: FastifyRequest): Buffer {
  const raw = request.body;
  return Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
}

/** V1 bodies have no id field: a client may name its request with an x-request-id header. */
export function headerId(request: FastifyRequest): string | undefined {
  const id = request.headers['x-request-id'];
  return typeof id === 'string' && id.length > 0 && id.length <= 256 ? id : undefined;
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
