/**
 * W3C trace context over gRPC (issue #6: "W3C traceparent taken from and propagated to
 * clients"): a call carrying `traceparent` metadata continues the caller's trace; the answer's
 * metadata names berth's span; the core's stages hang under it as they do for HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { startGrpcServer } from '../../src/grpc/server.js';
import type { RunningGrpcServer } from '../../src/grpc/server.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { bytesOf, connect } from './helpers.js';
import type { Msg, TestClient } from './helpers.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;

const affine = (id: string, model = 'affine'): Msg => ({
  model_name: model,
  id,
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }],
  raw_input_contents: [bytesOf(new Float32Array([1, 2, 3, 4]))],
});

/** A unary call that also returns the answer's initial metadata (or the error's). */
function callWithMetadata(client: TestClient, method: string, request: Msg, metadata: grpc.Metadata): Promise<{ err?: grpc.ServiceError; res?: Msg; headers: grpc.Metadata }> {
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const methods = client.raw as unknown as Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>;
    const call = methods[method]!.call(client.raw, request, metadata, (err: grpc.ServiceError | null, res: Msg) => {
      resolve(err ? { err, headers: err.metadata ?? headers } : { res, headers });
    });
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
  });
}

const withTraceparent = (value = TRACEPARENT): grpc.Metadata => {
  const m = new grpc.Metadata();
  m.set('traceparent', value);
  return m;
};

describe('gRPC traces', () => {
  const exporter = new InMemorySpanExporter();
  let server: RunningServer;
  let grpcServer: RunningGrpcServer;
  let client: TestClient;

  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1, { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 2000 } });
    server = await startServer({ paths: [repo], http: { port: 0 }, tracing: { exporters: [exporter] }, grpc: { enabled: false }, monitoring: { enabled: false } });
    grpcServer = await startGrpcServer({ service: server.service, host: '127.0.0.1', port: 0, tracing: server.tracing });
    client = connect(grpcServer.port);
  });
  after(async () => {
    client.close();
    await grpcServer.close();
    await server.close();
  });

  const spansOf = async (traceId: string): Promise<ReadableSpan[]> => {
    await server.tracing!.flush();
    return exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  };

  test('ModelInfer continues the caller\'s traceparent; the answer names berth\'s span', async () => {
    const { res, headers } = await callWithMetadata(client, 'ModelInfer', affine('t1'), withTraceparent());
    assert.equal(res!.id, 't1');
    const answered = String(headers.get('traceparent')[0] ?? '');
    const [version, traceId, spanId, flags] = answered.split('-');
    assert.equal(version, '00');
    assert.equal(traceId, TRACE_ID);
    assert.match(spanId!, /^[0-9a-f]{16}$/);
    assert.notEqual(spanId, PARENT_ID);
    assert.equal(flags, '01');

    const spans = await spansOf(TRACE_ID);
    const byName = (name: string): ReadableSpan => {
      const found = spans.filter((s) => s.name === name);
      assert.equal(found.length, 1, `one ${name} span, got ${spans.map((s) => s.name).join(', ')}`);
      return found[0]!;
    };
    const call = byName('inference.GRPCInferenceService/ModelInfer');
    assert.equal(call.spanContext().spanId, spanId, 'the span named in the answer');
    assert.equal(call.parentSpanContext?.spanId, PARENT_ID);
    assert.equal(call.kind, 1 /* SERVER */);
    assert.equal(call.attributes['rpc.system'], 'grpc');
    assert.equal(call.attributes['rpc.service'], 'inference.GRPCInferenceService');
    assert.equal(call.attributes['rpc.method'], 'ModelInfer');
    assert.equal(call.attributes['rpc.grpc.status_code'], 0);
    assert.equal(call.attributes['berth.model'], 'affine');
    assert.equal(call.attributes['berth.protocol'], 'grpc');
    assert.equal(call.attributes['berth.request_id'], 't1');
    const queue = byName('queue');
    const batch = byName('batch');
    const inference = byName('inference');
    assert.equal(queue.parentSpanContext?.spanId, spanId);
    assert.equal(batch.parentSpanContext?.spanId, spanId);
    assert.equal(inference.parentSpanContext?.spanId, batch.spanContext().spanId);
  });

  test('without a traceparent a new trace starts, and the answer still names it', async () => {
    const { headers } = await callWithMetadata(client, 'ModelInfer', affine('t2'), new grpc.Metadata());
    const answered = String(headers.get('traceparent')[0] ?? '');
    assert.match(answered, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.notEqual(answered.split('-')[1], TRACE_ID);
    const spans = await spansOf(answered.split('-')[1]!);
    const call = spans.find((s) => s.name === 'inference.GRPCInferenceService/ModelInfer')!;
    assert.equal(call.parentSpanContext, undefined);
  });

  test('a failed call: its status on the span, the traceparent in the error\'s metadata', async () => {
    const traceId = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    const { err, headers } = await callWithMetadata(client, 'ModelInfer', affine('t3', 'nope'), withTraceparent(`00-${traceId}-${PARENT_ID}-01`));
    assert.equal(err!.code, grpc.status.NOT_FOUND);
    assert.equal(String(headers.get('traceparent')[0] ?? '').split('-')[1], traceId);
    const call = (await spansOf(traceId)).find((s) => s.name === 'inference.GRPCInferenceService/ModelInfer')!;
    assert.equal(call.attributes['rpc.grpc.status_code'], grpc.status.NOT_FOUND);
    assert.equal(call.status.code, 0 /* UNSET: the client's mistake, not the server's */);
  });

  test('metadata RPCs are traced, the probes are not', async () => {
    const traceId = 'cccccccccccccccccccccccccccccccc';
    const meta = await callWithMetadata(client, 'ModelMetadata', { name: 'affine' }, withTraceparent(`00-${traceId}-${PARENT_ID}-01`));
    assert.equal(String(meta.headers.get('traceparent')[0] ?? '').split('-')[1], traceId);
    assert.deepEqual((await spansOf(traceId)).map((s) => s.name), ['inference.GRPCInferenceService/ModelMetadata']);
    const probe = 'dddddddddddddddddddddddddddddddd';
    const live = await callWithMetadata(client, 'ServerLive', {}, withTraceparent(`00-${probe}-${PARENT_ID}-01`));
    assert.deepEqual(live.headers.get('traceparent'), []);
    assert.deepEqual(await spansOf(probe), []);
  });

  test('ModelStreamInfer: one span for the stream, one per request inside it', async () => {
    const traceId = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';
    const methods = client.raw as unknown as Record<string, (metadata: grpc.Metadata) => grpc.ClientDuplexStream<Msg, Msg>>;
    const stream = methods.ModelStreamInfer!.call(client.raw, withTraceparent(`00-${traceId}-${PARENT_ID}-01`));
    let headers = new grpc.Metadata();
    stream.on('metadata', (m: grpc.Metadata) => (headers = m));
    const answers: Msg[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: Msg) => answers.push(m));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.write(affine('s1'));
    stream.write(affine('s2', 'nope'));
    stream.write(affine('s3'));
    stream.end();
    await ended;
    assert.deepEqual(answers.map((a) => a.infer_response.id), ['s1', 's2', 's3']);
    const streamSpanId = String(headers.get('traceparent')[0] ?? '').split('-')[2];
    const spans = await spansOf(traceId);
    const streamSpan = spans.find((s) => s.name === 'inference.GRPCInferenceService/ModelStreamInfer')!;
    assert.equal(streamSpan.spanContext().spanId, streamSpanId);
    assert.equal(streamSpan.parentSpanContext?.spanId, PARENT_ID);
    const requests = spans.filter((s) => s.parentSpanContext?.spanId === streamSpanId);
    assert.deepEqual(requests.map((s) => s.name).sort(), ['infer affine', 'infer affine', 'infer nope']);
    assert.deepEqual(requests.map((s) => s.attributes['rpc.grpc.status_code']).sort(), [0, 0, grpc.status.NOT_FOUND]);
    for (const r of requests.filter((s) => s.name === 'infer affine')) {
      assert.ok(spans.some((s) => s.name === 'queue' && s.parentSpanContext?.spanId === r.spanContext().spanId), 'the request\'s queue span hangs under it');
    }
  });
});
