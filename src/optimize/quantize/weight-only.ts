/**
 * Weight-only quantization: activations stay float, weights are stored in fewer bits.
 *
 * - 8 bits: each weight becomes an int8 initializer (symmetric, zero point 0) read through
 *   DequantizeLinear, per tensor or per output channel (MatMul B axis 1, Gemm B axis 0 when
 *   transB else 1, Conv W axis 0). The model computes exactly what it did, with weights rounded.
 * - 4 bits: MatMul (and Gemm) with a constant 2-D B become com.microsoft.MatMulNBits:
 *   B packed as uint8 [N, ceil(K / block), block / 2] (K zero-padded, two values per byte, low
 *   nibble first), scales [N, k_blocks], zero points packed the same way when asymmetric,
 *   attributes K, N, bits = 4, block_size, accuracy_level (always written).
 */
import { makeTensor, type NodeProto, type TensorProto } from '../../onnx/index.js';
import { intAttr, tensorBytes } from './graph.js';
import { Context, addAfterNodes, planLinear, scaleSummary, weightProblem, weightTensors, type Candidate } from './context.js';
import { quantizeInt4Blocks } from './math.js';

export function quantizeWeightOnly8(ctx: Context, candidates: Candidate[]): void {
  const perChannel = ctx.options.perChannel ?? false;
  // DequantizeLinear output per (weight, axis), shared by every node reading the weight
  const dequantized = new Map<string, string>();
  let done = 0;
  for (const c of candidates) {
    ctx.options.onProgress?.(done++, candidates.length, c.label);
    const widx = c.opType === 'Gather' ? 0 : 1;
    const wName = c.node.input[widx];
    const ranks = c.opType === 'Conv' ? [3, 4, 5] : c.opType === 'Gemm' ? [2] : c.opType === 'Gather' ? [1, 2, 3] : [2, 3, 4];
    const problem = weightProblem(ctx, wName, ranks);
    if (problem) {
      ctx.skip(c, problem);
      continue;
    }
    const dims = ctx.constants.dims(wName)!;
    let axis: number | undefined;
    if (perChannel) {
      if (c.opType === 'Conv') axis = 0;
      else if (c.opType === 'Gemm') axis = intAttr(c.node, 'transB', 0) ? 0 : 1;
      else if (c.opType === 'Gather') axis = 0;
      else axis = dims.length - 1;
    }
    const key = `${wName}|${axis ?? ''}`;
    let out = dequantized.get(key);
    let summary: { scale: number | [number, number]; maxError: number } | undefined;
    if (!out) {
      const w = weightTensors(ctx, wName, ctx.constants.floats(wName), dims, 'int8', { symmetric: true, axis });
      out = ctx.names.fresh(`${wName}_DequantizeLinear_Output`);
      ctx.rw.insertBefore(c.index, ctx.qdqNode('DequantizeLinear', [w.q.name!, w.scale.name!, w.zeroPoint.name!], out, { axis, name: ctx.names.fresh(`${wName}_DequantizeLinear`) }));
      for (const t of [w.q, w.scale, w.zeroPoint]) ctx.rw.addInitializer(t);
      ctx.countWeight(wName, tensorBytes(ctx.constants.get(wName)!), [w.q, w.scale]);
      dequantized.set(key, out);
      summary = { scale: scaleSummary(w.quant.scales), maxError: w.quant.maxError };
    }
    const input = [...c.node.input];
    input[widx] = out;
    ctx.rw.replace(c.index, [{ ...c.node, input }]);
    ctx.quantized({ name: c.label, opType: c.opType, as: 'DequantizeLinear', weight: wName, shape: dims, scale: summary?.scale, maxWeightError: summary?.maxError });
  }
  ctx.options.onProgress?.(candidates.length, candidates.length, 'done');
}

export function quantizeWeightOnly4(ctx: Context, candidates: Candidate[]): void {
  const blockSize = ctx.options.blockSize ?? 32;
  const accuracyLevel = ctx.options.accuracyLevel ?? 4;
  const symmetric = ctx.options.symmetric ?? false;
  const packed = new Map<string, { tensors: TensorProto[]; scale: number | [number, number]; maxError: number }>();
  let done = 0;
  for (const c of candidates) {
    ctx.options.onProgress?.(done++, candidates.length, c.label);
    const plan = planLinear(ctx, c);
    if (typeof plan === 'string') {
      ctx.skip(c, plan);
      continue;
    }
    const { a, b, transB, alpha, bias, addAfter } = plan;
    const nodes: NodeProto[] = plan.transposeA ? [plan.transposeA] : [];
    const dims = ctx.constants.dims(b)!;
    const [K, N] = transB ? [dims[1], dims[0]] : dims;
    const key = `${b}|${transB}|${alpha}`;
    let w = packed.get(key);
    if (!w) {
      const q = quantizeInt4Blocks(ctx.constants.floats(b), K, N, blockSize, { symmetric, transposed: transB });
      if (alpha !== 1) for (let i = 0; i < q.scales.length; i++) q.scales[i] = Math.fround(q.scales[i] * alpha);
      const tensors = [
        makeTensor(ctx.names.fresh(`${b}_Q4`), 'uint8', [N, q.kBlocks, blockSize / 2], q.packed),
        makeTensor(ctx.names.fresh(`${b}_scales`), 'float32', [N, q.kBlocks], q.scales),
      ];
      if (q.zeroPoints) tensors.push(makeTensor(ctx.names.fresh(`${b}_zero_points`), 'uint8', [N, Math.ceil(q.kBlocks / 2)], q.zeroPoints));
      for (const t of tensors) ctx.rw.addInitializer(t);
      ctx.countWeight(b, tensorBytes(ctx.constants.get(b)!), tensors);
      w = { tensors, scale: scaleSummary(q.scales), maxError: q.maxError * Math.abs(alpha) };
      packed.set(key, w);
    }
    const inits: TensorProto[] = [];
    const inputs = [a, ...w.tensors.map((t) => t.name!)];
    if (bias) {
      const biasName = ctx.names.fresh(`${c.label}_bias`);
      inits.push(makeTensor(biasName, 'float32', [N], bias));
      while (inputs.length < 5) inputs.push('');
      inputs.push(biasName);
    }
    const output = c.node.output[0];
    const product = addAfter ? ctx.names.fresh(`${output}_product`) : output;
    nodes.push(ctx.msNode('MatMulNBits', inputs, [product], {
      K: { int: K }, N: { int: N }, bits: { int: 4 }, block_size: { int: blockSize }, accuracy_level: { int: accuracyLevel },
    }, ctx.names.fresh(`${c.label}_Q4`)));
    if (addAfter) {
      const extra = addAfterNodes(ctx, product, output, addAfter, c.label);
      nodes.push(...extra.nodes);
      inits.push(...extra.inits);
    }
    for (const t of inits) ctx.rw.addInitializer(t);
    ctx.rw.replace(c.index, nodes);
    ctx.quantized({ name: c.label, opType: c.opType, as: 'com.microsoft.MatMulNBits', weight: b, shape: dims, scale: w.scale, maxWeightError: w.maxError });
  }
  ctx.options.onProgress?.(candidates.length, candidates.length, 'done');
}
