/**
 * Quantization of ONNX models: dynamic int8, static QDQ with calibration, weight-only int8/int4.
 *
 * Pure: a model in, a new model and a report out. The input model is not modified (unchanged
 * tensors are shared with the output, not copied). Weights are read and quantized one tensor at
 * a time; with `externalDataDir`, tensors still in external files are read from disk only when
 * they are quantized, so a large model is never held twice in float.
 */
import type { ModelProto } from '../../onnx/index.js';
import { CPU_TARGETS, detectCpuFeatures } from '../../runtime/cpu-features.js';
import { Context, selectCandidates } from './context.js';
import { quantizeDynamic } from './dynamic.js';
import { MS_DOMAIN, initializerBytes, onnxOpset, withOpset } from './graph.js';
import { foldBatchNorm } from './prepare.js';
import { quantizeStatic } from './static.js';
import { decideRange } from './target.js';
import { QuantizeError, type QuantizeOptions, type QuantizeReport } from './types.js';
import { quantizeWeightOnly4, quantizeWeightOnly8 } from './weight-only.js';

export * from './types.js';
export { computeScaleZeroPoint, quantizeValue, dequantizeValue, qRange, roundHalfEven, quantizeWeight, quantizeBias, quantizeInt4Blocks, dequantizeInt4Blocks } from './math.js';
export type { QuantType, QuantParams, QuantizedWeight, Int4Blocks } from './math.js';
export { rangeOf, entropyThreshold, histogram, type CalibrationMethod, type CalibrationSettings, type TensorRange } from './calibrate.js';
export { formatReport } from './report.js';
export { decideRange, usesU8S8Kernels, type RangeDecision } from './target.js';

const SUPPORTED: Record<string, string[]> = {
  dynamic: ['MatMul', 'Gemm', 'Conv'],
  static: ['MatMul', 'Gemm', 'Conv'],
  'weight-only-8': ['MatMul', 'Gemm', 'Conv', 'Gather'],
  'weight-only-4': ['MatMul', 'Gemm'],
};

const DEFAULT_OP_TYPES: Record<string, string[]> = {
  dynamic: ['MatMul', 'Gemm'],
  static: ['MatMul', 'Gemm', 'Conv'],
  'weight-only-8': ['MatMul', 'Gemm'],
  'weight-only-4': ['MatMul', 'Gemm'],
};

function validate(options: QuantizeOptions): { key: string; bits: 8 | 4; opTypes: string[] } {
  const { mode } = options;
  if (!['dynamic', 'static', 'weight-only'].includes(mode)) throw new QuantizeError(`unknown mode '${String(mode)}' (dynamic, static or weight-only)`);
  const bits = options.bits ?? 8;
  if (bits !== 8 && bits !== 4) throw new QuantizeError(`bits must be 8 or 4, got ${String(bits)}`);
  if (bits === 4 && mode !== 'weight-only') throw new QuantizeError('4-bit quantization is weight-only (--mode weight-only --bits 4)');
  if (options.blockSize !== undefined && ![16, 32, 64, 128, 256].includes(options.blockSize)) {
    throw new QuantizeError(`block size must be 32, 64 or 128, got ${String(options.blockSize)}`);
  }
  if (options.accuracyLevel !== undefined && ![0, 1, 2, 3, 4].includes(options.accuracyLevel)) {
    throw new QuantizeError(`accuracy level must be 0..4, got ${String(options.accuracyLevel)}`);
  }
  if (mode === 'static' && !options.calibration) throw new QuantizeError('static quantization needs calibration data (--calibration DATA)');
  if (options.activationType !== undefined && !['int8', 'uint8', 'int16'].includes(options.activationType)) {
    throw new QuantizeError(`activation type must be int8, uint8 or int16, got ${String(options.activationType)}`);
  }
  if (options.calibrationMethod !== undefined && !['minmax', 'entropy', 'percentile'].includes(options.calibrationMethod)) {
    throw new QuantizeError(`calibration method must be minmax, entropy or percentile, got ${String(options.calibrationMethod)}`);
  }
  if (options.reduceRange !== undefined && ![true, false, 'auto'].includes(options.reduceRange)) {
    throw new QuantizeError(`reduce range must be on, off or auto, got ${String(options.reduceRange)}`);
  }
  if (options.targetCpu !== undefined && !CPU_TARGETS.includes(options.targetCpu)) {
    throw new QuantizeError(`target CPU must be one of ${CPU_TARGETS.join(', ')}, got ${String(options.targetCpu)}`);
  }
  const p = options.calibrationSettings?.percentile;
  if (p !== undefined && !(p > 0 && p <= 100)) throw new QuantizeError(`percentile must be in (0, 100], got ${p}`);
  const key = mode === 'weight-only' ? `weight-only-${bits}` : mode;
  const opTypes = options.opTypes && options.opTypes.length > 0 ? [...new Set(options.opTypes)] : DEFAULT_OP_TYPES[key];
  const unsupported = opTypes.filter((t) => !SUPPORTED[key].includes(t));
  if (unsupported.length > 0) {
    const what = mode === 'weight-only' ? `weight-only ${bits}-bit` : mode;
    throw new QuantizeError(`cannot quantize ${unsupported.join(', ')} in ${what} mode (supported: ${SUPPORTED[key].join(', ')})`);
  }
  return { key, bits, opTypes };
}

export async function quantize(model: ModelProto, options: QuantizeOptions): Promise<{ model: ModelProto; report: QuantizeReport }> {
  const started = performance.now();
  const { bits, opTypes } = validate(options);
  if (!model.graph) throw new QuantizeError('the model has no graph');
  const { mode } = options;
  const cpu = detectCpuFeatures();
  const range = decideRange(options, cpu);
  const report: QuantizeReport = {
    mode,
    targetCpu: range.targetCpu,
    targetCpuFrom: range.targetCpuFrom,
    cpu,
    reduceRange: range.reduceRange && bits === 8,
    reduceRangeReason: bits === 4 ? '4-bit blocks have their own range' : range.reason,
    bits,
    weightType: bits === 4 ? (options.symmetric ? 'int4' : 'uint4') : 'int8',
    perChannel: bits === 4 ? false : (options.perChannel ?? false),
    opTypes,
    quantizedNodes: [],
    skipped: [],
    rewrites: [],
    warnings: bits === 8 ? [...range.warnings] : [],
    sizeBefore: initializerBytes(model.graph),
    sizeAfter: 0,
    weightBytesBefore: 0,
    weightBytesAfter: 0,
    opset: onnxOpset(model),
    irVersion: model.irVersion ?? 0,
    addedOpsets: [],
    elapsedMs: 0,
  };
  if (bits === 4) {
    report.blockSize = options.blockSize ?? 32;
    report.accuracyLevel = options.accuracyLevel ?? 4;
    report.symmetric = options.symmetric ?? false;
    if (options.perChannel) report.warnings.push('--per-channel does not apply to 4-bit weights (they have one scale per block)');
  }
  if (mode === 'dynamic') report.activationType = 'uint8 (dynamic)';
  if (mode === 'static') report.activationType = options.activationType ?? 'uint8';
  if (mode !== 'static' && options.calibration) report.warnings.push(`calibration data is only used by static quantization; ignored in ${mode} mode`);
  if (mode !== 'static' && options.activationType) report.warnings.push(`activation type only applies to static quantization; ignored in ${mode} mode`);

  let work = model;
  if ((options.foldBatchNorm ?? true) && mode !== 'weight-only' && opTypes.includes('Conv')) {
    work = foldBatchNorm(work, options.externalDataDir, report.rewrites);
  }
  const ctx = new Context(work, options, report);
  ctx.reduceRange = report.reduceRange;
  ctx.reduceRangeForced = range.forced;
  const candidates = selectCandidates(work.graph!, opTypes, options.exclude ?? [], report);
  if (mode === 'dynamic') quantizeDynamic(ctx, candidates);
  else if (mode === 'static') await quantizeStatic(ctx, candidates);
  else if (bits === 8) quantizeWeightOnly8(ctx, candidates);
  else quantizeWeightOnly4(ctx, candidates);

  const graph = ctx.rw.build(ctx.renameInputs);
  let out: ModelProto = { ...work, graph };
  if (ctx.usesMsDomain) {
    const before = out.opsetImport.length;
    out = withOpset(out, MS_DOMAIN, 1);
    if (out.opsetImport.length > before) report.addedOpsets.push(`${MS_DOMAIN}:1`);
  }
  const settings: Record<string, unknown> = { mode, bits, perChannel: report.perChannel, targetCpu: report.targetCpu, reduceRange: report.reduceRange };
  if (report.blockSize) Object.assign(settings, { blockSize: report.blockSize, accuracyLevel: report.accuracyLevel, symmetric: report.symmetric });
  if (report.activationType) settings.activationType = report.activationType;
  if (report.calibration) settings.calibrationMethod = report.calibration.method;
  out.metadataProps = [...(model.metadataProps ?? []).filter((p) => p.key !== 'berth.quantize'), { key: 'berth.quantize', value: JSON.stringify(settings) }];
  if (report.quantizedNodes.length === 0) report.warnings.push('no node was quantized');
  else if (mode === 'weight-only' && bits === 8) {
    report.warnings.push('weight-only int8 saves size, not time: onnxruntime runs DequantizeLinear on the weights at every inference (measured ~2x slower than float on CPU); use --mode dynamic for speed');
  }
  report.sizeAfter = initializerBytes(graph);
  report.weightBytesBefore = ctx.weightBytesBefore;
  report.weightBytesAfter = ctx.weightBytesAfter;
  report.elapsedMs = Math.round(performance.now() - started);
  return { model: out, report };
}
