import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/core/batcher.js';
import type { BatcherOptions, Executor } from '../../src/core/batcher.js';
import type { Tensor } from '../../src/core/tensor.js';
import { BerthError } from '../../src/core/errors.js';

/** An executor whose batches finish only when the test says so; it records what it ran. */
class ManualExecutor implements Executor {
  slots = 1;
  readonly batches: Tensor[][] = [];
  private releases: (() => void)[] = [];
  async run(inputs: Tensor[]): Promise<Tensor[]> {
    this.batches.push(inputs);
    await new Promise<void>((resolve) => this.releases.push(resolve));
    // echo the input back as the output, so each request can check its own rows
    return inputs.map((t) => ({ ...t, name: 'out' }));
  }
  releaseAll(): void {
    for (const r of this.releases.splice(0)) r();
  }
}

const options = (over: Partial<BatcherOptions> = {}): BatcherOptions => ({ maxBatchSize: 8, maxQueueDelayUs: 0, maxQueueSize: 100, defaultPriorityLevel: Number.MAX_SAFE_INTEGER, ...over });
const rows = (values: number[][], width = values[0]!.length): Tensor[] => [{ name: 'in', datatype: 'FP32', shape: [values.length, width], data: Float32Array.from(values.flat()) }];
const tick = () => new Promise((r) => setImmediate(r));

describe('DynamicBatcher', () => {
  test('concatenates queued requests up to max batch size and splits the rows back', async () => {
    const exec = new ManualExecutor();
    const b = new DynamicBatcher(exec, options({ maxBatchSize: 4 }), true);
    const first = b.enqueue(rows([[0, 0]])); // runs alone: the instance was idle
    await tick();
    const waiting = [b.enqueue(rows([[1, 1], [2, 2]])), b.enqueue(rows([[3, 3]])), b.enqueue(rows([[4, 4], [5, 5]]))];
    exec.releaseAll();
    await first;
    await tick();
    // 2 + 1 rows fit in 4; the next request (2 rows) would overflow, so it waits for the next batch
    assert.deepEqual(exec.batches.map((batch) => batch[0]!.shape[0]), [1, 3]);
    exec.releaseAll();
    await tick();
    exec.releaseAll();
    const results = await Promise.all(waiting);
    assert.deepEqual(Array.from(results[0]!.outputs[0]!.data as Float32Array), [1, 1, 2, 2]);
    assert.deepEqual(Array.from(results[1]!.outputs[0]!.data as Float32Array), [3, 3]);
    assert.deepEqual(Array.from(results[2]!.outputs[0]!.data as Float32Array), [4, 4, 5, 5]);
    assert.equal(results[0]!.timing.batchSize, 3);
  });

  test('different trailing dimensions never share a batch', async () => {
    const exec = new ManualExecutor();
    const b = new DynamicBatcher(exec, options(), true);
    const blocker = b.enqueue(rows([[9]]));
    await tick();
    const a = b.enqueue(rows([[1, 1]]));
    const c = b.enqueue(rows([[2, 2, 2]]));
    const d = b.enqueue(rows([[3, 3]]));
    for (let i = 0; i < 4; i++) {
      exec.releaseAll();
      await tick();
    }
    await Promise.all([blocker, a, c, d]);
    assert.deepEqual(exec.batches.map((batch) => batch[0]!.shape), [[1, 1], [2, 2], [1, 3]]);
  });

  test('waits up to the queue delay for company, then runs what it has', async () => {
    const exec = new ManualExecutor();
    const b = new DynamicBatcher(exec, options({ maxQueueDelayUs: 30000 }), true);
    const started = performance.now();
    const one = b.enqueue(rows([[1]]));
    await new Promise((r) => setTimeout(r, 5));
    const two = b.enqueue(rows([[2]]));
    while (exec.batches.length === 0) await new Promise((r) => setTimeout(r, 1));
    const waited = performance.now() - started;
    exec.releaseAll();
    await Promise.all([one, two]);
    assert.equal(exec.batches[0]![0]!.shape[0], 2);
    assert.ok(waited >= 25, `dispatched after ${waited.toFixed(1)} ms, before the 30 ms delay`);
  });

  test('a preferred batch size goes at once, cut at the largest preferred size the queue reaches', async () => {
    const exec = new ManualExecutor();
    const b = new DynamicBatcher(exec, options({ maxBatchSize: 8, maxQueueDelayUs: 60_000_000, preferredBatchSizes: [2, 4] }), true);
    const blocker = b.enqueue(rows([[0], [0]])); // 2 rows: a preferred size, so no waiting
    await tick();
    assert.equal(exec.batches.length, 1, 'a preferred size must not wait for the delay');
    const queued = [1, 2, 3, 4, 5].map((v) => b.enqueue(rows([[v]])));
    exec.releaseAll();
    await blocker;
    await tick();
    // five rows queued: the largest preferred size they reach is 4; the fifth waits (delay is a minute)
    assert.deepEqual(exec.batches.map((batch) => batch[0]!.shape[0]), [2, 4]);
    exec.releaseAll();
    await Promise.all(queued.slice(0, 4));
    await tick();
    assert.equal(exec.batches.length, 2, 'one row is no preferred size: it waits');
    assert.equal(b.queueDepth, 1);
    const more = b.enqueue(rows([[6], [7], [8], [9], [10], [11], [12]]));
    await tick();
    // 1 + 7 rows: no prefix is a preferred size, but a full batch goes whole
    assert.deepEqual(exec.batches.map((batch) => batch[0]!.shape[0]), [2, 4, 8]);
    exec.releaseAll();
    await Promise.all([queued[4], more]);
  });

  test('without preferred sizes a partial batch waits for the delay', async () => {
    const exec = new ManualExecutor();
    const b = new DynamicBatcher(exec, options({ maxBatchSize: 8, maxQueueDelayUs: 60_000_000 }), true);
    const pending = [1, 2, 3, 4].map((v) => b.enqueue(rows([[v]])));
    await tick();
    assert.equal(exec.batches.length, 0);
    b.enqueue(rows([[5], [6], [7], [8]])).catch(() => undefined);
    await tick();
    assert.deepEqual(exec.batches.map((batch) => batch[0]!.shape[0]), [8]);
    exec.releaseAll();
    await Promise.all(pending);
  });

  test('priority 1 overtakes the default level; equal levels keep arrival order', async () => {
    const exec = new ManualExecutor();
    const b = new DynamicBatcher(exec, options({ maxBatchSize: 1 }), true);
    const order: string[] = [];
    const blocker = b.enqueue(rows([[0]]));
    await tick();
    const tagged = (tag: string, priority?: number) => b.enqueue(rows([[0]]), { priority }).then(() => order.push(tag));
    const all = [tagged('default-a'), tagged('default-b'), tagged('high', 1), tagged('level-2', 2)];
    for (let i = 0; i < 6; i++) {
      exec.releaseAll();
      await tick();
    }
    await Promise.all([blocker, ...all]);
    assert.deepEqual(order, ['high', 'level-2', 'default-a', 'default-b']);
  });

  test('a full queue refuses with OVERLOADED and Retry-After; a timeout expires in the queue, OVERLOADED too', async () => {
    const exec = new ManualExecutor();
    const b = new DynamicBatcher(exec, options({ maxQueueSize: 1, maxBatchSize: 1 }), true);
    const running = b.enqueue(rows([[0]]));
    await tick();
    const queued = b.enqueue(rows([[1]]), { timeoutUs: 10000 });
    await assert.rejects(b.enqueue(rows([[2]])), (err: BerthError) => err.code === 'OVERLOADED' && err.shed === 'queue_full' && /Exceeds maximum queue size \(1\)/.test(err.message) && err.retryAfterSeconds === 1);
    await assert.rejects(queued, (err: BerthError) => err.code === 'OVERLOADED' && err.shed === 'timeout' && err.message === 'Request timeout expired');
    assert.equal(b.queueDepth, 0);
    exec.releaseAll();
    await running;
  });

  test('a cancelled request leaves the queue; whenIdle resolves once all is done', async () => {
    const exec = new ManualExecutor();
    const b = new DynamicBatcher(exec, options({ maxBatchSize: 1 }), true);
    const running = b.enqueue(rows([[0]]));
    await tick();
    const controller = new AbortController();
    const cancelled = b.enqueue(rows([[1]]), { signal: controller.signal });
    controller.abort();
    await assert.rejects(cancelled, /cancelled/);
    const idle = b.whenIdle();
    exec.releaseAll();
    await running;
    await idle;
    assert.equal(exec.batches.length, 1);
  });

  test('without a dynamic batch dimension every request runs alone', async () => {
    const exec = new ManualExecutor();
    const b = new DynamicBatcher(exec, options(), false);
    const blocker = b.enqueue(rows([[0, 0]]));
    await tick();
    const others = [b.enqueue(rows([[1, 1]])), b.enqueue(rows([[2, 2]]))];
    for (let i = 0; i < 3; i++) {
      exec.releaseAll();
      await tick();
    }
    await Promise.all([blocker, ...others]);
    assert.equal(exec.batches.length, 3);
  });
});
