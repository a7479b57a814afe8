/** builder.ts output as the Python `onnx` package reads it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel, decodeModel, encodeModel } from '../../src/onnx/codec.js';
import { attributeValue, getAttribute, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/builder.js';
import { NO_PYTHON, onnxCheck, python } from './helpers.js';

function build() {
  const body = makeGraph({
    name: 'body',
    nodes: [makeNode('Identity', ['a'], ['b'])],
    inputs: [makeValueInfo('a', 'float32', [1])],
    outputs: [makeValueInfo('b', 'float32', [1])],
  });
  const node = makeNode(
    'Custom',
    ['x'],
    ['y'],
    {
      alpha: { float: 0.5 },
      axis: { int: -1 },
      mode: { string: 'linéaire' },
      pads: { ints: [0, 1, 2, 3] },
      scales: { floats: [1.5, 2] },
      names: { strings: ['a', 'b'] },
      value: { tensor: makeTensor('v', 'int64', [2], [1, -2]) },
      body: { graph: body },
    },
    { name: 'custom0', domain: 'com.example' },
  );
  return makeModel({
    graph: makeGraph({
      name: 'main',
      nodes: [node],
      inputs: [makeValueInfo('x', 'float32', ['batch', null, 3])],
      outputs: [makeValueInfo('y', 'float16', [])],
    }),
    opsetImports: [
      { domain: '', version: 17 },
      { domain: 'com.example', version: 1 },
    ],
    producerVersion: '0.1.0',
  });
}

test('builder defaults', () => {
  const m = makeModel({ graph: makeGraph({ name: 'g', nodes: [], inputs: [], outputs: [] }) });
  assert.equal(m.irVersion, 8);
  assert.equal(m.producerName, 'berth');
  assert.deepEqual(m.opsetImport, [{ domain: '', version: 13 }]);
  assert.equal(m.producerVersion, undefined);
  const n = makeNode('Relu', ['a'], ['b']);
  assert.deepEqual(n.attribute, []);
  assert.equal(n.domain, undefined);
  assert.throws(() => makeNode('X', [], [], { k: { int: 1.5 } }), /not an integer/);
});

test('attributes are sorted by name and read back with attributeValue', () => {
  const node = decodeModel(encodeModel(build())).graph!.node[0];
  assert.deepEqual(node.attribute.map((a) => a.name), ['alpha', 'axis', 'body', 'mode', 'names', 'pads', 'scales', 'value']);
  assert.equal(attributeValue(getAttribute(node, 'mode')!), 'linéaire');
  assert.equal(attributeValue(getAttribute(node, 'axis')!), -1);
  assert.deepEqual(attributeValue(getAttribute(node, 'names')!), ['a', 'b']);
  assert.equal(getAttribute(node, 'missing'), undefined);
});

test('python onnx reads builder output as intended and the checker accepts it', { skip: NO_PYTHON }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-builder-'));
  try {
    const path = join(dir, 'm.onnx');
    await saveModel(build(), path);
    assert.equal(onnxCheck(path), '');
    const script = `
import json, sys, onnx
from onnx import helper, numpy_helper
m = onnx.load(sys.argv[1])
n = m.graph.node[0]
attrs = {}
for a in n.attribute:
    v = helper.get_attribute_value(a)
    if a.type == onnx.AttributeProto.TENSOR:
        v = numpy_helper.to_array(v).tolist()
    elif a.type == onnx.AttributeProto.GRAPH:
        v = v.name
    elif a.type == onnx.AttributeProto.STRING:
        v = v.decode()
    elif a.type == onnx.AttributeProto.STRINGS:
        v = [s.decode() for s in v]
    attrs[a.name] = [onnx.AttributeProto.AttributeType.Name(a.type), v]
dims = [d.WhichOneof('value') and getattr(d, d.WhichOneof('value')) for d in m.graph.input[0].type.tensor_type.shape.dim]
print(json.dumps({'attrs': attrs, 'domain': n.domain, 'name': n.name, 'dims': dims, 'out_rank': len(m.graph.output[0].type.tensor_type.shape.dim), 'out_type': m.graph.output[0].type.tensor_type.elem_type, 'ir': m.ir_version, 'producer': [m.producer_name, m.producer_version], 'opsets': [[o.domain, o.version] for o in m.opset_import]}))
`;
    const got = JSON.parse(python(script, [path]));
    assert.deepEqual(got.attrs, {
      alpha: ['FLOAT', 0.5],
      axis: ['INT', -1],
      body: ['GRAPH', 'body'],
      mode: ['STRING', 'linéaire'],
      names: ['STRINGS', ['a', 'b']],
      pads: ['INTS', [0, 1, 2, 3]],
      scales: ['FLOATS', [1.5, 2]],
      value: ['TENSOR', [1, -2]],
    });
    assert.equal(got.domain, 'com.example');
    assert.equal(got.name, 'custom0');
    assert.deepEqual(got.dims, ['batch', null, 3]);
    assert.equal(got.out_rank, 0);
    assert.equal(got.out_type, 10);
    assert.equal(got.ir, 8);
    assert.deepEqual(got.producer, ['berth', '0.1.0']);
    assert.deepEqual(got.opsets, [['', 17], ['com.example', 1]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
