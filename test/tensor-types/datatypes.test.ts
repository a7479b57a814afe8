/**
 * The datatype table against independent sources: ONNX's own TensorProto.DataType enum and
 * NumPy's dtypes (Debian's python3-onnx and python3-numpy), and onnxruntime-node's Tensor
 * constructor (which checks a type string against the typed array it is given).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import {
  TENSOR_DATATYPES,
  isTensorDatatype,
  tensorDatatypeFromNumpy,
  tensorDatatypeFromOnnx,
  tensorDatatypeFromOrt,
  type TensorDatatype,
} from '../../src/tensor-types/datatypes.js';
import { DATATYPES, datatypeFromOnnx, datatypeFromOrt, isDatatype } from '../../src/core/tensor.js';
import { NO_PYTHON, python } from '../onnx/helpers.js';

const ROWS = Object.entries(TENSOR_DATATYPES) as [TensorDatatype, (typeof TENSOR_DATATYPES)[TensorDatatype]][];

/** KServe v2 / Triton datatype → ONNX TensorProto.DataType enum name, as the two specs name them. */
const ONNX_NAME: Record<TensorDatatype, string> = {
  BOOL: 'BOOL', UINT8: 'UINT8', UINT16: 'UINT16', UINT32: 'UINT32', UINT64: 'UINT64',
  INT8: 'INT8', INT16: 'INT16', INT32: 'INT32', INT64: 'INT64',
  FP16: 'FLOAT16', BF16: 'BFLOAT16', FP32: 'FLOAT', FP64: 'DOUBLE', BYTES: 'STRING',
};

describe('the datatype table', () => {
  it('has every KServe v2 datatype, once', () => {
    assert.deepEqual(ROWS.map(([name]) => name).sort(), Object.keys(ONNX_NAME).sort());
    assert.equal(new Set(ROWS.map(([, info]) => info.onnx)).size, ROWS.length, 'ONNX numbers are distinct');
    assert.ok(isTensorDatatype('BF16'));
    assert.ok(!isTensorDatatype('FLOAT32'));
    assert.ok(!isTensorDatatype('toString'));
  });

  it('matches ONNX TensorProto.DataType', { skip: NO_PYTHON }, () => {
    const onnxEnum = JSON.parse(python('import onnx, json; print(json.dumps(dict(onnx.TensorProto.DataType.items())))')) as Record<string, number>;
    for (const [name, info] of ROWS) {
      assert.equal(info.onnx, onnxEnum[ONNX_NAME[name]], `${name} is ONNX ${ONNX_NAME[name]}`);
      assert.equal(tensorDatatypeFromOnnx(onnxEnum[ONNX_NAME[name]]), name);
    }
    assert.equal(tensorDatatypeFromOnnx(onnxEnum.COMPLEX64), undefined);
    assert.equal(tensorDatatypeFromOnnx(onnxEnum.UNDEFINED), undefined);
  });

  it('matches NumPy dtypes: type code and item size', { skip: NO_PYTHON }, () => {
    const names = ROWS.filter(([, info]) => info.numpy).map(([, info]) => info.numpy!.name);
    const numpy = JSON.parse(
      python('import numpy as np, json, sys; print(json.dumps({n: [np.dtype(n).str, np.dtype(n).itemsize, np.dtype(n).kind] for n in sys.argv[1:]}))', names),
    ) as Record<string, [string, number, string]>;
    for (const [name, info] of ROWS) {
      if (!info.numpy) {
        assert.equal(name, 'BF16', 'only bfloat16 has no NumPy dtype');
        continue;
      }
      const [str, itemsize, kind] = numpy[info.numpy.name];
      assert.equal(info.numpy.code, str.slice(1), `${name}: numpy ${info.numpy.name} is ${str}`);
      assert.equal(tensorDatatypeFromNumpy(str.slice(1)), name);
      if (name === 'BYTES') assert.equal(kind, 'O');
      else assert.equal(info.size, itemsize, `${name}: ${info.numpy.name} is ${itemsize} bytes`);
    }
  });

  it('matches onnxruntime-node tensor types and the typed arrays they hold', () => {
    for (const [name, info] of ROWS) {
      if (name === 'BYTES') {
        const t = new ort.Tensor(info.ort as 'string', ['a', 'bc'], [2]);
        assert.equal(t.type, 'string');
      } else if (info.ort) {
        const t = new ort.Tensor(info.ort as ort.Tensor.Type, new info.array!(2) as ort.Tensor.DataType, [2]);
        assert.equal(t.type, info.ort);
      }
      if (info.array) assert.equal(info.array.BYTES_PER_ELEMENT, info.size, name);
      if (info.ort) assert.equal(tensorDatatypeFromOrt(info.ort), name);
    }
    assert.equal(TENSOR_DATATYPES.BF16.ort, undefined);
    assert.throws(() => new ort.Tensor('bfloat16' as ort.Tensor.Type, new Uint16Array(2), [2]), 'onnxruntime-node has no bfloat16 tensors');
  });
});

describe('the served datatypes (core/tensor.ts)', () => {
  it('are the table rows but BF16, the same objects', () => {
    for (const [name, info] of ROWS) {
      if (name === 'BF16') {
        assert.ok(!isDatatype(name));
        assert.equal(datatypeFromOnnx(info.onnx), undefined);
        continue;
      }
      assert.equal(DATATYPES[name as Exclude<TensorDatatype, 'BF16'>], info);
      assert.equal(datatypeFromOnnx(info.onnx), name);
      assert.equal(datatypeFromOrt(info.ort!), name);
    }
    assert.equal(datatypeFromOrt('bfloat16'), undefined);
  });
});
