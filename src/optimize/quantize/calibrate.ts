/**
 * Calibration for static quantization: run an augmented copy of the model (the tensors to
 * quantize exposed as extra graph outputs) in onnxruntime over the calibration samples, and turn
 * what was observed into a [min, max] range per tensor with ONNX Runtime's methods (calibrate.py):
 *
 * - minmax: the smallest minimum and largest maximum over all batches;
 * - entropy: a histogram of each tensor over [-max|x|, max|x|] (num_bins, default 128, merged
 *   and widened across batches), then the TensorRT-style KL search over thresholds from
 *   num_quantized_bins/2 (default 128) bins either side of zero outwards; clipped to [min, max];
 * - percentile: by default (symmetric) a histogram of |x| with 2048 bins, threshold = the bin
 *   edge where the CDF reaches percentile/100 (default 99.999), range (-t, t) clipped to
 *   [min, max]; asymmetric cuts (100 - p)/200 from each tail of a value histogram.
 *
 * The session runs with graph optimizations disabled (as ORT's calibrators do), so every tensor
 * is computed as the model states it.
 */
import type { Dataset } from '../../datasets/index.js';
import { encodeModel, mapTensors, tensorRawBytes, type ModelProto, type TensorProto } from '../../onnx/index.js';
import { isExternal } from '../../onnx/external.js';
import { declaredElemType } from './graph.js';

export type CalibrationMethod = 'minmax' | 'entropy' | 'percentile';

export interface CalibrationSettings {
  method: CalibrationMethod;
  /** histogram bins: entropy 128, percentile 2048 (ORT's create_calibrator defaults) */
  numBins?: number;
  /** entropy only: 128 */
  numQuantizedBins?: number;
  /** percentile only: 99.999 */
  percentile?: number;
  /** symmetric ranges (minmax: default false; percentile: default true; entropy ignores it, as ORT does) */
  symmetric?: boolean;
}

export interface TensorRange {
  /** the calibrated range the quantization parameters are computed from */
  rmin: number;
  rmax: number;
  /** smallest and largest values observed */
  min: number;
  max: number;
}

// --- collectors --------------------------------------------------------------------------

interface Collector {
  add(values: Float32Array): void;
  result(): TensorRange;
}

class MinMaxCollector implements Collector {
  private min = Infinity;
  private max = -Infinity;
  constructor(private readonly symmetric: boolean) {}
  add(values: Float32Array): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    }
  }
  result(): TensorRange {
    const min = this.min === Infinity ? 0 : this.min;
    const max = this.max === -Infinity ? 0 : this.max;
    if (this.symmetric) {
      const a = Math.max(Math.abs(min), Math.abs(max));
      return { rmin: -a, rmax: a, min, max };
    }
    return { rmin: min, rmax: max, min, max };
  }
}

function batchMinMax(values: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo === Infinity ? [0, 0] : [lo, hi];
}

/** numpy.histogram over equal-width bins [lo, hi] (last bin closed); out-of-range values are ignored. */
export function histogram(values: ArrayLike<number>, bins: number, lo: number, hi: number, abs = false): Float64Array {
  const counts = new Float64Array(bins);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const norm = bins / (hi - lo);
  for (let i = 0; i < values.length; i++) {
    const v = abs ? Math.abs(values[i]) : values[i];
    if (!(v >= lo && v <= hi)) continue;
    let b = Math.floor((v - lo) * norm);
    if (b >= bins) b = bins - 1;
    counts[b]++;
  }
  return counts;
}

/**
 * Histogram of values over [-threshold, threshold] (collect_value + merge_histogram): a later
 * batch with a larger |x| widens the range by whole old-width bins on both sides.
 */
class ValueHistogram {
  counts?: Float64Array;
  threshold = 0;
  min = Infinity;
  max = -Infinity;
  constructor(private readonly numBins: number) {}

  add(values: Float32Array): void {
    const [lo, hi] = batchMinMax(values);
    const t = Math.max(Math.abs(lo), Math.abs(hi));
    this.min = Math.min(this.min, lo);
    this.max = Math.max(this.max, hi);
    if (!this.counts) {
      this.counts = histogram(values, this.numBins, -t, t);
      this.threshold = t;
      return;
    }
    const old = this.counts;
    if (t <= this.threshold) {
      const h = histogram(values, old.length, -this.threshold, this.threshold);
      for (let i = 0; i < old.length; i++) old[i] += h[i];
      return;
    }
    if (this.threshold === 0) {
      const h = histogram(values, old.length, -t, t);
      for (let i = 0; i < old.length; i++) h[i] += old[i];
      this.counts = h;
      this.threshold = t;
      return;
    }
    const stride = (2 * this.threshold) / old.length;
    const half = Math.floor((t - this.threshold) / stride) + 1;
    const bins = old.length + 2 * half;
    const newThreshold = half * stride + this.threshold;
    const h = histogram(values, bins, -newThreshold, newThreshold);
    for (let i = 0; i < old.length; i++) h[half + i] += old[i];
    this.counts = h;
    this.threshold = newThreshold;
  }

  /** bin edge i */
  edge(i: number): number {
    const n = this.counts!.length;
    const t = this.threshold === 0 ? 0.5 : this.threshold;
    return -t + (2 * t * i) / n;
  }
}

/**
 * Histogram of |x| (collect_absolute_value): the first batch fixes [min|x|, max|x|] and the bin
 * width; later batches append bins of the same width when they exceed the last edge.
 */
class AbsHistogram {
  counts?: Float64Array;
  start = 0;
  width = 0;
  min = Infinity;
  max = -Infinity;
  constructor(private readonly numBins: number) {}

  add(values: Float32Array): void {
    const [lo, hi] = batchMinMax(values);
    this.min = Math.min(this.min, lo);
    this.max = Math.max(this.max, hi);
    let amin = Infinity;
    let amax = 0;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]);
      if (a < amin) amin = a;
      if (a > amax) amax = a;
    }
    if (amin === Infinity) amin = 0;
    if (!this.counts) {
      let a = amin;
      let b = amax;
      if (a === b) {
        a -= 0.5;
        b += 0.5;
      }
      this.start = a;
      this.width = (b - a) / this.numBins;
      this.counts = histogram(values, this.numBins, a, b, true);
      return;
    }
    let bins = this.counts.length;
    const last = this.start + bins * this.width;
    if (amax > last) {
      const extra = Math.ceil((amax - last) / this.width);
      const grown = new Float64Array(bins + extra);
      grown.set(this.counts);
      this.counts = grown;
      bins += extra;
    }
    const h = histogram(values, bins, this.start, this.start + bins * this.width, true);
    for (let i = 0; i < bins; i++) this.counts[i] += h[i];
  }

  edge(i: number): number {
    return this.start + i * this.width;
  }
}

/** Index of the first cdf value >= q (numpy.searchsorted, side left). */
function searchCdf(counts: Float64Array, q: number): number {
  let total = 0;
  for (const c of counts) total += c;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    cum += counts[i] / total;
    if (cum >= q) return i;
  }
  return counts.length;
}

class PercentileCollector implements Collector {
  private readonly abs?: AbsHistogram;
  private readonly value?: ValueHistogram;
  constructor(private readonly percentile: number, numBins: number, private readonly symmetric: boolean) {
    if (percentile < 0 || percentile > 100) throw new Error(`percentile must be in [0, 100], got ${percentile}`);
    if (symmetric) this.abs = new AbsHistogram(numBins);
    else this.value = new ValueHistogram(numBins);
  }
  add(values: Float32Array): void {
    (this.abs ?? this.value)!.add(values);
  }
  result(): TensorRange {
    const h = (this.abs ?? this.value)!;
    const min = h.min === Infinity ? 0 : h.min;
    const max = h.max === -Infinity ? 0 : h.max;
    let lo: number;
    let hi: number;
    if (this.abs) {
      const t = this.abs.edge(searchCdf(this.abs.counts!, this.percentile / 100));
      lo = -t;
      hi = t;
    } else {
      const cut = (100 - this.percentile) / 200;
      hi = this.value!.edge(searchCdf(this.value!.counts!, 1 - cut));
      lo = this.value!.edge(searchCdf(this.value!.counts!, cut));
    }
    return { rmin: Math.max(lo, min), rmax: Math.min(hi, max), min, max };
  }
}

/** smooth_distribution: zeros become eps, the same mass taken off the non-zero bins; null if all zero. */
function smooth(p: Float64Array, eps = 0.0001): Float64Array | null {
  let zeros = 0;
  for (const v of p) if (v === 0) zeros++;
  const nonzeros = p.length - zeros;
  if (nonzeros === 0) return null;
  const eps1 = (eps * zeros) / nonzeros;
  const out = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = p[i] === 0 ? eps : p[i] - eps1;
  for (const v of out) if (v <= 0) return null;
  return out;
}

/** KL(p || q) of two unnormalized distributions (scipy.stats.entropy). */
function klDivergence(p: Float64Array, q: Float64Array): number {
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i];
    sq += q[i];
  }
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / sp;
    const qi = q[i] / sq;
    if (pi === 0) continue;
    if (qi <= 0) return Infinity;
    kl += pi * Math.log(pi / qi);
  }
  return kl;
}

/** get_entropy_threshold: the (lo, hi) bin-edge pair with the smallest KL divergence. */
export function entropyThreshold(counts: Float64Array, edge: (i: number) => number, numQuantizedBins: number): [number, number] {
  const numBins = counts.length;
  const zero = Math.floor(numBins / 2);
  const halfQ = Math.floor(numQuantizedBins / 2);
  let best = Infinity;
  let bestRange: [number, number] = [0, 0];
  let first = true;
  for (let i = halfQ; i <= zero; i++) {
    const start = zero - i;
    const end = Math.min(zero + i + 1, numBins);
    const range: [number, number] = [edge(start), edge(end)];
    const sliced = counts.slice(start, end);
    const p = Float64Array.from(sliced);
    let left = 0;
    let right = 0;
    for (let j = 0; j < start; j++) left += counts[j];
    for (let j = end; j < numBins; j++) right += counts[j];
    p[0] += left;
    p[p.length - 1] += right;
    const merged = Math.floor(sliced.length / numQuantizedBins);
    const quantized = new Float64Array(numQuantizedBins);
    for (let b = 0; b < numQuantizedBins; b++) {
      for (let j = b * merged; j < (b + 1) * merged; j++) quantized[b] += sliced[j];
    }
    for (let j = numQuantizedBins * merged; j < sliced.length; j++) quantized[numQuantizedBins - 1] += sliced[j];
    // q spreads each quantized bin over the non-zero bins of p it came from; ORT keeps q in
    // int64, so the share is truncated.
    const q = new Float64Array(p.length);
    for (let b = 0; b < numQuantizedBins; b++) {
      let norm = 0;
      for (let j = b * merged; j < (b + 1) * merged; j++) if (p[j] !== 0) norm++;
      if (norm !== 0) for (let j = b * merged; j < (b + 1) * merged; j++) q[j] = Math.trunc(quantized[b] / norm);
    }
    const ps = smooth(p);
    const qs = smooth(q);
    const kl = ps && qs ? klDivergence(ps, qs) : Infinity;
    // numpy.argmin: the first minimum (and the first candidate when all are infinite)
    if (first || kl < best) {
      best = kl;
      bestRange = range;
      first = false;
    }
  }
  return bestRange;
}

class EntropyCollector implements Collector {
  private readonly hist: ValueHistogram;
  constructor(numBins: number, private readonly numQuantizedBins: number) {
    this.hist = new ValueHistogram(numBins);
  }
  add(values: Float32Array): void {
    this.hist.add(values);
  }
  result(): TensorRange {
    const min = this.hist.min === Infinity ? 0 : this.hist.min;
    const max = this.hist.max === -Infinity ? 0 : this.hist.max;
    const [lo, hi] = entropyThreshold(this.hist.counts!, (i) => this.hist.edge(i), this.numQuantizedBins);
    return { rmin: Math.max(lo, min), rmax: Math.min(hi, max), min, max };
  }
}

export function makeCollector(settings: CalibrationSettings): Collector {
  switch (settings.method) {
    case 'minmax':
      return new MinMaxCollector(settings.symmetric ?? false);
    case 'entropy':
      return new EntropyCollector(settings.numBins ?? 128, settings.numQuantizedBins ?? 128);
    case 'percentile':
      return new PercentileCollector(settings.percentile ?? 99.999, settings.numBins ?? 2048, settings.symmetric ?? true);
  }
}

/** Ranges from already collected values (tests, and callers with their own runner). */
export function rangeOf(batches: Float32Array[], settings: CalibrationSettings): TensorRange {
  const c = makeCollector(settings);
  for (const b of batches) c.add(b);
  return c.result();
}

// --- running the model -------------------------------------------------------------------

const ORT_TYPES: Record<string, string> = {
  FP32: 'float32', FP64: 'float64', FP16: 'float16', INT8: 'int8', UINT8: 'uint8', INT16: 'int16', UINT16: 'uint16',
  INT32: 'int32', UINT32: 'uint32', INT64: 'int64', UINT64: 'uint64', BOOL: 'bool',
};
/** ONNX element type number -> ORT tensor type */
const ONNX_TO_ORT: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64',
};

type OrtModule = typeof import('onnxruntime-node');

function typedArrayFor(type: string, values: ArrayLike<number | bigint>): ArrayLike<unknown> {
  const asNumber = (v: number | bigint) => (typeof v === 'bigint' ? Number(v) : v);
  const asBig = (v: number | bigint) => (typeof v === 'bigint' ? v : BigInt(Math.trunc(v)));
  switch (type) {
    case 'float32': return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number | bigint>, asNumber);
    case 'float64': return values instanceof Float64Array ? values : Float64Array.from(values as ArrayLike<number | bigint>, asNumber);
    case 'int8': return values instanceof Int8Array ? values : Int8Array.from(values as ArrayLike<number | bigint>, asNumber);
    case 'uint8': case 'bool': return values instanceof Uint8Array ? values : Uint8Array.from(values as ArrayLike<number | bigint>, asNumber);
    case 'int16': return values instanceof Int16Array ? values : Int16Array.from(values as ArrayLike<number | bigint>, asNumber);
    case 'uint16': case 'float16': return values instanceof Uint16Array ? values : Uint16Array.from(values as ArrayLike<number | bigint>, asNumber);
    case 'int32': return values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number | bigint>, asNumber);
    case 'uint32': return values instanceof Uint32Array ? values : Uint32Array.from(values as ArrayLike<number | bigint>, asNumber);
    case 'int64': return values instanceof BigInt64Array ? values : BigInt64Array.from(values as ArrayLike<number | bigint>, asBig);
    case 'uint64': return values instanceof BigUint64Array ? values : BigUint64Array.from(values as ArrayLike<number | bigint>, asBig);
    default: throw new Error(`unsupported input element type ${type}`);
  }
}

interface InputPlan {
  name: string;
  type: string;
  data: ArrayLike<number | bigint>;
  /** dims of one sample */
  sampleDims: number[];
  /** the model input has a batch axis the samples are stacked along */
  batched: boolean;
  /** fixed batch size the model requires, when its first dimension is a number */
  fixedBatch?: number;
}

function planInputs(model: ModelProto, data: Dataset): InputPlan[] {
  const graph = model.graph!;
  const inits = new Set(graph.initializer.map((t) => t.name));
  const inputs = graph.input.filter((v) => !inits.has(v.name));
  const names = Object.keys(data.inputs);
  if (!Number.isInteger(data.samples) || data.samples < 1) throw new Error('calibration data has no samples');
  return inputs.map((vi) => {
    const name = vi.name ?? '';
    let entry = data.inputs[name];
    if (!entry && inputs.length === 1 && names.length === 1) entry = data.inputs[names[0]];
    if (!entry) throw new Error(`calibration data has no values for model input '${name}' (it has ${names.map((n) => `'${n}'`).join(', ') || 'none'})`);
    const elem = vi.type?.tensorType?.elemType;
    const type = (elem !== undefined ? ONNX_TO_ORT[elem] : undefined) ?? ORT_TYPES[entry.datatype.toUpperCase()];
    if (!type) throw new Error(`model input '${name}': unsupported element type`);
    const dims = vi.type?.tensorType?.shape?.dim;
    const rank = dims?.length;
    const dataRank = entry.shape.length;
    if (entry.shape[0] !== data.samples) throw new Error(`calibration input '${name}': first axis is ${entry.shape[0]}, expected ${data.samples} samples`);
    const sampleDims = entry.shape.slice(1);
    let batched = true;
    let fixedBatch: number | undefined;
    if (rank !== undefined && rank === dataRank - 1) batched = false;
    else if (rank !== undefined && rank !== dataRank) {
      throw new Error(`calibration input '${name}' has shape [${entry.shape.join(', ')}]; the model expects rank ${rank}`);
    }
    if (batched && dims?.[0]?.dimValue !== undefined) fixedBatch = Number(dims[0].dimValue);
    if (fixedBatch !== undefined && fixedBatch > 1 && data.samples % fixedBatch !== 0) {
      throw new Error(`model input '${name}' has a fixed batch of ${fixedBatch}; the ${data.samples} calibration samples are not a multiple of it`);
    }
    return { name, type, data: entry.data as ArrayLike<number | bigint>, sampleDims, batched, fixedBatch };
  });
}

/** The model with every external tensor's bytes inline (ORT cannot resolve them from a buffer). */
function inlineExternal(model: ModelProto, baseDir: string | undefined): ModelProto {
  let any = false;
  const out = mapTensors(model, (t) => {
    if (!isExternal(t)) return t;
    any = true;
    const copy: TensorProto = { ...t, rawData: tensorRawBytes(t, { baseDir }) };
    delete copy.dataLocation;
    copy.externalData = [];
    return copy;
  });
  return any ? out : model;
}

export interface CalibrationRun {
  ranges: Map<string, TensorRange>;
  samples: number;
  batches: number;
}

/**
 * Runs the model over the samples and returns the calibrated range of each tensor in `tensors`
 * (which must be float32 values computed by the model's main graph).
 */
export async function calibrate(
  model: ModelProto,
  tensors: string[],
  data: Dataset,
  settings: CalibrationSettings,
  options: { baseDir?: string; onProgress?: (done: number, total: number) => void } = {},
): Promise<CalibrationRun> {
  const graph = model.graph!;
  const outputs = new Set(graph.output.map((o) => o.name));
  const extra = tensors.filter((t) => !outputs.has(t)).map((name) => ({
    name,
    type: { tensorType: { elemType: declaredElemType(graph, name) ?? 1 } },
  }));
  const augmented: ModelProto = inlineExternal({ ...model, graph: { ...graph, output: [...graph.output, ...extra] } }, options.baseDir);
  const ort: OrtModule = await import('onnxruntime-node');
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await ort.InferenceSession.create(encodeModel(augmented), { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  } catch (err) {
    throw new Error(`onnxruntime cannot load the model for calibration: ${(err as Error).message.split('\n')[0]}`);
  }
  const plans = planInputs(model, data);
  const collectors = new Map(tensors.map((t) => [t, makeCollector(settings)]));
  const fixed = plans.find((p) => p.fixedBatch !== undefined)?.fixedBatch;
  const anyUnbatched = plans.some((p) => !p.batched);
  const freeBatch = !anyUnbatched && fixed === undefined;
  let step = anyUnbatched ? 1 : (fixed ?? 1);
  const runChunk = async (start: number, count: number, collect: boolean): Promise<number> => {
    const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
    for (const p of plans) {
      const per = p.sampleDims.reduce((a, b) => a * b, 1);
      const values = ArrayBuffer.isView(p.data)
        ? (p.data as unknown as { subarray(a: number, b: number): ArrayLike<number | bigint> }).subarray(start * per, (start + count) * per)
        : (Array.prototype.slice.call(p.data, start * per, (start + count) * per) as ArrayLike<number | bigint>);
      const dims = p.batched ? [count, ...p.sampleDims] : p.sampleDims;
      feeds[p.name] = new ort.Tensor(p.type as 'float32', typedArrayFor(p.type, values) as Float32Array, dims);
    }
    let result: Record<string, import('onnxruntime-node').Tensor>;
    try {
      result = await session.run(feeds);
    } catch (err) {
      throw new Error(`calibration run failed: ${(err as Error).message.split('\n')[0]}`);
    }
    let bytes = 0;
    for (const t of tensors) {
      const v = result[t];
      if (!v) continue;
      if (v.type !== 'float32') throw new Error(`tensor '${t}' is ${v.type}, not float32; it cannot be calibrated`);
      if (collect) collectors.get(t)!.add(v.data as Float32Array);
      bytes += (v.data as Float32Array).byteLength;
    }
    for (const v of Object.values(result)) v.dispose?.();
    return bytes;
  };
  let done = 0;
  let batches = 0;
  try {
    if (freeBatch) {
      // One sample first, to measure the memory a sample's tensors take; runs then stack as many
      // samples as fit in about 256 MB. The histogram methods fix their bin width on the first
      // batch they see, so for them this sizing run is not collected: their first batch is a
      // full one, as when a data reader hands ORT's calibrator whole batches.
      const collect = settings.method === 'minmax';
      const bytes = await runChunk(0, 1, collect);
      step = Math.max(1, Math.min(64, Math.floor((256 << 20) / Math.max(1, bytes))));
      if (collect) {
        done = 1;
        batches = 1;
        options.onProgress?.(done, data.samples);
      }
    }
    while (done < data.samples) {
      const count = Math.min(step, data.samples - done);
      await runChunk(done, count, true);
      done += count;
      batches++;
      options.onProgress?.(done, data.samples);
    }
  } finally {
    await session.release?.();
  }
  const ranges = new Map<string, TensorRange>();
  for (const [t, c] of collectors) ranges.set(t, c.result());
  return { ranges, samples: data.samples, batches };
}

