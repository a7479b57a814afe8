/**
 * Saving and loading with external data, checked by the ONNX checker and onnxruntime, and a
 * model built with builder.ts computing a result we work out independently here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, statSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel, saveModel, encodeModel } from '../../src/onnx/codec.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/builder.js';
import { tensorToArray } from '../../src/onnx/tensor.js';
import type { ModelProto } from '../../src/onnx/types.js';
import { NO_PYTHON, onnxCheck, python } from './helpers.js';

const IN = 64;
const OUT = 32;

// Deterministic pseudo-random weights (a small LCG), so failures reproduce.
function weights(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    out[i] = (s / 2 ** 31 - 0.5) * 0.5;
  }
  return out;
}

const W = weights(IN * OUT, 1);
const B = weights(OUT, 2);

/** y = Relu(x @ W + B) */
function buildModel(): ModelProto {
  return makeModel({
    graph: makeGraph({
      name: 'dense',
      nodes: [
        makeNode('MatMul', ['x', 'W'], ['xw'], undefined, { name: 'matmul' }),
        makeNode('Add', ['xw', 'B'], ['pre'], undefined, { name: 'add' }),
        makeNode('Relu', ['pre'], ['y'], undefined, { name: 'relu' }),
      ],
      inputs: [makeValueInfo('x', 'float32', ['batch', IN])],
      outputs: [makeValueInfo('y', 'float32', ['batch', OUT])],
      initializers: [makeTensor('W', 'float32', [IN, OUT], W), makeTensor('B', 'float32', [OUT], B)],
    }),
  });
}

/** The expected output, computed in float64 without any ONNX machinery. */
function reference(x: Float32Array, batch: number): Float64Array {
  const y = new Float64Array(batch * OUT);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < OUT; j++) {
      let acc = B[j];
      for (let k = 0; k < IN; k++) acc += x[b * IN + k] * W[k * OUT + j];
      y[b * OUT + j] = Math.max(0, acc);
    }
  }
  return y;
}

async function runAndCompare(path: string): Promise<void> {
  const session = await ort.InferenceSession.create(path);
  const batch = 3;
  const x = weights(batch * IN, 3).map((v) => v * 4);
  const { y } = await session.run({ x: new ort.Tensor('float32', x, [batch, IN]) });
  assert.deepEqual(y.dims, [batch, OUT]);
  const expected = reference(x, batch);
  const got = y.data as Float32Array;
  let positives = 0;
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(got[i] - expected[i]) <= 1e-5 + 1e-4 * Math.abs(expected[i]), `y[${i}] = ${got[i]}, expected ${expected[i]}`);
    if (expected[i] > 0) positives++;
  }
  assert.ok(positives > 10, 'the test input should exercise more than Relu zeros');
  await session.release();
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'berth-onnx-'));
}

test('a model built with builder.ts passes the ONNX checker and runs in onnxruntime', { skip: NO_PYTHON }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'dense.onnx');
    const result = await saveModel(buildModel(), path);
    assert.equal(result.externalData, undefined);
    assert.equal(statSync(path).size, result.modelBytes);
    assert.equal(onnxCheck(path), '');
    await runAndCompare(path);
    assert.deepEqual(readdirSync(dir), ['dense.onnx'], 'no temporary files are left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('external data: save, check with onnx, run in onnxruntime, load back', { skip: NO_PYTHON }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'dense.onnx');
    const model = buildModel();
    const before = Buffer.from(encodeModel(model));
    const result = await saveModel(model, path, { externalData: { location: 'weights.bin' } });
    // W (8 KiB) moves out, B (128 B, under the 1 KiB default threshold) stays inline.
    assert.equal(result.externalData?.tensors, 1);
    assert.equal(result.externalData?.bytes, W.byteLength);
    assert.deepEqual(readdirSync(dir).sort(), ['dense.onnx', 'weights.bin']);
    assert.ok(statSync(path).size < 1024, 'the model file holds no weights');
    assert.deepEqual(Buffer.from(encodeModel(model)), before, 'saveModel does not modify its argument');

    assert.equal(onnxCheck(path), '');
    // onnx itself resolves our external data to the same values
    const hex = python('import onnx, sys\nfrom onnx import numpy_helper\nm = onnx.load(sys.argv[1])\nprint({t.name: numpy_helper.to_array(t).astype("<f4").tobytes().hex() for t in m.graph.initializer}["W"])', [path]).trim();
    assert.equal(hex, Buffer.from(W.buffer).toString('hex'));
    await runAndCompare(path);

    const loaded = await loadModel(path);
    const w = loaded.graph!.initializer.find((t) => t.name === 'W')!;
    assert.equal(w.dataLocation, undefined);
    assert.deepEqual(w.externalData, []);
    assert.deepEqual(tensorToArray(w), W);

    // Without resolving, the reference stays and is read on demand, per tensor.
    const lazy = await loadModel(path, { externalData: false });
    const ref = lazy.graph!.initializer.find((t) => t.name === 'W')!;
    assert.equal(ref.dataLocation, 1);
    const entries = Object.fromEntries(ref.externalData!.map((e) => [e.key, e.value]));
    assert.equal(entries.location, 'weights.bin');
    assert.equal(Number(entries.offset) % 64, 0);
    assert.equal(Number(entries.length), W.byteLength);
    assert.throws(() => tensorToArray(ref), /baseDir/);
    assert.deepEqual(tensorToArray(ref, { baseDir: dir }), W);

    // Re-homing a model whose tensors are references: data is copied from the source directory.
    const other = join(dir, 'copy');
    mkdirSync(other);
    await saveModel(lazy, join(other, 'm.onnx'), { externalData: { location: 'm.data' }, sourceDir: dir });
    assert.equal(onnxCheck(join(other, 'm.onnx')), '');
    await runAndCompare(join(other, 'm.onnx'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a model over the protobuf size limit is saved with external data automatically', { skip: NO_PYTHON }, async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'big.onnx');
    // The real limit is 2 GiB; a lowered limit exercises the same path without writing gigabytes.
    const result = await saveModel(buildModel(), path, { protobufLimit: 4000 });
    assert.equal(result.externalData?.path, join(dir, 'big.onnx.data'));
    assert.ok(result.modelBytes <= 4000);
    assert.equal(onnxCheck(path), '');
    await runAndCompare(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('external data locations may not leave the model directory', async () => {
  const dir = tempDir();
  try {
    const model = buildModel();
    const w = model.graph!.initializer[0];
    delete w.rawData;
    w.dataLocation = 1;
    w.externalData = [{ key: 'location', value: '../../etc/passwd' }];
    const path = join(dir, 'evil.onnx');
    writeFileSync(path, encodeModel(model));
    await assert.rejects(loadModel(path), /leaves the model directory/);
    w.externalData = [{ key: 'location', value: '/etc/passwd' }];
    writeFileSync(path, encodeModel(model));
    await assert.rejects(loadModel(path), /must be relative/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed save leaves no file behind', async () => {
  const dir = tempDir();
  try {
    await assert.rejects(saveModel(buildModel(), join(dir, 'missing-dir', 'm.onnx')));
    await assert.rejects(saveModel(buildModel(), join(dir, 'm.onnx'), { externalData: { location: '../outside.bin' } }), /leaves the model directory/);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
