/**
 * Quantization arithmetic, following ONNX Runtime's quantization tool (quant_utils.py) so that
 * scales and zero points match what `quantize_dynamic` / `quantize_static` produce:
 *
 * - the real range is widened to include 0: rmin = min(rmin, 0), rmax = max(rmax, 0);
 * - symmetric: the range becomes [-absmax, absmax] and zero_point = round((qmin + qmax) / 2);
 * - scale = (rmax - rmin) / (qmax - qmin), the difference taken in float32, the division in
 *   float64, the result stored as float32; a scale below float32's smallest normal becomes 1
 *   with zero point 0;
 * - asymmetric zero_point = round(qmin - rmin / scale) (float64 scale);
 * - quantize: q = clip(round(x / scale) + zero_point, qmin, qmax), the division in float32,
 *   rounding half to even (numpy's round and ONNX QuantizeLinear's rounding).
 */

export type QuantType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int4' | 'uint4';

/** (qmin, qmax) tables: normal, symmetric and reduced ranges (get_qmin_qmax_for_qType). */
const NORMAL: Record<QuantType, [number, number]> = {
  uint8: [0, 255], int8: [-128, 127], uint16: [0, 65535], int16: [-32768, 32767], uint4: [0, 15], int4: [-8, 7],
};
const SYMMETRIC: Partial<Record<QuantType, [number, number]>> = {
  uint8: [0, 254], int8: [-127, 127], uint16: [0, 65534], int16: [-32767, 32767],
};
const REDUCED: Record<QuantType, [number, number]> = {
  uint8: [0, 127], int8: [-64, 64], uint16: [0, 32767], int16: [-16384, 16384], uint4: [0, 7], int4: [-4, 3],
};

export function qRange(type: QuantType, options: { symmetric?: boolean; reduceRange?: boolean } = {}): [number, number] {
  if (options.reduceRange) return REDUCED[type];
  if (options.symmetric && SYMMETRIC[type]) return SYMMETRIC[type]!;
  return NORMAL[type];
}

/** float32's smallest positive normal number (numpy.finfo(float32).tiny). */
export const FLOAT32_TINY = 1.1754943508222875e-38;

/** Rounds half to even, as numpy.round and ONNX's QuantizeLinear do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; at an exact tie step back to the even neighbour.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

/** compute_scale_zp: scale and zero point for a real range [rmin, rmax] and a quantized range. */
export function computeScaleZeroPoint(rmin: number, rmax: number, qmin: number, qmax: number, symmetric = false): QuantParams {
  if (qmin > 0 || qmax < 0) throw new Error(`quantized range [${qmin}, ${qmax}] must contain 0`);
  if (!Number.isFinite(rmin) || !Number.isFinite(rmax)) throw new Error(`cannot quantize a range with non-finite bounds [${rmin}, ${rmax}]`);
  let lo = Math.fround(Math.min(rmin, 0));
  let hi = Math.fround(Math.max(rmax, 0));
  if (symmetric) {
    const absmax = Math.max(Math.abs(lo), Math.abs(hi));
    lo = -absmax;
    hi = absmax;
  }
  const scale64 = Math.fround(hi - lo) / (qmax - qmin);
  if (scale64 < FLOAT32_TINY) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = symmetric ? roundHalfEven((qmin + qmax) / 2) : roundHalfEven(qmin - lo / scale64);
  return { scale: Math.fround(scale64), zeroPoint };
}

/** One value: clip(round(x / scale) + zeroPoint, qmin, qmax), the division in float32. */
export function quantizeValue(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  const q = roundHalfEven(Math.fround(x / scale)) + zeroPoint;
  return q < qmin ? qmin : q > qmax ? qmax : q;
}

export function dequantizeValue(q: number, scale: number, zeroPoint: number): number {
  return Math.fround((q - zeroPoint) * scale);
}

export interface QuantizedWeight {
  /** quantized values, in the same layout as the input */
  values: Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array;
  /** one value (per tensor) or one per channel along `axis` */
  scales: Float32Array;
  zeroPoints: Int32Array;
  /** the channel axis, when per channel */
  axis?: number;
  /** largest |x - dequantize(quantize(x))| over the tensor */
  maxError: number;
}

function arrayFor(type: QuantType, n: number): Int8Array | Uint8Array | Int16Array | Uint16Array {
  switch (type) {
    case 'int8':
    case 'int4':
      return new Int8Array(n);
    case 'uint8':
    case 'uint4':
      return new Uint8Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'uint16':
      return new Uint16Array(n);
  }
}

/**
 * Quantizes a weight tensor with ORT's weight rules (range from the data, widened to include 0),
 * per tensor or per channel along `axis` of `dims`.
 */
export function quantizeWeight(
  data: Float32Array,
  dims: readonly number[],
  type: QuantType,
  options: { symmetric: boolean; axis?: number; reduceRange?: boolean },
): QuantizedWeight {
  const [qmin, qmax] = qRange(type, { symmetric: options.symmetric, reduceRange: options.reduceRange });
  const values = arrayFor(type, data.length);
  let maxError = 0;
  const quantizeSlice = (channel: number, index: (j: number) => number, count: number, scales: Float32Array, zps: Int32Array): void => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = 0; j < count; j++) {
      const v = data[index(j)];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) lo = hi = 0;
    const { scale, zeroPoint } = computeScaleZeroPoint(lo, hi, qmin, qmax, options.symmetric);
    scales[channel] = scale;
    zps[channel] = zeroPoint;
    for (let j = 0; j < count; j++) {
      const i = index(j);
      const q = quantizeValue(data[i], scale, zeroPoint, qmin, qmax);
      values[i] = q;
      const err = Math.abs(data[i] - (q - zeroPoint) * scale);
      if (err > maxError) maxError = err;
    }
  };
  if (options.axis === undefined) {
    const scales = new Float32Array(1);
    const zps = new Int32Array(1);
    quantizeSlice(0, (j) => j, data.length, scales, zps);
    return { values, scales, zeroPoints: zps, maxError };
  }
  const axis = options.axis < 0 ? options.axis + dims.length : options.axis;
  if (axis < 0 || axis >= dims.length) throw new Error(`axis ${options.axis} is out of range for a rank-${dims.length} tensor`);
  const channels = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const scales = new Float32Array(channels);
  const zps = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    // element (o, c, i) sits at (o * channels + c) * inner + i
    quantizeSlice(c, (j) => ((Math.floor(j / inner) * channels + c) * inner + (j % inner)), outer * inner, scales, zps);
  }
  return { values, scales, zeroPoints: zps, axis, maxError };
}

/** Bias for QDQ: int32 with scale = inputScale * weightScale (per channel), zero point 0. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { values: Int32Array; scales: Float32Array; clipped: number } {
  const n = bias.length;
  const scales = new Float32Array(weightScales.length === 1 ? 1 : n);
  for (let i = 0; i < scales.length; i++) scales[i] = Math.fround(inputScale * weightScales[i]);
  const values = new Int32Array(n);
  let clipped = 0;
  for (let i = 0; i < n; i++) {
    const s = scales[scales.length === 1 ? 0 : i];
    let q = s === 0 ? 0 : roundHalfEven(Math.fround(bias[i] / s));
    if (q > 2147483647 || q < -2147483648) {
      q = q > 0 ? 2147483647 : -2147483648;
      clipped++;
    }
    values[i] = q;
  }
  return { values, scales, clipped };
}

// --- 4-bit block quantization (com.microsoft MatMulNBits) -----------------------------------

export interface Int4Blocks {
  /** [N, kBlocks, blockSize / 2]: per output column n, K split into blocks, two values per byte, low nibble first */
  packed: Uint8Array;
  /** [N, kBlocks] */
  scales: Float32Array;
  /** [N, ceil(kBlocks / 2)] packed like the weights; only for asymmetric quantization */
  zeroPoints?: Uint8Array;
  kBlocks: number;
  maxError: number;
}

/**
 * Block-quantizes B ([K, N] row-major, or [N, K] when `transposed`) to 4 bits along K, as ORT's
 * MatMulNBits quantizer does (RTN):
 * - symmetric: scale = v / -8 where v is the block's value of largest magnitude (sign kept), so
 *   that value maps to -8 exactly; q = clip(round(x / scale), -8, 7), stored as q + 8 (the
 *   default zero point of MatMulNBits, so no zero_points input is written);
 * - asymmetric: range widened to include 0, scale = (max - min) / 15,
 *   zp = clip(round(-min / scale), 0, 15) (8 when scale is 0), q = clip(round(x / scale) + zp, 0, 15).
 * K is zero-padded to a multiple of the block size.
 */
export function quantizeInt4Blocks(
  b: Float32Array,
  K: number,
  N: number,
  blockSize: number,
  options: { symmetric: boolean; transposed?: boolean },
): Int4Blocks {
  const kBlocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const packed = new Uint8Array(N * kBlocks * blob);
  const scales = new Float32Array(N * kBlocks);
  const zpBytes = Math.ceil(kBlocks / 2);
  const zeroPoints = options.symmetric ? undefined : new Uint8Array(N * zpBytes);
  const at = options.transposed ? (k: number, n: number) => b[n * K + k] : (k: number, n: number) => b[k * N + n];
  const block = new Float32Array(blockSize);
  let maxError = 0;
  for (let n = 0; n < N; n++) {
    for (let kb = 0; kb < kBlocks; kb++) {
      const k0 = kb * blockSize;
      for (let j = 0; j < blockSize; j++) block[j] = k0 + j < K ? at(k0 + j, n) : 0;
      let scale: number;
      let zp: number;
      if (options.symmetric) {
        let v = 0;
        for (let j = 0; j < blockSize; j++) if (Math.abs(block[j]) > Math.abs(v)) v = block[j];
        scale = Math.fround(v / -8);
        zp = 8;
      } else {
        let lo = 0;
        let hi = 0;
        for (let j = 0; j < blockSize; j++) {
          if (block[j] < lo) lo = block[j];
          if (block[j] > hi) hi = block[j];
        }
        scale = Math.fround((hi - lo) / 15);
        zp = scale === 0 ? 8 : Math.min(15, Math.max(0, roundHalfEven(-lo / scale)));
      }
      scales[n * kBlocks + kb] = scale;
      if (zeroPoints) zeroPoints[n * zpBytes + (kb >> 1)] |= zp << ((kb & 1) * 4);
      const base = (n * kBlocks + kb) * blob;
      for (let j = 0; j < blockSize; j++) {
        let q: number;
        if (scale === 0) q = zp;
        else {
          const r = roundHalfEven(Math.fround(block[j] / scale)) + (options.symmetric ? 0 : zp);
          q = options.symmetric ? Math.min(7, Math.max(-8, r)) + 8 : Math.min(15, Math.max(0, r));
        }
        packed[base + (j >> 1)] |= q << ((j & 1) * 4);
        if (k0 + j < K) {
          const err = Math.abs(block[j] - (q - zp) * scale);
          if (err > maxError) maxError = err;
        }
      }
    }
  }
  return { packed, scales, zeroPoints, kBlocks, maxError };
}

/** Inverse of quantizeInt4Blocks: B as [K, N] row-major floats (for tests and error reports). */
export function dequantizeInt4Blocks(q: Int4Blocks, K: number, N: number, blockSize: number): Float32Array {
  const out = new Float32Array(K * N);
  const blob = blockSize / 2;
  const zpBytes = Math.ceil(q.kBlocks / 2);
  for (let n = 0; n < N; n++) {
    for (let kb = 0; kb < q.kBlocks; kb++) {
      const scale = q.scales[n * q.kBlocks + kb];
      const zp = q.zeroPoints ? (q.zeroPoints[n * zpBytes + (kb >> 1)] >> ((kb & 1) * 4)) & 0x0f : 8;
      for (let j = 0; j < blockSize; j++) {
        const k = kb * blockSize + j;
        if (k >= K) break;
        const byte = q.packed[(n * q.kBlocks + kb) * blob + (j >> 1)];
        const nib = (byte >> ((j & 1) * 4)) & 0x0f;
        out[k * N + n] = (nib - zp) * scale;
      }
    }
  }
  return out;
}
