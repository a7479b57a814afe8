/**
 * The dataset reader against files written by NumPy itself (Debian's python3-numpy, an
 * independent writer): dtypes, byte orders, Fortran order, format versions, .npz; plus the JSON
 * and CSV forms and the one-line errors.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readDataset, readLabels, sliceDataset, writeNpy, castTensor, fitDataset, encodeNpy, parseNpy } from '../../src/datasets/index.js';
import { float16ToFloat32 } from '../../src/onnx/index.js';

const PYTHON = '/usr/bin/python3';
const hasNumpy = spawnSync(PYTHON, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const skipNumpy = hasNumpy ? false : `${PYTHON} with numpy is not installed (apt-get install python3-numpy)`;

const dir = mkdtempSync(join(tmpdir(), 'berth-data-'));

function python(code: string): string {
  const r = spawnSync(PYTHON, ['-c', code], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

const numbers = (a: ArrayLike<number | bigint>): number[] => Array.from(a as ArrayLike<number>, (v) => Number(v));

/** dtype → [berth datatype, python expression making a 3-sample array of that dtype] */
const CASES: [string, string, string][] = [
  ['<f4', 'FP32', 'np.arange(24).reshape(3, 2, 4) / 7'],
  ['>f4', 'FP32', 'np.arange(24).reshape(3, 8) * -1.5'],
  ['<f8', 'FP64', 'np.linspace(-1, 1, 12).reshape(3, 4)'],
  ['>f8', 'FP64', 'np.linspace(-3, 5, 6).reshape(3, 2)'],
  ['<f2', 'FP16', 'np.array([[0.5, -2, 65504], [1e-4, 3.140625, -0.0], [7, 8, 9]])'],
  ['>f2', 'FP16', 'np.array([[1.5], [-2.25], [1024]])'],
  ['<i8', 'INT64', 'np.array([[-(2**40), 5], [0, 2**53], [-1, 7]])'],
  ['>i8', 'INT64', 'np.array([1, -2, 3])'],
  ['<i4', 'INT32', 'np.arange(-6, 6).reshape(3, 4)'],
  ['>i4', 'INT32', 'np.arange(-6, 6).reshape(3, 2, 2)'],
  ['<i2', 'INT16', 'np.array([[-32768, 32767], [0, 1], [2, 3]])'],
  ['|i1', 'INT8', 'np.array([[-128, 127], [0, -1], [5, 6]])'],
  ['|u1', 'UINT8', 'np.arange(12).reshape(3, 1, 2, 2) * 20'],
  ['<u2', 'UINT16', 'np.array([[65535], [0], [1234]])'],
  ['>u4', 'UINT32', 'np.array([4294967295, 0, 17])'],
  ['<u8', 'UINT64', 'np.array([[2**63, 1], [0, 2], [3, 4]])'],
  ['|b1', 'BOOL', 'np.array([[True, False], [False, False], [True, True]])'],
];

describe('readDataset: .npy written by numpy', { skip: skipNumpy }, () => {
  before(() => {
    const lines = ['import numpy as np, json', 'out = {}'];
    CASES.forEach(([descr, , expr], i) => {
      lines.push(`a = np.asarray(${expr}).astype(np.dtype('${descr}'))`);
      lines.push(`np.save('case${i}.npy', a)`);
      lines.push(`out['${i}'] = {'shape': list(a.shape), 'values': [float(v) for v in a.astype(np.float64).ravel(order='C')], 'descr': a.dtype.str}`);
    });
    // Fortran order (non-contiguous in C), and the v2.0 / v3.0 header formats.
    lines.push(`f = np.asfortranarray(np.arange(60, dtype='<f4').reshape(3, 4, 5)); assert f.flags.f_contiguous and not f.flags.c_contiguous`);
    lines.push(`np.save('fortran.npy', f)`);
    lines.push(`out['fortran'] = {'shape': list(f.shape), 'values': [float(v) for v in f.ravel(order='C')]}`);
    lines.push(`fb = np.asfortranarray(np.arange(6, dtype='>i8').reshape(3, 2)); np.save('fortran_be.npy', fb)`);
    lines.push(`out['fortran_be'] = {'shape': list(fb.shape), 'values': [float(v) for v in fb.ravel(order='C')]}`);
    lines.push(`from numpy.lib import format as fmt`);
    lines.push(`v2 = np.arange(8, dtype='<f4').reshape(4, 2)`);
    lines.push(`with open('v2.npy', 'wb') as fh: fmt.write_array(fh, v2, version=(2, 0))`);
    lines.push(`with open('v3.npy', 'wb') as fh: fmt.write_array(fh, v2, version=(3, 0))`);
    lines.push(`np.savez('plain.npz', input_ids=np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64), mask=np.ones((2, 3), dtype=np.int64))`);
    lines.push(`np.savez_compressed('packed.npz', x=np.arange(10, dtype=np.float32).reshape(5, 2), y=np.arange(5, dtype=np.float32).reshape(5, 1))`);
    lines.push(`np.save('scalar.npy', np.float32(3))`);
    lines.push(`np.save('strings.npy', np.array(['a', 'b']))`);
    lines.push(`np.save('records.npy', np.zeros(3, dtype=[('a', '<f4'), ('b', '<i4')]))`);
    lines.push(`np.save('labels_i8.npy', np.array([3, 1, 4, 1, 5], dtype=np.int64))`);
    lines.push(`np.save('labels_onehot.npy', np.eye(4, dtype=np.float32)[[2, 0, 3]])`);
    lines.push(`np.save('labels_f8.npy', np.array([[0.5], [1.25], [-2.0]]))`);
    lines.push(`np.save('labels_intf.npy', np.array([1.0, 0.0, 2.0]))`);
    lines.push(`json.dump(out, open('expected.json', 'w'))`);
    python(lines.join('\n'));
  });

  CASES.forEach(([descr, datatype], i) => {
    it(`reads ${descr} as ${datatype}`, async () => {
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'))[String(i)] as { shape: number[]; values: number[]; descr: string };
      const ds = await readDataset(join(dir, `case${i}.npy`));
      const t = ds.inputs.input;
      assert.equal(t.datatype, datatype);
      assert.deepEqual(t.shape, expected.shape);
      assert.equal(ds.samples, expected.shape[0]);
      const got = datatype === 'FP16' ? numbers(float16ToFloat32(t.data as Uint16Array)) : numbers(t.data as ArrayLike<number>);
      if (datatype === 'FP32') assert.deepEqual(got, expected.values.map((v) => Math.fround(v)));
      else assert.deepEqual(got, expected.values);
    });
  });

  it('transposes Fortran-order arrays to C order', async () => {
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;
    for (const name of ['fortran', 'fortran_be']) {
      const t = (await readDataset(join(dir, `${name}.npy`))).inputs.input;
      assert.deepEqual(t.shape, expected[name].shape);
      assert.deepEqual(numbers(t.data as ArrayLike<number>), expected[name].values);
    }
  });

  it('reads format versions 2.0 and 3.0', async () => {
    for (const f of ['v2.npy', 'v3.npy']) {
      const bytes = readFileSync(join(dir, f));
      assert.equal(bytes[6], f === 'v2.npy' ? 2 : 3);
      const t = (await readDataset(join(dir, f))).inputs.input;
      assert.deepEqual(t.shape, [4, 2]);
      assert.deepEqual(numbers(t.data as Float32Array), [0, 1, 2, 3, 4, 5, 6, 7]);
    }
  });

  it('reads .npz archives (stored and deflated), one input per member', async () => {
    const plain = await readDataset(join(dir, 'plain.npz'), { inputNames: ['input_ids', 'mask'] });
    assert.equal(plain.samples, 2);
    assert.equal(plain.inputs.input_ids.datatype, 'INT64');
    assert.deepEqual(numbers(plain.inputs.input_ids.data as BigInt64Array), [1, 2, 3, 4, 5, 6]);
    const packed = await readDataset(join(dir, 'packed.npz'));
    assert.deepEqual(Object.keys(packed.inputs).sort(), ['x', 'y']);
    assert.deepEqual(numbers(packed.inputs.x.data as Float32Array), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await assert.rejects(readDataset(join(dir, 'plain.npz'), { inputNames: ['input_ids'] }), /'mask', which is not a model input/);
  });

  it('reads labels: int64, one-hot (argmax), real-valued, integral floats', async () => {
    const ints = await readLabels(join(dir, 'labels_i8.npy'));
    assert.ok(ints instanceof Int32Array);
    assert.deepEqual([...ints], [3, 1, 4, 1, 5]);
    assert.deepEqual([...(await readLabels(join(dir, 'labels_onehot.npy')))], [2, 0, 3]);
    const reals = await readLabels(join(dir, 'labels_f8.npy'));
    assert.ok(reals instanceof Float32Array);
    assert.deepEqual([...reals], [0.5, 1.25, -2]);
    const integral = await readLabels(join(dir, 'labels_intf.npy'));
    assert.ok(integral instanceof Int32Array);
    assert.deepEqual([...integral], [1, 0, 2]);
  });

  it('rejects what it cannot read with a one-line error', async () => {
    await assert.rejects(readDataset(join(dir, 'scalar.npy')), /scalar; the first axis must be the sample axis/);
    await assert.rejects(readDataset(join(dir, 'strings.npy')), /unsupported \.npy dtype '<U1' \(unicode strings\)/);
    await assert.rejects(readDataset(join(dir, 'records.npy')), /structured \.npy arrays/);
    const whole = readFileSync(join(dir, 'case0.npy'));
    writeFileSync(join(dir, 'truncated.npy'), whole.subarray(0, whole.length - 5));
    await assert.rejects(readDataset(join(dir, 'truncated.npy')), /truncated\.npy: truncated \.npy data: shape \[3, 2, 4\] of <f4 needs 96 bytes, file has 91/);
    writeFileSync(join(dir, 'notnpy.npy'), 'hello world, not numpy');
    await assert.rejects(readDataset(join(dir, 'notnpy.npy')), /not a NumPy \.npy file \(bad magic\)/);
    for (const err of await Promise.allSettled([readDataset(join(dir, 'strings.npy')), readDataset(join(dir, 'truncated.npy'))])) {
      assert.equal(err.status, 'rejected');
      assert.ok(!(err.reason as Error).message.includes('\n'), 'one line');
    }
  });

  it('writeNpy output is read back by numpy (float32, int64, fp16, bool, 1-d, 4-d)', async () => {
    await writeNpy(join(dir, 'w_f4.npy'), [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6.5]));
    await writeNpy(join(dir, 'w_i8.npy'), [3], BigInt64Array.from([-1n, 2n ** 40n, 3n]));
    await writeNpy(join(dir, 'w_f2.npy'), [1, 2], Uint16Array.from([0x3c00, 0xc000]), 'FP16');
    await writeNpy(join(dir, 'w_b1.npy'), [2, 1, 1, 2], Uint8Array.from([1, 0, 0, 1]), 'BOOL');
    const out = python([
      'import numpy as np, json',
      "r = {f: (np.load(f).dtype.str, list(np.load(f).shape), np.load(f).astype(np.float64).ravel().tolist()) for f in ['w_f4.npy', 'w_i8.npy', 'w_f2.npy', 'w_b1.npy']}",
      'print(json.dumps(r))',
    ].join('\n'));
    assert.deepEqual(JSON.parse(out), {
      'w_f4.npy': ['<f4', [2, 3], [1, 2, 3, 4, 5, 6.5]],
      'w_i8.npy': ['<i8', [3], [-1, 2 ** 40, 3]],
      'w_f2.npy': ['<f2', [1, 2], [1, -2]],
      'w_b1.npy': ['|b1', [2, 1, 1, 2], [1, 0, 0, 1]],
    });
    // numpy's loader requires the header to be 64-byte aligned; check ours is.
    const bytes = readFileSync(join(dir, 'w_f4.npy'));
    assert.equal((10 + bytes.readUInt16LE(8)) % 64, 0);
  });
});

describe('readDataset: JSON', () => {
  const write = (name: string, value: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
    return path;
  };

  it('reads a nested array as the single input', async () => {
    const ds = await readDataset(write('nested.json', [[[1, 2]], [[3, 4]], [[5, 6]]]), { inputNames: ['pixels'] });
    assert.equal(ds.samples, 3);
    assert.deepEqual(ds.inputs.pixels.shape, [3, 1, 2]);
    assert.equal(ds.inputs.pixels.datatype, 'FP32');
    assert.deepEqual([...(ds.inputs.pixels.data as Float32Array)], [1, 2, 3, 4, 5, 6]);
  });

  it('reads {name: array} for several inputs, and bool arrays', async () => {
    const ds = await readDataset(write('named.json', { ids: [[1, 2], [3, 4]], flags: [true, false] }), { inputNames: ['ids', 'flags'] });
    assert.deepEqual(ds.inputs.ids.shape, [2, 2]);
    assert.equal(ds.inputs.flags.datatype, 'BOOL');
    assert.deepEqual([...(ds.inputs.flags.data as Uint8Array)], [1, 0]);
  });

  it('casts to the model input types when given', async () => {
    const ds = await readDataset(write('typed.json', { ids: [[1, 2], [3, 4]] }), { inputNames: ['ids'], inputTypes: ['INT64'] });
    assert.equal(ds.inputs.ids.datatype, 'INT64');
    assert.deepEqual([...(ds.inputs.ids.data as BigInt64Array)], [1n, 2n, 3n, 4n]);
    await assert.rejects(readDataset(write('typed2.json', { ids: [[1.5, 2]] }), { inputNames: ['ids'], inputTypes: ['INT64'] }), /value 1\.5 at index 0 is not an integer, and the model wants INT64/);
  });

  it('reads Open Inference Protocol and V1 predict request bodies', async () => {
    const oip = await readDataset(write('oip.json', { inputs: [{ name: 'x', shape: [2, 2], datatype: 'INT32', data: [1, 2, 3, 4] }] }));
    assert.equal(oip.inputs.x.datatype, 'INT32');
    assert.deepEqual(oip.inputs.x.shape, [2, 2]);
    const v1 = await readDataset(write('v1.json', { instances: [[1, 2, 3], [4, 5, 6]] }));
    assert.deepEqual(v1.inputs.input.shape, [2, 3]);
    const v1rows = await readDataset(write('v1rows.json', { instances: [{ a: [1, 2], b: 3 }, { a: [4, 5], b: 6 }] }));
    assert.deepEqual(v1rows.inputs.a.shape, [2, 2]);
    assert.deepEqual(v1rows.inputs.b.shape, [2]);
  });

  it('errors: ragged arrays, sample counts, missing/extra inputs, bad JSON', async () => {
    await assert.rejects(readDataset(write('ragged.json', [[1, 2], [3]])), /data\[1\] has 1 elements, expected 2/);
    await assert.rejects(readDataset(write('counts.json', { a: [1, 2, 3], b: [1, 2] })), /sample counts differ between inputs: 'a' has 3, 'b' has 2/);
    await assert.rejects(readDataset(write('missing.json', { a: [1, 2] }), { inputNames: ['a', 'b'] }), /has no data for model input 'b'/);
    await assert.rejects(readDataset(write('bad.json', '{"a": [1, 2')), /bad\.json: not valid JSON/);
    await assert.rejects(readDataset(write('str.json', [['a']])), /is "a", expected a number/);
    await assert.rejects(readDataset(write('single.json', [1, 2]), { inputNames: ['a', 'b'] }), /holds one array but the model has 2 inputs \(a, b\)/);
  });
});

describe('readDataset: CSV', () => {
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads numeric rows, skipping a header, and reshapes flat rows to the model shape', async () => {
    const path = write('rows.csv', 'p0,p1,p2,p3\r\n1,2,3,4\r\n5,6,7,8\r\n\r\n');
    const flat = await readDataset(path);
    assert.deepEqual(flat.inputs.input.shape, [2, 4]);
    const shaped = await readDataset(path, { inputNames: ['image'], inputShapes: [['N', 1, 2, 2]] });
    assert.deepEqual(shaped.inputs.image.shape, [2, 1, 2, 2]);
    assert.deepEqual([...(shaped.inputs.image.data as Float32Array)], [1, 2, 3, 4, 5, 6, 7, 8]);
    const noHeader = await readDataset(write('nohead.csv', '1.5,-2e3\nnan,inf\n'));
    assert.deepEqual([...(noHeader.inputs.input.data as Float32Array)], [1.5, -2000, Number.NaN, Number.POSITIVE_INFINITY]);
  });

  it('errors: wrong column count, non-numbers, shape that does not fit', async () => {
    await assert.rejects(readDataset(write('cols.csv', '1,2\n3\n')), /cols\.csv: line 2 has 1 columns, expected 2/);
    await assert.rejects(readDataset(write('word.csv', 'a,b\n1,x\n')), /line 2, column 2: 'x' is not a number/);
    await assert.rejects(
      readDataset(write('fit.csv', '1,2,3\n4,5,6\n'), { inputNames: ['x'], inputShapes: [['batch', 4]] }),
      /input 'x' has 2 samples of shape \[3\], which does not fit the model's input shape \[batch, 4\]/,
    );
  });

  it('reads labels from a one-column CSV and a JSON array', async () => {
    assert.deepEqual([...(await readLabels(write('y.csv', 'label\n3\n1\n')))], [3, 1]);
    assert.deepEqual([...(await readLabels(write('y.json', '[[2], [0], [1]]')))], [2, 0, 1]);
    await assert.rejects(readLabels(write('y2.csv', '1,2\n')), /labels CSV must have one column, found 2/);
  });
});

describe('dataset helpers', () => {
  it('errors on a missing file and an unknown extension', async () => {
    await assert.rejects(readDataset(join(dir, 'nope.npy')), /^Error: data file not found: .*nope\.npy$/);
    await assert.rejects(readLabels(join(dir, 'nope.csv')), /labels file not found/);
    writeFileSync(join(dir, 'x.parquet'), 'PAR1');
    await assert.rejects(readDataset(join(dir, 'x.parquet')), /unknown data format '\.parquet'/);
  });

  it('reads a directory of NAME.npy, one per input', async () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-npydir-'));
    await writeNpy(join(d, 'a.npy'), [2, 2], Float32Array.from([1, 2, 3, 4]));
    await writeNpy(join(d, 'b.npy'), [2], BigInt64Array.from([7n, 8n]));
    const ds = await readDataset(d, { inputNames: ['a', 'b'] });
    assert.equal(ds.samples, 2);
    assert.equal(ds.inputs.b.datatype, 'INT64');
  });

  it('sliceDataset gives views of samples [start, end)', () => {
    const ds = { samples: 4, inputs: { x: { datatype: 'FP32' as const, shape: [4, 2], data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]) } } };
    const s = sliceDataset(ds, 1, 3);
    assert.equal(s.samples, 2);
    assert.deepEqual(s.inputs.x.shape, [2, 2]);
    assert.deepEqual([...(s.inputs.x.data as Float32Array)], [2, 3, 4, 5]);
    assert.equal(s.inputs.x.data.buffer, ds.inputs.x.data.buffer);
    assert.equal(sliceDataset(ds, 3, 10).samples, 1);
  });

  it('castTensor refuses values out of range; fitDataset renames a single input', () => {
    const t = { datatype: 'FP32' as const, shape: [2], data: Float32Array.from([1, 300]) };
    assert.throws(() => castTensor(t, 'UINT8'), /value 300 at index 1 is out of range for UINT8/);
    const fitted = fitDataset({ samples: 2, inputs: { input: t } }, [{ name: 'x', shape: ['n'], datatype: 'FP64' }]);
    assert.deepEqual(Object.keys(fitted.inputs), ['x']);
    assert.equal(fitted.inputs.x.datatype, 'FP64');
  });

  it('encodeNpy/parseNpy round-trip, with a hint when the sample axis is missing', async () => {
    const t = parseNpy(encodeNpy([3, 2], Int16Array.from([1, -2, 3, -4, 5, -6])));
    assert.equal(t.datatype, 'INT16');
    assert.deepEqual([...(t.data as Int16Array)], [1, -2, 3, -4, 5, -6]);
    const path = join(dir, 'nosample.npy');
    await writeNpy(path, [3, 8, 8], new Float32Array(192));
    await assert.rejects(readDataset(path, { inputNames: ['img'], inputShapes: [['N', 3, 8, 8]] }), /is the sample axis missing\?/);
  });
});
