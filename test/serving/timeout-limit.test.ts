/**
 * The `timeout` parameter (microseconds in the queue) feeds a Node timer, which holds at most
 * 2^31-1 ms: a larger value would fire at once. Over gRPC (int64 and uint64 parameters, also
 * beyond 2^53) it is refused with INVALID_ARGUMENT naming the limit, as over REST.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { MAX_TIMEOUT_US } from '../../src/core/inference-service.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { postJson } from '../helpers/http.js';
import { connect } from '../grpc/helpers.js';
import type { Msg, TestClient } from '../grpc/helpers.js';

let server: RunningServer;
let client: TestClient;

before(async () => {
  const repo = tempDir('berth-timeout-');
  await writeAffine(repo, 'affine', 1);
  server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { port: 0 }, monitoring: { enabled: false } });
  client = connect(server.grpcPort!);
});
after(async () => {
  client.close();
  await server.close();
});

function request(parameters: Msg): Msg {
  return {
    model_name: 'affine',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }],
    raw_input_contents: [Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)],
    parameters,
  };
}

test('gRPC: timeouts beyond 2^31-1 ms are INVALID_ARGUMENT naming the limit; the limit itself serves', async () => {
  assert.equal(MAX_TIMEOUT_US, 2147483647000);
  for (const timeout of [{ int64_param: String(MAX_TIMEOUT_US + 1000) }, { uint64_param: '18446744073709551615' }, { int64_param: '9223372036854775807' }]) {
    const err = await client.fail('ModelInfer', request({ timeout }));
    assert.equal(err.code, status.INVALID_ARGUMENT, JSON.stringify(timeout));
    assert.match(err.details, /parameter 'timeout' must be at most 2147483647000 microseconds/);
  }
  const ok = await client.call('ModelInfer', request({ timeout: { int64_param: String(MAX_TIMEOUT_US) } }));
  assert.equal(ok.model_name, 'affine');
});

test('REST: the same limit and message', async () => {
  const body = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };
  const over = await postJson(`${server.url}/v2/models/affine/infer`, { ...body, parameters: { timeout: MAX_TIMEOUT_US + 1 } });
  assert.equal(over.status, 400);
  assert.match(String(over.body.error), /parameter 'timeout' must be at most 2147483647000 microseconds/);
  assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, { ...body, parameters: { timeout: MAX_TIMEOUT_US } })).status, 200);
});
