/** Files that are not ONNX models, or are cut short, fail with one clear line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel, decodeTensor, encodeModel, loadModel, InvalidModelError } from '../../src/onnx/codec.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/builder.js';
import { NO_TESTDATA, testModels } from './helpers.js';

function sampleModel(): Uint8Array {
  return encodeModel(
    makeModel({
      graph: makeGraph({
        name: 'g',
        nodes: [makeNode('Add', ['x', 'b'], ['y'])],
        inputs: [makeValueInfo('x', 'float32', [4, 64])],
        outputs: [makeValueInfo('y', 'float32', [4, 64])],
        initializers: [makeTensor('b', 'float32', [64], new Float32Array(64).fill(0.5))],
      }),
    }),
  );
}

function assertClearError(fn: () => unknown, what: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidModelError, `${what}: ${String(err)}`);
    assert.match(err.message, /^not a valid ONNX model: /, what);
    assert.ok(!err.message.includes('\n'), `${what}: one line`);
    return true;
  });
}

test('every truncation of a model is rejected', () => {
  const bytes = sampleModel();
  for (let cut = 0; cut < bytes.length; cut++) assertClearError(() => decodeModel(bytes.subarray(0, cut)), `cut at ${cut}/${bytes.length}`);
});

test('truncated test models are rejected', { skip: NO_TESTDATA }, () => {
  const files = testModels('pytorch-converted').slice(0, 20);
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const frac of [0.1, 0.5, 0.9]) assertClearError(() => decodeModel(bytes.subarray(0, Math.floor(bytes.length * frac))), `${f} at ${frac}`);
    assertClearError(() => decodeModel(bytes.subarray(0, bytes.length - 1)), `${f} minus one byte`);
  }
});

test('files that are not models are rejected', () => {
  let s = 12345;
  const random = Uint8Array.from({ length: 4096 }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s & 0xff));
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array()],
    ['json', Buffer.from('{"name": "model", "layers": [1, 2, 3]}\n')],
    ['png', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])],
    ['random', random],
    ['zeros', new Uint8Array(100)],
    // a valid protobuf that is not a model: a TensorProto
    ['tensor', Uint8Array.from([0x08, 0x02, 0x10, 0x01, 0x42, 0x01, 0x78])],
  ];
  for (const [what, bytes] of cases) assertClearError(() => decodeModel(bytes), what);
});

test('loadModel names the file in the error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-corrupt-'));
  try {
    const path = join(dir, 'cut.onnx');
    const bytes = sampleModel();
    writeFileSync(path, bytes.subarray(0, bytes.length >> 1));
    await assert.rejects(loadModel(path), (err: Error) => {
      assert.ok(err instanceof InvalidModelError);
      assert.equal(err.message.split('\n').length, 1);
      assert.ok(err.message.startsWith(`not a valid ONNX model: ${path}: `), err.message);
      assert.match(err.message, /truncated/);
      return true;
    });
    await assert.rejects(loadModel(join(dir, 'nope.onnx')), /no such file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt tensor file is rejected', () => {
  assert.throws(() => decodeTensor(Uint8Array.from([0x4a, 0x10, 0x01])), /^InvalidModelError: not a valid ONNX tensor: truncated/);
});
