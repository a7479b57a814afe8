/**
 * evaluate() on models whose answers are known by construction: an identity "classifier"
 * (top-1 = argmax of the input row), a doubling model (same top-1, error = |x|), an ArgMax model
 * with an int64 label output, a fixed-batch model, and a regression model.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, saveModel, type ModelProto } from '../../src/onnx/index.js';
import { writeNpy, type Dataset } from '../../src/datasets/index.js';
import { evaluate, formatEvalReport } from '../../src/optimize/eval.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-eval-'));
const ROWS = 40;
const CLASSES = 5;

/** Row i: distinct values whose argmax is (i * 3) % CLASSES; some negative. */
function makeRows(): Float32Array {
  const x = new Float32Array(ROWS * CLASSES);
  for (let i = 0; i < ROWS; i++) {
    for (let j = 0; j < CLASSES; j++) x[i * CLASSES + j] = -2 + j * 0.25 + i * 0.01;
    x[i * CLASSES + ((i * 3) % CLASSES)] = 3 + (i % 7);
  }
  return x;
}
const X = makeRows();
const TRUE_CLASS = Int32Array.from({ length: ROWS }, (_, i) => (i * 3) % CLASSES);
const data = (): Dataset => ({ samples: ROWS, inputs: { x: { datatype: 'FP32', shape: [ROWS, CLASSES], data: X } } });

function scale(name: string, factor: number, batch: number | string = 'batch'): ModelProto {
  const graph = makeGraph({
    name,
    nodes: [makeNode('Mul', ['x', 'k'], ['scores'])],
    inputs: [makeValueInfo('x', 'float32', [batch, CLASSES])],
    outputs: [makeValueInfo('scores', 'float32', [batch, CLASSES])],
    initializers: [makeTensor('k', 'float32', [], [factor])],
  });
  return makeModel({ graph });
}

function argmaxModel(): ModelProto {
  const graph = makeGraph({
    name: 'argmax',
    nodes: [makeNode('ArgMax', ['x'], ['label'], { axis: { int: 1 }, keepdims: { int: 0 } }), makeNode('Identity', ['x'], ['scores'])],
    inputs: [makeValueInfo('x', 'float32', ['batch', CLASSES])],
    outputs: [makeValueInfo('label', 'int64', ['batch']), makeValueInfo('scores', 'float32', ['batch', CLASSES])],
  });
  return makeModel({ graph });
}

/** y = sum of the row (one value per sample). */
function sumModel(): ModelProto {
  const graph = makeGraph({
    name: 'sum',
    nodes: [makeNode('ReduceSum', ['x', 'axes'], ['y'], { keepdims: { int: 1 } })],
    inputs: [makeValueInfo('x', 'float32', ['batch', CLASSES])],
    outputs: [makeValueInfo('y', 'float32', ['batch', 1])],
    initializers: [makeTensor('axes', 'int64', [1], [1])],
  });
  return makeModel({ graph });
}

const paths: Record<string, string> = {};
before(async () => {
  for (const [name, model] of Object.entries({ identity: scale('identity', 1), double: scale('double', 2), negate: scale('negate', -1), argmax: argmaxModel(), fixed: scale('fixed', 1, 1), sum: sumModel() })) {
    paths[name] = join(dir, `${name}.onnx`);
    await saveModel(model, paths[name]);
  }
});

describe('evaluate', () => {
  it('top-1 accuracy is exact on a model whose answer is known', async () => {
    const labels = TRUE_CLASS.slice();
    // Make 7 of the 40 labels wrong: accuracy must be exactly 33/40.
    for (const i of [0, 5, 9, 13, 22, 30, 39]) labels[i] = (labels[i] + 1) % CLASSES;
    const r = await evaluate(paths.identity, { data: data(), labels, batch: 8, latency: false });
    assert.deepEqual(r.accuracy, { top1: 33 / 40, correct: 33, total: 40 });
    assert.equal(r.output.kind, 'scores');
    assert.equal(r.output.perSample, CLASSES);
    assert.equal(r.latency, undefined);
    // the CPU the figures hold for (int8 results differ with and without VNNI)
    assert.equal(r.cpu.arch, process.arch);
    assert.ok(['vnni', 'avx2', 'arm64', 'any'].includes(r.cpu.target));
    assert.match(formatEvalReport(r), /^cpu {8}\S+ .*\((vnni|avx2|arm64|any)/m);
  });

  it('a model agrees with itself: agreement 1, max error 0', async () => {
    const r = await evaluate(paths.identity, { data: data(), labels: TRUE_CLASS, reference: paths.identity, batch: 16, latency: false });
    assert.equal(r.reference!.agreement, 1);
    assert.equal(r.reference!.maxAbsError, 0);
    assert.equal(r.reference!.meanAbsError, 0);
    assert.equal(r.reference!.sizeRatio, 1);
    assert.equal(r.reference!.accuracyDrop, 0);
    assert.equal(r.accuracy!.top1, 1);
  });

  it('agreement and error against a different reference', async () => {
    // 2x keeps every argmax: agreement 1, |2x - x| = |x|.
    const doubled = await evaluate(paths.double, { data: data(), reference: paths.identity, latency: false });
    const maxAbs = Math.max(...Array.from(X, Math.abs));
    const meanAbs = Array.from(X, Math.abs).reduce((a, b) => a + b, 0) / X.length;
    assert.equal(doubled.reference!.agreement, 1);
    assert.ok(Math.abs(doubled.reference!.maxAbsError! - maxAbs) < 1e-6);
    assert.ok(Math.abs(doubled.reference!.meanAbsError! - meanAbs) < 1e-5);
    // -x turns every argmax into the argmin, which is column 0 or another column, never the max.
    const negated = await evaluate(paths.negate, { data: data(), labels: TRUE_CLASS, reference: paths.identity, latency: false });
    assert.equal(negated.reference!.agreement, 0);
    assert.equal(negated.accuracy!.top1, 0);
    assert.equal(negated.reference!.accuracyDrop, 1);
  });

  it('an integer output is read as the class id', async () => {
    const r = await evaluate(paths.argmax, { data: data(), labels: TRUE_CLASS, reference: paths.identity, outputName: 'label', latency: false });
    assert.equal(r.output.kind, 'labels');
    assert.equal(r.output.datatype, 'int64');
    assert.equal(r.accuracy!.top1, 1);
    // the reference has no 'label' output: its first output is compared by top-1
    assert.equal(r.reference!.output, 'scores');
    assert.equal(r.reference!.agreement, 1);
    assert.equal(r.reference!.maxAbsError, null);
  });

  it('reports latency p50/p99 and throughput at batch 1 and N', async () => {
    const r = await evaluate(paths.identity, { data: data(), batch: 16, iterations: 20, rounds: 3, warmup: 2 });
    for (const [s, batch] of [[r.latency!.batch1, 1], [r.latency!.batchN!, 16]] as const) {
      assert.equal(s.batch, batch);
      assert.ok(s.p50Ms > 0 && Number.isFinite(s.p50Ms));
      assert.ok(s.p99Ms >= s.p50Ms);
      assert.ok(s.throughput > 0);
      assert.equal(s.runs, 60);
      assert.equal(s.rounds, 3);
    }
    assert.ok(r.model.bytes > 0);
    const text = formatEvalReport(r);
    assert.match(text, /batch 1 .*p50 .*p99 .*samples\/s/);
    assert.match(text, /batch 16 /);
  });

  it('handles a model with a fixed batch of 1 (and repeats samples for batch N)', async () => {
    const r = await evaluate(paths.fixed, { data: data(), labels: TRUE_CLASS, batch: 8, iterations: 5, rounds: 1 });
    assert.equal(r.accuracy!.top1, 1);
    assert.equal(r.latency!.batch1.batch, 1);
    assert.match(r.latency!.note ?? '', /fixed at 1/);
  });

  it('real-valued labels give MAE and RMSE', async () => {
    const sums = Float32Array.from({ length: ROWS }, (_, i) => X.subarray(i * CLASSES, (i + 1) * CLASSES).reduce((a, b) => a + b, 0));
    const shifted = sums.map((v, i) => v + (i % 2 ? 0.5 : -0.5));
    const r = await evaluate(paths.sum, { data: data(), labels: shifted, latency: false });
    assert.ok(Math.abs(r.regression!.mae - 0.5) < 1e-4);
    assert.ok(Math.abs(r.regression!.rmse - 0.5) < 1e-4);
  });

  it('clear errors: label count, unknown output, data that does not fit', async () => {
    await assert.rejects(evaluate(paths.identity, { data: data(), labels: new Int32Array(3), latency: false }), /labels: 3 labels for 40 samples/);
    await assert.rejects(evaluate(paths.identity, { data: data(), labels: TRUE_CLASS, outputName: 'nope', latency: false }), /no output 'nope' \(outputs: scores\)/);
    const wide: Dataset = { samples: 2, inputs: { x: { datatype: 'FP32', shape: [2, 7], data: new Float32Array(14) } } };
    await assert.rejects(evaluate(paths.identity, { data: wide, latency: false }), /does not fit the model's input shape \[batch, 5\]/);
    await assert.rejects(evaluate(join(dir, 'missing.onnx'), { data: data(), latency: false }), /model file not found/);
    writeFileSync(join(dir, 'junk.onnx'), 'not a model');
    await assert.rejects(evaluate(join(dir, 'junk.onnx'), { data: data(), latency: false }), /not a valid ONNX model/);
  });
});

describe('berth eval (CLI)', () => {
  it('prints a JSON report; a bad data file is a one-line error with a non-zero exit', async () => {
    await writeNpy(join(dir, 'x.npy'), [ROWS, CLASSES], X);
    await writeNpy(join(dir, 'y.npy'), [ROWS], TRUE_CLASS);
    const script = [
      "import { Command } from 'commander';",
      "import { registerEval } from './src/cli/commands/eval.ts';",
      'const p = new Command(); registerEval(p);',
      "await p.parseAsync(JSON.parse(process.env.ARGS), { from: 'user' });",
    ].join('\n');
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ARGS: JSON.stringify(args) } });
    const ok = run(['eval', paths.double, '--data', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--reference', paths.identity, '--batch', '8', '--rounds', '1', '--json']);
    assert.equal(ok.status, 0, ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.equal(report.accuracy.top1, 1);
    assert.equal(report.reference.agreement, 1);
    assert.equal(report.latency.batchN.batch, 8);
    const text = run(['eval', paths.identity, '--data', join(dir, 'x.npy'), '--no-latency']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /40 samples; output 'scores'/);
    const bad = run(['eval', paths.identity, '--data', join(dir, 'nope.npy')]);
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.match(bad.stderr, /^error: data file not found: /);
  });
});
