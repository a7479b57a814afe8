/**
 * Dynamic quantization: int8 weights stored once, activations quantized to uint8 at run time.
 *
 * MatMul/Gemm with a constant B become (form 'fused', the default)
 *   com.microsoft.DynamicQuantizeMatMul(A, B_int8, B_scale[, -, bias])
 * or (form 'standard', plain ONNX, what ORT's quantize_dynamic writes)
 *   DynamicQuantizeLinear(A) -> MatMulInteger(A_q, B_int8, A_zp, B_zp) -> Cast(float)
 *   -> Mul(A_scale * B_scale) [-> Add(bias)]
 * Weights are symmetric int8 (zero point 0, range [-127, 127], or [-64, 64] with reduce range:
 * see target.ts), per tensor or per column.
 * Gemm: transA becomes a Transpose, transB is applied to the stored weight, alpha is folded into
 * the weight scale, beta * C into the bias (or an Add when C is not a row vector constant).
 *
 * Conv (only when asked) becomes DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul [-> Add]
 * with uint8 weights per tensor: onnxruntime's ConvInteger supports only a per-tensor weight
 * zero point, and u8u8 is the combination every onnxruntime version implements (u8s8 ConvInteger
 * has no CPU kernel before ~1.23).
 */
import { makeNode, makeTensor, type NodeProto, type TensorProto } from '../../onnx/index.js';
import { consumers, nodeLabel, tensorBytes } from './graph.js';
import { DataType } from '../../onnx/types.js';
import { Context, addAfterNodes, planLinear, scaleSummary, transpose2d, weightProblem, weightTensors, type Candidate, type WeightTensors } from './context.js';

interface ActivationQ {
  q: string;
  scale: string;
  zeroPoint: string;
}

export function quantizeDynamic(ctx: Context, candidates: Candidate[]): void {
  const form = ctx.options.dynamicForm ?? 'fused';
  let standard = form === 'standard';
  if (standard && ctx.opset < 11) {
    ctx.report.warnings.push(`opset ${ctx.opset} has no DynamicQuantizeLinear (opset 11); using com.microsoft.DynamicQuantizeMatMul`);
    standard = false;
  }
  ctx.report.form = standard ? 'standard' : 'fused';
  const perChannel = ctx.options.perChannel ?? false;
  const users = consumers(ctx.graph);
  const graphOutputs = new Set(ctx.graph.output.map((o) => o.name));
  // weights shared by several nodes are quantized once (key: name + layout)
  const weights = new Map<string, WeightTensors>();
  // DynamicQuantizeLinear outputs per activation, shared by its consumers
  const activations = new Map<string, ActivationQ>();

  const quantizeActivation = (a: string, label: string, out: NodeProto[]): ActivationQ => {
    let aq = activations.get(a);
    if (!aq) {
      aq = { q: ctx.names.fresh(`${a}_quantized`), scale: ctx.names.fresh(`${a}_scale`), zeroPoint: ctx.names.fresh(`${a}_zero_point`) };
      out.push(makeNode('DynamicQuantizeLinear', [a], [aq.q, aq.scale, aq.zeroPoint], {}, { name: ctx.names.fresh(`${label}_dql`) }));
      activations.set(a, aq);
    }
    return aq;
  };

  let done = 0;
  for (const c of candidates) {
    ctx.options.onProgress?.(done, candidates.length, c.label);
    done++;
    if (c.opType === 'Conv') {
      quantizeConv(ctx, c, quantizeActivation);
      continue;
    }
    const plan = planLinear(ctx, c);
    if (typeof plan === 'string') {
      ctx.skip(c, plan);
      continue;
    }
    const { a, b, transB, alpha, addAfter } = plan;
    let bias = plan.bias;
    const pre: NodeProto[] = plan.transposeA ? [plan.transposeA] : [];
    const key = `${b}|${transB}|${alpha}`;
    let w = weights.get(key);
    const dims = ctx.constants.dims(b)!;
    if (!w) {
      let data = ctx.constants.floats(b);
      const [K, N] = transB ? [dims[1], dims[0]] : dims;
      if (transB) data = transpose2d(data, dims[0], dims[1]);
      w = weightTensors(ctx, b, data, [K, N], 'int8', { symmetric: true, axis: perChannel ? 1 : undefined });
      if (alpha !== 1) {
        const s = w.quant.scales.map((x) => Math.fround(x * alpha));
        w.scale = makeTensor(w.scale.name!, 'float32', w.scale.dims!, s);
        w.quant.scales = s;
      }
      weights.set(key, w);
      for (const t of [w.q, w.scale, w.zeroPoint]) ctx.rw.addInitializer(t);
      ctx.countWeight(b, tensorBytes(ctx.constants.get(b)!), [w.q, w.scale]);
    }
    let output = c.node.output[0];
    // MatMul followed by Add(constant [N] bias), the usual exported linear layer: the fused
    // op takes the bias, as onnxruntime's own fusion of the standard form does.
    if (!standard && c.opType === 'MatMul') {
      const folded = biasAddAfter(ctx, c, users, graphOutputs, dims[1]);
      if (folded) {
        bias = folded.bias;
        output = folded.output;
        ctx.rw.remove(folded.index);
        ctx.report.rewrites.push(`folded Add ${nodeLabel(ctx.graph.node[folded.index], folded.index)} (bias) into ${c.label}`);
      }
    }
    const nodes: NodeProto[] = [...pre];
    const inits: TensorProto[] = [];
    let biasName: string | undefined;
    if (bias) {
      biasName = ctx.names.fresh(`${c.label}_bias`);
      inits.push(makeTensor(biasName, 'float32', [bias.length], bias));
    }
    const product = addAfter ? ctx.names.fresh(`${output}_product`) : output;
    if (standard) {
      const aq = quantizeActivation(a, c.label, nodes);
      const integer = ctx.names.fresh(`${output}_output_quantized`);
      const cast = ctx.names.fresh(`${output}_output_quantized_cast_output`);
      const scale = ctx.names.fresh(`${output}_scales_mul`);
      nodes.push(
        makeNode('MatMulInteger', [aq.q, w.q.name!, aq.zeroPoint, w.zeroPoint.name!], [integer], {}, { name: ctx.names.fresh(`${c.label}_quant`) }),
        makeNode('Cast', [integer], [cast], { to: { int: 1 } }, { name: ctx.names.fresh(`${c.label}_cast`) }),
        makeNode('Mul', [aq.scale, w.scale.name!], [scale], {}, { name: ctx.names.fresh(`${c.label}_scales_mul`) }),
      );
      const scaled = biasName ? ctx.names.fresh(`${output}_scaled`) : product;
      nodes.push(makeNode('Mul', [cast, scale], [scaled], {}, { name: ctx.names.fresh(`${c.label}_output_mul`) }));
      if (biasName) nodes.push(makeNode('Add', [scaled, biasName], [product], {}, { name: ctx.names.fresh(`${c.label}_bias_add`) }));
    } else {
      const inputs = [a, w.q.name!, w.scale.name!];
      if (biasName) inputs.push('', biasName);
      nodes.push(ctx.msNode('DynamicQuantizeMatMul', inputs, [product], {}, ctx.names.fresh(`${c.label}_quant`)));
    }
    if (addAfter) {
      const extra = addAfterNodes(ctx, product, output, addAfter, c.label);
      nodes.push(...extra.nodes);
      inits.push(...extra.inits);
    }
    for (const t of inits) ctx.rw.addInitializer(t);
    ctx.rw.replace(c.index, nodes);
    ctx.quantized({
      name: c.label,
      opType: c.opType,
      as: standard ? 'MatMulInteger' : 'com.microsoft.DynamicQuantizeMatMul',
      weight: b,
      shape: dims,
      scale: scaleSummary(w.quant.scales),
      maxWeightError: w.quant.maxError * Math.abs(alpha),
    });
  }
  ctx.options.onProgress?.(candidates.length, candidates.length, 'done');
}

function quantizeConv(ctx: Context, c: Candidate, quantizeActivation: (a: string, label: string, out: NodeProto[]) => ActivationQ): void {
  if (ctx.opset < 11) {
    ctx.skip(c, `opset ${ctx.opset} has no DynamicQuantizeLinear (needs 11)`);
    return;
  }
  const [x, wName, bName] = c.node.input;
  const problem = weightProblem(ctx, wName, [3, 4, 5]);
  if (problem) {
    ctx.skip(c, problem);
    return;
  }
  if (ctx.constants.has(x)) {
    ctx.skip(c, `input '${x}' is a constant`);
    return;
  }
  if (ctx.options.perChannel) {
    if (!ctx.report.warnings.some((w) => w.startsWith('ConvInteger'))) {
      ctx.report.warnings.push('ConvInteger supports one weight zero point per tensor in onnxruntime: Conv weights are quantized per tensor');
    }
  }
  const dims = ctx.constants.dims(wName)!;
  // u8u8 cannot saturate: 7-bit weights only when asked for explicitly
  const w = weightTensors(ctx, wName, ctx.constants.floats(wName), dims, 'uint8', { symmetric: false, reduceRange: ctx.reduceRangeForced && ctx.reduceRange });
  for (const t of [w.q, w.scale, w.zeroPoint]) ctx.rw.addInitializer(t);
  ctx.countWeight(wName, tensorBytes(ctx.constants.get(wName)!), [w.q, w.scale, w.zeroPoint]);
  const output = c.node.output[0];
  const nodes: NodeProto[] = [];
  const aq = quantizeActivation(x, c.label, nodes);
  const integer = ctx.names.fresh(`${output}_output_quantized`);
  const cast = ctx.names.fresh(`${output}_output_quantized_cast_output`);
  const scale = ctx.names.fresh(`${output}_scales_mul`);
  const convInteger: NodeProto = {
    ...c.node,
    input: [aq.q, w.q.name!, aq.zeroPoint, w.zeroPoint.name!],
    output: [integer],
    opType: 'ConvInteger',
    name: ctx.names.fresh(`${c.label}_quant`),
  };
  nodes.push(
    convInteger,
    makeNode('Cast', [integer], [cast], { to: { int: 1 } }, { name: ctx.names.fresh(`${c.label}_cast`) }),
    makeNode('Mul', [aq.scale, w.scale.name!], [scale], {}, { name: ctx.names.fresh(`${c.label}_scales_mul`) }),
  );
  if (bName) {
    // bias [M] broadcast over the spatial axes: reshape to [M, 1, ..., 1]
    const scaled = ctx.names.fresh(`${output}_scaled`);
    nodes.push(makeNode('Mul', [cast, scale], [scaled], {}, { name: ctx.names.fresh(`${c.label}_output_mul`) }));
    let biasName = bName;
    if (ctx.constants.has(bName)) {
      const values = ctx.constants.floats(bName);
      biasName = ctx.names.fresh(`${bName}_reshaped`);
      ctx.rw.addInitializer(makeTensor(biasName, 'float32', [values.length, ...Array(dims.length - 2).fill(1)], values));
    } else {
      const shapeName = ctx.names.fresh(`${bName}_shape`);
      ctx.rw.addInitializer(makeTensor(shapeName, 'int64', [dims.length - 1], [-1, ...Array(dims.length - 2).fill(1)]));
      biasName = ctx.names.fresh(`${bName}_reshaped`);
      nodes.push(makeNode('Reshape', [bName, shapeName], [biasName], {}, { name: ctx.names.fresh(`${c.label}_bias_reshape`) }));
    }
    nodes.push(makeNode('Add', [scaled, biasName], [output], {}, { name: ctx.names.fresh(`${c.label}_bias_add`) }));
  } else {
    nodes.push(makeNode('Mul', [cast, scale], [output], {}, { name: ctx.names.fresh(`${c.label}_output_mul`) }));
  }
  ctx.rw.replace(c.index, nodes);
  ctx.quantized({ name: c.label, opType: 'Conv', as: 'ConvInteger', weight: wName, shape: dims, scale: scaleSummary(w.quant.scales), maxWeightError: w.quant.maxError });
}

/**
 * The Add that is the only reader of a MatMul's output and adds a constant float vector of N
 * values along the last axis: its index, output and the bias values.
 */
function biasAddAfter(ctx: Context, c: Candidate, users: Map<string, number[]>, graphOutputs: Set<string | undefined>, n: number): { index: number; output: string; bias: Float32Array } | undefined {
  const out = c.node.output[0];
  const readers = users.get(out) ?? [];
  if (readers.length !== 1 || graphOutputs.has(out)) return undefined;
  const add = ctx.graph.node[readers[0]];
  if (add.opType !== 'Add' || (add.domain && add.domain !== 'ai.onnx') || add.input.length !== 2) return undefined;
  const other = add.input[0] === out ? add.input[1] : add.input[0];
  if (other === out || !ctx.constants.has(other) || ctx.constants.dataType(other) !== DataType.FLOAT) return undefined;
  const dims = ctx.constants.dims(other)!;
  if (dims.reduce((x, y) => x * y, 1) !== n || (dims.length > 0 && dims[dims.length - 1] !== n)) return undefined;
  return { index: readers[0], output: add.output[0], bias: Float32Array.from(ctx.constants.floats(other)) };
}
