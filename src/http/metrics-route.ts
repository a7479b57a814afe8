/** `GET /metrics` on the HTTP front end, and the count of HTTP responses (monitor/metrics.ts keeps them). */
import type { FastifyInstance } from 'fastify';
import type { ServingMetrics } from '../monitor/metrics.js';

export function registerMetricsRoute(app: FastifyInstance, metrics: ServingMetrics): void {
  // Counted as the answer is sent (onSend), not when it has finished (onResponse): an onResponse
  // hook makes fastify put listeners on every response, which costs the event loop more than
  // the count itself. A client that hangs up while its answer is written is still counted.
  app.addHook('onSend', (request, reply, payload, done) => {
    metrics.onHttpResponse(request.method, request.routeOptions.url ?? '', reply.statusCode);
    done(null, payload);
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.contentType).send(text);
  });
}
