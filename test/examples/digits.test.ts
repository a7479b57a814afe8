/**
 * The bundled digits example: deterministic training, and an exported model that three
 * independent readers agree on — onnxruntime-node, the ONNX checker, and Python's onnx
 * package evaluating the graph itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { CLASSES, FEATURES, loadDigits, stratifiedSplit } from '../../src/examples/digits/dataset.js';
import { buildDigitsModel, ensureDigitsModel, forward, testSplit, trainDigits, trainSplit } from '../../src/examples/digits/index.js';
import { encodeModel } from '../../src/onnx/index.js';
import { trainMlp } from '../../src/examples/digits/train.js';

/** First interpreter that can `import onnx`: Debian's python3-onnx may not be on a pyenv PATH. */
function findPythonWithOnnx(): string | undefined {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  return candidates.find((python) => spawnSync(python, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0);
}

const PYTHON = findPythonWithOnnx();
const NO_PYTHON_ONNX = 'no python3 with the onnx package (install python3-onnx, or set PYTHON)';

/**
 * Evaluates the model on rows from stdin, independently of onnxruntime: with onnx's
 * ReferenceEvaluator where it exists (onnx ≥ 1.13), else by walking the graph with numpy
 * (onnx 1.12, Debian bookworm). Also reports the declared input and output types.
 */
const PY_EVALUATE = String.raw`
import json, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper

model = onnx.load(sys.argv[1])
x = np.array(json.load(sys.stdin), dtype=np.float32)
inp = model.graph.input[0]
names = [o.name for o in model.graph.output]
try:
    from onnx.reference import ReferenceEvaluator
    results = dict(zip(names, ReferenceEvaluator(model).run(None, {inp.name: x})))
    engine = 'onnx.reference'
except ImportError:
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env[inp.name] = x
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        a = [env[name] for name in node.input]
        op = node.op_type
        if op == 'MatMul':
            y = a[0] @ a[1]
        elif op == 'Add':
            y = a[0] + a[1]
        elif op == 'Relu':
            y = np.maximum(a[0], 0)
        elif op == 'Softmax':
            axis = attrs.get('axis', -1)
            e = np.exp(a[0] - a[0].max(axis=axis, keepdims=True))
            y = e / e.sum(axis=axis, keepdims=True)
        elif op == 'ArgMax':
            axis = attrs.get('axis', 0)
            y = np.argmax(a[0], axis=axis).astype(np.int64)
            if attrs.get('keepdims', 1):
                y = np.expand_dims(y, axis)
        else:
            sys.exit('numpy evaluator: unsupported op ' + op)
        env[node.output[0]] = y
    results = {name: env[name] for name in names}
    engine = 'numpy'

def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

print(json.dumps({
    'engine': engine,
    'label': results['label'].tolist(),
    'label_dtype': str(results['label'].dtype),
    'probabilities': results['probabilities'].tolist(),
    'input': [inp.name, inp.type.tensor_type.elem_type, dims(inp)],
    'outputs': [[o.name, o.type.tensor_type.elem_type, dims(o)] for o in model.graph.output],
    'opset': [[o.domain, o.version] for o in model.opset_import],
    'ir_version': model.ir_version,
}))
`;

const PY_CHECK = 'import onnx, sys; onnx.checker.check_model(sys.argv[1], full_check=True)';

// Training takes most of a second; tests that only need the example's weights share one run.
let shared: ReturnType<typeof trainDigits> | undefined;
const trained = (): ReturnType<typeof trainDigits> => (shared ??= trainDigits());

describe('digits data', () => {
  test('loads 1797 rows of 64 pixels in 0–16 and classes 0–9', () => {
    const data = loadDigits();
    assert.equal(data.n, 1797);
    assert.equal(data.x.length, 1797 * FEATURES);
    assert.ok(data.x.every((v) => Number.isInteger(v) && v >= 0 && v <= 16));
    assert.deepEqual(new Set(data.y), new Set(Array.from({ length: CLASSES }, (_, i) => i)));
  });

  test('the split is stratified, disjoint, complete and reproducible', () => {
    const data = loadDigits();
    const a = stratifiedSplit(data);
    const b = stratifiedSplit(data);
    assert.deepEqual(a.testRows, b.testRows);
    assert.equal(a.trainRows.length + a.testRows.length, data.n);
    assert.equal(new Set([...a.trainRows, ...a.testRows]).size, data.n);
    for (let c = 0; c < CLASSES; c++) {
      const total = data.y.filter((y) => y === c).length;
      const held = a.test.y.filter((y) => y === c).length;
      assert.equal(held, Math.round(total * 0.2), `class ${c}`);
    }
    assert.notDeepEqual(stratifiedSplit(data, { seed: 1 }).testRows, a.testRows);
  });
});

describe('digits training', () => {
  test('is deterministic: two runs give identical weights and byte-identical ONNX', () => {
    const first = trainMlp(trainSplit());
    const second = trainMlp(trainSplit());
    for (const key of ['w1', 'b1', 'w2', 'b2'] as const) assert.deepEqual(first.model[key], second.model[key], key);
    // Reproducible artifacts: the registry addresses models by content.
    assert.deepEqual(encodeModel(buildDigitsModel(first.model)), encodeModel(buildDigitsModel(second.model)));
    assert.ok(first.milliseconds < 10_000, `training took ${first.milliseconds} ms`);
  });

  test('reaches ≥ 95% held-out accuracy', () => {
    const { testAccuracy } = trained();
    assert.ok(testAccuracy >= 0.95, `held-out accuracy ${testAccuracy}`);
  });
});

describe('exported digits model', () => {
  let dir: string;
  let modelPath: string;
  let reference: ReturnType<typeof forward>;
  let session: ort.InferenceSession;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-digits-'));
    const result = await ensureDigitsModel(dir);
    assert.equal(result.built, true);
    assert.ok(result.testAccuracy >= 0.95, `held-out accuracy ${result.testAccuracy}`);
    modelPath = result.modelPath;
    const test = testSplit();
    reference = forward(trained().model, test.x, test.n);
    session = await ort.InferenceSession.create(modelPath);
  });

  after(async () => {
    await session?.release();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('is laid out as a model repository entry and reused once built', async () => {
    assert.equal(modelPath, join(dir, 'digits', '1', 'model.onnx'));
    const config = JSON.parse(await readFile(join(dir, 'digits', 'config.json'), 'utf8'));
    assert.deepEqual(config, { max_batch_size: 32, labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] });
    const again = await ensureDigitsModel(dir);
    assert.equal(again.built, false);
    assert.equal(again.modelPath, modelPath);
    assert.ok(again.testAccuracy >= 0.95, 'the recorded accuracy is read back from the model');
  });

  test('runs in onnxruntime-node and agrees 100% with the TypeScript forward pass', async () => {
    assert.deepEqual(session.inputNames, ['pixels']);
    assert.deepEqual([...session.outputNames].sort(), ['label', 'probabilities']);
    const test = testSplit();
    const out = await session.run({ pixels: new ort.Tensor('float32', test.x, [test.n, FEATURES]) });
    assert.deepEqual(out.probabilities.dims, [test.n, CLASSES]);
    assert.deepEqual(out.label.dims, [test.n]);
    assert.equal(out.label.type, 'int64');
    const labels = Array.from(out.label.data as BigInt64Array, Number);
    assert.deepEqual(labels, Array.from(reference.labels));
    const probabilities = out.probabilities.data as Float32Array;
    for (let i = 0; i < probabilities.length; i++) {
      assert.ok(Math.abs(probabilities[i] - reference.probabilities[i]) < 1e-5, `probability ${i}: ${probabilities[i]} vs ${reference.probabilities[i]}`);
    }
    const right = labels.filter((label, i) => label === test.y[i]).length;
    assert.ok(right / test.n >= 0.95, `onnxruntime accuracy ${right}/${test.n}`);
  });

  test('takes any batch size (symbolic batch dimension)', async () => {
    const test = testSplit();
    for (const n of [1, 7]) {
      const out = await session.run({ pixels: new ort.Tensor('float32', test.x.slice(0, n * FEATURES), [n, FEATURES]) });
      assert.deepEqual(Array.from(out.label.data as BigInt64Array, Number), Array.from(reference.labels.subarray(0, n)));
    }
  });

  test('passes the ONNX checker (full_check)', { skip: PYTHON ? false : NO_PYTHON_ONNX }, () => {
    const run = spawnSync(PYTHON!, ['-c', PY_CHECK, modelPath], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
  });

  test('python onnx evaluates it to the same labels as onnxruntime', { skip: PYTHON ? false : NO_PYTHON_ONNX }, async () => {
    const test = testSplit();
    const n = 12;
    const rows = Array.from({ length: n }, (_, r) => Array.from(test.x.subarray(r * FEATURES, (r + 1) * FEATURES)));
    const run = spawnSync(PYTHON!, ['-c', PY_EVALUATE, modelPath], { input: JSON.stringify(rows), encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const py = JSON.parse(run.stdout);

    // The declared interface, as an independent protobuf reader sees it (1 = FLOAT, 7 = INT64).
    assert.deepEqual(py.input, ['pixels', 1, ['batch', 64]]);
    assert.deepEqual(py.outputs, [['probabilities', 1, ['batch', 10]], ['label', 7, ['batch']]]);
    assert.deepEqual(py.opset, [['', 13]]);
    assert.equal(py.ir_version, 8);

    const out = await session.run({ pixels: new ort.Tensor('float32', test.x.slice(0, n * FEATURES), [n, FEATURES]) });
    assert.equal(py.label_dtype, 'int64');
    assert.deepEqual(py.label, Array.from(out.label.data as BigInt64Array, Number), `engine ${py.engine}`);
    const probabilities = out.probabilities.data as Float32Array;
    py.probabilities.flat().forEach((p: number, i: number) => assert.ok(Math.abs(p - probabilities[i]) < 1e-5, `probability ${i}`));
  });
});
