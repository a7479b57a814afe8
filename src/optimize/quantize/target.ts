/**
 * Which CPU a quantized model is for, and whether its int8 weights must be 7-bit there.
 *
 * onnxruntime runs dynamic models (DynamicQuantizeMatMul, MatMulInteger) and static QDQ models
 * with 8-bit activations (fused to QGemm, QLinearMatMul, QLinearConv) on u8s8 kernels: uint8
 * activations times int8 weights. On x86-64 without VNNI those kernels use vpmaddubsw, which
 * adds each adjacent pair of u8 × s8 products in a saturating int16 lane: with full-range
 * weights a pair can reach 2 · 255 · 127 = 64770 > 32767 and is clipped, silently. With 7-bit
 * weights ([-64, 64], ORT's reduce_range) the largest pair is 2 · 255 · 64 = 32640 and fits.
 * VNNI (vpdpbusd) and arm64 (sdot/udot, or 16-bit widening) accumulate in 32 bits: full range
 * is safe there and one bit more accurate.
 *
 * Weight-only models dequantize to float before a float MatMul, and dynamic ConvInteger uses
 * uint8 weights (a u8u8 kernel that widens to 16 bits before multiplying): neither can saturate,
 * so 'auto' leaves them full range.
 */
import { u8s8Saturates, type CpuFeatures, type CpuTarget } from '../../runtime/cpu-features.js';
import type { QuantizeOptions } from './types.js';

export interface RangeDecision {
  targetCpu: CpuTarget;
  targetCpuFrom: 'option' | 'this machine';
  /** 7-bit int8 weights for the integer kernels */
  reduceRange: boolean;
  /** reduce range was asked for explicitly (then it applies to every weight, as in ORT) */
  forced: boolean;
  reason: string;
  warnings: string[];
}

const WHY = 'u8s8 kernels without VNNI sum pairs of products in saturating 16-bit lanes';

/** Whether the mode runs int8 weights through onnxruntime's u8s8 integer kernels. */
export function usesU8S8Kernels(options: Pick<QuantizeOptions, 'mode' | 'bits' | 'activationType'>): boolean {
  if (options.mode === 'dynamic') return true;
  return options.mode === 'static' && options.activationType !== 'int16';
}

export function decideRange(options: QuantizeOptions, cpu: CpuFeatures): RangeDecision {
  const targetCpu = options.targetCpu ?? cpu.target;
  const targetCpuFrom = options.targetCpu ? 'option' : 'this machine';
  const where = targetCpuFrom === 'option' ? `target CPU ${targetCpu}` : `this machine's CPU (${targetCpu})`;
  const integer = usesU8S8Kernels(options);
  const risky = u8s8Saturates(targetCpu);
  const warnings: string[] = [];
  const setting = options.reduceRange ?? 'auto';
  if (setting === true) {
    if (!integer) warnings.push(`--reduce-range on: ${options.mode === 'weight-only' ? 'weight-only models dequantize to float before multiplying, so 7-bit weights only lose accuracy' : 'int16 activations are not fused into integer kernels, so 7-bit weights only lose accuracy'}`);
    return { targetCpu, targetCpuFrom, reduceRange: true, forced: true, reason: '--reduce-range on', warnings };
  }
  if (setting === false) {
    if (integer && risky) {
      warnings.push(`--reduce-range off for ${where}: full-range int8 weights can saturate there (${WHY}); expect larger errors unless the model runs on a CPU with VNNI or on arm64`);
    }
    return { targetCpu, targetCpuFrom, reduceRange: false, forced: true, reason: '--reduce-range off', warnings };
  }
  if (!integer) return { targetCpu, targetCpuFrom, reduceRange: false, forced: false, reason: `auto: ${options.mode === 'weight-only' ? 'weight-only' : 'int16 activations'} runs no u8s8 kernel`, warnings };
  if (!risky) return { targetCpu, targetCpuFrom, reduceRange: false, forced: false, reason: `auto: full-range weights are safe on ${where}`, warnings };
  const unknown = targetCpu === 'any' ? (targetCpuFrom === 'option' ? ', which may lack VNNI' : ', whose flags are unknown') : '';
  return { targetCpu, targetCpuFrom, reduceRange: true, forced: false, reason: `auto: for ${where}${unknown}; ${WHY}`, warnings };
}
