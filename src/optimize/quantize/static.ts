/**
 * Static quantization in QDQ format, as ORT's quantize_static(quant_format=QDQ) writes it:
 *
 * - each activation a quantized op reads (Conv X, Gemm A, MatMul A and a non-constant B) and the
 *   output of Conv, Gemm and MatMul + Add(constant bias) get one QuantizeLinear -> DequantizeLinear
 *   pair, shared by all readers of the tensor, with scale/zero point from the calibrated range
 *   (asymmetric); a graph output keeps its name (written by the DequantizeLinear);
 * - weights are stored quantized (int8, symmetric, per tensor or per channel) + DequantizeLinear;
 * - Conv/Gemm biases are stored int32 with scale = input scale x weight scale, zero point 0;
 * - a Relu that is the only reader of a quantized Conv/Gemm output is folded into that output's
 *   QuantizeLinear (its range starts at 0, so the zero point is qmin and Q clamps negatives), as
 *   ORT does unless QDQKeepRemovableActivations is set.
 *
 * onnxruntime fuses these groups into integer kernels (QLinearConv, QGemm, MatMulIntegerToFloat)
 * at session creation. 16-bit activations use com.microsoft Q/DQ when the opset is below 21.
 */
import { makeTensor, type NodeProto } from '../../onnx/index.js';
import { DataType } from '../../onnx/types.js';
import { calibrate, type CalibrationSettings, type TensorRange } from './calibrate.js';
import { consumers, declaredElemType, floatAttr, intAttr, producers, tensorBytes } from './graph.js';
import { Context, scaleSummary, weightProblem, weightTensors, type Candidate, type WeightTensors } from './context.js';
import { computeScaleZeroPoint, qRange, quantizeBias, type QuantParams } from './math.js';
import { QuantizeError } from './types.js';

interface WeightRole {
  input: number;
  name: string;
  axis?: number;
}

interface Plan {
  c: Candidate;
  activations: { input: number; name: string }[];
  weights: WeightRole[];
  /** input index and name of a bias to store as int32 */
  bias?: { input: number; name: string };
  /** quantize the node's output */
  output?: string;
}

export async function quantizeStatic(ctx: Context, candidates: Candidate[]): Promise<void> {
  const data = ctx.options.calibration;
  if (!data) throw new QuantizeError('static quantization needs calibration data (--calibration)');
  const perChannel = ctx.options.perChannel ?? false;
  const actType = ctx.options.activationType ?? 'uint8';
  const wide = actType === 'int16';
  const graph = ctx.graph;
  const users = consumers(graph);
  const made = producers(graph);
  const graphOutputs = new Set(graph.output.map((o) => o.name));
  const isActivation = (name: string) => !!name && !ctx.constants.has(name);
  const floatTyped = (name: string) => {
    const t = declaredElemType(graph, name);
    return t === undefined || t === DataType.FLOAT;
  };

  // 1. what each node needs
  const plans: Plan[] = [];
  for (const c of candidates) {
    const node = c.node;
    const plan: Plan = { c, activations: [], weights: [] };
    let problem: string | undefined;
    if (c.opType === 'Conv') {
      const [x, w, b] = node.input;
      if (!isActivation(x)) problem = `input '${x}' is a constant`;
      else problem = weightProblem(ctx, w, [3, 4, 5]);
      if (!problem) {
        plan.activations.push({ input: 0, name: x });
        plan.weights.push({ input: 1, name: w, axis: perChannel ? 0 : undefined });
        if (b && ctx.constants.has(b) && ctx.constants.dataType(b) === DataType.FLOAT) plan.bias = { input: 2, name: b };
        plan.output = node.output[0];
      }
    } else if (c.opType === 'Gemm') {
      const [a, b, cc] = node.input;
      if (!isActivation(a)) problem = `input '${a}' is a constant`;
      else problem = weightProblem(ctx, b, [2]);
      if (!problem) {
        plan.activations.push({ input: 0, name: a });
        plan.weights.push({ input: 1, name: b, axis: perChannel ? (intAttr(node, 'transB', 0) ? 0 : 1) : undefined });
        const n = ctx.constants.dims(b)![intAttr(node, 'transB', 0) ? 0 : 1];
        if (cc && ctx.constants.has(cc) && ctx.constants.dataType(cc) === DataType.FLOAT && floatAttr(node, 'alpha', 1) === 1 && floatAttr(node, 'beta', 1) === 1) {
          const cd = ctx.constants.dims(cc)!;
          if (cd.length === 1 && cd[0] === n) plan.bias = { input: 2, name: cc };
        }
        plan.output = node.output[0];
      }
    } else if (c.opType === 'MatMul') {
      const [a, b] = node.input;
      if (!isActivation(a) && !isActivation(b)) problem = 'both inputs are constants';
      for (const [i, name] of [[0, a], [1, b]] as const) {
        if (problem) break;
        if (isActivation(name)) plan.activations.push({ input: i, name });
        else {
          problem = weightProblem(ctx, name, [1, 2, 3, 4]);
          const rank = ctx.constants.dims(name)?.length ?? 0;
          plan.weights.push({ input: i, name, axis: perChannel && i === 1 && rank >= 2 ? rank - 1 : undefined });
        }
      }
      // MatMul + Add(constant bias) is a linear layer: quantize the Add's output, so onnxruntime
      // can fuse the group (into QGemm) instead of running a float Gemm on dequantized weights.
      const readers = users.get(node.output[0]) ?? [];
      if (!problem && isActivation(a) && !isActivation(b) && readers.length === 1 && !graphOutputs.has(node.output[0])) {
        const add = graph.node[readers[0]];
        const other = add.input[0] === node.output[0] ? add.input[1] : add.input[0];
        const n = ctx.constants.dims(b)!.at(-1);
        const od = ctx.constants.dims(other);
        if (add.opType === 'Add' && (!add.domain || add.domain === 'ai.onnx') && od && ctx.constants.dataType(other) === DataType.FLOAT &&
            od.reduce((x, y) => x * y, 1) === n && od.at(-1) === n) {
          plan.output = add.output[0];
        }
      }
    } else {
      problem = `static quantization does not handle ${c.opType}`;
    }
    if (!problem) {
      const bad = plan.activations.find((x) => !floatTyped(x.name));
      if (bad) problem = `activation '${bad.name}' is not float32`;
    }
    if (problem) ctx.skip(c, problem);
    else plans.push(plan);
  }

  // 2. tensors to calibrate, and Relu folding candidates
  const toQuantize = new Set<string>();
  const folds = new Map<string, { relu: number; reluOutput: string }>();
  for (const p of plans) {
    for (const a of p.activations) toQuantize.add(a.name);
    const out = p.output;
    if (out && (graphOutputs.has(out) || (users.get(out)?.length ?? 0) > 0)) {
      toQuantize.add(out);
      const readers = users.get(out) ?? [];
      if (readers.length === 1 && !graphOutputs.has(out)) {
        const r = graph.node[readers[0]];
        if (r.opType === 'Relu' && (!r.domain || r.domain === 'ai.onnx') && !graphOutputs.has(r.output[0])) folds.set(out, { relu: readers[0], reluOutput: r.output[0] });
      }
    }
  }
  const calibrated = [...toQuantize, ...[...folds.values()].map((f) => f.reluOutput)];
  const settings: CalibrationSettings = { method: ctx.options.calibrationMethod ?? 'minmax', ...ctx.options.calibrationSettings };
  const run = await calibrate(ctx.model, [...new Set(calibrated)], data, settings, {
    baseDir: ctx.options.externalDataDir,
    onProgress: (done, total) => ctx.options.onProgress?.(done, total, 'calibration'),
  });
  ctx.report.calibration = {
    method: settings.method,
    samples: run.samples,
    runs: run.batches,
    settings: Object.fromEntries(Object.entries(defaultsFor(settings)).filter(([, v]) => v !== undefined)) as Record<string, number | boolean>,
  };

  // 3. quantization parameters
  const [qmin, qmax] = qRange(actType);
  const params = new Map<string, QuantParams & { range: TensorRange }>();
  const paramsFor = (name: string): QuantParams & { range: TensorRange } => {
    let p = params.get(name);
    if (!p) {
      const range = run.ranges.get(name)!;
      p = { ...computeScaleZeroPoint(range.rmin, range.rmax, qmin, qmax, false), range };
      params.set(name, p);
    }
    return p;
  };
  const rename = new Map<string, string>();
  const outputRename = new Map<number, [string, string]>();
  const zpType = actType;
  // folds whose Relu output range starts at 0 (zero point = qmin): the Relu goes away and its
  // readers take the DequantizeLinear of the node's output
  const applied = new Map<string, string>();
  for (const [t, fold] of folds) {
    if (paramsFor(fold.reluOutput).zeroPoint === qmin) applied.set(t, fold.reluOutput);
  }
  const coveredByFold = new Set(applied.values());
  ctx.report.activations = [];
  for (const t of toQuantize) {
    if (coveredByFold.has(t)) continue;
    const reluOutput = applied.get(t);
    const p = paramsFor(reluOutput ?? t);
    const scaleName = ctx.names.fresh(`${t}_scale`);
    const zpName = ctx.names.fresh(`${t}_zero_point`);
    const qName = ctx.names.fresh(`${t}_QuantizeLinear_Output`);
    // A graph output keeps its name: the producer writes a new name, the DequantizeLinear
    // writes the output.
    const isOutput = graphOutputs.has(t) && reluOutput === undefined && made.has(t);
    const qInput = isOutput ? ctx.names.fresh(`${t}_QuantizeLinear_Input`) : t;
    const dqName = isOutput ? t : ctx.names.fresh(`${t}_DequantizeLinear_Output`);
    if (isOutput) outputRename.set(made.get(t)!, [t, qInput]);
    ctx.rw.addInitializer(makeTensor(scaleName, 'float32', [], [p.scale]));
    ctx.rw.addInitializer(makeTensor(zpName, zpType, [], [p.zeroPoint]));
    const q = ctx.qdqNode('QuantizeLinear', [qInput, scaleName, zpName], qName, { wide, name: ctx.names.fresh(`${t}_QuantizeLinear`) });
    const dq = ctx.qdqNode('DequantizeLinear', [qName, scaleName, zpName], dqName, { wide, name: ctx.names.fresh(`${t}_DequantizeLinear`) });
    const at = made.get(t);
    if (at === undefined) ctx.rw.insertAtStart(q, dq);
    else ctx.rw.insertAfter(at, q, dq);
    if (reluOutput !== undefined) {
      const relu = folds.get(t)!.relu;
      ctx.rw.remove(relu);
      rename.set(reluOutput, dqName);
      ctx.report.rewrites.push(`folded Relu ${graph.node[relu].name || reluOutput} into the QuantizeLinear of '${t}'`);
    } else if (!isOutput) {
      rename.set(t, dqName);
    }
    const r = p.range;
    ctx.report.activations.push({ tensor: reluOutput ?? t, rmin: r.rmin, rmax: r.rmax, min: r.min, max: r.max, scale: p.scale, zeroPoint: p.zeroPoint });
  }

  // 4. weights and biases
  const weightCache = new Map<string, { dq: string; w: WeightTensors }>();
  const overrides = new Map<number, Map<number, string>>();
  for (const p of plans) {
    const o = new Map<number, string>();
    let first: WeightTensors | undefined;
    let weightName = '';
    let shape: number[] = [];
    for (const wr of p.weights) {
      const key = `${wr.name}|${wr.axis ?? ''}`;
      let entry = weightCache.get(key);
      if (!entry) {
        const dims = ctx.constants.dims(wr.name)!;
        const w = weightTensors(ctx, wr.name, ctx.constants.floats(wr.name), dims, 'int8', { symmetric: true, axis: wr.axis });
        const dq = ctx.names.fresh(`${wr.name}_DequantizeLinear_Output`);
        ctx.rw.insertBefore(p.c.index, ctx.qdqNode('DequantizeLinear', [w.q.name!, w.scale.name!, w.zeroPoint.name!], dq, { axis: wr.axis, name: ctx.names.fresh(`${wr.name}_DequantizeLinear`) }));
        for (const t of [w.q, w.scale, w.zeroPoint]) ctx.rw.addInitializer(t);
        ctx.countWeight(wr.name, tensorBytes(ctx.constants.get(wr.name)!), [w.q, w.scale]);
        entry = { dq, w };
        weightCache.set(key, entry);
      }
      o.set(wr.input, entry.dq);
      if (!first) {
        first = entry.w;
        weightName = wr.name;
        shape = ctx.constants.dims(wr.name)!;
      }
    }
    if (p.bias && first) {
      const x = p.activations[0]?.name;
      const xp = x ? paramsFor(x) : undefined;
      if (xp) {
        const values = ctx.constants.floats(p.bias.name);
        const qb = quantizeBias(values, xp.scale, first.quant.scales);
        if (qb.clipped) ctx.report.warnings.push(`${p.c.label}: ${qb.clipped} bias values exceed the int32 range at scale input x weight and were clipped`);
        const bq = ctx.names.fresh(`${p.bias.name}_quantized`);
        const bs = ctx.names.fresh(`${p.bias.name}_quantized_scale`);
        const dq = ctx.names.fresh(`${p.bias.name}_DequantizeLinear_Output`);
        const vector = qb.scales.length > 1;
        ctx.rw.addInitializer(makeTensor(bq, 'int32', [values.length], qb.values));
        ctx.rw.addInitializer(makeTensor(bs, 'float32', vector ? [qb.scales.length] : [], qb.scales));
        ctx.rw.insertBefore(p.c.index, ctx.qdqNode('DequantizeLinear', [bq, bs], dq, { axis: vector ? 0 : undefined, name: ctx.names.fresh(`${p.bias.name}_DequantizeLinear`) }));
        ctx.countWeight(p.bias.name, tensorBytes(ctx.constants.get(p.bias.name)!), []);
        ctx.weightBytesAfter += values.length * 4;
        o.set(p.bias.input, dq);
      }
    }
    overrides.set(p.c.index, o);
    ctx.quantized({
      name: p.c.label,
      opType: p.c.opType,
      as: 'QDQ',
      weight: weightName || undefined,
      shape: weightName ? shape : undefined,
      scale: first ? scaleSummary(first.quant.scales) : undefined,
      maxWeightError: first?.quant.maxError,
    });
  }
  ctx.renameInputs = (node: NodeProto, index: number): NodeProto => {
    const o = overrides.get(index);
    let changed = false;
    const input = node.input.map((name, i) => {
      const v = o?.get(i) ?? rename.get(name) ?? name;
      if (v !== name) changed = true;
      return v;
    });
    const out = outputRename.get(index);
    const output = out ? node.output.map((name) => (name === out[0] ? out[1] : name)) : node.output;
    return changed || out ? { ...node, input, output } : node;
  };
}

function defaultsFor(s: CalibrationSettings): Record<string, number | boolean | undefined> {
  switch (s.method) {
    case 'minmax':
      return { symmetric: s.symmetric ?? false };
    case 'entropy':
      return { numBins: s.numBins ?? 128, numQuantizedBins: s.numQuantizedBins ?? 128 };
    case 'percentile':
      return { numBins: s.numBins ?? 2048, percentile: s.percentile ?? 99.999, symmetric: s.symmetric ?? true };
  }
}
