/**
 * decode -> encode of ONNX's own test models must give back the same bytes (the goal), and at
 * least the same message when decoded again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { decodeModel, encodeModel, decodeTensor, encodeTensor } from '../../src/onnx/codec.js';
import { NO_TESTDATA, testModels } from './helpers.js';

test('every test model re-encodes to identical bytes', { skip: NO_TESTDATA }, (t) => {
  const files = testModels('node', 'pytorch-converted', 'simple', 'pytorch-operator');
  assert.ok(files.length > 500, `expected hundreds of test models, found ${files.length}`);
  let identical = 0;
  const differing: string[] = [];
  for (const f of files) {
    const bytes = readFileSync(f);
    const model = decodeModel(bytes);
    const again = encodeModel(model);
    if (Buffer.compare(Buffer.from(again), bytes) === 0) {
      identical++;
      continue;
    }
    // Not byte-identical: it must at least carry the same message.
    assert.deepEqual(decodeModel(again), model, `${f}: re-encoded model differs`);
    differing.push(f);
  }
  t.diagnostic(`${identical}/${files.length} models byte-identical after decode -> encode`);
  // Byte identity holds for all of them today; allow a little slack only for exotic encodings.
  assert.ok(identical >= files.length * 0.99, `only ${identical}/${files.length} byte-identical, e.g. ${differing.slice(0, 5).join(', ')}`);
});

test('test data tensors (.pb) re-encode to identical bytes', { skip: NO_TESTDATA }, (t) => {
  let count = 0;
  for (const model of testModels('node', 'pytorch-converted', 'simple')) {
    const dir = join(dirname(model), 'test_data_set_0');
    if (!existsSync(dir)) continue;
    // input_K/output_K are TensorProtos only when the graph's K-th input/output is a tensor
    // (sequences and optionals are stored as other messages).
    const graph = decodeModel(readFileSync(model)).graph!;
    const inits = new Set(graph.initializer.map((i) => i.name));
    const inputs = graph.input.filter((v) => !inits.has(v.name));
    for (const name of readdirSync(dir)) {
      const m = /^(input|output)_(\d+)\.pb$/.exec(name);
      const value = m && (m[1] === 'input' ? inputs : graph.output)[Number(m[2])];
      if (!value?.type?.tensorType) continue;
      const bytes = readFileSync(join(dir, name));
      const tensor = decodeTensor(bytes);
      assert.equal(Buffer.compare(Buffer.from(encodeTensor(tensor)), bytes), 0, `${dir}/${name}`);
      count++;
    }
  }
  t.diagnostic(`${count} tensor files byte-identical`);
  assert.ok(count > 1000);
});
