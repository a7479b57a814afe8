import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { startGrpcServer } from '../../src/grpc/server.js';
import type { RunningGrpcServer } from '../../src/grpc/server.js';
import { INFERENCE_PROTO_PATH } from '../../src/grpc/proto.js';
import { GRPC_STATUS } from '../../src/grpc/status.js';
import { affineExpected, AFFINE, tempDir, writeAffine, writeCorrupt, writeIdentityAll, writeSlow } from '../helpers/models.js';
import { getJson, postBinary, postJson } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { bytesOf, bytesTensor, connect, connectHealth, PROTO_PATH, writeIdentityTyped } from './helpers.js';
import type { Msg, TestClient } from './helpers.js';

/** Three values per datatype at the edges of each type, as raw little-endian bytes. */
const INT64_EDGES = [-(2n ** 63n), 2n ** 63n - 1n, -1n];
const UINT64_EDGES = [0n, 2n ** 64n - 1n, 2n ** 53n + 1n];
const RAW: Record<string, Buffer> = {
  BOOL: Buffer.from([1, 0, 1]),
  UINT8: Buffer.from([0, 200, 255]),
  UINT16: bytesOf(new Uint16Array([1, 40000, 65535])),
  UINT32: bytesOf(new Uint32Array([0, 3000000000, 4294967295])),
  UINT64: bytesOf(new BigUint64Array(UINT64_EDGES)),
  INT8: bytesOf(new Int8Array([-128, 0, 127])),
  INT16: bytesOf(new Int16Array([-32768, 5, 32767])),
  INT32: bytesOf(new Int32Array([-2147483648, 1, 2147483647])),
  INT64: bytesOf(new BigInt64Array(INT64_EDGES)),
  FP16: bytesOf(new Uint16Array([0x3c00, 0xc000, 0x7bff])), // 1, -2, 65504
  FP32: bytesOf(new Float32Array([1.5, -0.25, 2 ** 70])),
  FP64: bytesOf(new Float64Array([Math.PI, -1e-300, 1e300])),
  BYTES: bytesTensor(['hello', '', 'grüße ✓']),
};
const DATATYPES = Object.keys(RAW);

/** The same values as typed contents (FP16 has no typed field). */
const TYPED: Record<string, Msg> = {
  BOOL: { bool_contents: [true, false, true] },
  UINT8: { uint_contents: [0, 200, 255] },
  UINT16: { uint_contents: [1, 40000, 65535] },
  UINT32: { uint_contents: [0, 3000000000, 4294967295] },
  UINT64: { uint64_contents: UINT64_EDGES.map(String) },
  INT8: { int_contents: [-128, 0, 127] },
  INT16: { int_contents: [-32768, 5, 32767] },
  INT32: { int_contents: [-2147483648, 1, 2147483647] },
  INT64: { int64_contents: INT64_EDGES.map(String) },
  FP32: { fp32_contents: [1.5, -0.25, 2 ** 70] },
  FP64: { fp64_contents: [Math.PI, -1e-300, 1e300] },
  BYTES: { bytes_contents: ['hello', '', 'grüße ✓'].map((s) => Buffer.from(s, 'utf8')) },
};

const f32 = (values: number[]) => bytesOf(new Float32Array(values));

function affineRequest(rows: number[][], extra: Msg = {}): Msg {
  return {
    model_name: 'affine',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, AFFINE.inputs] }],
    raw_input_contents: [f32(rows.flat())],
    ...extra,
  };
}

function outputFloats(res: Msg, i = 0): number[] {
  const raw = res.raw_output_contents[i] as Buffer;
  return Array.from(new Float32Array(new Uint8Array(raw).buffer));
}

function assertClose(actual: number[], expected: number[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-3, `value ${i}: ${v} vs ${expected[i]}`));
}

/** REST error text for the same situation, to compare with the gRPC status message. */
async function restError(res: Promise<{ status: number; body: Record<string, unknown> }>): Promise<string> {
  const r = await res;
  assert.ok(r.status >= 400, `REST was expected to fail, got ${r.status}`);
  return String(r.body.error);
}

describe('gRPC front end', () => {
  let server: RunningServer;
  let grpcServer: RunningGrpcServer;
  let client: TestClient;

  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine');
    await writeAffine(repo, 'unbatched', 1, { max_batch_size: 0 });
    await writeIdentityAll(repo, 'identity');
    await writeIdentityTyped(repo, 'identity_typed');
    await writeSlow(repo, 'slow', 24, { max_batch_size: 4096, dynamic_batching: { max_queue_delay_microseconds: 0, default_queue_policy: { max_queue_size: 2 } } });
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    grpcServer = await startGrpcServer({ service: server.service, control: server.control, host: '127.0.0.1', port: 0 });
    client = connect(grpcServer.port);
  });
  after(async () => {
    client.close();
    await grpcServer.close();
    await server.close();
  });

  test('the server loads src/grpc/inference.proto itself, and the build ships that file in dist/', () => {
    assert.equal(realpathSync(INFERENCE_PROTO_PATH), realpathSync(PROTO_PATH));
    const built = join(dirname(PROTO_PATH), '..', '..', 'dist', 'grpc', 'inference.proto');
    if (existsSync(join(dirname(built), 'proto.js'))) assert.equal(readFileSync(built, 'utf8'), readFileSync(PROTO_PATH, 'utf8'), 'npm run build copies src/grpc/inference.proto to dist/grpc/');
  });

  test('ServerLive, ServerReady, ServerMetadata', async () => {
    assert.deepEqual(await client.call('ServerLive', {}), { live: true });
    assert.deepEqual(await client.call('ServerReady', {}), { ready: true });
    const meta = await client.call('ServerMetadata', {});
    const rest = await getJson(`${server.url}/v2`);
    assert.equal(meta.name, 'berth');
    assert.equal(meta.version, rest.body.version);
    assert.ok((meta.extensions as string[]).includes('statistics'));
    assert.deepEqual(meta.extensions, rest.body.extensions);
  });

  test('grpc.health.v1 Health/Check: SERVING while ready; unknown service NOT_FOUND', async () => {
    const health = connectHealth(grpcServer.port);
    try {
      assert.deepEqual(await health.check(''), { status: 'SERVING' });
      assert.deepEqual(await health.check('inference.GRPCInferenceService'), { status: 'SERVING' });
      const err = await health.check('nope').catch((e: { code: number }) => e);
      assert.equal((err as { code: number }).code, status.NOT_FOUND);
    } finally {
      health.close();
    }
  });

  test('ModelReady: true for a served model and version; false (status OK) for unknown ones, as Triton', async () => {
    assert.equal((await client.call('ModelReady', { name: 'affine' })).ready, true);
    assert.equal((await client.call('ModelReady', { name: 'affine', version: '1' })).ready, true);
    assert.equal((await client.call('ModelReady', { name: 'affine', version: '7' })).ready ?? false, false);
    assert.equal((await client.call('ModelReady', { name: 'nope' })).ready ?? false, false);
  });

  test('ModelMetadata: datatypes as strings, -1 for dynamic dimensions; NOT_FOUND with REST\'s message', async () => {
    const meta = await client.call('ModelMetadata', { name: 'affine' });
    assert.equal(meta.name, 'affine');
    assert.deepEqual(meta.versions, ['1']);
    assert.equal(meta.platform, 'onnxruntime_onnx');
    assert.deepEqual(meta.inputs, [{ name: 'input', datatype: 'FP32', shape: ['-1', '4'] }]);
    assert.deepEqual(meta.outputs, [{ name: 'output', datatype: 'FP32', shape: ['-1', '3'] }]);
    const err = await client.fail('ModelMetadata', { name: 'nope' });
    assert.equal(err.code, status.NOT_FOUND);
    assert.equal(err.details, await restError(getJson(`${server.url}/v2/models/nope`)));
  });

  test('ModelInfer with raw contents: id echoed, model and version set, outputs raw', async () => {
    const rows = [[1, 2, 3, 4], [-1, 0.5, 0, 2]];
    const res = await client.call('ModelInfer', affineRequest(rows, { id: 'req-7' }));
    assert.equal(res.model_name, 'affine');
    assert.equal(res.model_version, '1');
    assert.equal(res.id, 'req-7');
    assert.equal(res.outputs[0].contents, undefined);
    assert.deepEqual(res.outputs, [{ name: 'output', datatype: 'FP32', shape: ['2', '3'] }]);
    assertClose(outputFloats(res), rows.flatMap((r) => affineExpected(r)));
  });

  test('ModelInfer with typed fp32 contents, on an explicit version', async () => {
    const rows = [[0.25, -2, 8, 1]];
    const res = await client.call('ModelInfer', {
      model_name: 'affine',
      model_version: '1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: rows.flat() } }],
    });
    assertClose(outputFloats(res), affineExpected(rows[0]!));
  });

  test('raw contents for all thirteen datatypes (BYTES length-prefixed, FP16, 64-bit edges) come back bit for bit', async () => {
    const res = await client.call('ModelInfer', {
      model_name: 'identity',
      inputs: DATATYPES.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [1, 3] })),
      raw_input_contents: DATATYPES.map((dt) => RAW[dt]),
    });
    assert.equal(res.outputs.length, DATATYPES.length);
    res.outputs.forEach((o: Msg, i: number) => {
      const dt = o.name.slice('out_'.length);
      assert.equal(o.datatype, dt);
      assert.deepEqual(o.shape, ['1', '3']);
      assert.deepEqual(res.raw_output_contents[i], RAW[dt], dt);
    });
  });

  test('typed contents for every datatype that has a field, 64-bit edge values exact', async () => {
    const types = Object.keys(TYPED);
    const res = await client.call('ModelInfer', {
      model_name: 'identity_typed',
      inputs: types.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [1, 3], contents: TYPED[dt] })),
    });
    assert.equal(res.outputs.length, types.length);
    res.outputs.forEach((o: Msg, i: number) => {
      const dt = o.name.slice('out_'.length);
      assert.equal(o.datatype, dt);
      assert.equal(o.contents, undefined, 'answers are always raw');
      assert.deepEqual(res.raw_output_contents[i], RAW[dt], dt);
    });
  });

  test('typed integers outside a narrow type\'s range are INVALID_ARGUMENT', async () => {
    const err = await client.fail('ModelInfer', {
      model_name: 'identity_typed',
      inputs: Object.keys(TYPED).map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [1, 3], contents: dt === 'INT8' ? { int_contents: [1, 300, 2] } : TYPED[dt] })),
    });
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.equal(err.details, "input 'in_INT8' (INT8) element 1 is not an integer in [-128, 127]: 300");
  });

  test('mixing typed contents and raw_input_contents is INVALID_ARGUMENT, as Triton', async () => {
    const err = await client.fail('ModelInfer', {
      model_name: 'affine',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }],
      raw_input_contents: [f32([1, 2, 3, 4])],
    });
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, /contents field must not be specified when using raw_input_contents/);
  });

  test('FP16 cannot be sent typed; raw sizes must match the shape', async () => {
    const fp16 = await client.fail('ModelInfer', {
      model_name: 'identity',
      inputs: [{ name: 'in_FP16', datatype: 'FP16', shape: [1, 3], contents: { fp32_contents: [1, 2, 3] } }],
    });
    assert.equal(fp16.code, status.INVALID_ARGUMENT);
    assert.match(fp16.details, /FP16 data has no typed contents field; send it in raw_input_contents/);
    const short = await client.fail('ModelInfer', { ...affineRequest([[1, 2, 3, 4]]), raw_input_contents: [f32([1, 2, 3])] });
    assert.equal(short.code, status.INVALID_ARGUMENT);
    assert.match(short.details, /raw_input_contents holds 12 bytes but shape \[1,4\] of FP32 needs 16/);
    const wrongField = await client.fail('ModelInfer', {
      model_name: 'affine',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { int_contents: [1, 2, 3, 4] } }],
    });
    assert.equal(wrongField.code, status.INVALID_ARGUMENT);
    assert.match(wrongField.details, /data belongs in contents\.fp32_contents, got contents\.int_contents/);
  });

  test('unknown model: NOT_FOUND with the same message as REST', async () => {
    const err = await client.fail('ModelInfer', { ...affineRequest([[1, 2, 3, 4]]), model_name: 'nope' });
    assert.equal(err.code, status.NOT_FOUND);
    const rest = await restError(postJson(`${server.url}/v2/models/nope/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }));
    assert.equal(err.details, rest);
    const version = await client.fail('ModelInfer', { ...affineRequest([[1, 2, 3, 4]]), model_version: '9' });
    assert.equal(version.code, status.NOT_FOUND);
    assert.equal(version.details, await restError(postJson(`${server.url}/v2/models/affine/versions/9/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })));
  });

  test('bad shape, wrong datatype, unknown output: INVALID_ARGUMENT with the same messages as REST', async () => {
    const cases: { grpc: Msg; rest: object }[] = [
      {
        grpc: { model_name: 'affine', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 5], contents: { fp32_contents: [1, 2, 3, 4, 5] } }] },
        rest: { inputs: [{ name: 'input', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] },
      },
      {
        grpc: { model_name: 'affine', inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 4], contents: { fp64_contents: [1, 2, 3, 4] } }] },
        rest: { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP64', data: [1, 2, 3, 4] }] },
      },
      {
        grpc: { model_name: 'affine', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3] } }] },
        rest: { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3] }] },
      },
      {
        grpc: { ...affineRequest([[1, 2, 3, 4]]), outputs: [{ name: 'nope' }] },
        rest: { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }], outputs: [{ name: 'nope' }] },
      },
      {
        grpc: { model_name: 'affine', inputs: [{ name: 'input', datatype: 'FP99', shape: [1, 4], contents: {} }] },
        rest: { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP99', data: [1, 2, 3, 4] }] },
      },
    ];
    for (const c of cases) {
      const err = await client.fail('ModelInfer', c.grpc);
      assert.equal(err.code, status.INVALID_ARGUMENT, err.details);
      assert.equal(err.details, await restError(postJson(`${server.url}/v2/models/affine/infer`, c.rest)));
    }
  });

  test('parameters: uint64 priority, int64 timeout, double and string parameters reach the core', async () => {
    const ok = await client.call('ModelInfer', affineRequest([[1, 1, 1, 1]], {
      parameters: { priority: { uint64_param: '1' }, timeout: { int64_param: '5000000' }, temperature: { double_param: 0.5 }, tag: { string_param: 'x' }, flag: { bool_param: false } },
    }));
    assertClose(outputFloats(ok), affineExpected([1, 1, 1, 1]));
    const huge = await client.fail('ModelInfer', affineRequest([[1, 1, 1, 1]], { parameters: { priority: { uint64_param: '18446744073709551615' } } }));
    assert.equal(huge.code, status.INVALID_ARGUMENT);
    assert.match(huge.details, /parameter 'priority' must be a non-negative integer, got "18446744073709551615"/);
    const negative = await client.fail('ModelInfer', affineRequest([[1, 1, 1, 1]], { parameters: { timeout: { int64_param: '-5' } } }));
    assert.equal(negative.code, status.INVALID_ARGUMENT);
    assert.equal(negative.details, await restError(postJson(`${server.url}/v2/models/affine/infer`, {
      parameters: { timeout: -5 }, inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 1, 1, 1] }],
    })));
  });

  test('outputs selection returns only the requested outputs, in the requested order', async () => {
    const res = await client.call('ModelInfer', {
      model_name: 'identity',
      inputs: DATATYPES.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [1, 3] })),
      raw_input_contents: DATATYPES.map((dt) => RAW[dt]),
      outputs: [{ name: 'out_INT64' }, { name: 'out_BYTES' }],
    });
    assert.deepEqual(res.outputs.map((o: Msg) => o.name), ['out_INT64', 'out_BYTES']);
    assert.deepEqual(res.raw_output_contents[0], RAW.INT64);
    assert.deepEqual(res.raw_output_contents[1], RAW.BYTES);
  });

  test('a full queue is RESOURCE_EXHAUSTED with a retry-after trailer; a queue timeout too', async () => {
    const big = (rows: number, extra: Msg = {}): Msg => ({
      model_name: 'slow',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 512] }],
      raw_input_contents: [f32(new Array(rows * 512).fill(0.5))],
      ...extra,
    });
    const batcher = server.service.resolve('slow').batcher!;
    const long = client.call('ModelInfer', big(4096)); // occupies the only instance for a while
    await waitFor(() => batcher.inFlight === 1);
    const timed = client.fail('ModelInfer', big(1, { parameters: { timeout: { int64_param: '50000' } } }));
    const queued = client.call('ModelInfer', big(1));
    await waitFor(() => batcher.queueDepth === 2);
    const overflow = await client.fail('ModelInfer', big(1));
    assert.equal(overflow.code, status.RESOURCE_EXHAUSTED);
    assert.match(overflow.details, /Exceeds maximum queue size \(2\)/);
    assert.deepEqual(overflow.metadata.get('retry-after'), ['1']);
    const t = await timed;
    assert.equal(t.code, status.RESOURCE_EXHAUSTED);
    assert.equal(t.details, 'Request timeout expired');
    await long;
    await queued;
  });

  test('a client deadline cancels the call in the core: the queued request leaves the queue', async () => {
    const batcher = server.service.resolve('slow').batcher!;
    const long = client.call('ModelInfer', {
      model_name: 'slow',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [4096, 512] }],
      raw_input_contents: [f32(new Array(4096 * 512).fill(0.5))],
    });
    await waitFor(() => batcher.inFlight === 1);
    const short = await new Promise<Error & { code?: number }>((resolve) => {
      const deadline = new Date(Date.now() + 100);
      const methods = client.raw as unknown as Record<string, (...args: unknown[]) => void>;
      methods.ModelInfer!.call(client.raw, {
        model_name: 'slow',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 512] }],
        raw_input_contents: [f32(new Array(512).fill(1))],
      }, { deadline }, (err: Error) => resolve(err));
    });
    assert.equal(short?.code, status.DEADLINE_EXCEEDED);
    await waitFor(() => batcher.queueDepth === 0, 5000, 'the abandoned request to leave the queue');
    assert.equal(batcher.inFlight, 1, 'the long request is still running: the short one was dequeued, not served');
    await long;
  });

  test('a stream cancelled by the client mid-way leaves the server serving', async () => {
    const methods = client.raw as unknown as Record<string, () => import('@grpc/grpc-js').ClientDuplexStream<Msg, Msg>>;
    const stream = methods.ModelStreamInfer!.call(client.raw);
    const done = new Promise<number | undefined>((resolve) => {
      stream.on('error', (err: Error & { code?: number }) => resolve(err.code));
      stream.on('end', () => resolve(undefined));
    });
    stream.on('data', () => undefined);
    for (let i = 0; i < 8; i++) {
      stream.write({
        model_name: 'slow', id: String(i),
        inputs: [{ name: 'input', datatype: 'FP32', shape: [256, 512] }],
        raw_input_contents: [f32(new Array(256 * 512).fill(0.5))],
      });
    }
    stream.cancel();
    assert.equal(await done, status.CANCELLED);
    const res = await client.call('ModelInfer', affineRequest([[1, 2, 3, 4]]));
    assertClose(outputFloats(res), affineExpected([1, 2, 3, 4]));
    const batcher = server.service.resolve('slow').batcher!;
    await waitFor(() => batcher.queueDepth === 0 && batcher.inFlight === 0, 10000, 'the slow model to go idle');
  });

  test('ModelStreamInfer: answers in order with ids echoed; a bad request yields error_message and the stream goes on', async () => {
    const rows = [[1, 2, 3, 4], [4, 3, 2, 1], [0, 0, 0, 1], [9, 9, 9, 9]];
    const requests = rows.map((r, i) => affineRequest([r], { id: `s${i}` }));
    requests.splice(2, 0, { ...affineRequest([[1, 2, 3, 4]]), model_name: 'nope', id: 'bad' });
    const answers = await client.stream(requests);
    assert.equal(answers.length, 5);
    assert.deepEqual(answers.map((a) => a.infer_response?.id), ['s0', 's1', 'bad', 's2', 's3']);
    const bad = answers[2]!;
    assert.equal(bad.error_message, "unknown model 'nope'");
    const good = answers.filter((a) => a.infer_response.id !== 'bad');
    good.forEach((a, i) => {
      assert.equal(a.error_message ?? '', '');
      assert.equal(a.infer_response.model_name, 'affine');
      assertClose(outputFloats(a.infer_response), affineExpected(rows[i]!));
    });
  });

  test('ModelStreamInfer with many concurrent requests batches them and keeps order', async () => {
    const n = 64;
    const requests = Array.from({ length: n }, (_, i) => affineRequest([[i, 1, 0, -i]], { id: String(i) }));
    const stats = server.service.resolve('affine').stats;
    const executions = stats.executionCount;
    const answers = await client.stream(requests);
    assert.deepEqual(answers.map((a) => a.infer_response.id), requests.map((r) => r.id));
    answers.forEach((a, i) => assertClose(outputFloats(a.infer_response), affineExpected([i, 1, 0, -i])));
    assert.ok(stats.executionCount - executions < n, 'stream requests should share batches');
  });

  test('ModelConfig: the same configuration REST gives, as Triton\'s ModelConfig message', async () => {
    const { config } = await client.call('ModelConfig', { name: 'affine' });
    const rest = (await getJson(`${server.url}/v2/models/affine/config`)).body as Msg;
    assert.equal(config.name, 'affine');
    assert.equal(config.platform, rest.platform);
    assert.equal(config.backend, 'onnxruntime');
    assert.equal(config.max_batch_size, rest.max_batch_size);
    assert.deepEqual(config.input, [{ name: 'input', data_type: 'TYPE_FP32', dims: ['4'], is_shape_tensor: false, optional: false }]);
    assert.deepEqual(config.output, [{ name: 'output', data_type: 'TYPE_FP32', dims: ['3'] }]);
    assert.equal(config.scheduling_choice, 'dynamic_batching');
    assert.equal(Number(config.dynamic_batching.max_queue_delay_microseconds), rest.dynamic_batching.max_queue_delay_microseconds);
    assert.equal(config.dynamic_batching.default_queue_policy.max_queue_size, rest.dynamic_batching.default_queue_policy.max_queue_size);
    assert.deepEqual(config.instance_group, [{ name: 'affine_0', kind: 'KIND_CPU', count: 1 }]);
    assert.deepEqual(config.version_policy, { latest: { num_versions: 1 }, policy_choice: 'latest' });
    assert.equal(config.default_model_filename, 'model.onnx');
    const unbatched = (await client.call('ModelConfig', { name: 'unbatched' })).config;
    assert.equal(unbatched.max_batch_size ?? 0, 0);
    assert.deepEqual(unbatched.input[0].dims, ['-1', '4']);
    const err = await client.fail('ModelConfig', { name: 'nope' });
    assert.equal(err.code, status.NOT_FOUND);
  });

  test('ModelStatistics: counts grow with inferences and match REST', async () => {
    const read = async () => (await client.call('ModelStatistics', { name: 'affine' })).model_stats[0] as Msg;
    const before = await read();
    for (let i = 0; i < 3; i++) await client.call('ModelInfer', affineRequest([[1, 2, 3, 4], [5, 6, 7, 8]]));
    const after = await read();
    assert.equal(after.name, 'affine');
    assert.equal(after.version, '1');
    assert.equal(Number(after.inference_stats.success.count) - Number(before.inference_stats?.success?.count ?? 0), 3);
    assert.equal(Number(after.inference_count) - Number(before.inference_count ?? 0), 6);
    assert.ok(Number(after.inference_stats.success.ns) > 0);
    assert.ok(Number(after.last_inference) > 0);
    assert.ok(after.batch_stats.length > 0);
    const rest = ((await getJson(`${server.url}/v2/models/affine/stats`)).body.model_stats as Msg[])[0]!;
    assert.equal(Number(after.inference_count), rest.inference_count);
    assert.equal(Number(after.execution_count), rest.execution_count);
    assert.equal(Number(after.inference_stats.success.count), rest.inference_stats.success.count);
    assert.equal(after.batch_stats.length, rest.batch_stats.length);
    const all = (await client.call('ModelStatistics', {})).model_stats as Msg[];
    assert.ok(all.some((s) => s.name === 'identity') && all.some((s) => s.name === 'affine'));
    const err = await client.fail('ModelStatistics', { name: 'nope' });
    assert.equal(err.code, status.NOT_FOUND);
  });

  test('outputs are bit-for-bit identical to REST binary for the same inputs', async () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 20 - 10;
    const rows = Array.from({ length: 7 }, () => Array.from({ length: 4 }, rand));
    const input = f32(rows.flat());
    const viaGrpc = await client.call('ModelInfer', affineRequest(rows));
    const viaRest = await postBinary(`${server.url}/v2/models/affine/infer`, {
      inputs: [{ name: 'input', shape: [7, 4], datatype: 'FP32', parameters: { binary_data_size: input.length } }],
      parameters: { binary_data_output: true },
    }, [input]);
    assert.equal(viaRest.status, 200);
    assert.deepEqual(viaGrpc.raw_output_contents[0], viaRest.blobs);

    // Every datatype, through the identity model.
    const restAll = await postBinary(`${server.url}/v2/models/identity/infer`, {
      inputs: DATATYPES.map((dt) => ({ name: `in_${dt}`, shape: [1, 3], datatype: dt, parameters: { binary_data_size: RAW[dt]!.length } })),
      parameters: { binary_data_output: true },
    }, DATATYPES.map((dt) => RAW[dt]!));
    const grpcAll = await client.call('ModelInfer', {
      model_name: 'identity',
      inputs: DATATYPES.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [1, 3] })),
      raw_input_contents: DATATYPES.map((dt) => RAW[dt]),
    });
    const restOutputs = restAll.header.outputs as { name: string; datatype: string; shape: number[] }[];
    assert.deepEqual(grpcAll.outputs.map((o: Msg) => ({ name: o.name, datatype: o.datatype, shape: o.shape.map(Number) })), restOutputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })));
    assert.deepEqual(Buffer.concat(grpcAll.raw_output_contents as Buffer[]), restAll.blobs);
  });

  test('a ~10 MB request and an ~8 MB answer pass (above gRPC\'s 4 MiB default)', async () => {
    const rows = 700_000;
    const data = new Float32Array(rows * 4);
    for (let i = 0; i < data.length; i++) data[i] = (i % 13) - 6;
    const res = await client.call('ModelInfer', {
      model_name: 'unbatched',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 4] }],
      raw_input_contents: [bytesOf(data)],
    });
    assert.deepEqual(res.outputs[0].shape, [String(rows), '3']);
    const out = new Float32Array(new Uint8Array(res.raw_output_contents[0]).buffer);
    assert.equal(out.length, rows * 3);
    for (const r of [0, 1, 12345, rows - 1]) {
      assertClose(Array.from(out.subarray(r * 3, r * 3 + 3)), affineExpected(Array.from(data.subarray(r * 4, r * 4 + 4))));
    }
  });

  test('a message over the configured limit is RESOURCE_EXHAUSTED', async () => {
    const small = await startGrpcServer({ service: server.service, host: '127.0.0.1', port: 0, maxMessageBytes: 1024 * 1024 });
    const c = connect(small.port);
    try {
      const err = await c.fail('ModelInfer', {
        model_name: 'unbatched',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [100_000, 4] }],
        raw_input_contents: [bytesOf(new Float32Array(400_000))],
      });
      assert.equal(err.code, status.RESOURCE_EXHAUSTED);
      assert.ok((await c.call('ModelInfer', affineRequest([[1, 2, 3, 4]]))).raw_output_contents);
    } finally {
      c.close();
      await small.close();
    }
  });

  test('Repository RPCs without model control answer UNAVAILABLE; in mode none they are refused as REST refuses them', async () => {
    const bare = await startGrpcServer({ service: server.service, host: '127.0.0.1', port: 0 });
    const c = connect(bare.port);
    try {
      const err = await c.fail('RepositoryModelLoad', { model_name: 'affine' });
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.details, /no model repository/);
    } finally {
      c.close();
      await bare.close();
    }
    const none = await client.fail('RepositoryModelUnload', { model_name: 'affine' });
    assert.equal(none.code, status.UNAVAILABLE);
    assert.equal(none.details, await restError(postJson(`${server.url}/v2/repository/models/affine/unload`, {})));
  });

  test('close() lets a call in progress finish, then refuses new calls', async () => {
    const extra = await startGrpcServer({ service: server.service, host: '127.0.0.1', port: 0 });
    const c = connect(extra.port);
    const batcher = server.service.resolve('slow').batcher!;
    const call = c.call('ModelInfer', {
      model_name: 'slow',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2048, 512] }],
      raw_input_contents: [f32(new Array(2048 * 512).fill(0.25))],
    });
    await waitFor(() => batcher.inFlight === 1);
    const closed = extra.close();
    const res = await call;
    assert.deepEqual(res.outputs[0].shape, ['2048', '512']);
    await closed;
    const err = await c.fail('ServerLive', {});
    assert.equal(err.code, status.UNAVAILABLE);
    c.close();
  });
});

describe('gRPC model repository, explicit mode', () => {
  let server: RunningServer;
  let grpcServer: RunningGrpcServer;
  let client: TestClient;

  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine');
    await writeAffine(repo, 'later');
    writeCorrupt(repo, 'corrupt');
    server = await startServer({ paths: [repo], http: { port: 0 }, modelControl: { mode: 'explicit', startupModels: ['affine'] }, grpc: { enabled: false }, monitoring: { enabled: false } });
    grpcServer = await startGrpcServer({ service: server.service, control: server.control, host: '127.0.0.1', port: 0 });
    client = connect(grpcServer.port);
  });
  after(async () => {
    client.close();
    await grpcServer.close();
    await server.close();
  });

  test('RepositoryIndex lists loaded and unloaded models; ready=true only the ready ones', async () => {
    const { models } = await client.call('RepositoryIndex', {});
    const byName = Object.fromEntries((models as Msg[]).map((m) => [m.name, m]));
    assert.equal(byName.affine.state, 'READY');
    assert.equal(byName.affine.version, '1');
    assert.equal(byName.later.state, 'UNAVAILABLE');
    assert.equal(byName.later.reason, 'unloaded');
    const ready = (await client.call('RepositoryIndex', { ready: true })).models as Msg[];
    assert.deepEqual(ready.map((m) => m.name), ['affine']);
  });

  test('RepositoryModelLoad, with and without a config override, then RepositoryModelUnload', async () => {
    assert.equal((await client.call('ModelReady', { name: 'later' })).ready ?? false, false);
    assert.deepEqual(await client.call('RepositoryModelLoad', { model_name: 'later' }), {});
    assert.equal((await client.call('ModelReady', { name: 'later' })).ready, true);
    const res = await client.call('ModelInfer', { ...affineRequest([[1, 2, 3, 4]]), model_name: 'later' });
    assertClose(outputFloats(res), affineExpected([1, 2, 3, 4]));

    await client.call('RepositoryModelLoad', { model_name: 'later', parameters: { config: { string_param: JSON.stringify({ max_batch_size: 8 }) } } });
    assert.equal((await client.call('ModelConfig', { name: 'later' })).config.max_batch_size, 8);

    const badConfig = await client.fail('RepositoryModelLoad', { model_name: 'later', parameters: { config: { string_param: '{nope' } } });
    assert.equal(badConfig.code, status.INVALID_ARGUMENT);
    const files = await client.fail('RepositoryModelLoad', { model_name: 'later', parameters: { 'file:1/model.onnx': { bytes_param: Buffer.from('x') } } });
    assert.equal(files.code, status.UNIMPLEMENTED);

    assert.deepEqual(await client.call('RepositoryModelUnload', { model_name: 'later' }), {});
    assert.equal((await client.call('ModelReady', { name: 'later' })).ready ?? false, false);
    const gone = await client.fail('ModelInfer', { ...affineRequest([[1, 2, 3, 4]]), model_name: 'later' });
    assert.equal(gone.code, status.NOT_FOUND);
    const missing = await client.fail('RepositoryModelLoad', { model_name: 'nothing' });
    assert.equal(missing.code, status.NOT_FOUND);
    assert.equal(missing.details, await restError(postJson(`${server.url}/v2/repository/models/nothing/load`, {})));
  });

  test('a model that fails to load: load is INVALID_ARGUMENT, then the server and model are not ready and infer is UNAVAILABLE', async () => {
    assert.equal((await client.call('ServerReady', {})).ready, true);
    const err = await client.fail('RepositoryModelLoad', { model_name: 'corrupt' });
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, /failed to load 'corrupt'/);
    assert.equal((await client.call('ServerReady', {})).ready ?? false, false);
    const health = connectHealth(grpcServer.port);
    assert.deepEqual(await health.check(''), { status: 'NOT_SERVING' });
    health.close();
    assert.equal((await client.call('ModelReady', { name: 'corrupt' })).ready ?? false, false);
    const infer = await client.fail('ModelInfer', { ...affineRequest([[1, 2, 3, 4]]), model_name: 'corrupt' });
    assert.equal(infer.code, status.UNAVAILABLE);
    assert.equal(infer.details, await restError(postJson(`${server.url}/v2/models/corrupt/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })));
    await client.call('RepositoryModelUnload', { model_name: 'corrupt' });
    assert.equal((await client.call('ServerReady', {})).ready, true);
  });
});

test('every core error code maps to its gRPC status', () => {
  assert.deepEqual(GRPC_STATUS, {
    INVALID_ARGUMENT: 3, NOT_FOUND: 5, UNAVAILABLE: 14, OVERLOADED: 8, PAYLOAD_TOO_LARGE: 8, UNSUPPORTED: 12,
    ALREADY_EXISTS: 6, UNAUTHENTICATED: 16, PERMISSION_DENIED: 7, INTERNAL: 13,
  });
});
