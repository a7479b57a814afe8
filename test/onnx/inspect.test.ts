/**
 * inspectModel against what the Python `onnx` package reads from the same files, and the
 * `inspect` command's output and errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeModel, saveModel } from '../../src/onnx/codec.js';
import { inspectModel, formatSummary } from '../../src/onnx/inspect.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/builder.js';
import { elemTypeNumber } from '../../src/onnx/tensor.js';
import { NO_PYTHON, NO_TESTDATA, python, testModels } from './helpers.js';

const PY_SUMMARY = `
import json, sys, collections
import onnx
def shape(t):
    if not t.HasField('shape'):
        return None
    return [d.dim_value if d.HasField('dim_value') else (d.dim_param or None) for d in t.shape.dim]
def value(v):
    kind = v.type.WhichOneof('value')
    if kind == 'tensor_type':
        return {'name': v.name, 'elem': v.type.tensor_type.elem_type, 'shape': shape(v.type.tensor_type)}
    return {'name': v.name, 'kind': kind}
out = {}
for f in sys.argv[1:]:
    m = onnx.load(f)
    g = m.graph
    inits = {t.name for t in g.initializer}
    params = 0
    for t in g.initializer:
        n = 1
        for d in t.dims:
            n *= d
        params += n
    out[f] = {
        'ir': m.ir_version,
        'producer': m.producer_name,
        'opsets': [[o.domain, o.version] for o in m.opset_import],
        'inputs': [value(v) for v in g.input if v.name not in inits],
        'outputs': [value(v) for v in g.output],
        'ops': collections.Counter(n.op_type for n in g.node),
        'nodes': len(g.node),
        'params': params,
    }
print(json.dumps(out))
`;

interface PyValue {
  name: string;
  elem?: number;
  shape?: (number | string | null)[] | null;
  kind?: string;
}
interface PySummary {
  ir: number;
  producer: string;
  opsets: [string, number][];
  inputs: PyValue[];
  outputs: PyValue[];
  ops: Record<string, number>;
  nodes: number;
  params: number;
}

const KIND_PREFIX: Record<string, string> = { sequence_type: 'sequence<', map_type: 'map<', optional_type: 'optional<', sparse_tensor_type: 'sparse<' };

test('inspectModel agrees with python onnx on every test model', { skip: NO_TESTDATA || NO_PYTHON }, (t) => {
  const files = testModels('node', 'pytorch-converted', 'simple', 'pytorch-operator');
  const expected = JSON.parse(python(PY_SUMMARY, files)) as Record<string, PySummary>;
  let withInitializers = 0;
  for (const f of files) {
    const s = inspectModel(decodeModel(readFileSync(f)));
    const e = expected[f];
    assert.equal(s.irVersion, e.ir, f);
    assert.equal(s.producerName, e.producer, f);
    assert.deepEqual(s.opsets.map((o) => [o.domain, o.version]), e.opsets, f);
    assert.equal(s.nodeCount, e.nodes, f);
    assert.equal(s.parameterCount, e.params, f);
    assert.deepEqual(Object.fromEntries(s.opCounts.map((o) => [o.opType, o.count])), e.ops, f);
    for (let i = 1; i < s.opCounts.length; i++) assert.ok(s.opCounts[i - 1].count >= s.opCounts[i].count, `${f}: op counts sorted`);
    for (const [ours, theirs] of [[s.inputs, e.inputs], [s.outputs, e.outputs]] as const) {
      assert.deepEqual(ours.map((v) => v.name), theirs.map((v) => v.name), f);
      ours.forEach((v, i) => {
        const p = theirs[i];
        if (p.kind) assert.ok(v.dtype.startsWith(KIND_PREFIX[p.kind] ?? '?'), `${f}: ${v.name} is ${v.dtype}, python says ${p.kind}`);
        else {
          assert.equal(elemTypeNumber(v.dtype), p.elem, `${f}: ${v.name} dtype`);
          assert.deepEqual(v.shape, p.shape, `${f}: ${v.name} shape`);
        }
      });
    }
    if (e.params > 0) withInitializers++;
  }
  t.diagnostic(`${files.length} models compared, ${withInitializers} with initializers`);
  assert.ok(withInitializers > 20);
});

test('a known model: pytorch ConvTranspose2d', { skip: NO_TESTDATA }, () => {
  const path = testModels('pytorch-converted').find((f) => f.includes('/test_ConvTranspose2d/'))!;
  const s = inspectModel(decodeModel(readFileSync(path)), { fileBytes: 123 });
  // From python: inputs ['0', '1', '2'], initializers ['1', '2'], ops {'ConvTranspose': 1}
  assert.deepEqual(s.inputs.map((v) => v.name), ['0']);
  assert.deepEqual(s.opCounts, [{ opType: 'ConvTranspose', domain: '', count: 1 }]);
  assert.equal(s.initializerCount, 2);
  assert.equal(s.fileBytes, 123);
  const text = formatSummary(s);
  assert.match(text, /ConvTranspose\s+1/);
  assert.match(text, /inputs \(1\)/);
});

const CLI = fileURLToPath(new URL('inspect-cli.ts', import.meta.url));
function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('berth inspect: text and JSON output, symbolic dims, external data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-inspect-'));
  try {
    const model = makeModel({
      graph: makeGraph({
        name: 'g',
        nodes: [makeNode('MatMul', ['x', 'W'], ['y']), makeNode('Relu', ['y'], ['z']), makeNode('Relu', ['z'], ['out'])],
        inputs: [makeValueInfo('x', 'float32', ['batch', null, 512])],
        outputs: [makeValueInfo('out', 'float32', ['batch', null, 256])],
        initializers: [makeTensor('W', 'float32', [512, 256], new Float32Array(512 * 256))],
      }),
    });
    const path = join(dir, 'm.onnx');
    await saveModel(model, path, { externalData: { location: 'm.bin' } });
    const json = cli('inspect', path, '--json');
    assert.equal(json.code, 0, json.stderr);
    const s = JSON.parse(json.stdout);
    assert.deepEqual(s.inputs, [{ name: 'x', dtype: 'float32', shape: ['batch', null, 512] }]);
    assert.deepEqual(s.opCounts, [{ opType: 'Relu', domain: '', count: 2 }, { opType: 'MatMul', domain: '', count: 1 }]);
    assert.equal(s.parameterCount, 512 * 256);
    assert.equal(s.parameterBytes, 512 * 256 * 4);
    assert.deepEqual(s.externalData, [{ location: 'm.bin', bytes: 512 * 256 * 4, tensors: 1 }]);
    const text = cli('inspect', path);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /x\s+float32\s+\[batch, \?, 512\]/);
    assert.match(text.stdout, /131\.1K|131072/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('berth inspect: a bad file gives one error line and exit code 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-inspect-'));
  try {
    const bad = join(dir, 'bad.onnx');
    writeFileSync(bad, '{"this": "is json"}\n');
    for (const target of [bad, join(dir, 'missing.onnx')]) {
      const r = cli('inspect', target);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^error: (not a valid ONNX model|no such file)/);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
