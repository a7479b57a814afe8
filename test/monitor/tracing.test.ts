/**
 * Traces end to end: berth configured only through the standard OTEL_* variables exports to an
 * in-process OTLP/HTTP (JSON) receiver; the spans continue the caller's W3C traceparent and the
 * answer carries berth's own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { Tracing, tracingFromEnv } from '../../src/monitor/tracing.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { postJson } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

interface OtlpValue { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: { key: string; value: OtlpValue }[];
  status?: { code?: number; message?: string };
}
interface Received { span: OtlpSpan; resource: Record<string, unknown> }

const attr = (span: OtlpSpan, name: string): unknown => {
  const v = span.attributes?.find((a) => a.key === name)?.value;
  if (!v) return undefined;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue ?? v.doubleValue);
};
const ns = (t: string | number): bigint => BigInt(String(t));

/** A minimal OTLP/HTTP receiver: POST /v1/traces with a JSON ExportTraceServiceRequest. */
async function startReceiver(): Promise<{ server: Server; url: string; spans: Received[]; contentTypes: string[] }> {
  const spans: Received[] = [];
  const contentTypes: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.push(String(req.headers['content-type']));
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const request = JSON.parse(body.toString('utf8')) as { resourceSpans: { resource?: { attributes?: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of request.resourceSpans) {
        const resource: Record<string, unknown> = {};
        for (const a of rs.resource?.attributes ?? []) resource[a.key] = a.value.stringValue ?? a.value.intValue;
        for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ span, resource });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { server, url: `http://127.0.0.1:${port}`, spans, contentTypes };
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const row = { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] };

describe('tracing with OTLP/HTTP from the OTEL_* variables', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let server: RunningServer;
  const saved = { ...process.env };
  before(async () => {
    receiver = await startReceiver();
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
    process.env.OTEL_SERVICE_NAME = 'berth-under-test';
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1, { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 3000 } });
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(async () => {
    await server.close();
    await new Promise((r) => receiver.server.close(r));
    process.env = saved;
  });

  test('request → queue → batch → inference spans in the caller\'s trace; the answer carries traceparent', async () => {
    assert.ok(server.tracing, 'tracing is on');
    const answer = await postJson(`${server.url}/v2/models/affine/infer`, row, { 'content-type': 'application/json', traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    assert.equal(answer.status, 200);
    const header = answer.headers.get('traceparent');
    assert.ok(header, 'response has a traceparent');
    const [version, traceId, spanId, flags] = header.split('-');
    assert.equal(version, '00');
    assert.equal(traceId, TRACE_ID);
    assert.match(spanId!, /^[0-9a-f]{16}$/);
    assert.notEqual(spanId, PARENT_ID);
    assert.equal(flags, '01');

    await waitFor(() => receiver.spans.filter((r) => r.span.traceId === TRACE_ID).length >= 4, 10_000, 'four spans exported');
    const spans = receiver.spans.filter((r) => r.span.traceId === TRACE_ID).map((r) => r.span);
    const byName = (name: string) => {
      const found = spans.filter((s) => s.name === name);
      assert.equal(found.length, 1, `one ${name} span, got ${spans.map((s) => s.name).join(', ')}`);
      return found[0]!;
    };
    const request = byName('POST /v2/models/:model/infer');
    const queue = byName('queue');
    const batch = byName('batch');
    const inference = byName('inference');
    assert.equal(request.spanId, spanId, 'the server span is the one named in the answer');
    assert.equal(request.parentSpanId, PARENT_ID);
    assert.equal(request.kind, 2, 'SERVER');
    assert.equal(queue.parentSpanId, request.spanId);
    assert.equal(batch.parentSpanId, request.spanId);
    assert.equal(inference.parentSpanId, batch.spanId);
    assert.equal(attr(request, 'http.request.method'), 'POST');
    assert.equal(attr(request, 'http.route'), '/v2/models/:model/infer');
    assert.equal(attr(request, 'http.response.status_code'), 200);
    assert.equal(attr(request, 'berth.model'), 'affine');
    assert.equal(attr(request, 'berth.model_version'), '1');
    assert.equal(attr(request, 'berth.rows'), 2);
    assert.equal(attr(request, 'berth.request_id'), answer.headers.get('x-request-id'));
    // times nest: queue then batch inside the request; inference inside the batch
    assert.ok(ns(queue.startTimeUnixNano) >= ns(request.startTimeUnixNano));
    assert.ok(ns(queue.endTimeUnixNano) <= ns(batch.startTimeUnixNano));
    assert.ok(ns(inference.startTimeUnixNano) >= ns(batch.startTimeUnixNano));
    assert.ok(ns(inference.endTimeUnixNano) <= ns(batch.endTimeUnixNano));
    assert.ok(ns(batch.endTimeUnixNano) <= ns(request.endTimeUnixNano));
    // the queue waited for company (max_queue_delay 3 ms)
    assert.ok(ns(queue.endTimeUnixNano) - ns(queue.startTimeUnixNano) > 1_000_000n);
    const resource = receiver.spans.find((r) => r.span.spanId === request.spanId)!.resource;
    assert.equal(resource['service.name'], 'berth-under-test');
    assert.ok(receiver.contentTypes.every((t) => t.startsWith('application/json')));
  });

  test('without a traceparent a new trace starts; failures are marked; scrapes and probes are not traced', async () => {
    const ok = await postJson(`${server.url}/v2/models/affine/infer`, row);
    const fresh = ok.headers.get('traceparent')!;
    assert.match(fresh, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.notEqual(fresh.split('-')[1], TRACE_ID);
    const bad = await postJson(`${server.url}/v2/models/affine/infer`, { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    assert.equal(bad.status, 400);
    const badTrace = bad.headers.get('traceparent')!.split('-')[1]!;
    assert.equal((await fetch(`${server.url}/metrics`)).headers.get('traceparent'), null);
    assert.equal((await fetch(`${server.url}/v2/health/ready`)).headers.get('traceparent'), null);
    await waitFor(() => receiver.spans.some((r) => r.span.traceId === badTrace), 10_000, 'failed request exported');
    const failed = receiver.spans.find((r) => r.span.traceId === badTrace)!.span;
    assert.equal(attr(failed, 'error.type'), 'INVALID_ARGUMENT');
    assert.equal(attr(failed, 'http.response.status_code'), 400);
    assert.equal(attr(failed, 'berth.outcome'), 'failure');
    assert.ok(!receiver.spans.some((r) => r.span.name.includes('/metrics') || r.span.name.includes('/health')));
  });

  test('an unsampled caller: the trace id is kept, nothing is exported', async () => {
    const unsampled = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const answer = await postJson(`${server.url}/v2/models/affine/infer`, row, { 'content-type': 'application/json', traceparent: `00-${unsampled}-${PARENT_ID}-00` });
    assert.equal(answer.status, 200);
    const header = answer.headers.get('traceparent')!;
    assert.equal(header.split('-')[1], unsampled);
    assert.equal(header.split('-')[3], '00');
    await server.tracing!.flush();
    assert.ok(!receiver.spans.some((r) => r.span.traceId === unsampled));
  });
});

describe('tracing switched on and off', () => {
  test('the OTEL_* variables decide; off unless they ask', () => {
    assert.deepEqual(tracingFromEnv({}).exporters, []);
    assert.deepEqual(tracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }).exporters, ['otlp']);
    assert.deepEqual(tracingFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }).exporters, ['otlp']);
    assert.deepEqual(tracingFromEnv({ OTEL_TRACES_EXPORTER: 'otlp,console' }).exporters, ['otlp', 'console']);
    assert.deepEqual(tracingFromEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' }).exporters, []);
    assert.deepEqual(tracingFromEnv({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' }).exporters, []);
    const zipkin = tracingFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin' });
    assert.deepEqual(zipkin.exporters, []);
    assert.match(zipkin.warnings[0]!, /zipkin/);
    assert.match(tracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).warnings[0]!, /http\/json/);
    assert.equal(Tracing.fromEnv({}), undefined);
  });

  test('off: no traceparent header, no tracer', async () => {
    const saved = { ...process.env };
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    delete process.env.OTEL_TRACES_EXPORTER;
    const repo = tempDir();
    await writeAffine(repo);
    const server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    try {
      assert.equal(server.tracing, undefined);
      const answer = await postJson(`${server.url}/v2/models/affine/infer`, row, { 'content-type': 'application/json', traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get('traceparent'), null);
    } finally {
      await server.close();
      process.env = saved;
    }
  });

  test('requests that reach the core without a front-end span get a root span with the same children', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = new Tracing([exporter]);
    tracing.onRequest({ model: 'm', version: '2', requestId: 'r1', outcome: 'success', rows: 1, inputs: [], durationNs: 5e6, queueNs: 1e6, computeNs: 3e6, startedAt: Date.now(), protocol: 'grpc' });
    await tracing.flush();
    const spans = exporter.getFinishedSpans();
    assert.deepEqual(spans.map((s) => s.name).sort(), ['batch', 'infer m', 'inference', 'queue']);
    const root = spans.find((s) => s.name === 'infer m')!;
    assert.equal(root.parentSpanContext, undefined);
    assert.equal(root.attributes['berth.protocol'], 'grpc');
    const queue = spans.find((s) => s.name === 'queue')!;
    assert.equal(queue.parentSpanContext?.spanId, root.spanContext().spanId);
    await tracing.shutdown();
  });
});
