import { after, before, describe, test } from 'node:test';
import { request } from 'node:http';
import assert from 'node:assert/strict';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { affineExpected, tempDir, writeAffine, writeRowSum, writeSlow } from '../helpers/models.js';
import { postJson } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

type Out = { outputs: { shape: number[]; data: number[] }[]; error?: string };

describe('dynamic batching', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1, { max_batch_size: 16, dynamic_batching: { max_queue_delay_microseconds: 20000 } });
    await writeRowSum(repo, 'rowsum');
    await writeSlow(repo, 'slow', 24, { max_batch_size: 4096, dynamic_batching: { max_queue_delay_microseconds: 0, default_queue_policy: { max_queue_size: 2 } } });
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  test('concurrent requests of mixed batch sizes each get exactly their own rows back', async () => {
    const stats = server.service.resolve('affine').stats;
    const before = { executions: stats.executionCount, inferences: stats.inferenceCount };
    const sizes = [1, 3, 2, 5, 1, 4, 2, 1, 3, 6, 1, 2];
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 10 - 5;
    const requests = sizes.map((n) => Array.from({ length: n }, () => [rand(), rand(), rand(), rand()]));
    const answers = await Promise.all(requests.map((rows) =>
      postJson(`${server.url}/v2/models/affine/infer`, { inputs: [{ name: 'input', shape: [rows.length, 4], datatype: 'FP32', data: rows }] })));
    answers.forEach((a, k) => {
      assert.equal(a.status, 200);
      const out = (a.body as unknown as Out).outputs[0]!;
      assert.deepEqual(out.shape, [requests[k]!.length, 3]);
      const expected = requests[k]!.flatMap((r) => affineExpected(r));
      out.data.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-3, `request ${k} value ${i}: ${v} vs ${expected[i]}`));
    });
    const executions = stats.executionCount - before.executions;
    const rows = stats.inferenceCount - before.inferences;
    assert.equal(rows, sizes.reduce((a, b) => a + b, 0));
    assert.ok(executions < sizes.length, `expected fewer batches than requests, got ${executions} for ${sizes.length}`);
    for (const size of stats.batches.keys()) assert.ok(size <= 16, `batch of ${size} rows exceeds max_batch_size 16`);
  });

  test('requests whose non-batch dimensions differ go to separate batches', async () => {
    const widths = [3, 5, 3, 7, 5, 3];
    const answers = await Promise.all(widths.map((w, k) => {
      const row = Array.from({ length: w }, (_, i) => i + k);
      return postJson(`${server.url}/v2/models/rowsum/infer`, { inputs: [{ name: 'input', shape: [1, w], datatype: 'FP32', data: [row] }] })
        .then((a) => ({ a, sum: row.reduce((s, x) => s + x, 0) }));
    }));
    for (const { a, sum } of answers) {
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.deepEqual((a.body as unknown as Out).outputs[0]!.data, [sum]);
    }
  });

  test('a full queue answers 429 with Retry-After; timeouts answer 429 "Request timeout expired" (shed, not unavailable)', async () => {
    const big = (rows: number) => ({ inputs: [{ name: 'input', shape: [rows, 512], datatype: 'FP32', data: new Array(rows * 512).fill(0.5) }] });
    const url = `${server.url}/v2/models/slow/infer`;
    const batcher = server.service.resolve('slow').batcher!;
    const long = postJson(url, big(4096)); // occupies the only instance for a good while
    await waitFor(() => batcher.inFlight === 1);
    const timed = postJson(url, { ...big(1), parameters: { timeout: 50000 } }); // 50 ms in the queue at most
    const queued = [postJson(url, big(1))];
    await waitFor(() => batcher.queueDepth === 2);
    const overflow = await postJson(url, big(1)); // queue holds 2: this one is refused
    assert.equal(overflow.status, 429);
    assert.equal(overflow.headers.get('connection'), 'keep-alive', 'shedding is no reason to drop the connection');
    assert.match(String(overflow.body.error), /Exceeds maximum queue size \(2\)/);
    assert.equal(overflow.headers.get('retry-after'), '1');
    const t = await timed;
    assert.equal(t.status, 429);
    assert.equal(t.body.error, 'Request timeout expired');
    assert.ok(t.headers.get('retry-after'));
    assert.equal((await long).status, 200);
    for (const q of await Promise.all(queued)) assert.equal(q.status, 200);
  });

  test('a queue timeout beyond what a timer holds (2^31-1 ms) is refused with 400 naming the limit; the largest allowed waits its turn', async () => {
    const big = (rows: number) => ({ inputs: [{ name: 'input', shape: [rows, 512], datatype: 'FP32', data: new Array(rows * 512).fill(0.5) }] });
    const url = `${server.url}/v2/models/slow/infer`;
    for (const timeout of [2 ** 31 * 1000, 1e300, '9223372036854775807']) {
      const r = await postJson(url, { ...big(1), parameters: { timeout } });
      assert.equal(r.status, 400, String(timeout));
      assert.match(String(r.body.error), /parameter 'timeout' must be at most 2147483647000 microseconds/);
    }
    const batcher = server.service.resolve('slow').batcher!;
    const long = postJson(url, big(4096));
    await waitFor(() => batcher.inFlight === 1);
    const patient = postJson(url, { ...big(1), parameters: { timeout: (2 ** 31 - 1) * 1000 } });
    await waitFor(() => batcher.queueDepth === 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(batcher.queueDepth, 1, 'still queued: the timer did not fire at once');
    assert.equal((await long).status, 200);
    assert.equal((await patient).status, 200);
  });

  test('a client that disconnects while queued leaves the queue at once', async () => {
    const url = `${server.url}/v2/models/slow/infer`;
    const batcher = server.service.resolve('slow').batcher!;
    const stats = server.service.resolve('slow').stats;
    const failuresBefore = stats.fail.count;
    const long = postJson(url, { inputs: [{ name: 'input', shape: [4096, 512], datatype: 'FP32', data: new Array(4096 * 512).fill(0.5) }] });
    await waitFor(() => batcher.inFlight === 1);
    const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 512], datatype: 'FP32', data: new Array(512).fill(0.5) }] });
    const gone = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } });
    gone.on('error', () => undefined); // we hang up ourselves
    gone.end(body);
    await waitFor(() => batcher.queueDepth === 1);
    gone.destroy();
    await waitFor(() => batcher.queueDepth === 0);
    assert.equal(batcher.inFlight, 1, 'the queued request left while the long one was still running');
    await waitFor(() => stats.fail.count === failuresBefore + 1);
    assert.equal((await long).status, 200);
  });
});

describe('preferred batch sizes in config.json', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'default', 1, { max_batch_size: 16 });
    await writeAffine(repo, 'exact', 1, { max_batch_size: 16, dynamic_batching: { preferred_batch_size: [8, 4, 8] } });
    await writeAffine(repo, 'bad', 1, { max_batch_size: 16, dynamic_batching: { preferred_batch_size: [4, 64] } });
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  const dynamicBatching = async (model: string) => {
    const res = await fetch(`${server.url}/v2/models/${model}/config`);
    return ((await res.json()) as { dynamic_batching: { preferred_batch_size: number[] } }).dynamic_batching;
  };

  test("berth's default is every size from half of max_batch_size up", async () => {
    assert.deepEqual((await dynamicBatching('default')).preferred_batch_size, [8, 9, 10, 11, 12, 13, 14, 15, 16]);
  });

  test('a configured list is used as given (sorted, without repeats)', async () => {
    assert.deepEqual((await dynamicBatching('exact')).preferred_batch_size, [4, 8]);
  });

  test('a preferred size above max_batch_size is refused with a message; the other models serve', async () => {
    const res = await fetch(`${server.url}/v2/models/bad/ready`);
    assert.notEqual(res.status, 200);
    const index = (await (await fetch(`${server.url}/v2/repository/index`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).json()) as { name: string; state: string; reason?: string }[];
    const bad = index.find((m) => m.name === 'bad');
    assert.ok(bad, JSON.stringify(index));
    assert.match(String(bad.reason), /preferred_batch_size: 64 is larger than max_batch_size \(16\)/);
    const ok = await postJson(`${server.url}/v2/models/default/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    assert.equal(ok.status, 200);
  });
});
