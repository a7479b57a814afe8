/**
 * Quantization: the math against hand-computed values from ORT's formulas, int4 packing against
 * a hand-written dequantization, calibration methods, and every mode on generated models (MLP,
 * CNN with BatchNorm, transformer block), the digits example and ONNX's own test models: each
 * output loads in onnxruntime-node, passes onnx.checker, and stays within the stated tolerance.
 *
 * Tolerances (relative error = ||y_q - y|| / ||y|| over a batch of outputs):
 * - int8 dynamic and weight-only: rel <= 0.05 on the generated models; static (int8/uint8
 *   activations): rel <= 0.08 (static also clips test values beyond the calibrated ranges);
 *   <= 0.02 on ONNX's Gemm/MatMul/Conv test models; digits (trained) top-1 agreement >= 99%
 *   and accuracy drop <= 0.5 point;
 * - int16 activations: no worse than 8-bit activations;
 * - int4 (MatMulNBits, block 32): rel <= 0.25 on random Gaussian weights, <= 0.1 on the ONNX
 *   test models; digits agreement >= 97%.
 *
 * The same tolerances hold on every x86-64 CPU: int8 dynamic and static models default to the
 * machine the tests run on, which gives 7-bit weights on CPUs without VNNI (whose u8s8 kernels
 * would saturate full-range ones) and full-range weights with VNNI or on arm64. Which one this
 * run got is asserted in quantize-cpu.test.ts; BERTH_CPU_FEATURES=avx2 runs the no-VNNI choice
 * on any machine.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel, loadModel, saveModel, tensorToArray, type ModelProto } from '../../src/onnx/index.js';
import { DataType } from '../../src/onnx/types.js';
import {
  QuantizeError,
  computeScaleZeroPoint,
  dequantizeInt4Blocks,
  entropyThreshold,
  histogram,
  qRange,
  quantize,
  quantizeInt4Blocks,
  quantizeValue,
  quantizeWeight,
  rangeOf,
  roundHalfEven,
  type QuantizeOptions,
} from '../../src/optimize/quantize/index.js';
import { buildDigitsModel, testSplit, trainMlp, trainSplit } from '../../src/examples/digits/index.js';
import { cnnModel, mlpModel, randomArray, transformerModel } from './models-quantize.js';
import {
  NO_PYTHON,
  argmaxAgreement,
  countOps,
  dataset,
  onnxCheckMany,
  relativeError,
  run,
  runCli,
  runFeeds,
  session,
  testModelWithConstants,
} from './quantize-helpers.js';

const NODE_TESTS = '/usr/share/libonnx-testdata/data/node';
const NO_TESTDATA = existsSync(NODE_TESTS) ? false : `${NODE_TESTS} is absent (Debian package libonnx-testdata)`;

/** Models produced by the tests, checked with one Python process at the end. */
const produced: Record<string, ModelProto> = {};
function keep(label: string, model: ModelProto): ModelProto {
  produced[label] = model;
  return model;
}

function initializer(model: ModelProto, name: string) {
  const t = model.graph!.initializer.find((i) => i.name === name);
  assert.ok(t, `initializer ${name}`);
  return t;
}

describe('quantization math (ORT formulas, hand-computed)', () => {
  it('qmin/qmax tables: normal, symmetric, reduced', () => {
    assert.deepEqual(qRange('uint8'), [0, 255]);
    assert.deepEqual(qRange('int8'), [-128, 127]);
    assert.deepEqual(qRange('int8', { symmetric: true }), [-127, 127]);
    assert.deepEqual(qRange('uint8', { symmetric: true }), [0, 254]);
    assert.deepEqual(qRange('int16', { symmetric: true }), [-32767, 32767]);
    assert.deepEqual(qRange('int8', { reduceRange: true }), [-64, 64]);
    assert.deepEqual(qRange('uint8', { reduceRange: true }), [0, 127]);
    assert.deepEqual(qRange('int4'), [-8, 7]);
  });

  it('rounds half to even', () => {
    assert.equal(roundHalfEven(2.5), 2);
    assert.equal(roundHalfEven(3.5), 4);
    assert.equal(roundHalfEven(-2.5), -2);
    assert.equal(roundHalfEven(-3.5), -4);
    assert.equal(roundHalfEven(0.5) + 0, 0);
    assert.equal(roundHalfEven(1.4999), 1);
    assert.equal(roundHalfEven(-1.6), -2);
  });

  it('asymmetric uint8 / int8 scale and zero point', () => {
    // [-1, 3]: scale = 4 / 255; zero point = round(0 - (-1) / scale) = round(63.75) = 64
    const u8 = computeScaleZeroPoint(-1, 3, 0, 255);
    assert.equal(u8.scale, Math.fround(4 / 255));
    assert.equal(u8.zeroPoint, 64);
    // int8: round(-128 + 63.75) = round(-64.25) = -64
    const s8 = computeScaleZeroPoint(-1, 3, -128, 127);
    assert.equal(s8.scale, Math.fround(4 / 255));
    assert.equal(s8.zeroPoint, -64);
  });

  it('widens the range to include zero', () => {
    // [2, 6] -> [0, 6]: scale 6 / 255, zero point 0
    assert.deepEqual(computeScaleZeroPoint(2, 6, 0, 255), { scale: Math.fround(6 / 255), zeroPoint: 0 });
    // [-6, -2] -> [-6, 0]: zero point = round(0 + 6 / (6/255)) = 255
    assert.deepEqual(computeScaleZeroPoint(-6, -2, 0, 255), { scale: Math.fround(6 / 255), zeroPoint: 255 });
  });

  it('symmetric: zero point (qmin + qmax) / 2, scale 2 absmax / (qmax - qmin)', () => {
    // int8 symmetric range [-127, 127]: absmax 2.54 -> scale 5.08 / 254 = 0.02
    const w = computeScaleZeroPoint(-0.5, 2.54, -127, 127, true);
    assert.equal(w.zeroPoint, 0);
    assert.equal(w.scale, Math.fround(Math.fround(5.08) / 254));
    assert.ok(Math.abs(w.scale - 0.02) < 1e-8);
    assert.equal(computeScaleZeroPoint(-1, 1, 0, 254, true).zeroPoint, 127);
    assert.equal(computeScaleZeroPoint(-3, 1, -32767, 32767, true).scale, Math.fround(6 / 65534));
  });

  it('a range narrower than float32 tiny gets scale 1, zero point 0', () => {
    assert.deepEqual(computeScaleZeroPoint(0, 0, 0, 255), { scale: 1, zeroPoint: 0 });
    assert.deepEqual(computeScaleZeroPoint(0, 1e-40, -128, 127), { scale: 1, zeroPoint: 0 });
  });

  it('quantizes with round-half-even and saturation', () => {
    assert.equal(quantizeValue(0.03, 0.02, 0, -127, 127), 2); // 1.5 -> 2
    assert.equal(quantizeValue(0.05, 0.02, 0, -127, 127), 2); // 2.5 -> 2
    assert.equal(quantizeValue(-0.05, 0.02, 0, -127, 127), -2); // -2.5 -> -2
    assert.equal(quantizeValue(0.07, 0.02, 0, -127, 127), 4); // 3.5 -> 4
    assert.equal(quantizeValue(100, 0.02, 0, -127, 127), 127);
    assert.equal(quantizeValue(-1, 4 / 255, 64, 0, 255), 0); // -63.75 + 64 -> round(-63.75)=-64 + 64 = 0
  });

  it('per-channel weights: one symmetric scale per column', () => {
    // W [2, 3] row-major; per column (axis 1): absmax 1, 4, 0.5
    const w = Float32Array.from([1, -4, 0.25, -0.5, 2, 0.5]);
    const q = quantizeWeight(w, [2, 3], 'int8', { symmetric: true, axis: 1 });
    assert.deepEqual(Array.from(q.scales), [1 / 127, 4 / 127, 0.5 / 127].map(Math.fround));
    assert.deepEqual(Array.from(q.zeroPoints), [0, 0, 0]);
    // 1 -> 127, -4 -> -127, 0.25 / (0.5/127) = 63.5 -> 64 (even), -0.5 -> -63.5 -> -64, 2 -> 63.5 -> 64, 0.5 -> 127
    assert.deepEqual(Array.from(q.values), [127, -127, 64, -64, 64, 127]);
  });

  it('matches a numpy implementation of compute_scale_zp on random ranges', { skip: NO_PYTHON }, async () => {
    const r = randomArray(400, 3);
    const ranges: [number, number][] = [];
    for (let i = 0; i < 200; i++) ranges.push([Math.fround(Math.min(r[2 * i], r[2 * i + 1]) * 3), Math.fround(Math.max(r[2 * i], r[2 * i + 1]) * 3)]);
    const script = `
import json, sys, numpy as np
out = []
for lo, hi in json.loads(sys.stdin.read()):
    rmin = np.minimum(np.float32(lo), np.float32(0)); rmax = np.maximum(np.float32(hi), np.float32(0))
    for qmin, qmax in ((0, 255), (-128, 127)):
        scale = np.array(np.array(rmax - rmin, dtype=np.float64) / (np.float64(qmax) - np.float64(qmin)))
        zp = int(np.round(qmin - rmin / scale))
        out.append([float(scale.astype(np.float32)), zp])
print(json.dumps(out))`;
    const { spawnSync } = await import('node:child_process');
    const res = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(ranges), encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const expected = JSON.parse(res.stdout) as [number, number][];
    let k = 0;
    for (const [lo, hi] of ranges) {
      for (const [qmin, qmax] of [[0, 255], [-128, 127]]) {
        const got = computeScaleZeroPoint(lo, hi, qmin, qmax);
        assert.deepEqual([got.scale, got.zeroPoint], expected[k++], `range [${lo}, ${hi}] q [${qmin}, ${qmax}]`);
      }
    }
  });
});

describe('int4 block quantization (MatMulNBits layout)', () => {
  /** Hand-written dequantization of packed B [N, kBlocks, bs/2]: low nibble = even k. */
  function handDequant(packed: Uint8Array, scales: Float32Array, zps: Uint8Array | undefined, K: number, N: number, bs: number): Float32Array {
    const kBlocks = Math.ceil(K / bs);
    const out = new Float32Array(K * N);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        const b = Math.floor(k / bs);
        const j = k % bs;
        const byte = packed[n * kBlocks * (bs / 2) + b * (bs / 2) + Math.floor(j / 2)];
        const q = j % 2 === 0 ? byte & 15 : byte >> 4;
        const zpByte = zps ? zps[n * Math.ceil(kBlocks / 2) + Math.floor(b / 2)] : 0;
        const zp = zps ? (b % 2 === 0 ? zpByte & 15 : zpByte >> 4) : 8;
        out[k * N + n] = (q - zp) * scales[n * kBlocks + b];
      }
    }
    return out;
  }

  it('symmetric: scale = (value of largest magnitude) / -8, stored q + 8, low nibble first', () => {
    // one column, one block of 32: values -8..7 times 0.5, then 16 zeros
    const K = 32;
    const b = new Float32Array(K);
    for (let k = 0; k < 16; k++) b[k] = (k - 8) * 0.5;
    const q = quantizeInt4Blocks(b, K, 1, 32, { symmetric: true });
    // largest magnitude -4 (k=0): scale = -4 / -8 = 0.5; q = x / 0.5 = k - 8; stored k
    assert.deepEqual(Array.from(q.scales), [0.5]);
    assert.equal(q.zeroPoints, undefined);
    assert.equal(q.packed.length, 16);
    assert.equal(q.packed[0], 0x10); // k=0 -> 0 (low), k=1 -> 1 (high)
    assert.equal(q.packed[1], 0x32);
    assert.equal(q.packed[7], 0xfe);
    assert.equal(q.packed[8], 0x88); // zeros stored as 8
    assert.deepEqual(handDequant(q.packed, q.scales, undefined, K, 1, 32), b);
    assert.equal(q.maxError, 0);
  });

  it('asymmetric: scale (max - min) / 15, zero points packed like the weights', () => {
    const K = 40; // two blocks of 32 (second padded with zeros)
    const N = 3;
    const b = randomArray(K * N, 17);
    const q = quantizeInt4Blocks(b, K, N, 32, { symmetric: false });
    assert.equal(q.kBlocks, 2);
    assert.equal(q.zeroPoints!.length, N * 1);
    // block (n=0, kb=0): scale from the data by the formula
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < 32; k++) {
      lo = Math.min(lo, b[k * N]);
      hi = Math.max(hi, b[k * N]);
    }
    const scale = Math.fround((hi - lo) / 15);
    assert.equal(q.scales[0], scale);
    assert.equal(q.zeroPoints![0] & 15, Math.min(15, Math.max(0, roundHalfEven(-lo / scale))));
    const hand = handDequant(q.packed, q.scales, q.zeroPoints, K, N, 32);
    assert.deepEqual(hand, dequantizeInt4Blocks(q, K, N, 32));
    for (let i = 0; i < b.length; i++) assert.ok(Math.abs(hand[i] - b[i]) <= q.scales[Math.floor(i % N) * 2 + Math.floor(Math.floor(i / N) / 32)] / 2 + 1e-6);
  });

  it('onnxruntime MatMulNBits computes A @ (hand-dequantized B)', async () => {
    const K = 64;
    const N = 8;
    const model = mlpModel({ dims: [K, N], seed: 5 });
    const { model: q } = await quantize(model, { mode: 'weight-only', bits: 4, blockSize: 32, accuracyLevel: 0 });
    const node = q.graph!.node.find((n) => n.opType === 'MatMulNBits')!;
    assert.equal(node.domain, 'com.microsoft');
    const attrs = Object.fromEntries(node.attribute.map((a) => [a.name, Number(a.i)]));
    assert.deepEqual(attrs, { K, N, accuracy_level: 0, bits: 4, block_size: 32 });
    const packed = tensorToArray(initializer(q, node.input[1])) as Uint8Array;
    const scales = tensorToArray(initializer(q, node.input[2])) as Float32Array;
    const zps = tensorToArray(initializer(q, node.input[3])) as Uint8Array;
    assert.deepEqual(initializer(q, node.input[1]).dims, [N, 2, 16]);
    assert.deepEqual(initializer(q, node.input[2]).dims, [N, 2]);
    const deq = handDequant(packed, scales, zps, K, N, 32);
    const x = randomArray(4 * K, 9);
    const y = (await run(await session(keep('int4 K64', q)), x, [4, K])).logits;
    const bias = tensorToArray(initializer(model, 'fc0.bias')) as Float32Array;
    for (let r = 0; r < 4; r++) {
      for (let n = 0; n < N; n++) {
        let s = bias[n];
        for (let k = 0; k < K; k++) s += x[r * K + k] * deq[k * N + n];
        assert.ok(Math.abs(y[r * N + n] - s) < 1e-3, `row ${r} col ${n}: ${y[r * N + n]} vs ${s}`);
      }
    }
  });
});

describe('calibration methods', () => {
  it('minmax: global min and max over batches', () => {
    const r = rangeOf([Float32Array.from([-1, 2]), Float32Array.from([0.5, 3, -0.5])], { method: 'minmax' });
    assert.deepEqual([r.rmin, r.rmax], [-1, 3]);
    const s = rangeOf([Float32Array.from([-1, 2])], { method: 'minmax', symmetric: true });
    assert.deepEqual([s.rmin, s.rmax], [-2, 2]);
  });

  it('percentile (symmetric |x| histogram, 2048 bins): 99.5 cuts a 0.2% tail of outliers', () => {
    const values = new Float32Array(10000);
    for (let i = 0; i < values.length; i++) values[i] = ((i % 1000) / 1000) * (i % 2 ? 1 : -1);
    for (let i = 0; i < 20; i++) values[i * 500] = 50; // 0.2% outliers
    const r = rangeOf([values], { method: 'percentile', percentile: 99.5 });
    assert.ok(r.rmax < 1.1 && r.rmax > 0.9, `rmax ${r.rmax}`);
    assert.ok(r.rmin > -1.1 && r.rmin < -0.9, `rmin ${r.rmin}`);
    assert.equal(r.max, 50);
    // default 99.999 keeps them
    assert.ok(rangeOf([values], { method: 'percentile' }).rmax > 40);
  });

  it('entropy: with ORT defaults (128/128 bins) one batch keeps the observed range; with 2048 bins it clips a Gaussian near 3.7 sigma', () => {
    const g = randomArray(100000, 3);
    const r = rangeOf([g], { method: 'entropy' });
    assert.equal(r.rmin, r.min);
    assert.equal(r.rmax, r.max);
    const c = rangeOf([g], { method: 'entropy', numBins: 2048 });
    assert.ok(c.rmax > 3 && c.rmax < 4.2 && c.rmax < r.max, `clipped at ${c.rmax} (max ${r.max})`);
    assert.ok(c.rmin < -3 && c.rmin > -4.2);
  });

  it('entropy threshold search over a hand-made histogram picks the range holding the mass', () => {
    // 256 bins over [-1, 1]; all mass in the central 128 bins [64, 192): the first candidate,
    // i = 64, spans bins [64, 193) = edges (-0.5, 0.5078125), and has the smallest KL
    const counts = new Float64Array(256);
    for (let i = 64; i < 192; i++) counts[i] = 10 + (i % 7);
    const [lo, hi] = entropyThreshold(counts, (i) => -1 + (2 * i) / 256, 128);
    assert.deepEqual([lo, hi], [-0.5, 0.5078125]);
    // mass spread over every bin: the widest candidate wins
    const [wlo, whi] = entropyThreshold(new Float64Array(256).fill(5), (i) => -1 + (2 * i) / 256, 128);
    assert.deepEqual([wlo, whi], [-1, 1]);
    // numpy.histogram: equal-width bins, the last one closed
    assert.deepEqual(Array.from(histogram([-1, -0.5, 0, 0.999, 1], 4, -1, 1)), [1, 1, 1, 2]);
  });
});

describe('generated models', () => {
  const N = 256;
  const mlp = mlpModel({ dims: [64, 128, 128, 10] });
  const mlpX = randomArray(N * 64, 99);
  const mlpCalib = dataset('input', randomArray(128 * 64, 5), [128, 64]);
  let mlpRef: Float32Array;

  before(async () => {
    mlpRef = (await run(await session(mlp), mlpX, [N, 64])).logits;
  });

  const mlpCases: [string, QuantizeOptions, number, string][] = [
    ['dynamic', { mode: 'dynamic' }, 0.05, 'com.microsoft.DynamicQuantizeMatMul'],
    ['dynamic per-channel', { mode: 'dynamic', perChannel: true }, 0.05, 'com.microsoft.DynamicQuantizeMatMul'],
    ['dynamic standard', { mode: 'dynamic', dynamicForm: 'standard' }, 0.05, 'MatMulInteger'],
    ['dynamic reduce-range', { mode: 'dynamic', reduceRange: true }, 0.1, 'com.microsoft.DynamicQuantizeMatMul'],
    ['weight-only int8', { mode: 'weight-only' }, 0.05, 'DequantizeLinear'],
    ['weight-only int8 per-channel', { mode: 'weight-only', perChannel: true }, 0.05, 'DequantizeLinear'],
    ['weight-only int4', { mode: 'weight-only', bits: 4 }, 0.25, 'com.microsoft.MatMulNBits'],
    ['weight-only int4 symmetric block 64', { mode: 'weight-only', bits: 4, blockSize: 64, symmetric: true }, 0.25, 'com.microsoft.MatMulNBits'],
    ['static minmax', { mode: 'static', calibration: mlpCalib }, 0.08, 'QuantizeLinear'],
    ['static per-channel', { mode: 'static', calibration: mlpCalib, perChannel: true }, 0.08, 'QuantizeLinear'],
    ['static int8 activations', { mode: 'static', calibration: mlpCalib, activationType: 'int8' }, 0.08, 'QuantizeLinear'],
    ['static int16 activations', { mode: 'static', calibration: mlpCalib, activationType: 'int16' }, 0.08, 'com.microsoft.QuantizeLinear'],
  ];
  for (const [label, options, tol, op] of mlpCases) {
    it(`MLP ${label}: rel error <= ${tol}, loads, emits ${op}`, async () => {
      const before = encodeModel(mlp);
      const { model, report } = await quantize(mlp, options);
      assert.deepEqual(encodeModel(mlp), before, 'the input model is not modified');
      keep(`mlp ${label}`, model);
      assert.equal(report.quantizedNodes.length, 3);
      assert.ok(countOps(model)[op] > 0, JSON.stringify(countOps(model)));
      assert.ok(!countOps(model).MatMul || options.mode !== 'dynamic', 'no float MatMul left');
      const y = (await run(await session(model), mlpX, [N, 64])).logits;
      const rel = relativeError(y, mlpRef);
      assert.ok(rel <= tol, `relative error ${rel}`);
      const ratio = report.sizeAfter / report.sizeBefore;
      assert.ok(options.bits === 4 ? ratio < 0.2 : ratio < 0.3, `size ratio ${ratio}`);
      assert.ok(model.irVersion! <= 10);
      assert.ok(model.opsetImport.every((o) => (o.version ?? 0) <= 21));
    });
  }

  it('static: the input QuantizeLinear has the scale/zero point of the calibration min/max', async () => {
    const { model, report } = await quantize(mlp, { mode: 'static', calibration: mlpCalib, activationType: 'uint8' });
    const data = mlpCalib.inputs.input.data as Float32Array;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const q = model.graph!.node.find((n) => n.opType === 'QuantizeLinear' && n.input[0] === 'input')!;
    const scale = (tensorToArray(initializer(model, q.input[1])) as Float32Array)[0];
    const zp = (tensorToArray(initializer(model, q.input[2])) as Uint8Array)[0];
    assert.equal(initializer(model, q.input[2]).dataType, DataType.UINT8);
    const expectedScale = Math.fround(Math.fround(hi - lo) / 255);
    assert.equal(scale, expectedScale);
    assert.equal(zp, roundHalfEven(0 - lo / (Math.fround(hi - lo) / 255)));
    const entry = report.activations!.find((a) => a.tensor === 'input')!;
    assert.deepEqual([entry.min, entry.max, entry.scale, entry.zeroPoint], [lo, hi, scale, zp]);
    // Relu after each hidden layer is folded into the QuantizeLinear (zero point = qmin = 0)
    assert.equal(countOps(model).Relu, undefined);
    assert.equal(report.rewrites.filter((r) => r.startsWith('folded Relu')).length, 2);
  });

  it('static int16 at opset 21 uses ai.onnx Q/DQ', async () => {
    const m21 = mlpModel({ dims: [64, 32, 10], opset: 21 });
    const calib = dataset('input', randomArray(256 * 64, 8), [256, 64]);
    const { model } = await quantize(m21, { mode: 'static', calibration: calib, activationType: 'int16' });
    const qs = model.graph!.node.filter((n) => n.opType === 'QuantizeLinear');
    assert.ok(qs.length > 0 && qs.every((n) => !n.domain));
    assert.equal(initializer(model, qs[0].input[2]).dataType, DataType.INT16);
    const x = randomArray(8 * 64, 1);
    const ref = (await run(await session(m21), x, [8, 64])).logits;
    const rel = relativeError((await run(await session(model), x, [8, 64])).logits, ref);
    assert.ok(rel < 0.05, `relative error ${rel}`);
  });

  it('Gemm MLP (transB, bias as C): every mode', async () => {
    const gemm = mlpModel({ dims: [64, 96, 10], gemm: true, seed: 3 });
    const x = randomArray(64 * 64, 4);
    const ref = (await run(await session(gemm), x, [64, 64])).logits;
    const calib = dataset('input', randomArray(64 * 64, 6), [64, 64]);
    for (const [label, o, tol] of [
      ['dynamic', { mode: 'dynamic' }, 0.05],
      ['dynamic standard per-channel', { mode: 'dynamic', dynamicForm: 'standard', perChannel: true }, 0.05],
      ['weight-only per-channel', { mode: 'weight-only', perChannel: true }, 0.05],
      ['int4', { mode: 'weight-only', bits: 4 }, 0.25],
      ['static per-channel', { mode: 'static', calibration: calib, perChannel: true }, 0.08],
    ] as [string, QuantizeOptions, number][]) {
      const { model, report } = await quantize(gemm, o);
      keep(`gemm ${label}`, model);
      assert.equal(report.quantizedNodes.length, 2, label);
      const rel = relativeError((await run(await session(model), x, [64, 64])).logits, ref);
      assert.ok(rel <= tol, `${label}: relative error ${rel}`);
    }
  });

  describe('CNN (Conv + BatchNormalization + Relu)', () => {
    const cnn = cnnModel();
    const x = randomArray(64 * 3 * 16 * 16, 12);
    const calib = dataset('input', randomArray(32 * 3 * 16 * 16, 13), [32, 3, 16, 16]);
    let ref: Float32Array;
    before(async () => {
      ref = (await run(await session(cnn), x, [64, 3, 16, 16])).logits;
    });

    for (const method of ['minmax', 'entropy', 'percentile'] as const) {
      it(`static ${method}: BatchNorm folded, onnxruntime fuses QLinearConv, rel error <= 0.08`, async () => {
        const { model, report } = await quantize(cnn, { mode: 'static', calibration: calib, calibrationMethod: method });
        keep(`cnn static ${method}`, model);
        assert.equal(report.calibration?.method, method);
        assert.equal(countOps(model).BatchNormalization, undefined);
        assert.equal(report.rewrites.filter((r) => r.startsWith('folded BatchNormalization')).length, 2);
        assert.equal(report.quantizedNodes.length, 4);
        const y = (await run(await session(model), x, [64, 3, 16, 16])).logits;
        const rel = relativeError(y, ref);
        assert.ok(rel <= 0.08, `relative error ${rel}`);
        assert.ok(argmaxAgreement(y, ref, 10) >= 0.95);
        if (method === 'minmax') {
          const dir = mkdtempSync(join(tmpdir(), 'berth-q-opt-'));
          try {
            const path = join(dir, 'opt.onnx');
            await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'extended', optimizedModelFilePath: path, logSeverityLevel: 3 });
            const ops = countOps(decodeModel(readFileSync(path)));
            assert.equal(ops.QLinearConv, 3, JSON.stringify(ops));
            assert.equal(ops.Conv, undefined);
            assert.equal(ops['com.microsoft.QGemm'], 1);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        }
      });
    }

    it('dynamic with --op-types Conv,Gemm: ConvInteger with uint8 weights per tensor', async () => {
      const { model, report } = await quantize(cnn, { mode: 'dynamic', opTypes: ['Conv', 'Gemm'], perChannel: true });
      keep('cnn dynamic conv', model);
      assert.equal(countOps(model).ConvInteger, 3);
      assert.ok(report.warnings.some((w) => w.includes('per tensor')));
      const rel = relativeError((await run(await session(model), x, [64, 3, 16, 16])).logits, ref);
      assert.ok(rel <= 0.06, `relative error ${rel}`);
    });

    it('weight-only int8 with Conv: DequantizeLinear on axis 0', async () => {
      const { model } = await quantize(cnn, { mode: 'weight-only', opTypes: ['Conv', 'Gemm'], perChannel: true });
      keep('cnn weight-only conv', model);
      const dq = model.graph!.node.filter((n) => n.opType === 'DequantizeLinear');
      assert.equal(dq.length, 4);
      const rel = relativeError((await run(await session(model), x, [64, 3, 16, 16])).logits, ref);
      assert.ok(rel <= 0.03, `relative error ${rel}`);
    });
  });

  describe('transformer encoder block', () => {
    const tf = transformerModel();
    const x = randomArray(32 * 16 * 32, 31);
    const calib = dataset('input', randomArray(128 * 16 * 32, 32), [128, 16, 32]);
    let ref: Record<string, Float32Array>;
    const hiddenError: Record<string, number> = {};
    before(async () => {
      ref = await run(await session(tf), x, [32, 16, 32]);
    });
    for (const [label, o, tol] of [
      ['dynamic', { mode: 'dynamic' }, 0.05],
      ['static uint8', { mode: 'static', calibration: calib }, 0.08],
      ['static int8 percentile', { mode: 'static', calibration: calib, activationType: 'int8', calibrationMethod: 'percentile' }, 0.08],
      ['static int16', { mode: 'static', calibration: calib, activationType: 'int16' }, 0.08],
      ['weight-only int4', { mode: 'weight-only', bits: 4 }, 0.25],
    ] as [string, QuantizeOptions, number][]) {
      it(`${label}: hidden and logits within rel ${tol}`, async () => {
        const { model, report } = await quantize(tf, o);
        keep(`transformer ${label}`, model);
        // dynamic/int4 need a constant B: the two attention MatMuls stay float
        assert.equal(report.quantizedNodes.length, o.mode === 'static' ? 9 : 7);
        const y = await run(await session(model), x, [32, 16, 32]);
        for (const name of ['hidden', 'logits']) {
          const rel = relativeError(y[name], ref[name]);
          assert.ok(rel <= tol, `${name}: relative error ${rel}`);
        }
        hiddenError[label] = relativeError(y.hidden, ref.hidden);
        if (label === 'static int16') assert.ok(hiddenError[label] <= hiddenError['static uint8'], JSON.stringify(hiddenError));
      });
    }
  });
});

describe('digits example (trained MLP, real labels)', () => {
  const trained = trainMlp(trainSplit()).model;
  const model = buildDigitsModel(trained);
  const test = testSplit();
  const x = test.x;
  const n = test.n;
  const calib = dataset('pixels', trainSplit().x.slice(0, 200 * 64), [200, 64]);
  const accuracy = (probs: Float32Array): number => {
    let ok = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < 10; j++) if (probs[i * 10 + j] > probs[i * 10 + best]) best = j;
      if (best === test.y[i]) ok++;
    }
    return ok / n;
  };
  for (const [label, o, minAgreement, maxDrop] of [
    ['dynamic', { mode: 'dynamic' }, 0.99, 0.005],
    ['static', { mode: 'static', calibration: calib }, 0.99, 0.005],
    ['weight-only int8', { mode: 'weight-only' }, 0.99, 0.005],
    ['weight-only int4', { mode: 'weight-only', bits: 4 }, 0.97, 0.02],
  ] as [string, QuantizeOptions, number, number][]) {
    it(`${label}: agreement >= ${minAgreement * 100}%, accuracy drop <= ${maxDrop * 100} points`, async () => {
      const base = (await run(await session(model), x, [n, 64])).probabilities;
      const { model: q } = await quantize(model, o);
      keep(`digits ${label}`, q);
      const y = (await run(await session(q), x, [n, 64])).probabilities;
      const agreement = argmaxAgreement(y, base, 10);
      assert.ok(agreement >= minAgreement, `agreement ${agreement}`);
      assert.ok(accuracy(base) - accuracy(y) <= maxDrop, `accuracy ${accuracy(base)} -> ${accuracy(y)}`);
    });
  }
});

describe('ONNX test models (libonnx-testdata node/, weights made constant)', { skip: NO_TESTDATA }, () => {
  const gemms = ['all_attributes', 'alpha', 'beta', 'default_matrix_bias', 'default_no_bias', 'default_scalar_bias', 'default_single_elem_vector_bias', 'default_vector_bias', 'transposeA', 'transposeB'];
  for (const g of gemms) {
    it(`test_gemm_${g}: dynamic, static and int4 match the reference output`, async () => {
      const { model, feeds, expected } = testModelWithConstants(join(NODE_TESTS, `test_gemm_${g}`), ['b', 'c']);
      const a = feeds.a;
      const calib = { samples: a.dims[0], inputs: { a: { datatype: 'FP32' as const, shape: a.dims, data: a.data } } };
      for (const [label, o, tol] of [
        ['dynamic', { mode: 'dynamic' }, 0.02],
        ['static', { mode: 'static', calibration: calib }, 0.02],
        ['int4', { mode: 'weight-only', bits: 4 }, 0.1],
      ] as [string, QuantizeOptions, number][]) {
        const { model: q, report } = await quantize(model, o);
        keep(`gemm_${g} ${label}`, q);
        assert.equal(report.quantizedNodes.length, 1, `${label}: ${JSON.stringify(report.skipped)}`);
        const rel = relativeError(await runFeeds(q, feeds), expected);
        assert.ok(rel <= tol, `${label}: relative error ${rel}`);
      }
    });
  }
  for (const name of ['test_matmul_2d', 'test_conv_with_strides_padding', 'test_conv_with_autopad_same']) {
    it(`${name}: every int8 mode matches the reference output`, async () => {
      const conv = name.includes('conv');
      const { model, feeds, expected } = testModelWithConstants(join(NODE_TESTS, name), [conv ? 'W' : 'b']);
      const [inputName, input] = Object.entries(feeds)[0];
      const calib = { samples: input.dims[0], inputs: { [inputName]: { datatype: 'FP32' as const, shape: input.dims, data: input.data } } };
      const opTypes = conv ? ['Conv'] : undefined;
      for (const [label, o] of [
        ['dynamic', { mode: 'dynamic', opTypes }],
        ['static', { mode: 'static', calibration: calib }],
        ['weight-only', { mode: 'weight-only', opTypes }],
      ] as [string, QuantizeOptions][]) {
        const { model: q } = await quantize(model, o);
        keep(`${name} ${label}`, q);
        const rel = relativeError(await runFeeds(q, feeds), expected);
        assert.ok(rel <= 0.02, `${label}: relative error ${rel}`);
      }
    });
  }
});

describe('options: exclude, op types, errors', () => {
  const mlp = mlpModel({ dims: [16, 32, 32, 4] });

  it('--exclude keeps the named node in float and reports it', async () => {
    const { model, report } = await quantize(mlp, { mode: 'dynamic', exclude: ['fc1', 'nope'] });
    assert.deepEqual(report.quantizedNodes.map((q) => q.name), ['fc0', 'fc2']);
    assert.deepEqual(report.skipped, [{ name: 'fc1', opType: 'MatMul', reason: 'excluded' }]);
    assert.ok(report.warnings.some((w) => w.includes("'nope'")));
    const fc1 = model.graph!.node.find((n) => n.name === 'fc1')!;
    assert.equal(fc1.opType, 'MatMul');
    assert.equal(fc1.input[1], 'fc1.weight');
    assert.ok(model.graph!.initializer.some((t) => t.name === 'fc1.weight' && t.dataType === DataType.FLOAT));
    assert.ok(!model.graph!.initializer.some((t) => t.name === 'fc0.weight'), 'replaced float weights are dropped');
  });

  it('dynamic (fused): the bias Add after a MatMul goes into DynamicQuantizeMatMul; standard keeps it', async () => {
    const fused = await quantize(mlp, { mode: 'dynamic' });
    assert.equal(countOps(fused.model).Add, undefined);
    assert.deepEqual(fused.model.graph!.node.filter((n) => n.opType === 'DynamicQuantizeMatMul').map((n) => n.input.length), [5, 5, 5]);
    const standard = await quantize(mlp, { mode: 'dynamic', dynamicForm: 'standard' });
    assert.equal(countOps(standard.model).Add, 3);
    assert.equal(countOps(standard.model).DynamicQuantizeLinear, 3);
    const x = randomArray(8 * 16, 2);
    const a = (await run(await session(fused.model), x, [8, 16])).logits;
    const b = (await run(await session(standard.model), x, [8, 16])).logits;
    assert.ok(relativeError(a, b) < 1e-5, 'both forms compute the same');
  });

  it('weights held by Constant nodes are quantized and the Constant removed', async () => {
    const g = mlp.graph!;
    const w = g.initializer.find((t) => t.name === 'fc1.weight')!;
    const withConstant: ModelProto = {
      ...mlp,
      graph: {
        ...g,
        initializer: g.initializer.filter((t) => t !== w),
        node: [{ input: [], output: ['fc1.weight'], opType: 'Constant', name: 'w1_const', attribute: [{ name: 'value', type: 4, t: w }] }, ...g.node],
      },
    };
    const { model, report } = await quantize(withConstant, { mode: 'weight-only' });
    assert.equal(report.quantizedNodes.length, 3);
    assert.equal(countOps(model).Constant, undefined);
    keep('constant weight', model);
  });

  it('--op-types restricts what is quantized', async () => {
    const { report } = await quantize(mlp, { mode: 'dynamic', opTypes: ['Gemm'] });
    assert.equal(report.quantizedNodes.length, 0);
    assert.ok(report.warnings.includes('no node was quantized'));
    const cnn = await quantize(cnnModel(), { mode: 'static', calibration: dataset('input', randomArray(4 * 768, 1), [4, 3, 16, 16]), opTypes: ['Gemm'] });
    assert.deepEqual(cnn.report.quantizedNodes.map((q) => q.opType), ['Gemm']);
    assert.ok(countOps(cnn.model).Conv === 3 && countOps(cnn.model).BatchNormalization === 2, 'Conv untouched, BatchNorm not folded');
  });

  it('rejects unsupported op types, bad bits and static without calibration', async () => {
    await assert.rejects(quantize(mlp, { mode: 'dynamic', opTypes: ['LSTM'] }), (e: Error) => e instanceof QuantizeError && /cannot quantize LSTM in dynamic mode/.test(e.message));
    await assert.rejects(quantize(mlp, { mode: 'weight-only', bits: 4, opTypes: ['Conv'] }), /cannot quantize Conv in weight-only 4-bit mode/);
    await assert.rejects(quantize(mlp, { mode: 'dynamic', bits: 4 }), /weight-only/);
    await assert.rejects(quantize(mlp, { mode: 'static' }), /calibration/);
    await assert.rejects(quantize(mlp, { mode: 'static', calibration: dataset('other', new Float32Array(8), [1, 8]), }), /calibration run failed: Got invalid dimensions/);
  });

  it('skips nodes whose weight is not a constant, with the reason', async () => {
    const { report } = await quantize(transformerModel(), { mode: 'dynamic' });
    assert.deepEqual(report.skipped.map((s) => s.name).sort(), ['context', 'scores']);
    assert.ok(report.skipped.every((s) => /not a constant/.test(s.reason)));
  });
});

describe('berth quantize (CLI)', () => {
  let dir: string;
  let mlpPath: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-q-cli-'));
    mlpPath = join(dir, 'mlp.onnx');
    await saveModel(mlpModel({ dims: [16, 32, 4] }), mlpPath);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the model and prints the report (table and --json)', async () => {
    const out = join(dir, 'dyn.onnx');
    const r = runCli([mlpPath, '-o', out, '--mode', 'dynamic', '--per-channel', '--exclude', 'fc1']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /quantize: dynamic, weights int8 per channel/);
    assert.match(r.stdout, /fc0\s+MatMul\s+com\.microsoft\.DynamicQuantizeMatMul/);
    assert.match(r.stdout, /fc1\s+MatMul\s+excluded/);
    assert.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
    await ort.InferenceSession.create(out);
    const j = runCli([mlpPath, '-o', join(dir, 'w4.onnx'), '--mode', 'weight-only', '--bits', '4', '--block-size', '64', '--json']);
    assert.equal(j.status, 0, j.stderr);
    const report = JSON.parse(j.stdout);
    assert.equal(report.blockSize, 64);
    assert.equal(report.accuracyLevel, 4);
    assert.ok(report.written.bytes > 0);
  });

  it('static with calibration data from a .json file', async () => {
    const data = join(dir, 'calib.json');
    writeFileSync(data, JSON.stringify(Array.from({ length: 8 }, (_, i) => Array.from(randomArray(16, i)))));
    const out = join(dir, 'static.onnx');
    const r = runCli([mlpPath, '-o', out, '--mode', 'static', '--calibration', data, '--calibration-method', 'percentile', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.calibration.samples, 8);
    assert.equal(report.calibration.settings.percentile, 99.999);
    await ort.InferenceSession.create(out);
  });

  it('a model with external data gives a model with external data that loads by path', async () => {
    const ext = join(dir, 'ext');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(ext);
    const src = join(ext, 'big.onnx');
    await saveModel(mlpModel({ dims: [64, 128, 8] }), src, { externalData: { location: 'big.onnx.data' } });
    const out = join(ext, 'big-q.onnx');
    const r = runCli([src, '-o', out, '--mode', 'weight-only', '--bits', '4']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(`${out}.data`));
    const x = randomArray(2 * 64, 1);
    const a = await (await ort.InferenceSession.create(src)).run({ input: new ort.Tensor('float32', x, [2, 64]) });
    const b = await (await ort.InferenceSession.create(out)).run({ input: new ort.Tensor('float32', x, [2, 64]) });
    assert.ok(relativeError(b.logits.data as Float32Array, a.logits.data as Float32Array) < 0.25);
    const q = await loadModel(out);
    assert.ok(q.graph!.node.some((n) => n.opType === 'MatMulNBits'));
  });

  it('bad input: one-line error, exit 1, nothing written', async () => {
    const notOnnx = join(dir, 'not.onnx');
    writeFileSync(notOnnx, 'this is not a model\n');
    const truncated = join(dir, 'truncated.onnx');
    writeFileSync(truncated, readFileSync(mlpPath).subarray(0, 300));
    const cases: [string[], RegExp][] = [
      [[notOnnx, '-o', join(dir, 'x1.onnx'), '--mode', 'dynamic'], /not a valid ONNX model/],
      [[truncated, '-o', join(dir, 'x2.onnx'), '--mode', 'dynamic'], /not a valid ONNX model/],
      [[mlpPath, '-o', join(dir, 'x3.onnx'), '--mode', 'static'], /needs --calibration/],
      [[mlpPath, '-o', join(dir, 'x4.onnx'), '--mode', 'dynamic', '--op-types', 'MatMul,LSTM'], /cannot quantize LSTM/],
      [[mlpPath, '-o', join(dir, 'x5.onnx'), '--mode', 'dynamic', '--bits', '3'], /--bits must be one of 8, 4/],
      [[mlpPath, '-o', join(dir, 'x6.onnx'), '--mode', 'fast'], /argument 'fast' is invalid/],
      [[join(dir, 'missing.onnx'), '-o', join(dir, 'x7.onnx'), '--mode', 'dynamic'], /no such file/],
      [[mlpPath, '-o', join(dir, 'x8.onnx'), '--mode', 'static', '--calibration', join(dir, 'nothing.npy')], /not found/],
    ];
    for (const [args, pattern] of cases) {
      const r = runCli(args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^error: /);
      assert.match(lines[0], pattern);
      assert.ok(!existsSync(args[2]), `${args[2]} must not be written`);
    }
  });
});

describe('outputs pass onnx.checker.check_model', { skip: NO_PYTHON }, () => {
  it('every model produced above', () => {
    const labels = Object.keys(produced);
    assert.ok(labels.length > 50, `${labels.length} models`);
    const results = onnxCheckMany(produced);
    const failed = Object.entries(results).filter(([, err]) => err);
    assert.deepEqual(failed, []);
  });
});
