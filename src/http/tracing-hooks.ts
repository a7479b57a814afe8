/**
 * OpenTelemetry server spans for HTTP requests (monitor/tracing.ts makes them): started as a
 * request arrives, entered right before its handler, ended with its status.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpSpan, Tracing } from '../monitor/tracing.js';

export function registerTracingHooks(app: FastifyInstance, tracing: Tracing): void {
  const spans = new WeakMap<FastifyRequest, HttpSpan>();
  app.addHook('onRequest', (request, reply, done) => {
    const span = tracing.startHttpSpan(request.method, request.routeOptions.url, request.url, request.headers);
    if (span) {
      spans.set(request, span);
      void reply.header('traceparent', span.traceparent);
    }
    done();
  });
  // Entered right before the handler (after the body was read, which loses async context),
  // so the core's observer callbacks for this request find the span.
  app.addHook('preHandler', (request, _reply, done) => {
    const span = spans.get(request);
    if (span) span.run(done);
    else done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = spans.get(request);
    if (span) {
      spans.delete(request);
      span.end(reply.statusCode);
    }
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    const span = spans.get(request);
    if (span) {
      spans.delete(request);
      span.abort();
    }
    done();
  });
}
