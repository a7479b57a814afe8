/**
 * The evaluation report: is this model good enough, and fast enough, to ship?
 *
 * - top-1 accuracy against labels (argmax of the chosen output, or the output itself when it is
 *   an integer class id), or MAE/RMSE when the labels are real numbers;
 * - agreement (same top-1) and max/mean absolute error against a reference model, usually the
 *   model before quantization/pruning/conversion;
 * - latency p50/p99 and throughput at batch 1 and batch N, each the median of several rounds;
 * - size on disk (model file + external data).
 *
 * onnxruntime runs in-process here: this is a CLI/bench tool, not the server, so blocking the
 * event loop during `run()` is fine and measures the runtime without worker-thread overhead.
 */
import { stat } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { encodeModel, float16ToFloat32, loadModel, modelFileSizes } from '../onnx/index.js';
import type { ModelProto } from '../onnx/index.js';
import { describeCpu, detectCpuFeatures, type CpuFeatures } from '../runtime/cpu-features.js';
import { DATASET_DATATYPES, asDatasetDatatype, fitDataset, type Dataset, type DatasetTensor, type ModelInputSpec, type TypedArray } from '../datasets/index.js';
import { tensorDatatypeFromOrt } from '../tensor-types/datatypes.js';
import { median, quantileNearestRank } from '../util/stats.js';

/** A model file path, its serialized bytes, or a decoded model (external data already loaded). */
export type ModelSource = string | Uint8Array | ModelProto;

/**
 * How an output is read: 'scores' = per-class values (top-1 = argmax); 'labels' = an integer
 * class id per sample; 'values' = one real number per sample (top-1 = the value rounded).
 */
export type OutputKind = 'scores' | 'labels' | 'values';

export interface LatencyOptions {
  /** untimed runs first (default 3) */
  warmup?: number;
  /** timed runs per round (default: enough for ~0.3 s, between 5 and 1000) */
  iterations?: number;
  /** rounds; reported figures are the medians over rounds (default 3) */
  rounds?: number;
}

export interface EvalOptions extends LatencyOptions {
  data: Dataset;
  /** class ids (Int32Array) → top-1 accuracy; real targets (Float32Array) → MAE/RMSE */
  labels?: Int32Array | Float32Array;
  /** model to compare against: agreement and abs error of the chosen output */
  reference?: ModelSource;
  /** batch size for inference and for the batch-N latency (default 32) */
  batch?: number;
  /** output to score (default: the model's first output) */
  outputName?: string;
  /** measure latency (default true) */
  latency?: boolean;
  /** onnxruntime session options (default: all graph optimizations, onnxruntime's thread count) */
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

export interface LatencyStats {
  batch: number;
  /** median latency of one run, ms */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** samples per second */
  throughput: number;
  /** timed runs in all rounds */
  runs: number;
  rounds: number;
}

export interface AccuracyStats {
  top1: number;
  correct: number;
  total: number;
}

export interface EvalReport {
  model: { path?: string; bytes: number };
  samples: number;
  /** the CPU the figures were measured on (int8 accuracy and speed depend on it: docs/quantization.md) */
  cpu: CpuFeatures;
  output: { name: string; datatype: string; kind: OutputKind; perSample: number };
  accuracy?: AccuracyStats;
  regression?: { mae: number; rmse: number; total: number };
  reference?: {
    path?: string;
    bytes: number;
    /** this model's bytes / the reference's */
    sizeRatio: number;
    output: string;
    /** fraction of samples with the same top-1 */
    agreement: number;
    /** over every element of the output; null for integer label outputs */
    maxAbsError: number | null;
    meanAbsError: number | null;
    /** the reference's own accuracy, when labels are given */
    accuracy?: AccuracyStats;
    /** reference top-1 − this model's top-1 (fraction; 0.01 = 1 point) */
    accuracyDrop?: number;
  };
  latency?: { batch1: LatencyStats; batchN?: LatencyStats; note?: string };
}

export interface ValueInfo {
  name: string;
  /** onnxruntime type string ('float32', 'int64', ...) */
  type: string;
  shape: (number | string)[];
}

export interface Predictions {
  name: string;
  type: string;
  kind: OutputKind;
  perSample: number;
  /** all samples' outputs, row-major [samples, perSample] */
  values: Float32Array | Float64Array;
}

/** Per-figure medians of several measurements of the same thing. */
export function medianStats(list: LatencyStats[]): LatencyStats {
  if (list.length === 0) throw new Error('medianStats: no measurements');
  return {
    batch: list[0].batch,
    p50Ms: median(list.map((s) => s.p50Ms)),
    p99Ms: median(list.map((s) => s.p99Ms)),
    meanMs: median(list.map((s) => s.meanMs)),
    throughput: median(list.map((s) => s.throughput)),
    runs: list.reduce((a, s) => a + s.runs, 0),
    rounds: list.reduce((a, s) => a + s.rounds, 0),
  };
}

function tensorValues(t: ort.Tensor): Float32Array | Float64Array {
  const d = t.data as unknown;
  if (t.type === 'float16') {
    if (d instanceof Uint16Array) return float16ToFloat32(d);
    return Float32Array.from(d as ArrayLike<number>);
  }
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float64Array.from(d, (v) => Number(v));
  if (Array.isArray(d)) throw new Error(`output of type ${t.type} is not numeric`);
  return Float64Array.from(d as ArrayLike<number>);
}

const INTEGER_TYPES = new Set(['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool']);

/** An onnxruntime session opened for evaluation, with its interface. */
export class EvalModel {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly path: string | undefined,
    readonly bytes: number,
    readonly inputs: ValueInfo[],
    readonly outputs: ValueInfo[],
  ) {}

  static async open(source: ModelSource, sessionOptions: ort.InferenceSession.SessionOptions = {}): Promise<EvalModel> {
    const options: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3, graphOptimizationLevel: 'all', ...sessionOptions };
    let session: ort.InferenceSession;
    let bytes: number;
    let path: string | undefined;
    const what = typeof source === 'string' ? source : 'model';
    try {
      if (typeof source === 'string') {
        path = source;
        bytes = await modelBytesOnDisk(source);
        session = await ort.InferenceSession.create(source, options);
      } else {
        const buf = source instanceof Uint8Array ? source : encodeModel(source);
        bytes = buf.length;
        session = await ort.InferenceSession.create(buf, options);
      }
    } catch (err) {
      const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      throw new Error(msg.startsWith(what) ? msg : `${what}: onnxruntime cannot load it: ${msg}`);
    }
    const describe = (m: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] =>
      m.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: [...v.shape] } : { name: v.name, type: 'non-tensor', shape: [] }));
    return new EvalModel(session, path, bytes, describe(session.inputMetadata), describe(session.outputMetadata));
  }

  get label(): string {
    return this.path ?? 'model';
  }

  /** The fixed batch size every input declares (e.g. 1 for [1, 3, 224, 224]), if any. */
  get fixedBatch(): number | undefined {
    const firsts = this.inputs.map((i) => i.shape[0]);
    const fixed = firsts.find((d): d is number => typeof d === 'number' && d > 0);
    return fixed;
  }

  /** The dataset renamed, reshaped and cast to this model's inputs. */
  fit(data: Dataset): Dataset {
    const specs: ModelInputSpec[] = this.inputs.map((i) => {
      const datatype = asDatasetDatatype(tensorDatatypeFromOrt(i.type));
      if (!datatype) throw new Error(`${this.label}: input '${i.name}' is ${i.type}, which eval cannot feed (numeric and bool tensors only)`);
      return { name: i.name, shape: i.shape.length ? i.shape : null, datatype };
    });
    return fitDataset(data, specs, 'data');
  }

  /** onnxruntime feeds for samples [start, start + count) of fitted data, padded to a fixed batch. */
  feeds(data: Dataset, start: number, count: number): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    const size = Math.max(count, this.fixedBatch ?? 0);
    for (const input of this.inputs) {
      const t = data.inputs[input.name];
      const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
      let values: TypedArray;
      if (size === count) values = t.data.subarray(start * per, (start + count) * per) as TypedArray;
      else values = repeatRows(t, start, count, size);
      feeds[input.name] = new ort.Tensor(DATASET_DATATYPES[t.datatype].ort as ort.Tensor.Type, values as ort.Tensor.DataType, [size, ...t.shape.slice(1)]);
    }
    return feeds;
  }

  /** Runs every sample through the model in batches; returns the chosen output for all of them. */
  async predict(data: Dataset, outputName: string, batch: number): Promise<Predictions> {
    const out = this.outputs.find((o) => o.name === outputName);
    if (!out) throw new Error(`${this.label}: no output '${outputName}' (outputs: ${this.outputs.map((o) => o.name).join(', ')})`);
    if (out.type === 'non-tensor' || out.type === 'string') throw new Error(`${this.label}: output '${outputName}' is ${out.type}; choose a numeric output`);
    const step = this.fixedBatch ?? batch;
    let values: Float32Array | Float64Array | undefined;
    let perSample = 0;
    for (let start = 0; start < data.samples; start += step) {
      const count = Math.min(step, data.samples - start);
      const result = await this.session.run(this.feeds(data, start, count), [outputName]);
      const tensor = result[outputName] as ort.Tensor;
      const rows = tensor.dims[0];
      const got = tensorValues(tensor);
      if (tensor.dims.length === 0 || rows !== Math.max(count, this.fixedBatch ?? 0)) {
        throw new Error(`${this.label}: output '${outputName}' has shape [${tensor.dims.join(', ')}], not one row per sample; choose another output`);
      }
      if (!values) {
        perSample = got.length / rows;
        values = got instanceof Float64Array ? new Float64Array(data.samples * perSample) : new Float32Array(data.samples * perSample);
      } else if (got.length / rows !== perSample) {
        throw new Error(`${this.label}: output '${outputName}' changes size between batches`);
      }
      values.set(got.subarray(0, count * perSample), start * perSample);
    }
    const kind: OutputKind = INTEGER_TYPES.has(out.type) ? 'labels' : perSample > 1 ? 'scores' : 'values';
    if (kind === 'labels' && perSample !== 1) throw new Error(`${this.label}: integer output '${outputName}' has ${perSample} values per sample; expected one class id`);
    return { name: outputName, type: out.type, kind, perSample, values: values! };
  }

  /**
   * Latency of `batch`-sample runs on fitted data (samples repeated when there are fewer). Each
   * round times `iterations` runs; the result is the median over rounds.
   */
  async latency(data: Dataset, batch: number, options: LatencyOptions = {}): Promise<LatencyStats> {
    const size = this.fixedBatch ?? batch;
    const tiled = data.samples >= size ? data : tileDataset(data, size);
    const feeds = this.feeds(tiled, 0, size);
    const warmup = options.warmup ?? 3;
    let warmMs = 0;
    for (let i = 0; i < Math.max(1, warmup); i++) {
      const t0 = performance.now();
      await this.session.run(feeds);
      warmMs = performance.now() - t0;
    }
    const iterations = options.iterations ?? Math.min(1000, Math.max(5, Math.ceil(300 / Math.max(warmMs, 1e-3))));
    const rounds: LatencyStats[] = [];
    for (let r = 0; r < (options.rounds ?? 3); r++) {
      const times: number[] = [];
      const begin = performance.now();
      for (let i = 0; i < iterations; i++) {
        const t0 = performance.now();
        await this.session.run(feeds);
        times.push(performance.now() - t0);
      }
      const total = performance.now() - begin;
      times.sort((a, b) => a - b);
      rounds.push({
        batch: size,
        p50Ms: quantileNearestRank(times, 0.5),
        p99Ms: quantileNearestRank(times, 0.99),
        meanMs: times.reduce((a, b) => a + b, 0) / times.length,
        throughput: (size * iterations) / (total / 1000),
        runs: iterations,
        rounds: 1,
      });
    }
    return medianStats(rounds);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

function repeatRows(t: DatasetTensor, start: number, count: number, size: number): TypedArray {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const out = new DATASET_DATATYPES[t.datatype].array(size * per);
  for (let i = 0; i < size; i++) {
    const row = start + (i % count);
    (out as Float32Array).set(t.data.subarray(row * per, (row + 1) * per) as Float32Array, i * per);
  }
  return out;
}

/** A dataset of exactly `n` samples, repeating the given ones. */
export function tileDataset(data: Dataset, n: number): Dataset {
  const inputs: Record<string, DatasetTensor> = {};
  for (const [name, t] of Object.entries(data.inputs)) {
    inputs[name] = { datatype: t.datatype, shape: [n, ...t.shape.slice(1)], data: repeatRows(t, 0, Math.min(n, data.samples), n) };
  }
  return { samples: n, inputs };
}

/** Bytes of a model file plus the external data files it references. */
export async function modelBytesOnDisk(path: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code === 'ENOENT' ? `model file not found: ${path}` : `cannot read ${path}: ${e.message}`);
  }
  const model = await loadModel(path, { externalData: false });
  const sizes = await modelFileSizes(path, model);
  return Object.values(sizes.external).reduce((a, b) => a + Math.max(0, b), size);
}

/** Top-1 class of each sample. */
export function top1(p: Predictions): Int32Array {
  const n = p.values.length / p.perSample;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (p.kind === 'scores') {
      const base = i * p.perSample;
      let best = 0;
      let bestValue = p.values[base];
      for (let j = 1; j < p.perSample; j++) {
        const v = p.values[base + j];
        if (v > bestValue || (Number.isNaN(bestValue) && !Number.isNaN(v))) {
          best = j;
          bestValue = v;
        }
      }
      out[i] = best;
    } else {
      out[i] = Math.round(p.values[i]);
    }
  }
  return out;
}

export function accuracyOf(predicted: Int32Array, labels: Int32Array): AccuracyStats {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return { top1: correct / labels.length, correct, total: labels.length };
}

/** Agreement (same top-1) and absolute error of `p` against `ref`. */
export function compare(p: Predictions, ref: Predictions): { agreement: number; maxAbsError: number | null; meanAbsError: number | null } {
  const labelsOnly = p.kind === 'labels' || ref.kind === 'labels';
  if (!labelsOnly && p.perSample !== ref.perSample) {
    throw new Error(`output '${p.name}' has ${p.perSample} values per sample, the reference's '${ref.name}' has ${ref.perSample}`);
  }
  const a = top1(p);
  const b = top1(ref);
  if (a.length !== b.length) throw new Error(`${a.length} predictions against ${b.length} from the reference`);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  // Class ids against class ids (or scores): only top-1 is comparable.
  if (labelsOnly) return { agreement: same / a.length, maxAbsError: null, meanAbsError: null };
  let max = 0;
  let sum = 0;
  for (let i = 0; i < p.values.length; i++) {
    const d = Math.abs(p.values[i] - ref.values[i]);
    if (Number.isNaN(d)) {
      max = Number.NaN;
    } else if (d > max) max = d;
    sum += d;
  }
  return { agreement: same / a.length, maxAbsError: max, meanAbsError: sum / p.values.length };
}

function checkLabels(labels: Int32Array | Float32Array, samples: number): void {
  if (labels.length !== samples) throw new Error(`labels: ${labels.length} labels for ${samples} samples`);
}

/**
 * Evaluates a model on a dataset: accuracy with labels, agreement/error against a reference,
 * latency at batch 1 and N, size. The dataset is fitted to each model (names, shapes, types).
 */
export async function evaluate(source: ModelSource, options: EvalOptions): Promise<EvalReport> {
  const batch = options.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  if (options.labels) checkLabels(options.labels, options.data.samples);
  const model = await EvalModel.open(source, options.sessionOptions);
  try {
    const data = model.fit(options.data);
    const outputName = options.outputName ?? model.outputs[0]?.name;
    if (outputName === undefined) throw new Error(`${model.label}: the model has no outputs`);
    const needPredictions = options.labels !== undefined || options.reference !== undefined;
    const predictions = needPredictions ? await model.predict(data, outputName, batch) : undefined;
    const out = model.outputs.find((o) => o.name === outputName);
    if (!out) throw new Error(`${model.label}: no output '${outputName}' (outputs: ${model.outputs.map((o) => o.name).join(', ')})`);
    const report: EvalReport = {
      model: { path: model.path, bytes: model.bytes },
      samples: data.samples,
      cpu: detectCpuFeatures(),
      output: {
        name: outputName,
        datatype: out.type,
        kind: predictions?.kind ?? (INTEGER_TYPES.has(out.type) ? 'labels' : 'scores'),
        perSample: predictions?.perSample ?? out.shape.slice(1).reduce<number>((a, d) => a * (typeof d === 'number' && d > 0 ? d : 1), 1),
      },
    };
    if (options.labels && predictions) scoreLabels(report, predictions, options.labels);

    if (options.reference !== undefined && predictions) {
      const ref = await EvalModel.open(options.reference, options.sessionOptions);
      try {
        const refOutput = ref.outputs.some((o) => o.name === outputName) ? outputName : ref.outputs[0]?.name;
        if (refOutput === undefined) throw new Error(`${ref.label}: the reference has no outputs`);
        const refPredictions = await ref.predict(ref.fit(options.data), refOutput, batch);
        const cmp = compare(predictions, refPredictions);
        report.reference = { path: ref.path, bytes: ref.bytes, sizeRatio: model.bytes / ref.bytes, output: refOutput, ...cmp };
        if (options.labels instanceof Int32Array && report.accuracy) {
          report.reference.accuracy = accuracyOf(top1(refPredictions), options.labels);
          report.reference.accuracyDrop = report.reference.accuracy.top1 - report.accuracy.top1;
        }
      } finally {
        await ref.close();
      }
    }

    if (options.latency !== false) {
      const batch1 = await model.latency(data, 1, options);
      const fixed = model.fixedBatch;
      if (fixed !== undefined && fixed !== batch) {
        report.latency = { batch1, note: `the model's batch size is fixed at ${fixed}` };
      } else {
        report.latency = { batch1, batchN: batch === 1 ? batch1 : await model.latency(data, batch, options) };
      }
    }
    return report;
  } finally {
    await model.close();
  }
}

function scoreLabels(report: EvalReport, p: Predictions, labels: Int32Array | Float32Array): void {
  if (labels instanceof Int32Array) {
    report.accuracy = accuracyOf(top1(p), labels);
    return;
  }
  if (p.perSample !== 1) {
    throw new Error(`labels are real numbers (regression targets) but output '${p.name}' has ${p.perSample} values per sample`);
  }
  let abs = 0;
  let sq = 0;
  for (let i = 0; i < labels.length; i++) {
    const d = p.values[i] - labels[i];
    abs += Math.abs(d);
    sq += d * d;
  }
  report.regression = { mae: abs / labels.length, rmse: Math.sqrt(sq / labels.length), total: labels.length };
}

// ---------------------------------------------------------------------------------------------
// Text

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
const ms = (x: number): string => (x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);

function latencyLine(s: LatencyStats): string {
  return `batch ${String(s.batch).padEnd(4)} p50 ${ms(s.p50Ms).padStart(9)}  p99 ${ms(s.p99Ms).padStart(9)}  ${s.throughput.toFixed(0).padStart(8)} samples/s`;
}

/** The report as a few aligned lines for a terminal. */
export function formatEvalReport(r: EvalReport): string {
  const lines: string[] = [];
  lines.push(`model      ${r.model.path ?? '(in memory)'}  ${formatBytes(r.model.bytes)}`);
  lines.push(`cpu        ${describeCpu(r.cpu)}`);
  lines.push(`data       ${r.samples} samples; output '${r.output.name}' (${r.output.datatype}, ${r.output.kind === 'scores' ? `argmax of ${r.output.perSample}` : r.output.kind})`);
  if (r.accuracy) lines.push(`accuracy   top-1 ${pct(r.accuracy.top1)} (${r.accuracy.correct}/${r.accuracy.total})`);
  if (r.regression) lines.push(`error      MAE ${r.regression.mae.toPrecision(4)}  RMSE ${r.regression.rmse.toPrecision(4)}`);
  if (r.reference) {
    const ref = r.reference;
    lines.push(`reference  ${ref.path ?? '(in memory)'}  ${formatBytes(ref.bytes)}  (size ratio ${ref.sizeRatio.toFixed(3)})`);
    const err = ref.maxAbsError === null ? '' : `  max |Δ| ${ref.maxAbsError.toPrecision(3)}  mean |Δ| ${ref.meanAbsError!.toPrecision(3)}`;
    lines.push(`agreement  ${pct(ref.agreement)} same top-1${err}`);
    if (ref.accuracy && ref.accuracyDrop !== undefined) {
      lines.push(`vs ref     reference top-1 ${pct(ref.accuracy.top1)}; drop ${(ref.accuracyDrop * 100).toFixed(2)} points`);
    }
  }
  if (r.latency) {
    lines.push(`latency    ${latencyLine(r.latency.batch1)}`);
    if (r.latency.batchN && r.latency.batchN !== r.latency.batch1) lines.push(`           ${latencyLine(r.latency.batchN)}`);
    if (r.latency.note) lines.push(`           (${r.latency.note})`);
  }
  return lines.join('\n') + '\n';
}
