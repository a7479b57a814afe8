/**
 * OpenTelemetry traces: one server span per HTTP request, continuing the caller's W3C
 * `traceparent` (and answering with a `traceparent` header naming berth's span), with the
 * core's stages as children: `queue` (waiting for a batch slot) and `batch` (the batch the
 * request ran in) with its `inference`.
 *
 * The core is not threaded with spans: when a request ends, the observer builds the child spans
 * after the fact, with explicit start and end times, from the core's own timings (queueNs,
 * computeNs), and attaches them to the HTTP span it finds in an AsyncLocalStorage entered
 * just before the route handler. The gRPC front end does the same with a span per call
 * (startRpcSpan), continuing the `traceparent` metadata the client sent and answering with
 * berth's own; requests that reach the core with neither get a root span.
 *
 * Off by default, and then nothing here is created: no hooks, no observer, no per-request work.
 * The HTTP hooks live with the front end (http/tracing-hooks.ts) and call startHttpSpan.
 * On when the standard variables ask for an exporter (see tracingFromEnv); spans go out over
 * OTLP/HTTP (JSON) in batches.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders } from 'node:http2';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, trace } from '@opentelemetry/api';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { InferenceObserver, RequestRecord } from '../core/observer.js';
import { SERVER_VERSION } from '../core/inference-service.js';

export type TraceExporterName = 'otlp' | 'console';

export interface TracingDecision {
  exporters: TraceExporterName[];
  /** things worth a warning (unknown exporter names, an OTLP protocol we do not speak) */
  warnings: string[];
}

/**
 * Which exporters the standard OpenTelemetry variables ask for. berth traces only when asked:
 * - `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`: off;
 * - `OTEL_TRACES_EXPORTER=otlp[,console]`: those exporters;
 * - otherwise on (OTLP) when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set.
 */
export function tracingFromEnv(env: NodeJS.ProcessEnv = process.env): TracingDecision {
  const warnings: string[] = [];
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return { exporters: [], warnings };
  const named = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0);
  let exporters: TraceExporterName[] = [];
  if (named.length > 0) {
    if (named.includes('none')) return { exporters: [], warnings };
    for (const name of named) {
      if (name === 'otlp' || name === 'console') exporters.push(name);
      else warnings.push(`OTEL_TRACES_EXPORTER '${name}' is not supported (berth exports with otlp or console); ignored`);
    }
  } else if (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    exporters = ['otlp'];
  }
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? '').trim();
  if (exporters.includes('otlp') && protocol !== '' && protocol !== 'http/json') {
    warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL '${protocol}' is not supported: berth sends OTLP over HTTP as JSON (http/json), which OTLP/HTTP receivers accept`);
  }
  return { exporters: [...new Set(exporters)], warnings };
}

export interface TracingOptions {
  /** span exporters; default: the ones tracingFromEnv chooses */
  exporters?: SpanExporter[];
  /** default: OTEL_SERVICE_NAME, else "berth" */
  serviceName?: string;
  /** told about configuration warnings */
  log?: { warn(obj: object, msg: string): void };
}

/** Routes whose requests are not traced: scrapes and probes would drown the real traffic. */
function untraced(route: string | undefined): boolean {
  return route === '/metrics' || (route !== undefined && route.startsWith('/v2/health'));
}

/** gRPC calls that are not traced: probes, like HTTP's /v2/health routes. */
const UNTRACED_RPCS = new Set(['/inference.GRPCInferenceService/ServerLive', '/inference.GRPCInferenceService/ServerReady', '/grpc.health.v1.Health/Check']);

/**
 * gRPC statuses that mark a server span as failed (OpenTelemetry's RPC conventions): the
 * server's fault, not the client's.
 */
const RPC_SERVER_ERRORS = new Set([2 /* UNKNOWN */, 4 /* DEADLINE_EXCEEDED */, 12 /* UNIMPLEMENTED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */, 15 /* DATA_LOSS */]);

/** A span of one gRPC call (or of one request of a stream), from Tracing.startRpcSpan. */
export interface RpcSpan {
  /** the W3C traceparent naming this span: the answer's metadata carries it */
  readonly traceparent: string;
  /** runs `fn` with this span current: the core's observer attaches the request's stages to it */
  run<T>(fn: () => T): T;
  /** a span inside this one, e.g. one request of a ModelStreamInfer stream */
  child(name: string): RpcSpan;
  /** ends the span with the call's gRPC status */
  end(code: number, message?: string): void;
}

const msNow = (): number => performance.timeOrigin + performance.now();

function formatTraceparent(span: Span): string {
  const sc = span.spanContext();
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A server span of one HTTP request, from Tracing.startHttpSpan. */
export class HttpSpan {
  /** the W3C traceparent naming this span: the answer's `traceparent` header */
  readonly traceparent: string;

  constructor(private readonly span: Span, private readonly current: AsyncLocalStorage<Span>) {
    this.traceparent = formatTraceparent(span);
  }

  /** runs `fn` with this span current: the core's observer attaches the request's stages to it */
  run(fn: () => void): void {
    this.current.run(this.span, fn);
  }

  /** ends the span with the response's status (5xx marks it failed) */
  end(statusCode: number): void {
    this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, statusCode);
    if (statusCode >= 500) {
      this.span.setAttribute(ATTR_ERROR_TYPE, String(statusCode));
      this.span.setStatus({ code: SpanStatusCode.ERROR });
    }
    this.span.end();
  }

  /** ends the span of a request whose client closed the connection before the answer */
  abort(): void {
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: 'client closed the connection' });
    this.span.end();
  }
}

/**
 * The tracer: an observer of the core, with spans for the front ends' requests. Create it with
 * Tracing.fromEnv (or with explicit exporters), add it as an observer, let the HTTP front end
 * register its hooks (http/tracing-hooks.ts), and shut it down (flushing spans) when the server
 * stops.
 */
export class Tracing implements InferenceObserver {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly current = new AsyncLocalStorage<Span>();
  private readonly propagator = new W3CTraceContextPropagator();

  constructor(exporters: SpanExporter[], options: TracingOptions = {}) {
    const serviceName = options.serviceName ?? process.env.OTEL_SERVICE_NAME ?? 'berth';
    const resource = defaultResource()
      .merge(detectResources({ detectors: [envDetector] }))
      .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, [ATTR_SERVICE_VERSION]: SERVER_VERSION }));
    // BatchSpanProcessor reads OTEL_BSP_* (delay, queue size); the provider reads OTEL_TRACES_SAMPLER.
    const spanProcessors: SpanProcessor[] = exporters.map((e) => new BatchSpanProcessor(e));
    this.provider = new BasicTracerProvider({ resource, spanProcessors });
    this.tracer = this.provider.getTracer('berth', SERVER_VERSION);
  }

  /** A Tracing for what the OTEL_* variables ask, or undefined when they ask for none. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, options: TracingOptions = {}): Tracing | undefined {
    if (options.exporters) return new Tracing(options.exporters, options);
    const decision = tracingFromEnv(env);
    for (const w of decision.warnings) options.log?.warn({}, w);
    if (decision.exporters.length === 0) return undefined;
    // The OTLP exporter reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS and _TIMEOUT itself.
    const exporters = decision.exporters.map((name): SpanExporter => (name === 'otlp' ? new OTLPTraceExporter() : new ConsoleSpanExporter()));
    return new Tracing(exporters, options);
  }

  /** The trace id of the request being handled, if any (for access log lines). */
  currentTraceId = (): string | undefined => this.current.getStore()?.spanContext().traceId;

  /**
   * A server span for an HTTP request (the front end's hooks call it: http/tracing-hooks.ts),
   * continuing the incoming traceparent; undefined for scrapes and probes, which are not traced.
   * `route` is the matched route pattern (undefined when none matched), `url` the request's URL.
   */
  startHttpSpan(method: string, route: string | undefined, url: string, headers: IncomingHttpHeaders): HttpSpan | undefined {
    if (untraced(route)) return undefined;
    const parent: Context = this.propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    const query = url.indexOf('?');
    const span = this.tracer.startSpan(route ? `${method} ${route}` : method, {
      kind: SpanKind.SERVER,
      attributes: {
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_URL_PATH]: query < 0 ? url : url.slice(0, query),
        ...(route ? { [ATTR_HTTP_ROUTE]: route } : {}),
      },
    }, parent);
    return new HttpSpan(span, this.current);
  }

  /**
   * A server span for a gRPC call to `path` (/package.Service/Method), continuing the caller's
   * `traceparent` (and `tracestate`) metadata; undefined for the probes, which are not traced.
   */
  startRpcSpan(path: string, metadata: IncomingHttpHeaders): RpcSpan | undefined {
    if (UNTRACED_RPCS.has(path)) return undefined;
    const parent: Context = this.propagator.extract(ROOT_CONTEXT, metadata, defaultTextMapGetter);
    const slash = path.lastIndexOf('/');
    const service = path.slice(1, slash);
    const method = path.slice(slash + 1);
    // attribute names of OpenTelemetry's RPC conventions (not yet in the stable package)
    const span = this.tracer.startSpan(`${service}/${method}`, {
      kind: SpanKind.SERVER,
      attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method },
    }, parent);
    return this.rpcSpan(span);
  }

  private rpcSpan(span: Span): RpcSpan {
    return {
      traceparent: formatTraceparent(span),
      run: (fn) => this.current.run(span, fn),
      child: (name) => this.rpcSpan(this.tracer.startSpan(name, { kind: SpanKind.INTERNAL }, trace.setSpan(ROOT_CONTEXT, span))),
      end: (code, message) => {
        span.setAttribute('rpc.grpc.status_code', code);
        if (RPC_SERVER_ERRORS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message });
        span.end();
      },
    };
  }

  /** Adds the core's stages to the request's span (or to a new root span when it has none). */
  onRequest(record: RequestRecord): void {
    const end = msNow();
    const start = end - record.durationNs / 1e6;
    let span = this.current.getStore();
    const own = span === undefined;
    if (!span) span = this.tracer.startSpan(`infer ${record.model}`, { kind: SpanKind.SERVER, startTime: start }, ROOT_CONTEXT);
    if (!span.isRecording()) {
      // not sampled: the caller's decision (or the sampler's) is followed, at no further cost
      if (own) span.end(end);
      return;
    }
    span.setAttributes({
      'berth.model': record.model,
      'berth.model_version': record.version,
      'berth.request_id': record.requestId,
      'berth.protocol': record.protocol ?? 'rest',
      'berth.outcome': record.outcome,
      'berth.rows': record.rows,
    });
    if (record.outcome === 'failure') {
      span.setAttribute(ATTR_ERROR_TYPE, record.errorCode ?? 'INTERNAL');
      if (record.errorCode === 'INTERNAL' || record.errorCode === 'UNAVAILABLE' || record.errorCode === 'OVERLOADED' || own) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: record.errorMessage });
      }
    }
    if (record.queueNs > 0 || record.computeNs > 0) {
      // The core measured two intervals: queue (enqueue → batch start) and compute (batch
      // start → outputs back). They are laid out from the core's start (validation before the
      // queue takes microseconds); what is left of the core's time after them (splitting the
      // batch's outputs, answering) stays in the batch span.
      const parent = trace.setSpan(ROOT_CONTEXT, span);
      const queueStart = start;
      const queueEnd = Math.min(end, queueStart + record.queueNs / 1e6);
      const computeEnd = Math.min(end, queueEnd + record.computeNs / 1e6);
      // the model, version and rows are on the request span; the children carry only times
      this.tracer.startSpan('queue', { kind: SpanKind.INTERNAL, startTime: queueStart }, parent).end(queueEnd);
      const batch = this.tracer.startSpan('batch', { kind: SpanKind.INTERNAL, startTime: queueEnd }, parent);
      this.tracer.startSpan('inference', { kind: SpanKind.INTERNAL, startTime: queueEnd }, trace.setSpan(ROOT_CONTEXT, batch)).end(computeEnd);
      batch.end(end);
    }
    if (own) span.end(end);
  }

  /** Exports the spans that are waiting in the batch processors. */
  async flush(): Promise<void> {
    await this.provider.forceFlush();
  }

  /** Flushes pending spans and stops the exporters. */
  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}
