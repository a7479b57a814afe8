/**
 * float16 conversion: generated models and ONNX's node test models, checked with the ONNX checker
 * (full_check: type inference over the converted graph) and run in onnxruntime-node 1.30.
 *
 * Tolerances: float16 keeps ~3 significant digits; generated models compare with
 * |got - want| <= 1e-2 * max|want| + 1e-3 and the node test models with rtol 0.05, atol 0.05.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  decodeModel, encodeModel, float16ToFloat32, float32ToFloat16, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, saveModel, tensorToArray,
} from '../../src/onnx/index.js';
import type { ModelProto } from '../../src/onnx/index.js';
import { DEFAULT_FP16_BLOCK_OPS, ORT_CPU_NO_FP16, convertFp16 } from '../../src/convert/fp16.js';
import { cnn, mlp, randomArray } from './models.js';
import { NO_PYTHON, NO_TESTDATA, onnxCheckAll, runAndCompare, testCases } from './testdata.js';

ort.env.logLevel = 'fatal';

let dir: string;
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-fp16-'));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function check(model: ModelProto, name: string): Promise<void> {
  if (NO_PYTHON) return;
  const path = join(dir, `${name}.onnx`);
  await saveModel(model, path);
  const failures = onnxCheckAll([path]);
  assert.equal(failures.get(path), undefined, `checker: ${failures.get(path)}`);
}

async function run(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 4 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function asFloat32(t: ort.Tensor): Float32Array {
  return t.type === 'float16' ? float16ToFloat32(t.data as Uint16Array) : (t.data as Float32Array);
}

function assertClose(got: Float32Array, want: Float32Array, rel = 1e-2, abs = 1e-3): void {
  let max = 0;
  for (const v of want) max = Math.max(max, Math.abs(v));
  const tol = rel * max + abs;
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  assert.ok(worst <= tol, `max abs error ${worst} > ${tol}`);
}

const xMlp = randomArray(8 * 64, 1, 99);

test('MLP with keepIoTypes: float32 interface, float16 weights, outputs within 1% of the original', async () => {
  const original = mlp([64, 128, 128, 10]);
  const { model, report } = convertFp16(original, { keepIoTypes: true });
  await check(model, 'mlp-keep-io');
  assert.equal(model.graph!.input[0].type!.tensorType!.elemType, 1);
  assert.equal(model.graph!.output[0].type!.tensorType!.elemType, 1);
  assert.ok(model.graph!.initializer.every((t) => t.dataType === 10), 'all weights float16');
  assert.equal(report.tensorsConverted, 6);
  assert.equal(report.weightBytes.after * 2, report.weightBytes.before);
  assert.equal(report.castsInserted, 2, 'one Cast in, one Cast out');
  assert.equal(report.nodesFp16, 8);
  assert.deepEqual(report.nodesFp32, []);
  const feeds = { x: new ort.Tensor('float32', xMlp, [8, 64]) };
  const want = asFloat32((await run(original, feeds)).y);
  assertClose(asFloat32((await run(model, feeds)).y), want);
  assert.ok(encodeModel(model).length < 0.55 * encodeModel(original).length, 'file about half the size');
});

test('MLP without keepIoTypes: float16 inputs and outputs', async () => {
  const original = mlp([64, 32, 10], { gemm: true });
  const { model, report } = convertFp16(original);
  await check(model, 'mlp-fp16-io');
  assert.equal(report.castsInserted, 0);
  assert.equal(model.graph!.input[0].type!.tensorType!.elemType, 10);
  assert.equal(model.graph!.output[0].type!.tensorType!.elemType, 10);
  const want = asFloat32((await run(original, { x: new ort.Tensor('float32', xMlp, [8, 64]) })).y);
  const got = (await run(model, { x: new ort.Tensor('float16', float32ToFloat16(xMlp), [8, 64]) })).y;
  assert.equal(got.type, 'float16');
  assertClose(asFloat32(got), want);
});

test('CNN with Conv + BatchNormalization + Relu', async () => {
  const original = cnn();
  const { model } = convertFp16(original, { keepIoTypes: true });
  await check(model, 'cnn');
  const x = randomArray(2 * 3 * 16 * 16, 1, 5);
  const feeds = { x: new ort.Tensor('float32', x, [2, 3, 16, 16]) };
  assertClose(asFloat32((await run(model, feeds)).y), asFloat32((await run(original, feeds)).y));
});

test('weights are clamped to [minPositiveValue, maxFiniteValue] like onnxconverter-common', () => {
  const w = Float32Array.from([1e-9, -1e-9, 0, 1e6, -1e6, 0.5, Infinity, NaN]);
  const m = makeModel({
    graph: makeGraph({
      name: 'c',
      nodes: [makeNode('Mul', ['x', 'w'], ['y'])],
      inputs: [makeValueInfo('x', 'float32', [8])],
      outputs: [makeValueInfo('y', 'float32', [8])],
      initializers: [makeTensor('w', 'float32', [8], w)],
    }),
  });
  const { model, report } = convertFp16(m);
  assert.deepEqual(report.clamped, { toMinPositive: 2, toMaxFinite: 2 });
  const got = float16ToFloat32(tensorToArray(model.graph!.initializer[0]) as Uint16Array);
  const f16 = (v: number) => float16ToFloat32(float32ToFloat16(Float32Array.of(v)))[0];
  assert.deepEqual(Array.from(got.subarray(0, 6)), [f16(1e-7), f16(-1e-7), 0, f16(1e4), f16(-1e4), 0.5]);
  assert.equal(got[6], Infinity);
  assert.ok(Number.isNaN(got[7]));
  const custom = convertFp16(m, { minPositiveValue: 1e-5, maxFiniteValue: 60000 }).report;
  assert.deepEqual(custom.clamped, { toMinPositive: 2, toMaxFinite: 2 });
  assert.throws(() => convertFp16(m, { maxFiniteValue: 1e6 }), /invalid clamping bounds/);
});

test('blocked operators stay float32 behind Casts; chains of blocked ops share one Cast', async () => {
  const original = mlp([16, 32, 8]);
  const { model, report } = convertFp16(original, { keepIoTypes: true, blockOps: ['Relu', 'MatMul'] });
  await check(model, 'blocked');
  // fc1 (MatMul) consumes relu0 (blocked) directly: no Cast between them.
  const mm1 = model.graph!.node.find((n) => n.name === 'fc1')!;
  assert.equal(mm1.input[0], 'h0');
  assert.deepEqual(report.nodesFp32, [{ opType: 'MatMul', count: 2 }, { opType: 'Relu', count: 1 }]);
  // MatMul weights are only used by blocked nodes: they stay float32.
  assert.equal(model.graph!.initializer.find((t) => t.name === 'W0')!.dataType, 1);
  assert.equal(model.graph!.initializer.find((t) => t.name === 'B0')!.dataType, 10);
  const x = randomArray(4 * 16, 1, 3);
  const feeds = { x: new ort.Tensor('float32', x, [4, 16]) };
  assertClose(asFloat32((await run(model, feeds)).y), asFloat32((await run(original, feeds)).y));
});

test('type attributes and constants: Cast to, ConstantOfShape, Constant, RandomNormal dtype, TopK (blocked by default)', async () => {
  // y = TopK(x * Cast(float)(Shape(x))[0] + ConstantOfShape(2.5) + c, k=2).values ; plus an unused RandomNormal
  const m = makeModel({
    graph: makeGraph({
      name: 't',
      nodes: [
        makeNode('Shape', ['x'], ['shape']),
        makeNode('Cast', ['shape'], ['shape_f'], { to: { int: 1 } }),
        makeNode('ReduceMax', ['shape_f'], ['n'], { keepdims: { int: 0 } }),
        makeNode('Mul', ['x', 'n'], ['xn']),
        makeNode('ConstantOfShape', ['shape'], ['filled'], { value: { tensor: makeTensor('', 'float32', [1], [2.5]) } }),
        makeNode('Constant', [], ['c'], { value_float: { float: 0.25 } }),
        makeNode('Add', ['xn', 'filled'], ['s']),
        makeNode('Add', ['s', 'c'], ['t']),
        makeNode('Constant', [], ['k'], { value: { tensor: makeTensor('', 'int64', [1], [2n]) } }),
        makeNode('TopK', ['t', 'k'], ['y', 'idx'], { axis: { int: -1 } }),
        makeNode('RandomNormal', [], ['noise'], { shape: { ints: [2] } }),
        makeNode('Add', ['noise', 'c'], ['noise_out']),
      ],
      inputs: [makeValueInfo('x', 'float32', [2, 4])],
      outputs: [makeValueInfo('y', 'float32', [2, 2]), makeValueInfo('idx', 'int64', [2, 2]), makeValueInfo('noise_out', 'float32', [2])],
    }),
  });
  const { model, report } = convertFp16(m, { keepIoTypes: true });
  await check(model, 'types');
  const cast = model.graph!.node.find((n) => n.output[0] === 'shape_f')!;
  assert.equal(cast.attribute[0].i, 10);
  // RandomNormal has no float16 kernel in onnxruntime 1.30: blocked by default, its output cast.
  assert.deepEqual(report.nodesFp32.map((n) => n.opType).sort(), ['RandomNormal', 'TopK']);
  const retargeted = convertFp16(m, { keepIoTypes: true, blockOps: ['TopK'] }).model;
  const rn = retargeted.graph!.node.find((n) => n.opType === 'RandomNormal')!;
  assert.equal(rn.attribute.find((a) => a.name === 'dtype')!.i, 10, 'dtype retargeted when not blocked');
  await check(retargeted, 'types-retargeted');
  const x = Float32Array.from([1, 5, 3, 2, -1, 0, 4, 2]);
  const out = await run(model, { x: new ort.Tensor('float32', x, [2, 4]) });
  // n = max(shape) = 4
  assert.deepEqual(Array.from(asFloat32(out.y)), [5 * 4 + 2.75, 3 * 4 + 2.75, 4 * 4 + 2.75, 2 * 4 + 2.75]);
  assert.deepEqual(Array.from(out.idx.data as BigInt64Array), [1n, 2n, 2n, 3n]);
});

test('If subgraphs are converted and captured values keep consistent types', async () => {
  const w = makeTensor('w', 'float32', [3], [1, 2, 3]);
  const branch = (name: string, op: string) =>
    makeGraph({ name, nodes: [makeNode(op, ['x', 'w'], [`${name}_out`])], inputs: [], outputs: [makeValueInfo(`${name}_out`, 'float32', [3])] });
  const m = makeModel({
    graph: makeGraph({
      name: 'if',
      nodes: [makeNode('If', ['cond'], ['y'], { then_branch: { graph: branch('then', 'Add') }, else_branch: { graph: branch('else', 'Mul') } })],
      inputs: [makeValueInfo('cond', 'bool', []), makeValueInfo('x', 'float32', [3])],
      outputs: [makeValueInfo('y', 'float32', [3])],
      initializers: [w],
    }),
  });
  const { model } = convertFp16(m, { keepIoTypes: true });
  await check(model, 'if');
  const x = new ort.Tensor('float32', Float32Array.from([1, 1, 1]), [3]);
  const yes = await run(model, { cond: new ort.Tensor('bool', Uint8Array.of(1), []), x });
  const no = await run(model, { cond: new ort.Tensor('bool', Uint8Array.of(0), []), x });
  assert.deepEqual(Array.from(asFloat32(yes.y)), [2, 3, 4]);
  assert.deepEqual(Array.from(asFloat32(no.y)), [1, 2, 3]);
});

test('the default block list holds the measured onnxruntime failures; models with them load', async () => {
  for (const op of ORT_CPU_NO_FP16) assert.ok(DEFAULT_FP16_BLOCK_OPS.includes(op));
  for (const op of ['Resize', 'Range', 'TopK', 'NonMaxSuppression']) assert.ok(DEFAULT_FP16_BLOCK_OPS.includes(op));
  const eye = makeModel({
    graph: makeGraph({
      name: 'eye',
      nodes: [makeNode('EyeLike', ['n'], ['e'], { dtype: { int: 1 } }), makeNode('Add', ['e', 'x'], ['y'])],
      inputs: [makeValueInfo('n', 'int32', [3, 3]), makeValueInfo('x', 'float32', [3, 3])],
      outputs: [makeValueInfo('y', 'float32', [3, 3])],
    }),
  });
  const feeds = { n: new ort.Tensor('int32', new Int32Array(9), [3, 3]), x: new ort.Tensor('float32', new Float32Array(9).fill(1), [3, 3]) };
  const ok = convertFp16(eye, { keepIoTypes: true }).model;
  assert.deepEqual(Array.from(asFloat32((await run(ok, feeds)).y)), [2, 1, 1, 1, 2, 1, 1, 1, 2]);
  // The measurement this list comes from: without blocking, onnxruntime 1.30 cannot load it.
  const unblocked = convertFp16(eye, { keepIoTypes: true, blockOps: [] }).model;
  await assert.rejects(run(unblocked, feeds), /EyeLike/);
});

test('models older than opset 7 are refused with a pointer to convert --opset', () => {
  const old = mlp([4, 2], { opset: 6 });
  assert.throws(() => convertFp16(old), /opset 7 or later.*convert --opset 13/);
});

test('ONNX node test models: every float model that runs as shipped runs in float16 (rtol 0.05, atol 0.05)', { skip: NO_TESTDATA }, async (t) => {
  let converted = 0;
  const wrong: string[] = [];
  for (const c of testCases('node')) {
    const original = decodeModel(readFileSync(c.modelPath));
    if (original.opsetImport.some((o) => o.domain && o.domain !== 'ai.onnx') || (original.opsetImport[0].version ?? 0) < 7) continue;
    const io = [...original.graph!.input, ...original.graph!.output];
    if (!io.some((v) => v.type?.tensorType?.elemType === 1) || io.some((v) => !v.type?.tensorType)) continue;
    if (/bernoulli|training_dropout|random/.test(c.name)) continue; // random outputs
    if (!(await runAndCompare(original, c, 1e-3, 1e-4)).ok) continue;
    const { model } = convertFp16(original, { keepIoTypes: true });
    converted++;
    const r = await runAndCompare(model, c, 0.05, 0.05);
    if (!r.ok) wrong.push(`${c.name}: ${r.error}`);
  }
  t.diagnostic(`${converted} node test models converted to float16 and matched`);
  assert.deepEqual(wrong, []);
  assert.ok(converted > 600);
});

test('fp16 after dynamic int8 quantization: contrib float outputs stay float32 and the model loads', async () => {
  const { quantize } = await import('../../src/optimize/quantize/index.js');
  const { ensureDigitsModel, testSplit } = await import('../../src/examples/digits/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'berth-fp16q-'));
  try {
    const { modelPath } = await ensureDigitsModel(dir);
    const original = decodeModel(readFileSync(modelPath));
    const { model: q } = await quantize(original, { mode: 'dynamic' });
    const { model: f } = convertFp16(q);
    const session = await ort.InferenceSession.create(encodeModel(f));
    const reference = await ort.InferenceSession.create(encodeModel(original));
    const test = testSplit();
    const rows = 64;
    const x = test.x.subarray(0, rows * 64);
    // fp16 I/O: feed float16 pixels when the converter changed the input type
    const inputType = session.inputMetadata[0]!.isTensor ? session.inputMetadata[0]!.type : 'float32';
    const feed = inputType === 'float16' ? new ort.Tensor('float16', float32ToFloat16(x), [rows, 64]) : new ort.Tensor('float32', x, [rows, 64]);
    const got = (await session.run({ pixels: feed })).label!.data as BigInt64Array;
    const want = (await reference.run({ pixels: new ort.Tensor('float32', x, [rows, 64]) })).label!.data as BigInt64Array;
    let agree = 0;
    for (let i = 0; i < rows; i++) agree += got[i] === want[i] ? 1 : 0;
    assert.ok(agree >= rows - 1, `labels agree on ${agree}/${rows}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
