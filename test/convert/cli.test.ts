/** `berth convert`: output written atomically, reports in text and JSON, one-line errors with exit 1. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel, encodeModel, makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/onnx/index.js';
import { mlp } from './models.js';

const runner = join(import.meta.dirname, 'cli-runner.ts');
let dir: string;
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-convert-cli-'));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

function convert(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', runner, 'convert', ...args], { encoding: 'utf8' });
}

function write(name: string, bytes: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const softmax6 = makeModel({
  graph: makeGraph({
    name: 's',
    nodes: [makeNode('Softmax', ['x'], ['y'], { axis: { int: 1 } })],
    inputs: [makeValueInfo('x', 'float32', [2, 3, 4])],
    outputs: [makeValueInfo('y', 'float32', [2, 3, 4])],
  }),
  opsetImports: [{ domain: '', version: 6 }],
  irVersion: 3,
});

test('--opset: converts, prints what changed', () => {
  const input = write('softmax6.onnx', encodeModel(softmax6));
  const out = join(dir, 'softmax13.onnx');
  const r = convert(input, '-o', out, '--opset', '13');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /opset 6 → 13 \(IR 3 → 7\)/);
  assert.match(r.stdout, /Softmax-1→13/);
  assert.match(r.stdout, /Flatten/);
  const m = decodeModel(readFileSync(out));
  assert.equal(m.opsetImport[0].version, 13);
});

test('--fp16 --keep-io-types --json: JSON report', () => {
  const input = write('mlp.onnx', encodeModel(mlp([32, 64, 8])));
  const out = join(dir, 'mlp16.onnx');
  const r = convert(input, '-o', out, '--fp16', '--keep-io-types', '--block-ops', 'Relu', '--json');
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { mode: string; bytes: { input: number; output: number }; report: { keepIoTypes: boolean; blockOps: string[]; nodesFp32: { opType: string }[] } };
  assert.equal(json.mode, 'fp16');
  assert.equal(json.report.keepIoTypes, true);
  assert.ok(json.report.blockOps.includes('Relu') && json.report.blockOps.includes('TopK'), '--block-ops adds to the defaults');
  assert.deepEqual(json.report.nodesFp32.map((n) => n.opType), ['Relu']);
  assert.ok(json.bytes.output < 0.6 * json.bytes.input);
  const m = decodeModel(readFileSync(out));
  assert.equal(m.graph!.input[0].type!.tensorType!.elemType, 1);
});

test('bad input: one-line error, exit 1, nothing written', () => {
  const good = write('good.onnx', encodeModel(mlp([4, 2])));
  const bytes = encodeModel(mlp([64, 64, 4]));
  const truncated = write('truncated.onnx', bytes.subarray(0, Math.floor(bytes.length / 2)));
  const notOnnx = write('text.onnx', 'hello, this is not a model\n');
  const gelu = write('gelu.onnx', encodeModel(makeModel({
    graph: makeGraph({ name: 'g', nodes: [makeNode('Gelu', ['x'], ['y'], undefined, { name: 'act' })], inputs: [makeValueInfo('x', 'float32', [2])], outputs: [makeValueInfo('y', 'float32', [2])] }),
    opsetImports: [{ domain: '', version: 20 }],
  })));
  const out = join(dir, 'never.onnx');
  const cases: [string[], RegExp][] = [
    [[good, '-o', out], /exactly one of --fp16 or --opset/],
    [[good, '-o', out, '--fp16', '--opset', '13'], /exactly one of --fp16 or --opset/],
    [[good, '-o', out, '--opset', '13', '--keep-io-types'], /go with --fp16/],
    [[good, '-o', out, '--opset', '99'], /expected an ai.onnx opset between 7 and 21/],
    [[good, '-o', out, '--fp16', '--block-ops', ','], /expected operator names/],
    [[join(dir, 'missing.onnx'), '-o', out, '--opset', '13'], /no such file/],
    [[truncated, '-o', out, '--opset', '13'], /not a valid ONNX model.*truncated/],
    [[notOnnx, '-o', out, '--fp16'], /not a valid ONNX model/],
    [[gelu, '-o', out, '--opset', '17'], /Gelu node 'act'.*Gelu does not exist before opset 20/],
    [[write('old.onnx', encodeModel(softmax6)), '-o', out, '--fp16'], /opset 7 or later/],
  ];
  for (const [args, message] of cases) {
    const r = convert(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /^error: /);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.ok(!existsSync(out));
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
});
