import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { status } from '@grpc/grpc-js';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { tempDir, writeAffine, writeCorrupt, writeSlow } from '../helpers/models.js';
import { getJson, postJson } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { connect, connectHealth } from '../grpc/helpers.js';
import type { Msg, TestClient } from '../grpc/helpers.js';

/**
 * Issue 19, item 1: what a load balancer sees. Overload (a request shed for load) is 429 +
 * Retry-After over REST and V1 and RESOURCE_EXHAUSTED over gRPC, and leaves readiness alone;
 * not ready and draining are 503 / UNAVAILABLE, and a draining server's HTTP answers close
 * their connection.
 */

const ROW = new Array(512).fill(0.5);
const restBody = (rows: number, parameters?: object) => ({ inputs: [{ name: 'input', shape: [rows, 512], datatype: 'FP32', data: new Array(rows * 512).fill(0.5) }], ...(parameters ? { parameters } : {}) });
const grpcBody = (rows: number): Msg => ({
  model_name: 'slow',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 512] }],
  raw_input_contents: [Buffer.from(new Float32Array(rows * 512).fill(0.5).buffer)],
});

/** A GET over a new keep-alive connection: the status and the server's Connection header. */
function rawGet(url: string): Promise<{ status: number; connection: string | undefined; body: string }> {
  const agent = new Agent({ keepAlive: true });
  return new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = httpRequest(url, { headers: { host: 'localhost' }, agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  }).finally(() => agent.destroy());
}

describe('overload answers 429 / RESOURCE_EXHAUSTED; readiness stays true', () => {
  let server: RunningServer;
  let client: TestClient;

  before(async () => {
    const repo = tempDir();
    // one instance, a queue of one: a long request running plus one queued fill it
    await writeSlow(repo, 'slow', 24, { max_batch_size: 4096, dynamic_batching: { max_queue_delay_microseconds: 0, default_queue_policy: { max_queue_size: 1 } } });
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { port: 0 }, monitoring: { enabled: false } });
    client = connect(server.grpcPort!);
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  test('a full queue: REST and V1 answer 429 + Retry-After (JSON error, connection kept), gRPC RESOURCE_EXHAUSTED + retry-after; ready stays 200', async () => {
    const batcher = server.service.resolve('slow').batcher!;
    const long = postJson(`${server.url}/v2/models/slow/infer`, restBody(4096));
    await waitFor(() => batcher.inFlight === 1);
    const queued = postJson(`${server.url}/v2/models/slow/infer`, restBody(1));
    await waitFor(() => batcher.queueDepth === 1);

    const rest = await postJson(`${server.url}/v2/models/slow/infer`, restBody(1));
    assert.equal(rest.status, 429);
    assert.equal(rest.headers.get('retry-after'), '1');
    assert.match(String(rest.body.error), /Exceeds maximum queue size \(1\)/);
    assert.equal(rest.headers.get('connection'), 'keep-alive', 'a busy replica is no reason to reconnect');

    const v1 = await postJson(`${server.url}/v1/models/slow:predict`, { instances: [ROW] });
    assert.equal(v1.status, 429);
    assert.equal(v1.headers.get('retry-after'), '1');
    assert.match(String(v1.body.error), /Exceeds maximum queue size/);

    const grpc = await client.fail('ModelInfer', grpcBody(1));
    assert.equal(grpc.code, status.RESOURCE_EXHAUSTED);
    assert.match(grpc.details, /Exceeds maximum queue size \(1\)/);
    assert.deepEqual(grpc.metadata.get('retry-after'), ['1']);

    // busy is not unready: a balancer's health check keeps this replica in
    assert.equal((await getJson(`${server.url}/v2/health/ready`)).status, 200);
    assert.equal((await client.call('ServerReady', {})).ready, true);
    assert.equal((await postJson(`${server.url}/v2/models/slow/infer`, restBody(1), { 'content-type': 'application/json' })).status, 429);

    assert.equal((await long).status, 200);
    assert.equal((await queued).status, 200);
  });

  test('a queue timeout is shed the same way: 429 "Request timeout expired" with Retry-After', async () => {
    const batcher = server.service.resolve('slow').batcher!;
    const long = postJson(`${server.url}/v2/models/slow/infer`, restBody(4096));
    await waitFor(() => batcher.inFlight === 1);
    const timed = await postJson(`${server.url}/v2/models/slow/infer`, restBody(1, { timeout: 1000 }));
    assert.equal(timed.status, 429);
    assert.equal(timed.body.error, 'Request timeout expired');
    assert.equal(timed.headers.get('retry-after'), '1');
    assert.equal((await long).status, 200);
  });
});

describe('not ready answers 503 / UNAVAILABLE', () => {
  let server: RunningServer;
  let client: TestClient;

  before(async () => {
    const repo = tempDir();
    writeCorrupt(repo, 'corrupt');
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { port: 0 }, monitoring: { enabled: false } });
    client = connect(server.grpcPort!);
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  test('a model that did not load: 503 over REST and V1, UNAVAILABLE over gRPC, readiness 503', async () => {
    const rest = await postJson(`${server.url}/v2/models/corrupt/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    assert.equal(rest.status, 503);
    assert.match(String(rest.body.error), /not ready/);
    assert.equal((await getJson(`${server.url}/v2/health/ready`)).status, 503);
    assert.equal((await getJson(`${server.url}/v2/models/corrupt/ready`)).status, 503);
    assert.equal((await getJson(`${server.url}/v2/health/live`)).status, 200);
    const grpc = await client.fail('ModelInfer', { model_name: 'corrupt', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }] });
    assert.equal(grpc.code, status.UNAVAILABLE);
  });
});

describe('draining (RunningServer.beginDrain, then close)', () => {
  let server: RunningServer;
  let client: TestClient;
  let health: ReturnType<typeof connectHealth>;

  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine');
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { port: 0 }, monitoring: { enabled: false } });
    client = connect(server.grpcPort!);
    health = connectHealth(server.grpcPort!);
  });
  after(async () => {
    client?.close();
    health?.close();
    await server?.close();
  });

  test('readiness fails everywhere at once, liveness and inference go on, every HTTP answer says Connection: close', async () => {
    const infer = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };
    const before = await rawGet(`${server.url}/v2/health/ready`);
    assert.equal(before.status, 200);
    assert.notEqual(before.connection, 'close');
    assert.deepEqual(await health.check(''), { status: 'SERVING' });

    server.beginDrain();

    const ready = await rawGet(`${server.url}/v2/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal(ready.connection, 'close');
    const model = await getJson(`${server.url}/v2/models/affine/ready`);
    assert.equal(model.status, 503);
    assert.match(String(model.body.error), /shutting down/);
    assert.equal((await getJson(`${server.url}/v2/models/affine/versions/1/ready`)).status, 503);
    assert.equal((await client.call('ServerReady', {})).ready ?? false, false);
    assert.equal((await client.call('ModelReady', { name: 'affine' })).ready ?? false, false);
    assert.deepEqual(await health.check(''), { status: 'NOT_SERVING' });

    const live = await rawGet(`${server.url}/v2/health/live`);
    assert.equal(live.status, 200);
    assert.equal(live.connection, 'close');
    const rest = await postJson(`${server.url}/v2/models/affine/infer`, infer);
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    assert.equal(rest.headers.get('connection'), 'close');
    const grpc = await client.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }] });
    assert.equal(grpc.outputs.length, 1);

    // the stop: new connections are refused once close() has run
    await server.close();
    await assert.rejects(fetch(`${server.url}/v2/health/live`));
  });
});
