/**
 * `optimize`: a chain of model transformations (prune, quantize, fp16, opset) that is evaluated
 * after every step against the original model and refuses to go on once the accuracy drop
 * exceeds a bound. model → (model, report); the CLI does the file I/O.
 *
 * Step syntax (`--steps`), steps separated by commas, options by colons, lists by '+':
 *
 *   prune=S[:structured][:global|:per-layer][:exclude=NODE+NODE]
 *   quantize=dynamic|static|int8-weight|int4[:per-channel][:reduce-range[=on|off|auto]][:cpu=vnni|avx2|arm64|any]
 *            [:exclude=NODE+NODE][:ops=MatMul+Gemm]   (reduce range: auto by default, see quantize/target.ts)
 *            dynamic: [:fused|:standard]
 *            static:  [:minmax|:entropy|:percentile][:int8|:uint8|:int16]
 *            int4:    [:block=32|64|128][:acc=0..4][:symmetric]
 *   fp16[:fp16-io][:block=OP+OP]           (block: ops kept in float32, added to the defaults)
 *   opset=N
 *
 * e.g. `prune=0.5:structured,quantize=dynamic` or `quantize=static:entropy:per-channel`.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { DEFAULT_FP16_BLOCK_OPS, convertFp16 } from '../convert/fp16.js';
import { convertOpset } from '../convert/opset.js';
import { encodeModel } from '../onnx/index.js';
import type { ModelProto } from '../onnx/index.js';
import { fitDataset, modelInputSpecs, type Dataset } from '../datasets/index.js';
import { EvalModel, accuracyOf, compare, top1, type LatencyOptions, type LatencyStats, type Predictions } from './eval.js';
import { prune } from './prune.js';
import { quantize } from './quantize/index.js';
import { CPU_TARGETS, detectCpuFeatures, type CpuFeatures, type CpuTarget } from '../runtime/cpu-features.js';

type QuantizeOptions = Parameters<typeof quantize>[1];
type PruneOptions = Parameters<typeof prune>[1];
type Fp16Options = NonNullable<Parameters<typeof convertFp16>[1]>;

export type PipelineStep =
  | { kind: 'prune'; text: string; options: PruneOptions }
  | { kind: 'quantize'; text: string; options: QuantizeOptions }
  | { kind: 'fp16'; text: string; options: Fp16Options }
  | { kind: 'opset'; text: string; target: number };

export const STEP_SYNTAX = [
  'prune=S[:structured][:global|:per-layer][:exclude=NODE+NODE]',
  'quantize=dynamic|static|int8-weight|int4[:per-channel][:reduce-range[=on|off|auto]][:cpu=vnni|avx2|arm64|any][:exclude=NODE+NODE][:ops=MatMul+Gemm] (dynamic: [:fused|:standard]; static: [:minmax|:entropy|:percentile][:int8|:uint8|:int16]; int4: [:block=32|64|128][:acc=0..4][:symmetric])',
  'fp16[:fp16-io][:block=OP+OP]',
  'opset=N',
].join('; ');

function stepError(text: string, message: string): never {
  throw new Error(`step '${text}': ${message} (syntax: ${STEP_SYNTAX})`);
}

/** Parses `--steps`, e.g. `prune=0.5,quantize=dynamic,fp16,opset=13`. */
export function parseSteps(spec: string): PipelineStep[] {
  const texts = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (texts.length === 0) throw new Error(`no steps given (syntax: ${STEP_SYNTAX})`);
  return texts.map(parseStep);
}

function parseStep(text: string): PipelineStep {
  const [head, ...opts] = text.split(':').map((s) => s.trim());
  const eq = head.indexOf('=');
  const name = (eq < 0 ? head : head.slice(0, eq)).toLowerCase();
  const value = eq < 0 ? undefined : head.slice(eq + 1);
  const options = opts.map((o) => {
    const i = o.indexOf('=');
    return i < 0 ? { key: o.toLowerCase(), value: undefined } : { key: o.slice(0, i).toLowerCase(), value: o.slice(i + 1) };
  });
  const list = (v: string | undefined, key: string): string[] => {
    const items = (v ?? '').split('+').map((s) => s.trim()).filter((s) => s !== '');
    if (items.length === 0) stepError(text, `${key}= needs a list, e.g. ${key}=a+b`);
    return items;
  };
  const unknown = (key: string): never => stepError(text, `unknown option '${key}' for ${name}`);

  if (name === 'prune') {
    const sparsity = Number(value);
    if (value === undefined || !Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) stepError(text, 'prune needs a sparsity in [0, 1), e.g. prune=0.5');
    const o: Record<string, unknown> = { sparsity };
    for (const { key, value: v } of options) {
      if (key === 'structured') o.structured = true;
      else if (key === 'global' || key === 'per-layer') o.scope = key;
      else if (key === 'exclude') o.exclude = list(v, key);
      else unknown(key);
    }
    return { kind: 'prune', text, options: o as unknown as PruneOptions };
  }

  if (name === 'quantize') {
    const o: Record<string, unknown> = {};
    switch ((value ?? '').toLowerCase()) {
      case 'dynamic':
        o.mode = 'dynamic';
        break;
      case 'static':
        o.mode = 'static';
        break;
      case 'int8-weight':
      case 'weight-int8':
        o.mode = 'weight-only';
        o.bits = 8;
        break;
      case 'int4':
      case 'weight-int4':
        o.mode = 'weight-only';
        o.bits = 4;
        break;
      default:
        stepError(text, 'quantize needs a mode: dynamic, static, int8-weight or int4');
    }
    for (const { key, value: v } of options) {
      if (key === 'per-channel') o.perChannel = true;
      else if (key === 'minmax' || key === 'entropy' || key === 'percentile') {
        if (o.mode !== 'static') stepError(text, `${key} calibration applies to quantize=static only`);
        o.calibrationMethod = key;
      } else if (key === 'int16' || key === 'int8' || key === 'uint8') {
        if (o.mode !== 'static') stepError(text, `activation type ${key} applies to quantize=static only`);
        o.activationType = key;
      } else if (key === 'block') {
        const b = Number(v);
        if (o.bits !== 4 || ![32, 64, 128].includes(b)) stepError(text, 'block=32|64|128 applies to quantize=int4');
        o.blockSize = b;
      } else if (key === 'acc') {
        const level = Number(v);
        if (o.bits !== 4 || ![0, 1, 2, 3, 4].includes(level)) stepError(text, 'acc=0..4 (MatMulNBits accuracy_level) applies to quantize=int4');
        o.accuracyLevel = level;
      } else if (key === 'symmetric') {
        if (o.bits !== 4) stepError(text, 'symmetric applies to quantize=int4');
        o.symmetric = true;
      } else if (key === 'standard' || key === 'fused') {
        if (o.mode !== 'dynamic') stepError(text, `${key} applies to quantize=dynamic`);
        o.dynamicForm = key;
      } else if (key === 'reduce-range') {
        if (v === undefined || v === 'on') o.reduceRange = true;
        else if (v === 'off') o.reduceRange = false;
        else if (v === 'auto') o.reduceRange = 'auto';
        else stepError(text, 'reduce-range takes on, off or auto');
      } else if (key === 'cpu') {
        if (!CPU_TARGETS.includes(v as CpuTarget)) stepError(text, `cpu must be one of ${CPU_TARGETS.join(', ')}`);
        o.targetCpu = v;
      }
      else if (key === 'exclude') o.exclude = list(v, key);
      else if (key === 'ops') o.opTypes = list(v, key);
      else unknown(key);
    }
    return { kind: 'quantize', text, options: o as unknown as QuantizeOptions };
  }

  if (name === 'fp16') {
    if (value !== undefined) stepError(text, 'fp16 takes no value');
    const o: Record<string, unknown> = { keepIoTypes: true };
    for (const { key, value: v } of options) {
      if (key === 'fp16-io') o.keepIoTypes = false;
      else if (key === 'keep-io') o.keepIoTypes = true;
      else if (key === 'block') o.blockOps = [...new Set([...DEFAULT_FP16_BLOCK_OPS, ...list(v, key)])].sort();
      else unknown(key);
    }
    return { kind: 'fp16', text, options: o as unknown as Fp16Options };
  }

  if (name === 'opset') {
    const target = Number(value);
    if (!Number.isInteger(target) || target < 1) stepError(text, 'opset needs a version, e.g. opset=13');
    if (options.length) unknown(options[0].key);
    return { kind: 'opset', text, target };
  }

  stepError(text, `unknown step '${name}'`);
}

export interface PipelineProgress {
  index: number;
  total: number;
  step: string;
  phase: 'transform' | 'evaluate' | 'done';
}

export interface PipelineOptions {
  /** evaluation data; also the calibration data of quantize=static unless `calibration` is given */
  data: Dataset;
  /** class ids: the bound applies to top-1 accuracy. Without labels it applies to 1 − agreement with the original. */
  labels?: Int32Array | Float32Array;
  calibration?: Dataset;
  /** largest allowed drop, as a fraction (0.01 = 1 point); default 0.01 */
  maxAccuracyDrop?: number;
  batch?: number;
  outputName?: string;
  /** measure latency of the original and the final model (default false) */
  latency?: boolean | LatencyOptions;
  /** onnxruntime session options for the evaluations */
  sessionOptions?: InferenceSession.SessionOptions;
  onProgress?: (p: PipelineProgress) => void;
}

export interface ModelScore {
  bytes: number;
  /** bytes / the original's bytes */
  sizeRatio: number;
  /** top-1 accuracy, with labels */
  accuracy?: number;
  /** same top-1 as the original */
  agreement: number;
  maxAbsError: number | null;
  meanAbsError: number | null;
  /** the bounded quantity: original top-1 − this top-1 (with labels), else 1 − agreement */
  drop: number;
}

export interface PipelineStepReport extends ModelScore {
  index: number;
  step: string;
  ok: boolean;
  /** time the transformation took */
  seconds: number;
  /** the step function's own report */
  details: unknown;
}

export interface PipelineReport {
  ok: boolean;
  metric: 'top1' | 'agreement';
  maxAccuracyDrop: number;
  samples: number;
  output: string;
  /** the CPU the accuracy and latency figures were measured on */
  cpu: CpuFeatures;
  original: { bytes: number; accuracy?: number; latency?: { batch1: LatencyStats; batchN: LatencyStats } };
  steps: PipelineStepReport[];
  /** the model the pipeline produced (when ok) */
  final?: ModelScore & { latency?: { batch1: LatencyStats; batchN: LatencyStats } };
  /** why the pipeline refused (when not ok) */
  refusal?: { index: number; step: string; drop: number; bound: number; excess: number; message: string };
}

export interface PipelineResult {
  ok: boolean;
  /** the final model when ok; the last model that met the bound otherwise */
  model: ModelProto;
  report: PipelineReport;
}

async function applyStep(model: ModelProto, step: PipelineStep, calibration: Dataset): Promise<{ model: ModelProto; report: unknown }> {
  switch (step.kind) {
    case 'prune':
      return prune(model, step.options);
    case 'quantize': {
      const options = { ...step.options };
      if (options.mode === 'static') {
        const specs = modelInputSpecs(model);
        options.calibration = fitDataset(calibration, specs, 'calibration data');
      }
      return quantize(model, options);
    }
    case 'fp16':
      return convertFp16(model, step.options);
    case 'opset':
      return convertOpset(model, step.target);
  }
}

const points = (x: number): string => `${(x * 100).toFixed(2)} point${Math.abs(x * 100 - 1) < 1e-9 ? '' : 's'}`;
const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

/**
 * Runs the steps in order, evaluating after each against the original. Stops at the first step
 * whose drop exceeds `maxAccuracyDrop`; then `ok` is false and `report.refusal` says which step
 * and by how much.
 */
export async function runPipeline(original: ModelProto, steps: PipelineStep[], options: PipelineOptions): Promise<PipelineResult> {
  const bound = options.maxAccuracyDrop ?? 0.01;
  if (!(bound >= 0)) throw new Error(`max accuracy drop must be ≥ 0, got ${bound}`);
  const labels = options.labels;
  if (labels && !(labels instanceof Int32Array)) {
    throw new Error('optimize bounds top-1 accuracy, so --labels must be class ids (integers); omit --labels to bound disagreement with the original instead');
  }
  if (labels && labels.length !== options.data.samples) throw new Error(`labels: ${labels.length} labels for ${options.data.samples} samples`);
  const batch = options.batch ?? 32;
  const sessionOptions = options.sessionOptions;
  const latencyOptions: LatencyOptions | undefined = options.latency === true ? {} : options.latency || undefined;

  const originalBytes = encodeModel(original);
  const base = await EvalModel.open(originalBytes, sessionOptions);
  let baseData: Dataset;
  let basePredictions: Predictions;
  let outputName: string;
  const report: PipelineReport = {
    ok: false,
    metric: labels ? 'top1' : 'agreement',
    maxAccuracyDrop: bound,
    samples: options.data.samples,
    output: '',
    cpu: detectCpuFeatures(),
    original: { bytes: originalBytes.length },
    steps: [],
  };
  try {
    baseData = base.fit(options.data);
    outputName = options.outputName ?? base.outputs[0]?.name;
    if (outputName === undefined) throw new Error('the model has no outputs');
    basePredictions = await base.predict(baseData, outputName, batch);
    report.output = outputName;
    if (labels) report.original.accuracy = accuracyOf(top1(basePredictions), labels).top1;
    if (latencyOptions) {
      report.original.latency = { batch1: await base.latency(baseData, 1, latencyOptions), batchN: await base.latency(baseData, batch, latencyOptions) };
    }
  } finally {
    await base.close();
  }

  const score = async (model: ModelProto, withLatency: boolean): Promise<ModelScore & { latency?: { batch1: LatencyStats; batchN: LatencyStats } }> => {
    const bytes = encodeModel(model);
    const m = await EvalModel.open(bytes, sessionOptions);
    try {
      const data = m.fit(options.data);
      const name = m.outputs.some((o) => o.name === outputName) ? outputName : m.outputs[0]?.name;
      if (name === undefined) throw new Error('the model has no outputs');
      const p = await m.predict(data, name, batch);
      const cmp = compare(p, basePredictions);
      const accuracy = labels ? accuracyOf(top1(p), labels).top1 : undefined;
      const drop = labels ? report.original.accuracy! - accuracy! : 1 - cmp.agreement;
      const result: ModelScore & { latency?: { batch1: LatencyStats; batchN: LatencyStats } } = {
        bytes: bytes.length,
        sizeRatio: bytes.length / originalBytes.length,
        accuracy,
        ...cmp,
        drop,
      };
      if (withLatency && latencyOptions) result.latency = { batch1: await m.latency(data, 1, latencyOptions), batchN: await m.latency(data, batch, latencyOptions) };
      return result;
    } finally {
      await m.close();
    }
  };

  let model = original;
  const calibration = options.calibration ?? options.data;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const progress = (phase: PipelineProgress['phase']): void => options.onProgress?.({ index: i + 1, total: steps.length, step: step.text, phase });
    progress('transform');
    const t0 = performance.now();
    let next: { model: ModelProto; report: unknown };
    try {
      next = await applyStep(model, step, calibration);
    } catch (err) {
      throw new Error(`step ${i + 1} '${step.text}' failed: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    progress('evaluate');
    let s: ModelScore;
    try {
      s = await score(next.model, false);
    } catch (err) {
      throw new Error(`step ${i + 1} '${step.text}': cannot evaluate its output: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
    }
    // A tiny tolerance so a drop equal to the bound (e.g. 1 sample of 100 at 0.01) passes.
    const ok = s.drop <= bound + 1e-12;
    report.steps.push({ index: i + 1, step: step.text, ok, seconds, ...s, details: next.report });
    progress('done');
    if (!ok) {
      const what = labels
        ? `drops top-1 accuracy by ${points(s.drop)} (${pct(report.original.accuracy!)} → ${pct(s.accuracy!)})`
        : `disagrees with the original on ${pct(s.drop)} of samples`;
      const message = `step ${i + 1} '${step.text}' ${what}, ${points(s.drop - bound)} over the ${points(bound)} bound`;
      report.refusal = { index: i + 1, step: step.text, drop: s.drop, bound, excess: s.drop - bound, message };
      return { ok: false, model, report };
    }
    model = next.model;
  }
  report.ok = true;
  const last = report.steps.at(-1);
  if (latencyOptions || !last) report.final = await score(model, true);
  else report.final = { bytes: last.bytes, sizeRatio: last.sizeRatio, accuracy: last.accuracy, agreement: last.agreement, maxAbsError: last.maxAbsError, meanAbsError: last.meanAbsError, drop: last.drop };
  return { ok: true, model, report };
}
