/**
 * A small type and shape inference: element types and (where they follow from constants and
 * input shapes) dimensions of the values in a graph. It covers the operators converters need to
 * reason about (ranks for axis rewrites, float-ness for fp16); anything else is left unknown,
 * and callers say so rather than guess.
 */
import type { GraphProto, NodeProto, TypeProto } from '../onnx/types.js';
import { DataType } from '../onnx/types.js';
import { Constants, attr, attrInt, attrInts, isDefaultDomain } from './graph.js';

/** A dimension: a number when known, null otherwise. */
export type Dim = number | null;

export interface ValueType {
  elemType?: number;
  /** undefined: rank unknown */
  shape?: Dim[];
}

export type TypeMap = Map<string, ValueType>;

export function typeFromProto(t: TypeProto | undefined): ValueType {
  const tt = t?.tensorType;
  if (!tt) return {};
  const out: ValueType = {};
  if (tt.elemType) out.elemType = tt.elemType;
  if (tt.shape) out.shape = (tt.shape.dim ?? []).map((d) => (d.dimValue !== undefined ? Number(d.dimValue) : null));
  return out;
}

const SAME_AS_FIRST = new Set([
  'Abs', 'Acos', 'Acosh', 'Asin', 'Asinh', 'Atan', 'Atanh', 'Ceil', 'Celu', 'Cos', 'Cosh', 'Elu', 'Erf', 'Exp', 'Floor',
  'Gelu', 'HardSigmoid', 'HardSwish', 'Hardmax', 'Identity', 'LeakyRelu', 'Log', 'LogSoftmax', 'LpNormalization', 'LRN',
  'MeanVarianceNormalization', 'Mish', 'Neg', 'Reciprocal', 'Relu', 'Round', 'Selu', 'Shrink', 'Sigmoid', 'Sign', 'Sin',
  'Sinh', 'Softmax', 'Softplus', 'Softsign', 'Sqrt', 'Tan', 'Tanh', 'ThresholdedRelu', 'Dropout', 'BatchNormalization',
  'InstanceNormalization', 'LayerNormalization', 'GroupNormalization', 'Clip', 'CumSum', 'PRelu', 'Trilu', 'ReverseSequence',
  'ScatterElements', 'ScatterND', 'Scatter', 'CastLike', 'Bernoulli', 'RandomNormalLike', 'RandomUniformLike', 'BitwiseNot',
]);

const BROADCAST = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Max', 'Min', 'Sum', 'Mean', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less',
  'GreaterOrEqual', 'LessOrEqual', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'Where',
]);

const BOOL_OUT = new Set(['And', 'Or', 'Xor', 'Not', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'IsNaN', 'IsInf']);

const REDUCE = new Set([
  'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd',
  'ReduceSum', 'ReduceSumSquare', 'ArgMax', 'ArgMin',
]);

/** Reduce ops whose axes are an input (not an attribute) from this opset on. */
export const REDUCE_AXES_INPUT_SINCE: Record<string, number> = {
  ReduceSum: 13, ReduceL1: 18, ReduceL2: 18, ReduceLogSum: 18, ReduceLogSumExp: 18, ReduceMax: 18, ReduceMean: 18,
  ReduceMin: 18, ReduceProd: 18, ReduceSumSquare: 18,
};

function broadcastShapes(shapes: (Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = i - (rank - s!.length);
      if (k < 0) continue;
      const v = s![k];
      if (v === 1) continue;
      if (v === null) d = d === 1 ? null : d;
      else d = v;
    }
    out.push(d);
  }
  return out;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function product(dims: Dim[]): Dim {
  let p = 1;
  for (const d of dims) {
    if (d === null) return null;
    p *= d;
  }
  return p;
}

/**
 * Infers types for a graph whose default-domain opset is `opset`. Known types (inputs, value_info,
 * initializers, outer-scope values in `outer`) seed the map; inferred facts never override them.
 */
export function inferTypes(graph: GraphProto, opset: number, outer?: TypeMap): TypeMap {
  const types: TypeMap = new Map(outer ?? []);
  const consts = new Constants(graph);
  for (const t of graph.initializer) {
    if (t.name) types.set(t.name, { elemType: t.dataType, shape: (t.dims ?? []).map(Number) });
  }
  for (const v of [...graph.input, ...(graph.valueInfo ?? []), ...graph.output]) {
    if (!v.name) continue;
    const known = typeFromProto(v.type);
    const prev = types.get(v.name);
    types.set(v.name, { elemType: known.elemType ?? prev?.elemType, shape: known.shape ?? prev?.shape });
  }
  for (const node of graph.node) {
    let outs: ValueType[];
    try {
      outs = inferNode(node, types, consts, opset);
    } catch {
      outs = [];
    }
    node.output.forEach((o, i) => {
      if (!o) return;
      const prev = types.get(o);
      const inf = outs[i] ?? {};
      // Declared value_info wins where present; inference fills the gaps.
      types.set(o, { elemType: prev?.elemType ?? inf.elemType, shape: prev?.shape ?? inf.shape });
    });
  }
  return types;
}

function inferNode(node: NodeProto, types: TypeMap, consts: Constants, opset: number): ValueType[] {
  const t = (i: number): ValueType => types.get(node.input[i] ?? '') ?? {};
  const e0 = t(0).elemType;
  const s0 = t(0).shape;
  const op = node.opType ?? '';
  if (!isDefaultDomain(node)) {
    if (node.domain === 'com.microsoft' && (op === 'MatMulNBits' || op === 'FusedMatMul')) return [{ elemType: e0 }];
    // onnxruntime's dynamic-quantization kernels take float A and produce float Y
    if (node.domain === 'com.microsoft' && (op === 'DynamicQuantizeMatMul' || op === 'MatMulIntegerToFloat')) return [{ elemType: DataType.FLOAT }];
    return [];
  }
  if (SAME_AS_FIRST.has(op)) {
    const outs: ValueType[] = [{ elemType: e0, shape: s0 }];
    if (op === 'Dropout') outs.push({ elemType: opset >= 10 ? DataType.BOOL : e0, shape: s0 });
    return outs;
  }
  if (BROADCAST.has(op)) {
    const legacy = opset < 7 && ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less'].includes(op);
    const shape = legacy ? s0 : broadcastShapes(node.input.filter(Boolean).map((x) => types.get(x)?.shape));
    const elemType = BOOL_OUT.has(op) ? DataType.BOOL : op === 'Where' ? t(1).elemType : e0;
    return [{ elemType, shape: opset < 8 && ['Max', 'Min', 'Sum', 'Mean'].includes(op) ? s0 : shape }];
  }
  if (BOOL_OUT.has(op)) return [{ elemType: DataType.BOOL, shape: s0 }];
  switch (op) {
    case 'Constant': {
      const tensor = consts.tensor(node.output[0]);
      if (tensor) return [{ elemType: tensor.dataType, shape: (tensor.dims ?? []).map(Number) }];
      const sparse = attr(node, 'sparse_value')?.sparseTensor;
      if (sparse) return [{ elemType: sparse.values?.dataType, shape: (sparse.dims ?? []).map(Number) }];
      if (attr(node, 'value_string')) return [{ elemType: DataType.STRING, shape: [] }];
      if (attr(node, 'value_strings')) return [{ elemType: DataType.STRING, shape: [attr(node, 'value_strings')!.strings?.length ?? 0] }];
      return [];
    }
    case 'Cast': {
      const to = attr(node, 'to');
      return [{ elemType: to ? Number(to.i ?? 0) || undefined : undefined, shape: s0 }];
    }
    case 'Shape': {
      if (!s0) return [{ elemType: DataType.INT64, shape: [null] }];
      const r = s0.length;
      let start = attrInt(node, 'start', 0);
      let end = attrInt(node, 'end', r);
      start = Math.min(Math.max(normAxis(start, r), 0), r);
      end = Math.min(Math.max(normAxis(end, r), 0), r);
      return [{ elemType: DataType.INT64, shape: [Math.max(end - start, 0)] }];
    }
    case 'Size':
      return [{ elemType: DataType.INT64, shape: [] }];
    case 'NonZero':
      return [{ elemType: DataType.INT64, shape: s0 ? [s0.length, null] : undefined }];
    case 'ConstantOfShape': {
      const v = attr(node, 'value')?.t;
      const dims = consts.values(node.input[0]);
      return [{ elemType: v?.dataType ?? DataType.FLOAT, shape: dims ?? (t(0).shape?.[0] != null ? new Array<Dim>(t(0).shape![0]!).fill(null) : undefined) }];
    }
    case 'EyeLike': {
      const dt = attrInt(node, 'dtype');
      return [{ elemType: dt ?? e0, shape: s0 }];
    }
    case 'RandomNormal':
    case 'RandomUniform':
      return [{ elemType: attrInt(node, 'dtype', DataType.FLOAT), shape: attrInts(node, 'shape') }];
    case 'Range':
      return [{ elemType: e0, shape: [null] }];
    case 'MatMul':
    case 'MatMulInteger':
    case 'QLinearMatMul': {
      const elemType = op === 'MatMulInteger' ? DataType.INT32 : op === 'QLinearMatMul' ? types.get(node.input[7])?.elemType : e0;
      const a = s0;
      const b = t(op === 'QLinearMatMul' ? 3 : 1).shape;
      if (!a || !b) return [{ elemType }];
      const a2 = a.length === 1 ? [1, a[0]] : a;
      const b2 = b.length === 1 ? [b[0], 1] : b;
      const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]) ?? [];
      const shape: Dim[] = [...batch, a2[a2.length - 2], b2[b2.length - 1]];
      if (a.length === 1) shape.splice(shape.length - 2, 1);
      if (b.length === 1) shape.splice(shape.length - 1, 1);
      return [{ elemType, shape }];
    }
    case 'Gemm': {
      const a = s0;
      const b = t(1).shape;
      const m = a ? (attrInt(node, 'transA', 0) ? a[1] : a[0]) : null;
      const n = b ? (attrInt(node, 'transB', 0) ? b[0] : b[1]) : null;
      return [{ elemType: e0, shape: [m ?? null, n ?? null] }];
    }
    case 'Conv':
    case 'ConvTranspose':
    case 'ConvInteger':
    case 'QLinearConv':
    case 'AveragePool':
    case 'MaxPool':
    case 'LpPool':
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
    case 'GlobalLpPool':
    case 'MaxRoiPool':
    case 'Upsample':
    case 'Resize':
    case 'SpaceToDepth':
    case 'DepthToSpace':
    case 'Col2Im':
    case 'DeformConv':
    case 'GridSample':
    case 'RoiAlign':
    case 'MaxUnpool': {
      // Rank is kept (N, C, spatial...); only the batch dimension is certain to carry over.
      const elemType = op === 'ConvInteger' ? DataType.INT32 : op === 'QLinearConv' ? types.get(node.input[7])?.elemType : e0;
      let shape: Dim[] | undefined = s0 ? s0.map((_, i) => (i === 0 ? s0[0] : null)) : undefined;
      if (shape && s0 && (op === 'Conv' || op === 'ConvInteger' || op === 'MaxPool' || op === 'AveragePool' || op === 'LpPool')) {
        const kernel = attrInts(node, 'kernel_shape') ?? (op.startsWith('Conv') ? t(1).shape?.slice(2) : undefined);
        const spatial = convSpatial(node, s0.slice(2), kernel);
        if (spatial) spatial.forEach((d, i) => (shape![i + 2] = d));
      }
      if (shape && (op === 'Conv' || op === 'ConvTranspose' || op === 'ConvInteger')) {
        const w = t(1).shape;
        if (w && w.length > 0) shape[1] = op === 'ConvTranspose' ? (w[1] !== null ? w[1] * attrInt(node, 'group', 1) : null) : w[0];
      } else if (shape && shape.length > 1 && ['AveragePool', 'MaxPool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'Upsample', 'Resize', 'MaxUnpool'].includes(op)) {
        shape[1] = s0![1];
        if (op.startsWith('Global')) shape = shape.map((d, i) => (i < 2 ? d : 1));
      }
      if (op === 'Col2Im') shape = undefined;
      const outs: ValueType[] = [{ elemType, shape }];
      if (op === 'MaxPool') outs.push({ elemType: DataType.INT64, shape });
      return outs;
    }
    case 'Flatten': {
      if (!s0) return [{ elemType: e0, shape: [null, null] }];
      const axis = normAxis(attrInt(node, 'axis', 1), s0.length);
      return [{ elemType: e0, shape: [product(s0.slice(0, axis)), product(s0.slice(axis))] }];
    }
    case 'Reshape': {
      const shapeVals = opset >= 5 ? consts.values(node.input[1]) : attrInts(node, 'shape');
      if (!shapeVals) {
        const len = t(1).shape?.[0];
        return [{ elemType: e0, shape: typeof len === 'number' ? new Array<Dim>(len).fill(null) : undefined }];
      }
      const allowzero = attrInt(node, 'allowzero', 0);
      const out: Dim[] = shapeVals.map((v, i) => (v === 0 && !allowzero ? (s0?.[i] ?? null) : v === -1 ? null : v));
      const neg = shapeVals.indexOf(-1);
      if (neg >= 0 && s0) {
        const total = product(s0);
        const rest = product(out.filter((_, i) => i !== neg));
        if (total !== null && rest !== null && rest !== 0) out[neg] = total / rest;
      }
      return [{ elemType: e0, shape: out }];
    }
    case 'Transpose': {
      if (!s0) return [{ elemType: e0 }];
      const perm = attrInts(node, 'perm') ?? s0.map((_, i) => s0.length - 1 - i);
      return [{ elemType: e0, shape: perm.map((p) => s0[p] ?? null) }];
    }
    case 'Squeeze': {
      const axes = opset >= 13 ? (node.input[1] ? consts.values(node.input[1]) : undefined) : attrInts(node, 'axes');
      if (!s0) return [{ elemType: e0 }];
      if (!axes) {
        if (node.input[1] || s0.some((d) => d === null)) return [{ elemType: e0 }];
        return [{ elemType: e0, shape: s0.filter((d) => d !== 1) }];
      }
      const drop = new Set(axes.map((a) => normAxis(a, s0.length)));
      return [{ elemType: e0, shape: s0.filter((_, i) => !drop.has(i)) }];
    }
    case 'Unsqueeze': {
      const axes = opset >= 13 ? consts.values(node.input[1]) : attrInts(node, 'axes');
      if (!s0 || !axes) return [{ elemType: e0 }];
      const rank = s0.length + axes.length;
      const ins = new Set(axes.map((a) => normAxis(a, rank)));
      const out: Dim[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) out.push(ins.has(i) ? 1 : (s0[k++] ?? null));
      return [{ elemType: e0, shape: out }];
    }
    case 'Concat': {
      if (node.input.some((x) => !types.get(x)?.shape)) {
        const r = node.input.map((x) => types.get(x)?.shape).find(Boolean);
        return [{ elemType: e0, shape: r ? r.map(() => null) : undefined }];
      }
      const shapes = node.input.map((x) => types.get(x)!.shape!);
      const r = shapes[0].length;
      const axis = normAxis(attrInt(node, 'axis', 1), r);
      const out = shapes[0].map((d, i) => (i === axis ? product(shapes.map((s) => s[i])) === null ? null : shapes.reduce((acc, s) => acc + (s[i] as number), 0) : d));
      return [{ elemType: e0, shape: out }];
    }
    case 'Split': {
      if (!s0) return node.output.map(() => ({ elemType: e0 }));
      const axis = normAxis(attrInt(node, 'axis', 0), s0.length);
      let sizes = opset >= 13 ? (node.input[1] ? consts.values(node.input[1]) : undefined) : attrInts(node, 'split');
      const dim = s0[axis];
      if (!sizes && dim !== null) {
        const n = node.output.length;
        const chunk = Math.ceil(dim / n);
        sizes = node.output.map((_, i) => Math.max(0, Math.min(chunk, dim - chunk * i)));
      }
      return node.output.map((_, i) => ({ elemType: e0, shape: s0.map((d, k) => (k === axis ? (sizes?.[i] ?? null) : d)) }));
    }
    case 'Slice':
      return [{ elemType: e0, shape: s0?.map(() => null) }];
    case 'Pad':
    case 'Tile':
    case 'Expand':
    case 'CenterCropPad':
      return [{ elemType: e0, shape: op === 'Expand' ? undefined : s0?.map(() => null) }];
    case 'Gather': {
      const idx = t(1).shape;
      if (!s0 || !idx) return [{ elemType: e0 }];
      const axis = normAxis(attrInt(node, 'axis', 0), s0.length);
      return [{ elemType: e0, shape: [...s0.slice(0, axis), ...idx, ...s0.slice(axis + 1)] }];
    }
    case 'GatherElements':
      return [{ elemType: e0, shape: t(1).shape }];
    case 'GatherND':
      return [{ elemType: e0 }];
    case 'TopK':
      return [{ elemType: e0, shape: s0?.map(() => null) }, { elemType: DataType.INT64, shape: s0?.map(() => null) }];
    case 'OneHot':
      return [{ elemType: t(2).elemType }];
    case 'Einsum':
      return [{ elemType: e0 }];
    case 'QuantizeLinear':
      return [{ elemType: types.get(node.input[2] ?? '')?.elemType ?? attrInt(node, 'output_dtype') ?? DataType.UINT8, shape: s0 }];
    case 'DequantizeLinear':
      return [{ elemType: types.get(node.input[1])?.elemType ?? DataType.FLOAT, shape: s0 }];
    case 'DynamicQuantizeLinear':
      return [{ elemType: DataType.UINT8, shape: s0 }, { elemType: DataType.FLOAT, shape: [] }, { elemType: DataType.UINT8, shape: [] }];
    case 'LSTM':
    case 'GRU':
    case 'RNN':
      return node.output.map(() => ({ elemType: e0 }));
    case 'If': {
      const body = attr(node, 'then_branch')?.g ?? attr(node, 'else_branch')?.g;
      return (body?.output ?? []).map((o) => ({ elemType: typeFromProto(o.type).elemType }));
    }
    case 'Loop': {
      const body = attr(node, 'body')?.g;
      return (body?.output ?? []).slice(1).map((o) => ({ elemType: typeFromProto(o.type).elemType }));
    }
    case 'Scan': {
      const body = attr(node, 'body')?.g;
      return (body?.output ?? []).map((o) => ({ elemType: typeFromProto(o.type).elemType }));
    }
    default:
      break;
  }
  if (REDUCE.has(op)) {
    const elemType = op === 'ArgMax' || op === 'ArgMin' ? DataType.INT64 : e0;
    if (!s0) return [{ elemType }];
    const keep = attrInt(node, 'keepdims', 1);
    let axes: number[] | undefined;
    if (op === 'ArgMax' || op === 'ArgMin') axes = [attrInt(node, 'axis', 0)];
    else if (opset >= (REDUCE_AXES_INPUT_SINCE[op] ?? 99)) axes = node.input[1] ? consts.values(node.input[1]) : [];
    else axes = attrInts(node, 'axes') ?? [];
    if (axes === undefined) return [{ elemType, shape: keep ? s0.map(() => null) : undefined }];
    const all = axes.length === 0;
    if (all && attrInt(node, 'noop_with_empty_axes', 0)) return [{ elemType, shape: s0 }];
    const set = new Set(all ? s0.map((_, i) => i) : axes.map((a) => normAxis(a, s0.length)));
    const shape = keep ? s0.map((d, i) => (set.has(i) ? 1 : d)) : s0.filter((_, i) => !set.has(i));
    return [{ elemType, shape }];
  }
  return [];
}

/** Output spatial dims of a convolution/pooling window, when the input dims and kernel are known. */
function convSpatial(node: NodeProto, input: Dim[], kernel: Dim[] | undefined): Dim[] | undefined {
  if (!kernel || kernel.length !== input.length || kernel.some((k) => k === null)) return undefined;
  const n = input.length;
  const strides = attrInts(node, 'strides') ?? new Array<number>(n).fill(1);
  const dilations = attrInts(node, 'dilations') ?? new Array<number>(n).fill(1);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * n).fill(0);
  const autoPad = attr(node, 'auto_pad') ? new TextDecoder().decode(attr(node, 'auto_pad')!.s ?? new Uint8Array()) : 'NOTSET';
  const ceil = attrInt(node, 'ceil_mode', 0) === 1;
  return input.map((d, i) => {
    if (d === null) return null;
    const k = (kernel[i] as number - 1) * dilations[i] + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(d / strides[i]);
    if (autoPad === 'VALID') return Math.floor((d - k) / strides[i]) + 1;
    const span = d + pads[i] + pads[i + n] - k;
    return (ceil ? Math.ceil(span / strides[i]) : Math.floor(span / strides[i])) + 1;
  });
}

/** Rank of a value when known. */
export function rankOf(types: TypeMap, name: string): number | undefined {
  return types.get(name)?.shape?.length;
}
