import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { tempDir, writeSlow } from '../helpers/models.js';
import { postJson } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import type { WorkerInstance } from '../../src/runtime/instance.js';

const big = (rows: number) => ({ inputs: [{ name: 'input', shape: [rows, 512], datatype: 'FP32', data: new Array(rows * 512).fill(0.25) }] });

describe('worker-thread runtime', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    // one onnxruntime thread: on a 2-core machine the other core is the event loop's, as in
    // the recommended deployment; the point is that inference never runs on the main thread
    await writeSlow(repo, 'slow', 48, { max_batch_size: 8192, intra_op_threads: 1 });
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  test('the event loop stays free: /v2/health/live answers within 50 ms during a long inference', async () => {
    const url = `${server.url}/v2/models/slow/infer`;
    const started = performance.now();
    const long = postJson(url, big(4096));
    await waitFor(() => server.service.resolve('slow').batcher!.inFlight === 1);
    const latencies: number[] = [];
    let stillRunning = 0;
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const res = await fetch(`${server.url}/v2/health/live`);
      latencies.push(performance.now() - t0);
      assert.equal(res.status, 200);
      if (server.service.resolve('slow').batcher!.inFlight > 0) stillRunning++;
      await new Promise((r) => setTimeout(r, 10));
    }
    const answer = await long;
    const longMs = performance.now() - started;
    assert.equal(answer.status, 200);
    assert.ok(stillRunning >= 5, `the long inference should overlap the probes (it took ${longMs.toFixed(0)} ms)`);
    const worst = Math.max(...latencies);
    assert.ok(worst < 50, `slowest liveness probe took ${worst.toFixed(1)} ms`);
  });

  test('a crashed worker fails its in-flight request with 500 and is replaced', async () => {
    const url = `${server.url}/v2/models/slow/infer`;
    const mv = server.service.resolve('slow');
    mv.workerInstances[0]!.crashOnNextRun();
    const failed = await postJson(url, big(4));
    assert.equal(failed.status, 500);
    assert.match(String(failed.body.error), /model instance crashed: simulated crash/);
    // The replacement takes new requests without a restart of the server.
    const next = await postJson(url, big(2));
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.equal(mv.workerInstances.filter((i) => i?.alive).length, 1);
  });
});

describe('several instances of one model', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    // no batching: two requests at once must go to two instances
    await writeSlow(repo, 'slow', 48, { instances: 2, max_batch_size: 0, intra_op_threads: 1 });
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  test('every instance warms up and the version becomes ready', () => {
    const mv = server.service.resolve('slow');
    assert.equal(mv.state, 'READY');
    assert.equal(mv.warmupError, undefined);
    assert.equal(mv.workerInstances.filter((i) => i?.alive).length, 2);
  });

  test('requests in progress at once run on different instances', async () => {
    const url = `${server.url}/v2/models/slow/infer`;
    const instances = server.service.resolve('slow').workerInstances;
    const answers = [postJson(url, big(2048)), postJson(url, big(2048))];
    await waitFor(() => instances.every((i) => i!.inFlight === 1), 10000, 'both instances busy');
    for (const a of await Promise.all(answers)) {
      assert.equal(a.status, 200);
      const out = (a.body.outputs as { data: number[] }[])[0]!.data;
      assert.equal(out.length, 2048 * 512);
      assert.equal(out[0], 0.25); // identity weights: the input comes back
    }
  });

  test('a tensor already handed to one instance is refused by the next, not lost', async () => {
    const [a, b] = server.service.resolve('slow').workerInstances as readonly WorkerInstance[];
    const feeds = [{ name: 'input', type: 'float32', dims: [1, 512], data: new Float32Array(512) }];
    await a!.run(feeds);
    await assert.rejects(b!.run(feeds), /already handed to a model instance/);
  });
});
