/**
 * `optimize`: a pipeline that meets the bound writes the model; one that breaks it exits
 * non-zero, says which step and by how much, and writes nothing. Runs on the example digits
 * model with its held-out split.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ensureDigitsModel, testSplit, INPUT_NAME } from '../../src/examples/digits/index.js';
import { loadModel } from '../../src/onnx/index.js';
import { writeNpy, type Dataset } from '../../src/datasets/index.js';
import { evaluate } from '../../src/optimize/eval.js';
import { parseSteps, runPipeline } from '../../src/optimize/pipeline.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-pipeline-'));
const PYTHON = '/usr/bin/python3';
const hasOnnxChecker = spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;
let modelPath = '';
const test = testSplit();
const data: Dataset = { samples: test.n, inputs: { [INPUT_NAME]: { datatype: 'FP32', shape: [test.n, 64], data: test.x } } };

const SCRIPT = [
  "import { Command } from 'commander';",
  "import { registerOptimize } from './src/cli/commands/optimize.ts';",
  'const p = new Command(); registerOptimize(p);',
  "await p.parseAsync(JSON.parse(process.env.ARGS), { from: 'user' });",
].join('\n');

function berth(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    encoding: 'utf8',
    env: { ...process.env, ARGS: JSON.stringify(args) },
  });
}

before(async () => {
  modelPath = (await ensureDigitsModel(join(dir, 'repo'))).modelPath;
  await writeNpy(join(dir, 'x.npy'), [test.n, 64], test.x);
  await writeNpy(join(dir, 'y.npy'), [test.n], test.y);
  await writeNpy(join(dir, 'y10.npy'), [10], test.y.slice(0, 10));
});

describe('parseSteps', () => {
  it('parses steps and their options', () => {
    const steps = parseSteps('prune=0.5:structured, quantize=static:entropy:per-channel:exclude=a+b, fp16:block=Softmax, opset=13, quantize=int4:block=64');
    assert.deepEqual(steps.map((s) => s.kind), ['prune', 'quantize', 'fp16', 'opset', 'quantize']);
    assert.deepEqual(steps[0], { kind: 'prune', text: 'prune=0.5:structured', options: { sparsity: 0.5, structured: true } });
    assert.deepEqual(steps[1].kind === 'quantize' && steps[1].options, { mode: 'static', calibrationMethod: 'entropy', perChannel: true, exclude: ['a', 'b'] });
    assert.ok(steps[2].kind === 'fp16' && steps[2].options.keepIoTypes === true);
    assert.ok(steps[2].kind === 'fp16' && steps[2].options.blockOps!.includes('Softmax') && steps[2].options.blockOps!.includes('TopK'), 'added to the default block list');
    assert.deepEqual(steps[3], { kind: 'opset', text: 'opset=13', target: 13 });
    assert.deepEqual(steps[4].kind === 'quantize' && steps[4].options, { mode: 'weight-only', bits: 4, blockSize: 64 });
    const weight = parseSteps('quantize=int8-weight')[0];
    assert.deepEqual(weight.kind === 'quantize' && weight.options, { mode: 'weight-only', bits: 8 });
  });

  it('quantize: :reduce-range[=on|off|auto] and :cpu= (the target CPU)', () => {
    const opts = (spec: string) => {
      const s = parseSteps(spec)[0];
      return s.kind === 'quantize' ? s.options : undefined;
    };
    assert.deepEqual(opts('quantize=dynamic:reduce-range'), { mode: 'dynamic', reduceRange: true });
    assert.deepEqual(opts('quantize=dynamic:reduce-range=off:cpu=avx2'), { mode: 'dynamic', reduceRange: false, targetCpu: 'avx2' });
    assert.deepEqual(opts('quantize=static:reduce-range=auto:cpu=vnni'), { mode: 'static', reduceRange: 'auto', targetCpu: 'vnni' });
    assert.throws(() => parseSteps('quantize=dynamic:reduce-range=maybe'), /reduce-range takes on, off or auto/);
    assert.throws(() => parseSteps('quantize=dynamic:cpu=sparc'), /cpu must be one of vnni, avx2, arm64, any/);
  });

  it('rejects bad steps with the syntax', () => {
    assert.throws(() => parseSteps('prune=1.5'), /step 'prune=1\.5': prune needs a sparsity in \[0, 1\)/);
    assert.throws(() => parseSteps('quantize=fast'), /quantize needs a mode: dynamic, static, int8-weight or int4/);
    assert.throws(() => parseSteps('quantize=dynamic:entropy'), /entropy calibration applies to quantize=static only/);
    assert.throws(() => parseSteps('distill=2'), /unknown step 'distill' \(syntax: prune=S/);
    assert.throws(() => parseSteps(''), /no steps given/);
  });
});

describe('runPipeline', () => {
  it('runs every step, evaluating each against the original', async () => {
    const model = await loadModel(modelPath);
    const result = await runPipeline(model, parseSteps('prune=0.2,quantize=dynamic'), { data, labels: test.y, maxAccuracyDrop: 0.01 });
    assert.equal(result.ok, true, JSON.stringify(result.report.refusal));
    assert.equal(result.report.metric, 'top1');
    assert.equal(result.report.steps.length, 2);
    for (const s of result.report.steps) {
      assert.ok(s.ok);
      assert.ok(s.drop <= 0.01);
      assert.ok(s.agreement > 0.95);
    }
    assert.ok(result.report.original.accuracy! > 0.9);
    assert.equal(result.report.refusal, undefined);
  });

  it('without labels the bound applies to disagreement with the original', async () => {
    const model = await loadModel(modelPath);
    const result = await runPipeline(model, parseSteps('opset=17'), { data, maxAccuracyDrop: 0 });
    assert.equal(result.report.metric, 'agreement');
    assert.equal(result.ok, true);
    assert.equal(result.report.steps[0].agreement, 1);
    assert.equal(result.report.steps[0].drop, 0);
  });

  it('stops at the first step that breaks the bound', async () => {
    const model = await loadModel(modelPath);
    const result = await runPipeline(model, parseSteps('opset=17,prune=0.95,quantize=dynamic'), { data, labels: test.y, maxAccuracyDrop: 0.01 });
    assert.equal(result.ok, false);
    assert.equal(result.report.steps.length, 2, 'the step after the failing one never ran');
    const refusal = result.report.refusal!;
    assert.equal(refusal.index, 2);
    assert.equal(refusal.step, 'prune=0.95');
    assert.ok(refusal.drop > 0.01);
    assert.ok(Math.abs(refusal.excess - (refusal.drop - 0.01)) < 1e-12);
    assert.match(refusal.message, /step 2 'prune=0\.95' drops top-1 accuracy by \d+\.\d\d points \(\d+\.\d\d% → \d+\.\d\d%\), \d+\.\d\d points over the 1\.00 point bound/);
  });
});

describe('berth optimize (CLI)', () => {
  it('a pipeline within the bound writes the model, which loads, passes the ONNX checker and keeps its accuracy', async () => {
    const outDir = mkdtempSync(join(dir, 'ok-'));
    const out = join(outDir, 'model.onnx');
    const r = berth(['optimize', modelPath, '-o', out, '--steps', 'quantize=dynamic', '--data', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--max-accuracy-drop', '0.01', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.written.path, out);
    assert.equal(report.cpu.arch, process.arch, 'the CPU the figures were measured on');
    assert.equal(report.steps[0].details.reduceRange, ['avx2', 'any'].includes(report.cpu.target), `quantize step on ${report.cpu.target}`);
    assert.ok(existsSync(out));
    assert.deepEqual(readdirSync(outDir), ['model.onnx'], 'no temp files left');
    const ev = await evaluate(out, { data, labels: test.y, reference: modelPath, latency: false });
    assert.ok(ev.reference!.accuracyDrop! <= 0.01);
    assert.equal(ev.accuracy!.top1, report.final.accuracy);
    // An independent validator: ONNX's own checker (Debian python3-onnx), when installed.
    if (hasOnnxChecker) {
      const check = spawnSync(PYTHON, ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', out], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
    }
  });

  it('a pipeline that breaks the bound exits non-zero, says why, and writes nothing', () => {
    const outDir = mkdtempSync(join(dir, 'refuse-'));
    const out = join(outDir, 'model.onnx');
    const r = berth(['optimize', modelPath, '-o', out, '--steps', 'prune=0.95,quantize=dynamic', '--data', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--max-accuracy-drop', '0.01', '--no-latency']);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /^error: refused: step 1 'prune=0\.95' drops top-1 accuracy by [\d.]+ points .* over the 1\.00 point bound; nothing written to /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stdout, /1 prune=0\.95 +✗/);
    assert.match(r.stdout, /^measured on: \S+ .*\((vnni|avx2|arm64|any)/m);
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(outDir), []);
  });

  it('bad input is a one-line error (exit 1), nothing written', () => {
    const outDir = mkdtempSync(join(dir, 'bad-'));
    const out = join(outDir, 'model.onnx');
    const cases = [
      [['--steps', 'quantize=fast', '--data', join(dir, 'x.npy')], /error: step 'quantize=fast': quantize needs a mode/],
      [['--steps', 'fp16', '--data', join(dir, 'missing.npy')], /error: data file not found/],
      [['--steps', 'fp16', '--data', join(dir, 'x.npy'), '--labels', join(dir, 'y10.npy')], /^error: labels: 10 labels for 359 samples$/m],
      [['--steps', 'opset=99', '--data', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy')], /^error: step 1 'opset=99' failed: /],
    ] as const;
    for (const [args, pattern] of cases) {
      const r = berth(['optimize', modelPath, '-o', out, ...args]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    assert.deepEqual(readdirSync(outDir), []);
  });
});
