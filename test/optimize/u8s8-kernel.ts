/**
 * An independent model of onnxruntime's CPU kernel for MatMulInteger with uint8 activations and
 * int8 weights (MLAS u8s8 QGEMM), written from the instruction semantics, not from our quantizer:
 *
 * - 'avx2' (x86-64 without VNNI): vpmaddubsw multiplies u8 × s8 and adds each adjacent pair
 *   (k = 2j, 2j + 1) into an int16 lane with signed saturation; vpmaddwd then adds int16 pairs
 *   into int32 exactly;
 * - 'exact' (VNNI vpdpbusd, arm64): every product summed in int32.
 *
 * Like MLAS, the products are taken on the raw uint8 values and the activation zero point is
 * applied afterwards through the weight column sums: C = A·B − zA·colsum(B) (zB = 0 here).
 * The activation is quantized as ONNX DynamicQuantizeLinear specifies.
 */
import { tensorToArray, type ModelProto } from '../../src/onnx/index.js';

export type U8S8Kernel = 'avx2' | 'exact';

/** ONNX DynamicQuantizeLinear: range widened to include 0, scale = range / 255, round half to even. */
export function dynamicQuantizeLinear(x: Float32Array): { q: Uint8Array; scale: number; zeroPoint: number } {
  let lo = 0;
  let hi = 0;
  for (const v of x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const scale = Math.fround(Math.fround(hi - lo) / 255);
  const even = (v: number): number => {
    const r = Math.round(v);
    return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
  };
  const clip = (v: number): number => Math.min(255, Math.max(0, v));
  const zeroPoint = scale === 0 ? 0 : clip(even(Math.fround(-lo / scale)));
  const q = new Uint8Array(x.length);
  if (scale !== 0) for (let i = 0; i < x.length; i++) q[i] = clip(even(Math.fround(x[i] / scale)) + zeroPoint);
  return { q, scale, zeroPoint };
}

export interface IntegerLayer {
  K: number;
  N: number;
  /** int8 weights [K, N] row-major, as stored in the model */
  w: Int8Array;
  /** one per tensor or one per column */
  wScale: Float32Array;
  wZeroPoint: Int32Array;
  bias?: Float32Array;
}

/**
 * The weights of the one MatMulInteger in a model quantized with the standard dynamic form
 * (DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scales) → Add(bias)), read from its initializers.
 */
export function integerLayer(model: ModelProto): IntegerLayer {
  const g = model.graph!;
  const init = (name: string) => {
    const t = g.initializer.find((i) => i.name === name);
    if (!t) throw new Error(`no initializer ${name}`);
    return t;
  };
  const mm = g.node.filter((n) => n.opType === 'MatMulInteger');
  if (mm.length !== 1) throw new Error(`expected one MatMulInteger, found ${mm.length}`);
  const wT = init(mm[0].input[1]);
  const [K, N] = (wT.dims ?? []).map(Number);
  const w = tensorToArray(wT) as Int8Array;
  const wZeroPoint = Int32Array.from(tensorToArray(init(mm[0].input[3])) as Int8Array);
  // the weight scale is the second input of the Mul that multiplies the activation's scale
  const scaleMul = g.node.find((n) => n.opType === 'Mul' && g.initializer.some((i) => i.name === n.input[1]) && n.input[0].endsWith('_scale'));
  if (!scaleMul) throw new Error('no scale Mul');
  const wScale = tensorToArray(init(scaleMul.input[1])) as Float32Array;
  const add = g.node.find((n) => n.opType === 'Add' && g.initializer.some((i) => i.name === n.input[1]));
  const bias = add ? (tensorToArray(init(add.input[1])) as Float32Array) : undefined;
  return { K, N, w, wScale, wZeroPoint, bias };
}

const sat16 = (v: number): number => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);

/** A [M, K] (uint8, zero point zA) × B [K, N] (int8): int32 accumulators and how many pair sums saturated. */
export function matmulU8S8(a: Uint8Array, zA: number, M: number, layer: IntegerLayer, kernel: U8S8Kernel): { acc: Int32Array; saturated: number; pairs: number } {
  const { K, N, w, wZeroPoint } = layer;
  if (wZeroPoint.some((z) => z !== 0)) throw new Error('the model has a nonzero weight zero point; this emulation covers symmetric weights');
  const acc = new Int32Array(M * N);
  let saturated = 0;
  let pairs = 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      let colsum = 0;
      for (let k = 0; k < K; k += 2) {
        const a0 = a[m * K + k];
        const w0 = w[k * N + n];
        const a1 = k + 1 < K ? a[m * K + k + 1] : 0;
        const w1 = k + 1 < K ? w[(k + 1) * N + n] : 0;
        colsum += w0 + w1;
        const pair = a0 * w0 + a1 * w1;
        pairs++;
        if (kernel === 'avx2') {
          const s = sat16(pair);
          if (s !== pair) saturated++;
          sum += s;
        } else {
          sum += pair;
        }
      }
      acc[m * N + n] = sum - zA * colsum;
    }
  }
  return { acc, saturated, pairs };
}

/** The float output of the quantized layer for float input x [M, K], computed on the given kernel. */
export function runIntegerLayer(layer: IntegerLayer, x: Float32Array, M: number, kernel: U8S8Kernel): { y: Float32Array; saturated: number; pairs: number } {
  const { q, scale, zeroPoint } = dynamicQuantizeLinear(x);
  const { acc, saturated, pairs } = matmulU8S8(q, zeroPoint, M, layer, kernel);
  const y = new Float32Array(M * layer.N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < layer.N; n++) {
      const s = Math.fround(scale * layer.wScale[layer.wScale.length === 1 ? 0 : n]);
      y[m * layer.N + n] = Math.fround(Math.fround(acc[m * layer.N + n] * s) + (layer.bias ? layer.bias[n] : 0));
    }
  }
  return { y, saturated, pairs };
}
