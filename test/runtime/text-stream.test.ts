/**
 * Large batched JSON answers are streamed by the worker: the tensors come back first and each
 * request's text follows, a few requests at a time (runtime/session-worker.ts). Every streamed
 * text must be that request's own rows, read back (Math.fround) to exactly the float32s of the
 * tensors; a request that asked for no text gets none, and one over its byte limit is marked so.
 * Small batches keep the one-message path.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerInstance } from '../../src/runtime/instance.js';
import type { TextPlan } from '../../src/runtime/wire.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/index.js';
import { tempDir, writeModel } from '../helpers/models.js';
import { lcg32 } from '../../src/util/random.js';

const IN = 8;
const OUT = 512;

function randomFloats(n: number, seed: number): Float32Array {
  const next = lcg32(seed);
  return Float32Array.from({ length: n }, () => (next() / 2 ** 32 - 0.5) * 3);
}

describe('worker-rendered JSON text of large batches', () => {
  let instance: WorkerInstance;
  before(async () => {
    const repo = tempDir();
    const graph = makeGraph({
      name: 'wide',
      nodes: [makeNode('MatMul', ['input', 'W'], ['mm']), makeNode('Sin', ['mm'], ['output'])],
      inputs: [makeValueInfo('input', 'float32', ['batch', IN])],
      outputs: [makeValueInfo('output', 'float32', ['batch', OUT])],
      initializers: [makeTensor('W', 'float32', [IN, OUT], randomFloats(IN * OUT, 5))],
    });
    const path = await writeModel(repo, 'wide', 1, makeModel({ graph }));
    instance = new WorkerInstance({ modelPath: path, intraOpNumThreads: 1 });
    await instance.ready;
  });
  after(() => instance.close());

  const run = (rows: number[], specs: TextPlan['specs']) => {
    const total = rows.reduce((a, b) => a + b, 0);
    const feeds = [{ name: 'input', type: 'float32', dims: [total, IN], data: randomFloats(total * IN, total) }];
    return instance.run(feeds, undefined, { rows, specs });
  };

  test('texts follow the tensors, each request its own rows, exact float32s', async () => {
    const rows = [1, 3, 2, 4, 1, 5, 2, 2];
    const specs: TextPlan['specs'] = rows.map((_, i) => (i === 2 ? undefined : { layout: 'flat' as const, maxBytes: i === 5 ? 1000 : 1 << 20 }));
    const result = await run(rows, specs);
    assert.ok(result.texts, 'no texts');
    assert.equal(result.texts.length, rows.length);
    assert.ok(result.texts.every((t) => t instanceof Promise), 'a batch this large should stream its texts');
    const out = result.outputs[0]!.data as Float32Array;
    assert.equal(out.length, 20 * OUT);
    const texts = await Promise.all(result.texts);
    let row = 0;
    texts.forEach((text, i) => {
      const own = out.subarray(row * OUT, (row + rows[i]!) * OUT);
      row += rows[i]!;
      if (i === 2) return assert.equal(text, undefined, 'request 2 asked for no text');
      const json = text!.output!;
      if (i === 5) return assert.equal(json.overLimit, 1000, 'request 5 is over its 1000-byte limit');
      const parsed = JSON.parse(Buffer.from(json.bytes).toString('utf8')) as number[];
      assert.deepEqual(Float32Array.from(parsed, Math.fround), own, `request ${i}`);
    });
  });

  test('a small batch brings its texts with the tensors, in one message', async () => {
    const result = await run([1, 1], [{ layout: 'flat', maxBytes: 1 << 20 }, { layout: 'flat', maxBytes: 1 << 20 }]);
    assert.ok(result.texts?.every((t) => !(t instanceof Promise) && t !== undefined));
  });

  test('the instance takes the next batch while the last one streams (no request is lost)', async () => {
    const rows = Array.from({ length: 16 }, () => 2);
    const specs: TextPlan['specs'] = rows.map(() => ({ layout: 'flat' as const, maxBytes: 1 << 20 }));
    const [a, b] = await Promise.all([run(rows, specs), run(rows, specs)]);
    const all = await Promise.all([...a.texts!, ...b.texts!]);
    assert.equal(all.filter((t) => t?.output?.bytes.byteLength).length, 32);
  });
});
