/** State shared by the quantization passes over one graph, and helpers they have in common. */
import { elementCount, makeNode, makeTensor, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../../onnx/index.js';
import { DataType } from '../../onnx/types.js';
import { Constants, GraphRewriter, MS_DOMAIN, Names, floatAttr, intAttr, nodeLabel, onnxOpset } from './graph.js';
import { quantizeWeight, type QuantType, type QuantizedWeight } from './math.js';
import type { QuantizeOptions, QuantizeReport, QuantizedNode } from './types.js';

export interface Candidate {
  index: number;
  node: NodeProto;
  label: string;
  opType: string;
}

export class Context {
  readonly graph: GraphProto;
  readonly opset: number;
  readonly constants: Constants;
  readonly names: Names;
  readonly rw: GraphRewriter;
  usesMsDomain = false;
  /** set by a pass that rewrites node inputs in place (static QDQ) */
  renameInputs?: (node: NodeProto, index: number) => NodeProto;
  weightBytesBefore = 0;
  weightBytesAfter = 0;
  /** 7-bit int8 weights (decided by decideRange) */
  reduceRange = false;
  /** reduce range was asked for explicitly: it applies to every weight, not only u8s8 ones */
  reduceRangeForced = false;
  private readonly countedWeights = new Set<string>();

  constructor(
    readonly model: ModelProto,
    readonly options: QuantizeOptions,
    readonly report: QuantizeReport,
  ) {
    this.graph = model.graph!;
    this.opset = onnxOpset(model);
    this.constants = new Constants(this.graph, options.externalDataDir);
    this.names = new Names(this.graph);
    this.rw = new GraphRewriter(this.graph);
  }

  skip(c: Candidate, reason: string): void {
    this.report.skipped.push({ name: c.label, opType: c.opType, reason });
  }

  quantized(entry: QuantizedNode): void {
    this.report.quantizedNodes.push(entry);
  }

  /** Records the bytes of a float weight replaced by quantized tensors (once per weight). */
  countWeight(name: string, before: number, after: TensorProto[]): void {
    if (this.countedWeights.has(name)) return;
    this.countedWeights.add(name);
    this.weightBytesBefore += before;
    for (const t of after) this.weightBytesAfter += tensorPayload(t);
  }

  /** A node in com.microsoft; remembers that the opset import is needed. */
  msNode(opType: string, inputs: string[], outputs: string[], attrs: Parameters<typeof makeNode>[3] = {}, name?: string): NodeProto {
    this.usesMsDomain = true;
    return makeNode(opType, inputs, outputs, attrs, { domain: MS_DOMAIN, ...(name ? { name } : {}) });
  }

  /**
   * QuantizeLinear/DequantizeLinear in the domain that supports the case: ai.onnx when the
   * model's opset has it (10 per tensor, 13 per axis, 21 for 16-bit types), com.microsoft
   * otherwise, so the model's opset never has to change.
   */
  qdqNode(op: 'QuantizeLinear' | 'DequantizeLinear', inputs: string[], output: string, opts: { axis?: number; wide?: boolean; name?: string }): NodeProto {
    const need = opts.wide ? 21 : opts.axis !== undefined ? 13 : 10;
    const attrs: Record<string, { int: number }> = opts.axis !== undefined ? { axis: { int: opts.axis } } : {};
    if (this.opset >= need) return makeNode(op, inputs, [output], attrs, opts.name ? { name: opts.name } : undefined);
    return this.msNode(op, inputs, [output], attrs, opts.name);
  }
}

export function tensorPayload(t: TensorProto): number {
  return t.rawData?.length ?? 0;
}

/** Nodes the options select: op type in the list, not excluded; records exclusions. */
export function selectCandidates(graph: GraphProto, opTypes: string[], exclude: string[], report: QuantizeReport): Candidate[] {
  const excluded = new Set(exclude);
  const seen = new Set<string>();
  const out: Candidate[] = [];
  graph.node.forEach((node, index) => {
    const opType = node.opType ?? '';
    const label = nodeLabel(node, index);
    if (excluded.has(label) || (node.name && excluded.has(node.name))) {
      seen.add(label);
      if (opTypes.includes(opType) && (!node.domain || node.domain === 'ai.onnx')) report.skipped.push({ name: label, opType, reason: 'excluded' });
      return;
    }
    if (!opTypes.includes(opType) || (node.domain && node.domain !== 'ai.onnx')) return;
    out.push({ index, node, label, opType });
  });
  for (const name of exclude) if (!seen.has(name)) report.warnings.push(`--exclude: no node named '${name}'`);
  return out;
}

/** Checks a constant float weight of the expected rank; returns a skip reason or undefined. */
export function weightProblem(ctx: Context, name: string, ranks: number[]): string | undefined {
  if (!ctx.constants.has(name)) return `weight '${name}' is not a constant`;
  const type = ctx.constants.dataType(name);
  if (type !== DataType.FLOAT) return `weight '${name}' is not float32 (type ${type})`;
  const dims = ctx.constants.dims(name)!;
  if (!ranks.includes(dims.length)) return `weight '${name}' has rank ${dims.length} (supported: ${ranks.join(', ')})`;
  if (elementCount(dims) === 0) return `weight '${name}' is empty`;
  return undefined;
}

/** Transposes a row-major [rows, cols] matrix. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

export function scaleSummary(scales: Float32Array): number | [number, number] {
  if (scales.length === 1) return scales[0];
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of scales) {
    if (s < lo) lo = s;
    if (s > hi) hi = s;
  }
  return [lo, hi];
}

export interface WeightTensors {
  q: TensorProto;
  /** scales, zero points and error of the quantization (its values live only in `q`) */
  scale: TensorProto;
  zeroPoint: TensorProto;
  quant: QuantizedWeight;
}

/** Quantized weight + scale + zero point initializers (ORT naming: _quantized, _scale, _zero_point). */
export function weightTensors(ctx: Context, base: string, data: Float32Array, dims: number[], type: QuantType, opts: { symmetric: boolean; axis?: number; reduceRange?: boolean }): WeightTensors {
  const quant = quantizeWeight(data, dims, type, { symmetric: opts.symmetric, axis: opts.axis, reduceRange: opts.reduceRange ?? ctx.reduceRange });
  const vector = opts.axis !== undefined;
  const zpType = type === 'uint8' ? 'uint8' : 'int8';
  const q = makeTensor(ctx.names.fresh(`${base}_quantized`), type as 'int8', dims, quant.values);
  // makeTensor copied the values into raw_data: keep only that copy
  quant.values = new Int8Array(0);
  return {
    q,
    scale: makeTensor(ctx.names.fresh(`${base}_scale`), 'float32', vector ? [quant.scales.length] : [], quant.scales),
    zeroPoint: makeTensor(ctx.names.fresh(`${base}_zero_point`), zpType, vector ? [quant.zeroPoints.length] : [], quant.zeroPoints),
    quant,
  };
}

/**
 * What a Gemm computes, in MatMul terms: Y = A' @ B' * alpha + beta * C, with A' = A or A^T
 * (a Transpose node is inserted for transA) and B' = B or B^T.
 */
export interface GemmPlan {
  /** the activation, after an inserted Transpose when transA = 1 */
  a: string;
  transposeA?: NodeProto;
  b: string;
  transB: boolean;
  alpha: number;
  /** beta * C as a [N] vector, when C is a constant that broadcasts along rows */
  bias?: Float32Array;
  /** C that must be added after the product (non-constant, or a full [M, N] matrix), times beta */
  addAfter?: { c: string; beta: number };
  K: number;
  N: number;
}

export function planGemm(ctx: Context, c: Candidate): GemmPlan | string {
  const node = c.node;
  const [a, b, cName] = node.input;
  const problem = weightProblem(ctx, b, [2]);
  if (problem) return problem;
  const transA = intAttr(node, 'transA', 0) !== 0;
  const transB = intAttr(node, 'transB', 0) !== 0;
  const alpha = floatAttr(node, 'alpha', 1);
  const beta = floatAttr(node, 'beta', 1);
  const [d0, d1] = ctx.constants.dims(b)!;
  const K = transB ? d1 : d0;
  const N = transB ? d0 : d1;
  const plan: GemmPlan = { a, b, transB, alpha, K, N };
  if (transA) {
    const t = ctx.names.fresh(`${a}_transposed`);
    plan.transposeA = makeNode('Transpose', [a], [t], { perm: { ints: [1, 0] } }, { name: ctx.names.fresh(`${c.label}_transA`) });
    plan.a = t;
  }
  if (cName && beta !== 0) {
    const cDims = ctx.constants.dims(cName);
    const rowBroadcast = cDims !== undefined && ctx.constants.dataType(cName) === DataType.FLOAT &&
      (elementCount(cDims) === N || elementCount(cDims) === 1) && (cDims.length <= 1 || (cDims.length === 2 && cDims[0] === 1));
    if (rowBroadcast) {
      const values = ctx.constants.floats(cName);
      plan.bias = new Float32Array(N);
      for (let j = 0; j < N; j++) plan.bias[j] = Math.fround(beta * values[values.length === 1 ? 0 : j]);
    } else {
      plan.addAfter = { c: cName, beta };
    }
  }
  return plan;
}

/**
 * MatMul or Gemm with a constant 2-D B as one plan, so every weight quantizer treats both the
 * same way (a MatMul is a Gemm without transposes, alpha 1 and no C). Refuses a constant A:
 * only the weight side is quantized ahead of time.
 */
export function planLinear(ctx: Context, c: Candidate): GemmPlan | string {
  let plan: GemmPlan | string;
  if (c.opType === 'MatMul') {
    const [a, b] = c.node.input;
    const problem = weightProblem(ctx, b, [2]);
    if (problem) return problem;
    const [K, N] = ctx.constants.dims(b)!;
    plan = { a, b, transB: false, alpha: 1, K, N };
  } else {
    plan = planGemm(ctx, c);
    if (typeof plan === 'string') return plan;
  }
  if (ctx.constants.has(plan.a)) return `input '${plan.a}' is a constant; only products of an activation and a constant weight are quantized`;
  return plan;
}

/** Nodes adding beta * C to `product`, writing `output`. */
export function addAfterNodes(ctx: Context, product: string, output: string, addAfter: { c: string; beta: number }, label: string): { nodes: NodeProto[]; inits: TensorProto[] } {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  let c = addAfter.c;
  if (addAfter.beta !== 1) {
    const betaName = ctx.names.fresh(`${label}_beta`);
    inits.push(makeTensor(betaName, 'float32', [], [addAfter.beta]));
    const scaled = ctx.names.fresh(`${c}_times_beta`);
    nodes.push(makeNode('Mul', [c, betaName], [scaled], {}, { name: ctx.names.fresh(`${label}_beta_mul`) }));
    c = scaled;
  }
  nodes.push(makeNode('Add', [product, c], [output], {}, { name: ctx.names.fresh(`${label}_add_c`) }));
  return { nodes, inits };
}
