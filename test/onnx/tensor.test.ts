/**
 * tensorToArray against numpy's reading (onnx.numpy_helper.to_array) of the same test data
 * files, makeTensor round trips, and float16 conversion against numpy's float16.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeModel, decodeTensor } from '../../src/onnx/codec.js';
import {
  tensorToArray,
  makeTensor,
  float32ToFloat16,
  float16ToFloat32,
  float32ToBfloat16,
  bfloat16ToFloat32,
  elemTypeName,
  elemTypeNumber,
  ELEM_TYPES,
} from '../../src/onnx/tensor.js';
import type { TensorProto, TypedArray } from '../../src/onnx/types.js';
import { NO_PYTHON, NO_TESTDATA, TESTDATA, python } from './helpers.js';

// Picks up to 4 files per (data type, storage field) and reports numpy's view of each.
const SAMPLE_SCRIPT = `
import glob, json, sys, collections
import onnx
from onnx import numpy_helper
seen = collections.Counter()
out = []
for f in sorted(glob.glob(sys.argv[1] + '/*/*/test_data_set_0/*.pb')):
    t = onnx.TensorProto()
    try:
        t.ParseFromString(open(f, 'rb').read())
    except Exception:
        continue
    if t.data_type == 0 or t.HasField('segment'):
        continue  # a SequenceProto/OptionalProto file, not a tensor
    storage = 'raw' if t.HasField('raw_data') else ','.join(d.name for d, _ in t.ListFields() if d.name not in ('dims', 'data_type', 'name'))
    key = (t.data_type, storage)
    if seen[key] >= 4:
        continue
    try:
        a = numpy_helper.to_array(t)
    except Exception:
        continue  # parses as a TensorProto by accident (another message type)
    seen[key] += 1
    if t.data_type == onnx.TensorProto.STRING:
        values = [v.decode('utf-8') if isinstance(v, bytes) else str(v) for v in a.flatten()]
        out.append({'path': f, 'type': t.data_type, 'storage': storage, 'shape': list(a.shape), 'strings': values})
    else:
        a = a.astype(a.dtype.newbyteorder('<'))
        out.append({'path': f, 'type': t.data_type, 'storage': storage, 'shape': list(a.shape), 'hex': a.tobytes().hex()})
# tensors inside models: initializers and Constant values, often in typed fields (float_data, int64_data...)
for f in sorted(glob.glob(sys.argv[1] + '/*/*/model.onnx')):
    m = onnx.load(f)
    found = [('initializer', i, t) for i, t in enumerate(m.graph.initializer)]
    found += [('node', i, a.t) for i, n in enumerate(m.graph.node) for a in n.attribute if a.type == onnx.AttributeProto.TENSOR]
    for where, index, t in found:
        storage = 'raw' if t.HasField('raw_data') else ','.join(d.name for d, _ in t.ListFields() if d.name not in ('dims', 'data_type', 'name'))
        key = (t.data_type, storage)
        if seen[key] >= 4:
            continue
        seen[key] += 1
        a = numpy_helper.to_array(t)
        a = a.astype(a.dtype.newbyteorder('<'))
        out.append({'path': f, 'where': where, 'index': index, 'type': t.data_type, 'storage': storage, 'shape': list(a.shape), 'hex': a.tobytes().hex()})
print(json.dumps(out))
`;

interface Sample {
  path: string;
  /** for tensors inside a model: which initializer, or the TENSOR attribute of which node */
  where?: 'initializer' | 'node';
  index?: number;
  type: number;
  storage: string;
  shape: number[];
  hex?: string;
  strings?: string[];
}

test('tensorToArray matches numpy on the ONNX test data', { skip: NO_TESTDATA || NO_PYTHON }, (t) => {
  const samples = JSON.parse(python(SAMPLE_SCRIPT, [TESTDATA])) as Sample[];
  const types = new Set(samples.map((s) => elemTypeName(s.type)));
  for (const wanted of ['float32', 'int64', 'bool', 'string', 'float64', 'float16', 'int8', 'uint8', 'int32']) {
    assert.ok(types.has(wanted as never), `no ${wanted} sample in the test data`);
  }
  for (const s of samples) {
    let tensor: TensorProto;
    if (s.where === undefined) tensor = decodeTensor(readFileSync(s.path));
    else {
      const graph = decodeModel(readFileSync(s.path)).graph!;
      tensor = s.where === 'initializer' ? graph.initializer[s.index!] : graph.node[s.index!].attribute.find((a) => a.t)!.t!;
    }
    assert.deepEqual(tensor.dims, s.shape, s.path);
    const values = tensorToArray(tensor);
    if (s.strings) {
      assert.deepEqual(values, s.strings, s.path);
    } else {
      const a = values as TypedArray;
      assert.equal(Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex'), s.hex, `${s.path} (${elemTypeName(s.type)}, ${s.storage})`);
    }
  }
  for (const storage of ['float_data', 'int64_data', 'int32_data', 'string_data', 'raw']) {
    assert.ok(samples.some((s) => s.storage === storage), `no sample stored in ${storage}`);
  }
  t.diagnostic(`${samples.length} tensors: ${[...new Set(samples.map((s) => `${elemTypeName(s.type)}/${s.storage}`))].join(' ')}`);
});

test('makeTensor -> tensorToArray round trips every element type family', () => {
  const cases: [string, number[], ArrayLike<number> | ArrayLike<bigint> | string[], (v: unknown) => unknown][] = [
    ['float32', [2, 2], [1.5, -2, 0, 3.25], (v) => [...(v as Float32Array)]],
    ['float64', [3], [Math.PI, -1e300, 5e-324], (v) => [...(v as Float64Array)]],
    ['int8', [3], [-128, 0, 127], (v) => [...(v as Int8Array)]],
    ['uint16', [2], [0, 65535], (v) => [...(v as Uint16Array)]],
    ['int32', [2], [-(2 ** 31), 2 ** 31 - 1], (v) => [...(v as Int32Array)]],
    ['uint32', [1], [2 ** 32 - 1], (v) => [...(v as Uint32Array)]],
    ['int64', [3], [-(2n ** 63n), 2n ** 63n - 1n, 5n], (v) => [...(v as BigInt64Array)]],
    ['uint64', [1], [2n ** 64n - 1n], (v) => [...(v as BigUint64Array)]],
    ['bool', [3], [1, 0, 7], (v) => [...(v as Uint8Array)]],
    ['int4', [3], [-8, 7, -1], (v) => [...(v as Int8Array)]],
    ['uint4', [3], [15, 0, 9], (v) => [...(v as Uint8Array)]],
    ['string', [2], ['héllo', ''], (v) => v],
  ];
  const expected: Record<string, unknown[]> = {
    bool: [1, 0, 1],
    int64: [-(2n ** 63n), 2n ** 63n - 1n, 5n],
    uint64: [2n ** 64n - 1n],
  };
  for (const [type, dims, values, read] of cases) {
    const t = makeTensor('t', type as never, dims, values);
    assert.deepEqual(read(tensorToArray(t)), expected[type] ?? Array.from(values as ArrayLike<unknown>), type);
  }
  // 4-bit types pack two elements per byte, low nibble first
  assert.deepEqual([...makeTensor('t', 'int4', [3], [-8, 7, -1]).rawData!], [0x78, 0x0f]);
  // a scalar has no dims and one value
  assert.deepEqual(tensorToArray(makeTensor('s', 'float32', [], [2])), Float32Array.of(2));
  assert.throws(() => makeTensor('t', 'float32', [2, 2], [1, 2, 3]), /3 values, expected 4/);
});

test('typed storage fields are read as the spec says', () => {
  // float16 bit patterns in int32_data; uint32 in uint64_data; bool in int32_data
  assert.deepEqual(tensorToArray({ dataType: 10, dims: [2], int32Data: [0x3c00, 0xc000] }), Uint16Array.of(0x3c00, 0xc000));
  assert.deepEqual(tensorToArray({ dataType: 12, dims: [1], uint64Data: [4294967295] }), Uint32Array.of(4294967295));
  assert.deepEqual(tensorToArray({ dataType: 9, dims: [2], int32Data: [1, 0] }), Uint8Array.of(1, 0));
  assert.deepEqual(tensorToArray({ dataType: 14, dims: [1], floatData: [1, -1] }), Float32Array.of(1, -1));
  // unaligned raw_data (odd offset inside a larger buffer)
  const buf = new Uint8Array(9);
  new DataView(buf.buffer).setFloat64(1, 1.25, true);
  assert.deepEqual(tensorToArray({ dataType: 11, dims: [1], rawData: buf.subarray(1) }), Float64Array.of(1.25));
  assert.throws(() => tensorToArray({ dataType: 1, dims: [2], rawData: new Uint8Array(4) }), /raw data has 4 bytes, expected 8/);
});

test('element type names', () => {
  assert.equal(elemTypeName(1), 'float32');
  assert.equal(elemTypeName(10), 'float16');
  assert.equal(elemTypeName(99), undefined);
  assert.equal(elemTypeNumber('bfloat16'), 16);
  assert.equal(elemTypeNumber('nope'), undefined);
  for (const [name, n] of Object.entries(ELEM_TYPES)) assert.equal(elemTypeName(n), name);
});

/** Values that stress float16 rounding: ties, subnormals, overflow edges, specials. */
function fp16Probe(): Float32Array {
  const v: number[] = [0, -0, 1, -1, 0.1, 1 / 3, 65504, 65519.99, 65520, 65536, 1e10, -1e10, Infinity, -Infinity, NaN];
  v.push(2 ** -14, 2 ** -15, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 2 ** -26, 3 * 2 ** -25, 2 ** -24 * 1.5, 2 ** -24 * 2.5, 1e-8, -1e-7);
  // exact ties between neighbouring halves (round to even) and just either side of them
  for (const base of [1, 2, 1024, 2 ** -14]) {
    for (let k = 0; k < 6; k++) {
      const tie = base * (1 + (2 * k + 1) / 2048);
      v.push(tie, tie * (1 + 2 ** -20), tie * (1 - 2 ** -20));
    }
  }
  let s = 7;
  for (let i = 0; i < 3000; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const exp = (s % 60) - 30;
    v.push(((s / 2 ** 31) * 2 - 1) * 2 ** exp);
  }
  const out = Float32Array.from(v);
  // NaNs with payloads, and the largest float32
  const bits = new Uint32Array(3);
  bits.set([0x7f800001, 0xffc12345, 0x7f7fffff]);
  return Float32Array.from([...out, ...new Float32Array(bits.buffer)]);
}

test('float32ToFloat16 matches numpy bit for bit', { skip: NO_PYTHON }, () => {
  const input = fp16Probe();
  const ours = float32ToFloat16(input);
  const hex = python(
    'import sys, numpy as np\na = np.frombuffer(bytes.fromhex(sys.stdin.read()), dtype="<f4")\nwith np.errstate(all="ignore"):\n    print(a.astype("<f2").view("<u2").tobytes().hex())',
    [],
    Buffer.from(input.buffer).toString('hex'),
  ).trim();
  const theirs = new Uint16Array(Buffer.from(hex, 'hex').buffer.slice(0));
  assert.equal(theirs.length, ours.length);
  for (let i = 0; i < ours.length; i++) {
    assert.equal(ours[i], theirs[i], `float16(${input[i]}): ours 0x${ours[i].toString(16)}, numpy 0x${theirs[i].toString(16)}`);
  }
});

test('float16ToFloat32 matches numpy for all 65536 bit patterns', { skip: NO_PYTHON }, () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const ours = new Uint32Array(float16ToFloat32(all).buffer);
  const hex = python('import numpy as np\nprint(np.arange(65536, dtype="<u2").view("<f2").astype("<f4").view("<u4").tobytes().hex())').trim();
  const theirs = new Uint32Array(Buffer.from(hex, 'hex').buffer.slice(0));
  for (let i = 0; i < 65536; i++) assert.equal(ours[i], theirs[i], `half 0x${i.toString(16)}`);
});

test('float16 and bfloat16 round trip exactly representable values', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = float32ToFloat16(float16ToFloat32(all));
  const bback = float32ToBfloat16(bfloat16ToFloat32(all));
  for (let i = 0; i < 65536; i++) {
    const isNaN16 = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
    if (!isNaN16) assert.equal(back[i], i, `half 0x${i.toString(16)}`);
    const isNaNb = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
    if (!isNaNb) assert.equal(bback[i], i, `bfloat16 0x${i.toString(16)}`);
  }
  // bfloat16 rounds to nearest even
  assert.deepEqual([...float32ToBfloat16(Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20))], [0x3f80, 0x3f82, 0x3f81]);
});
