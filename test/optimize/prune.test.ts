/**
 * Pruning on generated models (an MLP, a CNN with Conv + BatchNormalization + Relu), checked with
 * the ONNX checker and onnxruntime-node.
 *
 * Structured pruning is checked exactly: removing channels must give the same outputs as keeping
 * them and zeroing the next layer's weights that read them (|Δ| ≤ 1e-4). Unstructured pruning at
 * 10% keeps outputs within 10% of the output range (stated tolerance: max |Δ| ≤ 0.1 · max |y|).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { encodeModel, loadModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, saveModel, tensorToArray } from '../../src/onnx/index.js';
import type { ModelProto, TensorProto } from '../../src/onnx/index.js';
import { prune } from '../../src/optimize/prune.js';
import { cnn, mlp, randomArray } from '../convert/models.js';
import { NO_PYTHON, onnxCheckAll } from '../convert/testdata.js';
import { quantileAtFloorIndex, sortedNumbers } from '../../src/util/stats.js';

ort.env.logLevel = 'fatal';

let dir: string;
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-prune-'));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function checkAll(models: Record<string, ModelProto>): Promise<void> {
  if (NO_PYTHON) return;
  const paths: string[] = [];
  for (const [name, m] of Object.entries(models)) {
    const p = join(dir, `${name}.onnx`);
    await saveModel(m, p);
    paths.push(p);
  }
  assert.deepEqual([...onnxCheckAll(paths)], [], 'onnx checker');
}

async function session(m: ModelProto): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(m), { logSeverityLevel: 4, intraOpNumThreads: 1 });
}

async function run(m: ModelProto, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const s = await session(m);
  try {
    return (await s.run({ x: new ort.Tensor('float32', x, shape) })).y.data as Float32Array;
  } finally {
    await s.release();
  }
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function weight(m: ModelProto, name: string): TensorProto {
  return m.graph!.initializer.find((t) => t.name === name)!;
}

/** A copy of the model with `zero(values, dims)` applied to one initializer. */
function withWeight(m: ModelProto, name: string, edit: (v: Float32Array, dims: number[]) => void): ModelProto {
  const t = weight(m, name);
  const v = tensorToArray(t) as Float32Array;
  edit(v, (t.dims ?? []).map(Number));
  return { ...m, graph: { ...m.graph!, initializer: m.graph!.initializer.map((x) => (x === t ? makeTensor(name, 'float32', (t.dims ?? []).map(Number), v) : x)) } };
}

const xMlp = randomArray(16 * 64, 1, 11);

test('unstructured per-layer: each layer at the target sparsity; same size, smaller gzip; loads and passes the checker', async () => {
  const original = mlp([64, 256, 256, 10]);
  const { model, report } = prune(original, { sparsity: 0.5 });
  assert.equal(report.mode, 'unstructured');
  assert.equal(report.layers.length, 3);
  for (const l of report.layers) {
    assert.deepEqual(l.shapeAfter, l.shapeBefore);
    assert.ok(Math.abs(l.sparsity - 0.5) < 1 / l.params.after + 1e-9, `${l.name} sparsity ${l.sparsity}`);
  }
  assert.equal(report.totals.modelBytes.after, report.totals.modelBytes.before, 'dense file: same size');
  assert.ok(report.totals.gzipBytes.after! < 0.75 * report.totals.gzipBytes.before!, 'zeros compress');
  // the zeros are the smallest magnitudes
  const before = tensorToArray(weight(original, 'W1')) as Float32Array;
  const after = tensorToArray(weight(model, 'W1')) as Float32Array;
  let maxZeroed = 0;
  let minKept = Infinity;
  after.forEach((v, i) => (v === 0 ? (maxZeroed = Math.max(maxZeroed, Math.abs(before[i]))) : (minKept = Math.min(minKept, Math.abs(v)))));
  assert.ok(maxZeroed <= minKept);
  await checkAll({ unstructured: model });
  await run(model, xMlp, [16, 64]);
});

test('unstructured global: one threshold, overall sparsity on target, layers differ', () => {
  // layer 0 has weights 10× larger than the others: a global threshold prunes it less
  const original = withWeight(mlp([64, 128, 128, 10]), 'W0', (v) => v.forEach((x, i) => (v[i] = x * 10)));
  const { report } = prune(original, { sparsity: 0.6, scope: 'global' });
  assert.equal(report.scope, 'global');
  assert.ok(Math.abs(report.totals.sparsity - 0.6) < 1e-4, `overall ${report.totals.sparsity}`);
  const [l0, l1] = report.layers;
  assert.ok(l0.sparsity < 0.2 && l1.sparsity > 0.6, `${l0.sparsity} ${l1.sparsity}`);
});

test('a small unstructured prune keeps outputs close (10%: max |Δ| ≤ 0.1 · max |y|)', async () => {
  const original = mlp([64, 256, 256, 10]);
  const { model } = prune(original, { sparsity: 0.1 });
  const want = await run(original, xMlp, [16, 64]);
  const got = await run(model, xMlp, [16, 64]);
  const d = maxDiff(got, want);
  assert.ok(d <= 0.1 * maxAbs(want), `max |Δ| ${d} vs max |y| ${maxAbs(want)}`);
});

test('0% sparsity returns the model unchanged, byte for byte', () => {
  for (const original of [mlp([16, 32, 4]), cnn()]) {
    for (const opts of [{ sparsity: 0 }, { sparsity: 0, structured: true }, { sparsity: 0, scope: 'global' as const }]) {
      const { model, report } = prune(original, opts);
      assert.deepEqual(Buffer.from(encodeModel(model)), Buffer.from(encodeModel(original)));
      assert.equal(report.totals.zeros, 0);
    }
  }
});

/**
 * Removing channel c of a layer must equal keeping it and zeroing what reads it in the next layer:
 * zero the rows of the consumer's weight (its input axis) for every dropped channel.
 */
function zeroDropped(m: ModelProto, consumerWeight: string, inputAxis: number, channels: number, kept: number[], block = 1): ModelProto {
  const keep = new Set(kept);
  return withWeight(m, consumerWeight, (v, dims) => {
    const inner = dims.slice(inputAxis + 1).reduce((a, b) => a * b, 1);
    const outer = dims.slice(0, inputAxis).reduce((a, b) => a * b, 1);
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        if (keep.has(c)) continue;
        for (let b = 0; b < block; b++) {
          const idx = c * block + b;
          v.fill(0, (o * dims[inputAxis] + idx) * inner, (o * dims[inputAxis] + idx + 1) * inner);
        }
      }
    }
  });
}

test('structured MLP: hidden layers shrink; outputs equal the zeroed-consumer reference', async () => {
  const original = mlp([64, 256, 256, 10]);
  const { model, report } = prune(original, { sparsity: 0.5, structured: true });
  assert.equal(report.mode, 'structured');
  assert.deepEqual(report.layers.map((l) => [l.name, l.shapeAfter]), [['fc0', [64, 128]], ['fc1', [128, 128]], ['fc2', [128, 10]]]);
  assert.deepEqual(report.skipped.map((s) => s.name), ['fc2']);
  assert.match(report.skipped[0].reason, /graph output/);
  assert.ok(report.totals.params.after < 0.35 * report.totals.params.before, `${report.totals.params.after}`);
  assert.ok(report.totals.modelBytes.after! < 0.35 * report.totals.modelBytes.before!);
  // biases shrank with their layers
  const biases = model.graph!.node.filter((n) => n.opType === 'Add').map((n) => weight(model, n.input[1]).dims);
  assert.deepEqual(biases, [[128], [128], [10]]);
  await checkAll({ structured: model });
  const [l0, l1] = report.layers;
  const ref = zeroDropped(zeroDropped(original, 'W1', 0, 256, l0.kept!), 'W2', 0, 256, l1.kept!);
  const d = maxDiff(await run(model, xMlp, [16, 64]), await run(ref, xMlp, [16, 64]));
  assert.ok(d < 1e-4, `max |Δ| ${d}`);
});

test('structured Gemm (transB=1) MLP', async () => {
  const original = mlp([64, 96, 10], { gemm: true });
  const { model, report } = prune(original, { sparsity: 0.25, structured: true });
  assert.deepEqual(report.layers.map((l) => l.shapeAfter), [[72, 64], [10, 72]]);
  assert.deepEqual(weight(model, model.graph!.node[0].input[2]).dims, [72]);
  const ref = zeroDropped(original, 'W1', 1, 96, report.layers[0].kept!);
  assert.ok(maxDiff(await run(model, xMlp, [16, 64]), await run(ref, xMlp, [16, 64])) < 1e-4);
});

test('structured CNN: Conv + BatchNorm + Relu channels go with their BatchNorm parameters', async () => {
  const original = cnn({ c1: 8, c2: 16 });
  const { model, report } = prune(original, { sparsity: 0.5, structured: true });
  assert.deepEqual(report.layers.map((l) => [l.name, l.shapeAfter]), [['conv1', [4, 3, 3, 3]], ['conv2', [8, 4, 3, 3]], ['fc', [10, 8]]]);
  for (const bn of model.graph!.node.filter((n) => n.opType === 'BatchNormalization')) {
    const c = bn.name === 'bn1' ? 4 : 8;
    for (const p of bn.input.slice(1)) assert.deepEqual(weight(model, p).dims, [c], `${bn.name} ${p}`);
  }
  assert.deepEqual(weight(model, model.graph!.node.find((n) => n.name === 'conv2')!.input[2]).dims, [8]);
  await checkAll({ cnn: model });
  const x = randomArray(2 * 3 * 16 * 16, 1, 4);
  const [c1, c2] = report.layers;
  const ref = zeroDropped(zeroDropped(original, 'conv2_W', 1, 8, c1.kept!), 'fc_W', 1, 16, c2.kept!);
  assert.ok(maxDiff(await run(model, x, [2, 3, 16, 16]), await run(ref, x, [2, 3, 16, 16])) < 1e-4);
});

test('structured through Flatten of C×H×W: the next layer loses blocks of H·W inputs', async () => {
  // x[1,2,4,4] → Conv(2→6, 3x3 pad 1) → Relu → MaxPool 2x2 → Flatten → Gemm(24→5) → y
  const conv = makeTensor('cw', 'float32', [6, 2, 3, 3], randomArray(108, 0.5, 21));
  const fc = makeTensor('fw', 'float32', [24, 5], randomArray(120, 0.5, 22));
  const m = makeModel({
    graph: makeGraph({
      name: 'flat',
      nodes: [
        makeNode('Conv', ['x', 'cw'], ['c'], { pads: { ints: [1, 1, 1, 1] } }, { name: 'conv' }),
        makeNode('Relu', ['c'], ['r']),
        makeNode('MaxPool', ['r'], ['p'], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } }),
        makeNode('Flatten', ['p'], ['f']),
        makeNode('Gemm', ['f', 'fw'], ['y'], undefined, { name: 'fc' }),
      ],
      inputs: [makeValueInfo('x', 'float32', [1, 2, 4, 4])],
      outputs: [makeValueInfo('y', 'float32', [1, 5])],
      initializers: [conv, fc],
    }),
  });
  // the spatial size after the channels (2×2) is inferred from the input shape, kernel, pads and strides
  const { model, report } = prune(m, { sparsity: 0.5, structured: true });
  assert.deepEqual(report.layers.map((l) => l.shapeAfter), [[3, 2, 3, 3], [12, 5]]);
  const x = randomArray(32, 1, 5);
  const ref = zeroDropped(m, 'fw', 0, 6, report.layers[0].kept!, 4);
  assert.ok(maxDiff(await run(model, x, [1, 2, 4, 4]), await run(ref, x, [1, 2, 4, 4])) < 1e-4);
  // with a symbolic input size it cannot be known: nothing is prunable, and the error says why
  m.graph!.input = [makeValueInfo('x', 'float32', [1, 2, 'H', 'W'])];
  assert.throws(() => prune(m, { sparsity: 0.5, structured: true }), /conv \(Conv\): Flatten 'f': the spatial size after the channels is unknown/);
});

test('structured pruning leaves residual connections alone and says why; errors when nothing can be pruned', () => {
  // h = Relu(x W0); y = (h W1 + h) W2 : the residual Add needs h's and W1's channels to stay
  const m = makeModel({
    graph: makeGraph({
      name: 'res',
      nodes: [
        makeNode('MatMul', ['x', 'W0'], ['a'], undefined, { name: 'fc0' }),
        makeNode('Relu', ['a'], ['h']),
        makeNode('MatMul', ['h', 'W1'], ['b'], undefined, { name: 'fc1' }),
        makeNode('Add', ['b', 'h'], ['s'], undefined, { name: 'residual' }),
        makeNode('MatMul', ['s', 'W2'], ['y'], undefined, { name: 'fc2' }),
      ],
      inputs: [makeValueInfo('x', 'float32', ['batch', 8])],
      outputs: [makeValueInfo('y', 'float32', ['batch', 4])],
      initializers: [makeTensor('W0', 'float32', [8, 16], randomArray(128, 1, 1)), makeTensor('W1', 'float32', [16, 16], randomArray(256, 1, 2)), makeTensor('W2', 'float32', [16, 4], randomArray(64, 1, 3))],
    }),
  });
  assert.throws(() => prune(m, { sparsity: 0.5, structured: true }), /no layer could be pruned structurally.*fc0.*residual.*fc2.*graph output/);
  const un = prune(m, { sparsity: 0.5 });
  assert.equal(un.report.layers.length, 3);
});

test('exclude and option errors', () => {
  const m = mlp([16, 32, 32, 4]);
  const { report } = prune(m, { sparsity: 0.5, structured: true, exclude: ['fc1'] });
  assert.deepEqual(report.skipped.map((s) => [s.name, s.reason]), [['fc1', 'excluded'], ['fc2', "its output 'y' is a graph output (the model's interface would change)"]]);
  assert.deepEqual(report.layers.find((l) => l.name === 'fc0')!.shapeAfter, [16, 16]);
  assert.throws(() => prune(m, { sparsity: 0.5, exclude: ['nope'] }), /--exclude names no node of the model: nope/);
  assert.throws(() => prune(m, { sparsity: 1 }), /sparsity must be in \[0, 1\)/);
  assert.throws(() => prune(m, { sparsity: -0.1 }), /sparsity/);
  assert.throws(() => prune(m, { sparsity: 0.5, structured: true, scope: 'global' }), /global.*unstructured pruning only/);
});

/** The upper median (element ⌊n/2⌋ of the sorted times). */
function median(xs: number[]): number {
  return quantileAtFloorIndex(sortedNumbers(xs), 0.5);
}

test('50% structured pruning makes the wide MLP (512→2048→2048→1000) faster in onnxruntime', async (t) => {
  const original = mlp([512, 2048, 2048, 1000]);
  const { model, report } = prune(original, { sparsity: 0.5, structured: true });
  const unstructured = prune(original, { sparsity: 0.5 }).model;
  const x = randomArray(32 * 512, 1, 3);
  const feeds = { x: new ort.Tensor('float32', x, [32, 512]) };
  const sessions = await Promise.all([original, model, unstructured].map(session));
  const times: number[][] = [[], [], []];
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await sessions[i].run(feeds);
      if (round >= 5) times[i].push(performance.now() - t0);
    }
  }
  for (const s of sessions) await s.release();
  const [dense, pruned, zeros] = times.map(median);
  t.diagnostic(`batch 32, median of 35, 1 thread: dense ${dense.toFixed(2)} ms, 50% structured ${pruned.toFixed(2)} ms (${(dense / pruned).toFixed(2)}×), 50% unstructured ${zeros.toFixed(2)} ms (${(dense / zeros).toFixed(2)}×)`);
  t.diagnostic(`size: ${report.totals.modelBytes.before} → ${report.totals.modelBytes.after} bytes (${(report.totals.modelBytes.after! / report.totals.modelBytes.before!).toFixed(3)}×), params ${report.totals.params.before} → ${report.totals.params.after}`);
  assert.ok(dense / pruned > 1.3, `structured speedup ${(dense / pruned).toFixed(2)}×`);
});

test('berth prune CLI: writes atomically, reports, one-line errors', () => {
  const runner = join(import.meta.dirname, '../convert/cli-runner.ts');
  const input = join(dir, 'cli-in.onnx');
  writeFileSync(input, encodeModel(mlp([16, 32, 4])));
  const out = join(dir, 'cli-out.onnx');
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', runner, 'prune', ...args], { encoding: 'utf8' });
  const ok = cli(input, '-o', out, '--sparsity', '0.5', '--structured', '--json');
  assert.equal(ok.status, 0, ok.stderr);
  const json = JSON.parse(ok.stdout) as { report: { layers: { shapeAfter: number[] }[] } };
  assert.deepEqual(json.report.layers[0].shapeAfter, [16, 16]);
  assert.ok(existsSync(out));
  const text = cli(input, '-o', out, '--sparsity', '0.3');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /unstructured pruning, scope per-layer, target 30\.0%/);
  assert.match(text.stdout, /gzip:/);
  for (const [args, message] of [
    [[input, '-o', join(dir, 'x.onnx'), '--sparsity', '1.5'], /expected a fraction in \[0, 1\)/],
    [[input, '-o', join(dir, 'x.onnx'), '--sparsity', '0.5', '--scope', 'local'], /expected global or per-layer/],
    [[join(dir, 'missing.onnx'), '-o', join(dir, 'x.onnx'), '--sparsity', '0.5'], /no such file/],
    [[input, '-o', join(dir, 'x.onnx'), '--sparsity', '0.5', '--exclude', 'ghost'], /names no node/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.status, 1);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  writeFileSync(join(dir, 'garbage.onnx'), 'not a model');
  const bad = cli(join(dir, 'garbage.onnx'), '-o', join(dir, 'x.onnx'), '--sparsity', '0.5');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^error: not a valid ONNX model/);
  assert.ok(!existsSync(join(dir, 'x.onnx')), 'nothing written on error');
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temporary files left');
});

test('pruned models load from disk like any other', async () => {
  const p = join(dir, 'reload.onnx');
  await saveModel(prune(cnn(), { sparsity: 0.5, structured: true }).model, p);
  const m = await loadModel(p);
  const y = await run(m, randomArray(3 * 16 * 16, 1, 9), [1, 3, 16, 16]);
  assert.equal(y.length, 10);
});
