/**
 * Magnitude pruning of the weights of MatMul, Gemm and Conv.
 *
 * - Unstructured: the smallest-magnitude weights become 0, per layer or with one global threshold.
 *   Shapes do not change, so neither the file size nor onnxruntime's CPU speed does (it has no
 *   sparse kernels); the report gives the gzip size, which is where the zeros pay off.
 * - Structured: whole output channels (columns of a MatMul/Gemm weight, filters of a Conv) with the
 *   lowest L2 norm are removed, with the matching inputs of the next layer and every per-channel
 *   constant in between (biases, BatchNormalization parameters, Add/Mul constants, PRelu slopes),
 *   through activations, pooling and Flatten. The model really shrinks and runs faster. A layer
 *   whose channels reach something this cannot follow (a graph output, a residual Add of two
 *   computed tensors, Concat, LayerNormalization, ...) is left unpruned, with the reason reported.
 *
 * No I/O: model in, model and report out. The input model is not modified.
 */
import { gzipSync } from 'node:zlib';
import { encodeModel } from '../onnx/codec.js';
import { makeTensor as makeAnyTensor, tensorToArray, float16ToFloat32, float32ToFloat16 } from '../onnx/tensor.js';
import { DataType, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.js';
import { Constants, NameGen, attrInt, cloneModel, consumers, defaultOpset, isDefaultDomain, subgraphOuterRefs } from '../convert/graph.js';
import { inferTypes, type TypeMap } from '../convert/infer.js';

export interface PruneOptions {
  /** fraction of weights (unstructured) or output channels (structured) to remove, 0 ≤ s < 1 */
  sparsity: number;
  /** remove whole output channels instead of zeroing single weights */
  structured?: boolean;
  /** unstructured only: one magnitude threshold for all layers ('global') or the same sparsity in each (default) */
  scope?: 'global' | 'per-layer';
  /** node names left untouched */
  exclude?: string[];
}

export interface PruneLayer {
  /** the MatMul/Gemm/Conv node (its name, or its output when unnamed) */
  name: string;
  op: string;
  weight: string;
  shapeBefore: number[];
  shapeAfter: number[];
  params: { before: number; after: number };
  /** zero weights after pruning */
  zeros: number;
  /** zeros / params after pruning */
  sparsity: number;
  /** weight bytes (dense) */
  bytes: { before: number; after: number };
  /** structured: output channels kept of the original count */
  channels?: { before: number; after: number };
  /** structured: indices of the output channels kept (in the original numbering) */
  kept?: number[];
  /** structured: this layer's inputs shrank because the layer before it was pruned */
  inputsPruned?: boolean;
}

export interface PruneReport {
  mode: 'unstructured' | 'structured';
  scope: 'global' | 'per-layer' | 'channel';
  targetSparsity: number;
  layers: PruneLayer[];
  /** layers left as they were, and why */
  skipped: { name: string; op: string; reason: string }[];
  totals: {
    /** weights of the prunable layers */
    params: { before: number; after: number };
    zeros: number;
    /** zeros / params over the prunable layers, after pruning */
    sparsity: number;
    /** all initializers, dense */
    parameterBytes: { before: number; after: number };
    /** the serialized model, and gzip -6 of it (where unstructured zeros show up); null above 1 GiB */
    modelBytes: { before: number | null; after: number | null };
    gzipBytes: { before: number | null; after: number | null };
  };
}

const PRUNABLE = new Set(['MatMul', 'Gemm', 'Conv']);

function label(node: NodeProto): string {
  return node.name || node.output[0] || node.opType || '?';
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** float32 values of a float32/float16 tensor, or undefined for other types. */
function floatValues(t: TensorProto): Float32Array | undefined {
  if (t.dataType === DataType.FLOAT) return tensorToArray(t) as Float32Array;
  if (t.dataType === DataType.FLOAT16) return float16ToFloat32(tensorToArray(t) as Uint16Array);
  return undefined;
}

function makeLike(t: TensorProto, name: string, dims: number[], values: Float32Array): TensorProto {
  const out = t.dataType === DataType.FLOAT16 ? makeAnyTensor(name, 'float16', dims, float32ToFloat16(values)) : makeAnyTensor(name, t.dataType ?? DataType.FLOAT, dims, values);
  if (t.docString !== undefined) out.docString = t.docString;
  return out;
}

/** Keeps `keep` (sorted indices) along `axis` of a dense tensor of any numeric type. */
function sliceAxis(values: ArrayLike<number>, dims: number[], axis: number, keep: number[]): { values: number[]; dims: number[] } {
  const outer = product(dims.slice(0, axis));
  const inner = product(dims.slice(axis + 1));
  const n = dims[axis];
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const k of keep) {
      const base = (o * n + k) * inner;
      for (let i = 0; i < inner; i++) out.push(values[base + i]);
    }
  }
  const newDims = [...dims];
  newDims[axis] = keep.length;
  return { values: out, dims: newDims };
}

function tensorBytes(t: TensorProto): number {
  const bits = t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16 ? 2 : t.dataType === DataType.DOUBLE || t.dataType === DataType.INT64 ? 8 : t.dataType === DataType.UINT8 || t.dataType === DataType.INT8 || t.dataType === DataType.BOOL ? 1 : 4;
  return product((t.dims ?? []).map(Number)) * bits;
}

function sizes(model: ModelProto): { bytes: number | null; gzip: number | null; params: number } {
  let params = 0;
  for (const t of model.graph?.initializer ?? []) params += tensorBytes(t);
  if (params > 1 << 30) return { bytes: null, gzip: null, params };
  const bytes = encodeModel(model);
  return { bytes: bytes.length, gzip: gzipSync(bytes, { level: 6 }).length, params };
}

interface Layer {
  node: NodeProto;
  /** input index of the weight */
  wIndex: number;
  weight: TensorProto;
}

/** MatMul/Gemm/Conv nodes whose weight is a float initializer, plus the ones we must skip and why. */
function findLayers(graph: GraphProto, exclude: Set<string>): { layers: Layer[]; skipped: PruneReport['skipped'] } {
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const layers: Layer[] = [];
  const skipped: PruneReport['skipped'] = [];
  for (const node of graph.node) {
    const op = node.opType ?? '';
    if (!isDefaultDomain(node) || !PRUNABLE.has(op)) continue;
    const name = label(node);
    if (exclude.has(node.name ?? '')) {
      skipped.push({ name, op, reason: 'excluded' });
      continue;
    }
    const wName = node.input[1];
    const w = inits.get(wName);
    if (!w) {
      skipped.push({ name, op, reason: 'weight is not an initializer' });
      continue;
    }
    if (w.dataType !== DataType.FLOAT && w.dataType !== DataType.FLOAT16) {
      skipped.push({ name, op, reason: `weight element type ${w.dataType} is not float32/float16` });
      continue;
    }
    if (op === 'MatMul' && (w.dims ?? []).length !== 2) {
      skipped.push({ name, op, reason: 'MatMul weight is not 2-D' });
      continue;
    }
    layers.push({ node, wIndex: 1, weight: w });
  }
  return { layers, skipped };
}

// --- unstructured ----------------------------------------------------------------------------

/** The k-th smallest value (0-based) of an array (copy sorted). */
function kthSmallest(values: Float32Array, k: number): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(Math.max(k, 0), sorted.length - 1)];
}

/**
 * Zeroes the `count` smallest-magnitude entries: every entry below the threshold (the count-th
 * smallest magnitude, unless given), then entries equal to it, in index order, until `count`.
 */
function zeroSmallest(w: Float32Array, count: number, threshold?: number): void {
  if (count <= 0) return;
  const abs = w.map(Math.abs);
  const thr = threshold ?? kthSmallest(abs, count - 1);
  let zeroed = 0;
  for (let i = 0; i < w.length; i++) {
    if (abs[i] < thr) {
      w[i] = 0;
      zeroed++;
    }
  }
  for (let i = 0; i < w.length && zeroed < count; i++) {
    if (abs[i] === thr) {
      w[i] = 0;
      zeroed++;
    }
  }
}

function pruneUnstructured(graph: GraphProto, layers: Layer[], sparsity: number, scope: 'global' | 'per-layer'): PruneLayer[] {
  // A weight shared by several nodes is pruned once (reported under its first node).
  const seen = new Set<string>();
  const unique = layers.filter((l) => {
    if (seen.has(l.weight.name ?? '')) return false;
    seen.add(l.weight.name ?? '');
    return true;
  });
  const values = unique.map((l) => floatValues(l.weight)!);
  let globalThreshold: number | undefined;
  let globalCount = 0;
  if (scope === 'global' && sparsity > 0) {
    const total = values.reduce((n, v) => n + v.length, 0);
    globalCount = Math.round(sparsity * total);
    const all = new Float32Array(total);
    let off = 0;
    for (const v of values) {
      for (let i = 0; i < v.length; i++) all[off + i] = Math.abs(v[i]);
      off += v.length;
    }
    globalThreshold = globalCount > 0 ? kthSmallest(all, globalCount - 1) : undefined;
  }
  const out: PruneLayer[] = [];
  let budget = globalCount;
  unique.forEach((layer, i) => {
    const w = values[i];
    const dims = (layer.weight.dims ?? []).map(Number);
    if (sparsity > 0) {
      if (scope === 'global') {
        if (globalThreshold !== undefined) {
          // Strictly below the threshold everywhere; ties at the threshold fill the remaining budget in layer order.
          let below = 0;
          for (let j = 0; j < w.length; j++) if (Math.abs(w[j]) < globalThreshold) below++;
          budget -= below;
          let ties = 0;
          for (let j = 0; j < w.length; j++) if (Math.abs(w[j]) === globalThreshold) ties++;
          const takeTies = Math.max(0, Math.min(ties, budget));
          budget -= takeTies;
          zeroSmallest(w, below + takeTies, globalThreshold);
        }
      } else {
        zeroSmallest(w, Math.round(sparsity * w.length));
      }
      const t = makeLike(layer.weight, layer.weight.name ?? '', dims, w);
      graph.initializer[graph.initializer.indexOf(layer.weight)] = t;
    }
    let zeros = 0;
    for (const v of w) if (v === 0) zeros++;
    const bytes = tensorBytes(layer.weight);
    out.push({
      name: label(layer.node),
      op: layer.node.opType ?? '',
      weight: layer.weight.name ?? '',
      shapeBefore: dims,
      shapeAfter: dims,
      params: { before: w.length, after: w.length },
      zeros,
      sparsity: w.length ? zeros / w.length : 0,
      bytes: { before: bytes, after: bytes },
    });
  });
  return out;
}

// --- structured ------------------------------------------------------------------------------

/** Where the pruned channels live in a tensor: an axis (absolute, or counted from the end) and a block size. */
interface Layout {
  /** absolute axis (NCHW channel = 1), or -1 for the last axis */
  axis: number;
  /** each channel spans `block` consecutive positions along the axis (after Flatten of C×S) */
  block: number;
}

type Edit =
  | { kind: 'slice'; node: NodeProto; input: number; axis: number; block: number }
  | { kind: 'reshape'; node: NodeProto; input: number; block: number }
  | { kind: 'consumer'; node: NodeProto; input: number; axis: number; block: number };

const ELEMENTWISE = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Elu', 'Selu', 'Celu', 'Gelu', 'HardSigmoid', 'HardSwish', 'Softplus', 'Softsign',
  'Mish', 'Identity', 'Abs', 'Neg', 'Exp', 'Log', 'Sqrt', 'Erf', 'Cast', 'Floor', 'Ceil', 'Round', 'Sign', 'Reciprocal', 'ThresholdedRelu',
]);
const POOL = new Set(['MaxPool', 'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div']);

class StructuredPlanner {
  readonly uses: Map<string, NodeProto[]>;
  readonly outputs: Set<string>;

  constructor(
    private readonly graph: GraphProto,
    private readonly types: TypeMap,
    private readonly consts: Constants,
  ) {
    this.uses = consumers(graph);
    this.outputs = new Set(graph.output.map((o) => o.name ?? ''));
  }

  rank(name: string): number | undefined {
    return this.types.get(name)?.shape?.length;
  }

  /** absolute channel axis in a tensor of the given rank */
  private abs(layout: Layout, rank: number | undefined): number | undefined {
    if (layout.axis >= 0) return layout.axis;
    return rank === undefined ? undefined : rank + layout.axis;
  }

  /**
   * Follows the channels of `value` to the next layers. Returns the edits, or a reason the
   * channels cannot be followed.
   */
  follow(value: string, layout: Layout, channels: number, edits: Edit[], visited = new Set<string>()): string | undefined {
    if (visited.has(value)) return undefined;
    visited.add(value);
    if (this.outputs.has(value)) return `its output '${value}' is a graph output (the model's interface would change)`;
    const users = this.uses.get(value) ?? [];
    if (users.length === 0) return `its output '${value}' is unused`;
    for (const n of users) {
      const op = n.opType ?? '';
      const where = `${op} '${label(n)}'`;
      if (!isDefaultDomain(n)) return `its channels reach ${where} in domain '${n.domain}'`;
      if (!n.input.includes(value) && subgraphOuterRefs(n).has(value)) return `its channels are used inside the subgraph of ${where}`;
      const slot = n.input.indexOf(value);
      if (ELEMENTWISE.has(op) || (op === 'Dropout' && slot === 0)) {
        if (op === 'Dropout' && n.output[1] && (this.uses.get(n.output[1])?.length || this.outputs.has(n.output[1]))) return `the mask of ${where} is used`;
        const r = this.follow(n.output[0], layout, channels, edits, visited);
        if (r) return r;
        continue;
      }
      if (op === 'Clip') {
        if (slot !== 0 || [n.input[1], n.input[2]].some((x) => x && this.consts.values(x)?.length !== 1)) return `${where} has non-constant bounds`;
        const r = this.follow(n.output[0], layout, channels, edits, visited);
        if (r) return r;
        continue;
      }
      if (BINARY.has(op)) {
        const other = n.input[1 - slot];
        if (n.input[0] === n.input[1]) {
          const r = this.follow(n.output[0], layout, channels, edits, visited);
          if (r) return r;
          continue;
        }
        const c = this.consts.get(other);
        if (!c) return `it reaches ${where}, which combines it with another computed tensor (a residual connection)`;
        const e = this.constEdit(n, 1 - slot, c.dims, layout, channels, this.rank(n.output[0]) ?? this.rank(value));
        if (typeof e === 'string') return `${where}: ${e}`;
        if (e) edits.push(e);
        const r = this.follow(n.output[0], layout, channels, edits, visited);
        if (r) return r;
        continue;
      }
      if (op === 'PRelu') {
        if (slot !== 0) return `it is the slope of ${where}`;
        const c = this.consts.get(n.input[1]);
        if (!c) return `${where} has a computed slope`;
        const e = this.constEdit(n, 1, c.dims, layout, channels, this.rank(value));
        if (typeof e === 'string') return `${where}: ${e}`;
        if (e) edits.push(e);
        const r = this.follow(n.output[0], layout, channels, edits, visited);
        if (r) return r;
        continue;
      }
      if (op === 'BatchNormalization' || op === 'InstanceNormalization') {
        if (slot !== 0) return `it is a parameter of ${where}`;
        const axis = this.abs(layout, this.rank(value));
        if (axis !== 1 || layout.block !== 1) return `${where} normalizes over axis 1, which is not where its channels are`;
        const params = op === 'BatchNormalization' ? [1, 2, 3, 4] : [1, 2];
        for (const i of params) {
          if (!this.consts.get(n.input[i])) return `${where} has computed parameters`;
          edits.push({ kind: 'slice', node: n, input: i, axis: 0, block: 1 });
        }
        if (n.output.slice(1).some((o) => o && (this.uses.get(o)?.length || this.outputs.has(o)))) return `${where} has used statistics outputs`;
        const r = this.follow(n.output[0], layout, channels, edits, visited);
        if (r) return r;
        continue;
      }
      if (POOL.has(op)) {
        const axis = this.abs(layout, this.rank(value));
        if (axis !== 1 || layout.block !== 1) return `${where} pools a tensor whose channels are not on axis 1`;
        if (n.output[1] && (this.uses.get(n.output[1])?.length || this.outputs.has(n.output[1]))) return `the indices of ${where} are used`;
        const r = this.follow(n.output[0], layout, channels, edits, visited);
        if (r) return r;
        continue;
      }
      if (op === 'Flatten' || op === 'Reshape') {
        if (slot !== 0) return `it is the shape input of ${where}`;
        const shape = this.types.get(value)?.shape;
        const axis = this.abs(layout, shape?.length);
        if (!shape || axis === undefined) return `${where}: the input shape is unknown`;
        const flatAxis = op === 'Flatten' ? attrInt(n, 'axis', 1) : this.reshapeFlatAxis(n, shape);
        if (flatAxis === undefined) return `${where} is not a flatten to [batch, features]; berth only follows channels through that`;
        if (axis !== flatAxis || axis < 1) return `${where} flattens from axis ${flatAxis}, but the channels are on axis ${axis}`;
        const rest = shape.slice(axis + 1);
        if (rest.some((d) => d === null)) return `${where}: the spatial size after the channels is unknown`;
        const block = layout.block * product(rest as number[]);
        if (op === 'Reshape') edits.push({ kind: 'reshape', node: n, input: 1, block });
        const r = this.follow(n.output[0], { axis: -1, block }, channels, edits, visited);
        if (r) return r;
        continue;
      }
      if (op === 'MatMul' || op === 'Gemm') {
        if (slot !== 0) return `it is the weight input of ${where}`;
        const w = this.consts.get(n.input[1]);
        if (!w || w.dims.length !== 2) return `${where} has no constant 2-D weight to shrink`;
        const axis = this.abs(layout, this.rank(value));
        const rank = this.rank(value);
        if (layout.axis !== -1 && (rank === undefined || axis !== rank - 1)) return `${where} multiplies over the last axis, but the channels are on axis ${axis}`;
        if (op === 'Gemm' && attrInt(n, 'transA', 0)) return `${where} has transA=1`;
        const wAxis = op === 'Gemm' && attrInt(n, 'transB', 0) ? 1 : 0;
        edits.push({ kind: 'consumer', node: n, input: 1, axis: wAxis, block: layout.block });
        continue;
      }
      if (op === 'Conv') {
        if (slot !== 0) return `it is the weight of ${where}`;
        const axis = this.abs(layout, this.rank(value));
        if (axis !== 1 || layout.block !== 1) return `${where} convolves over axis 1, which is not where the channels are`;
        if (attrInt(n, 'group', 1) !== 1) return `${where} is a grouped convolution`;
        if (!this.consts.get(n.input[1])) return `${where} has a computed weight`;
        edits.push({ kind: 'consumer', node: n, input: 1, axis: 1, block: 1 });
        continue;
      }
      return `its channels reach ${where}, which berth cannot follow`;
    }
    return undefined;
  }

  /** For a Reshape with a constant shape [b, -1] / [0, -1] / [b, F]: the flatten axis (1), else undefined. */
  private reshapeFlatAxis(n: NodeProto, inShape: (number | null)[]): number | undefined {
    const target = this.consts.values(n.input[1]);
    if (!target || target.length !== 2) return undefined;
    const [b, f] = target;
    const batchOk = b === 0 || b === -1 ? true : inShape[0] === b;
    if (!batchOk) return undefined;
    if (f === -1) return b === -1 ? undefined : 1;
    const feat = inShape.slice(1);
    if (feat.some((d) => d === null)) return undefined;
    return product(feat as number[]) === f ? 1 : undefined;
  }

  /**
   * The edit for a constant operand of an elementwise op, broadcast against the channels:
   * undefined when it does not vary along the channels, an edit when its channel dimension has
   * the channel count, a reason otherwise.
   */
  private constEdit(n: NodeProto, input: number, dims: number[], layout: Layout, channels: number, rank: number | undefined): Edit | string | undefined {
    if (product(dims) === 1) return undefined;
    if (rank === undefined) return 'the rank of its input is unknown';
    const axis = layout.axis >= 0 ? layout.axis : rank + layout.axis;
    const k = axis - (rank - dims.length);
    if (k < 0) return undefined;
    const size = dims[k];
    if (size === 1) return undefined;
    if (size !== channels * layout.block) return `its constant has ${size} entries along the channel axis, expected ${channels * layout.block}`;
    return { kind: 'slice', node: n, input, axis: k, block: layout.block };
  }
}

function expand(keep: number[], block: number): number[] {
  if (block === 1) return keep;
  const out: number[] = [];
  for (const k of keep) for (let i = 0; i < block; i++) out.push(k * block + i);
  return out;
}

function pruneStructured(
  model: ModelProto,
  graph: GraphProto,
  layers: Layer[],
  sparsity: number,
  skipped: PruneReport['skipped'],
): PruneLayer[] {
  const opset = defaultOpset(model) ?? 13;
  const types = inferTypes(graph, opset);
  const consts = new Constants(graph);
  const names = new NameGen(model);
  const planner = new StructuredPlanner(graph, types, consts);
  const entries = new Map<NodeProto, PruneLayer>();
  const weightUses = consumers(graph);
  let changed = false;

  const entryFor = (node: NodeProto, w: TensorProto): PruneLayer => {
    let e = entries.get(node);
    if (!e) {
      const dims = (w.dims ?? []).map(Number);
      const n = product(dims);
      e = { name: label(node), op: node.opType ?? '', weight: w.name ?? '', shapeBefore: dims, shapeAfter: dims, params: { before: n, after: n }, zeros: 0, sparsity: 0, bytes: { before: tensorBytes(w), after: tensorBytes(w) } };
      entries.set(node, e);
    }
    return e;
  };

  /** Replaces input `index` of `node` by a sliced copy of the constant it reads. */
  const sliceInput = (node: NodeProto, index: number, axis: number, keep: number[]): TensorProto => {
    const src = consts.tensor(node.input[index])!;
    const dims = (src.dims ?? []).map(Number);
    const values = floatValues(src) ?? (Array.from(tensorToArray(src) as ArrayLike<number | bigint>, Number) as unknown as Float32Array);
    const sliced = sliceAxis(values, dims, axis, keep);
    const name = names.fresh(`${node.input[index]}_pruned`);
    const t = floatValues(src) ? makeLike(src, name, sliced.dims, Float32Array.from(sliced.values)) : makeAnyTensor(name, src.dataType ?? DataType.FLOAT, sliced.dims, src.dataType === DataType.INT64 ? sliced.values.map(BigInt) : sliced.values);
    consts.addInitializer(t);
    node.input[index] = name;
    return t;
  };

  for (const layer of layers) {
    const node = layer.node;
    const op = node.opType ?? '';
    const w = consts.tensor(node.input[1])!;
    const dims = (w.dims ?? []).map(Number);
    if ((weightUses.get(layer.weight.name ?? '') ?? []).length > 1) {
      skipped.push({ name: label(node), op, reason: 'its weight is shared with another node' });
      entryFor(node, w);
      continue;
    }
    if (op === 'Conv' && attrInt(node, 'group', 1) !== 1) {
      skipped.push({ name: label(node), op, reason: 'grouped convolution' });
      entryFor(node, w);
      continue;
    }
    const outAxis = op === 'Conv' ? 0 : op === 'Gemm' && attrInt(node, 'transB', 0) ? 0 : 1;
    const channels = dims[outAxis];
    const keepCount = Math.max(1, Math.round(channels * (1 - sparsity)));
    const entry = entryFor(node, w);
    if (keepCount >= channels) continue;
    const edits: Edit[] = [];
    const layout: Layout = op === 'Conv' ? { axis: 1, block: 1 } : { axis: -1, block: 1 };
    // A MatMul's bias usually follows as Add(out, B): handled as a constant operand by follow().
    if (op === 'Gemm' && node.input[2]) {
      const c = consts.get(node.input[2]);
      if (!c) {
        skipped.push({ name: label(node), op, reason: 'its bias is computed' });
        continue;
      }
      if (product(c.dims) !== 1 && c.dims[c.dims.length - 1] !== 1) edits.push({ kind: 'slice', node, input: 2, axis: c.dims.length - 1, block: 1 });
    }
    if (op === 'Conv' && node.input[2]) edits.push({ kind: 'slice', node, input: 2, axis: 0, block: 1 });
    const reason = planner.follow(node.output[0], layout, channels, edits);
    if (reason) {
      skipped.push({ name: label(node), op, reason });
      continue;
    }
    // Lowest L2 norm output channels go.
    const values = floatValues(w)!;
    const inner = product(dims.slice(outAxis + 1));
    const outer = product(dims.slice(0, outAxis));
    const norms = new Float64Array(channels);
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        const base = (o * channels + c) * inner;
        for (let i = 0; i < inner; i++) norms[c] += values[base + i] * values[base + i];
      }
    }
    const order = Array.from({ length: channels }, (_, c) => c).sort((a, b) => norms[b] - norms[a] || a - b);
    const keep = order.slice(0, keepCount).sort((a, b) => a - b);
    const newW = sliceInput(node, 1, outAxis, keep);
    entry.shapeAfter = (newW.dims ?? []).map(Number);
    entry.channels = { before: channels, after: keep.length };
    entry.kept = keep;
    for (const e of edits) {
      if (e.kind === 'slice') sliceInput(e.node, e.input, e.axis, expand(keep, e.block));
      else if (e.kind === 'reshape') {
        const shape = consts.values(e.node.input[1])!;
        if (shape[1] !== -1) {
          const name = names.fresh(`${e.node.input[1]}_pruned`);
          consts.addInitializer(makeAnyTensor(name, 'int64', [2], [BigInt(shape[0]), BigInt(keep.length * e.block)]));
          e.node.input[1] = name;
        }
      } else {
        const cw = consts.tensor(e.node.input[e.input])!;
        const centry = entryFor(e.node, cw);
        const t = sliceInput(e.node, e.input, e.axis, expand(keep, e.block));
        centry.shapeAfter = (t.dims ?? []).map(Number);
        centry.inputsPruned = true;
      }
    }
    changed = true;
  }

  if (changed) {
    // Shapes recorded for values whose channel counts changed are stale: drop them (onnxruntime infers).
    graph.valueInfo = [];
    // Initializers nothing reads any more (the unpruned originals) go, with their graph inputs (IR < 4).
    const used = new Set<string>();
    for (const n of graph.node) {
      for (const x of n.input) used.add(x);
      for (const x of subgraphOuterRefs(n)) used.add(x);
    }
    for (const o of graph.output) used.add(o.name ?? '');
    graph.node = graph.node.filter((n) => !(n.opType === 'Constant' && isDefaultDomain(n) && !used.has(n.output[0])));
    const dropped = new Set(graph.initializer.filter((t) => !used.has(t.name ?? '')).map((t) => t.name ?? ''));
    graph.initializer = graph.initializer.filter((t) => !dropped.has(t.name ?? ''));
    graph.input = graph.input.filter((i) => !dropped.has(i.name ?? ''));
    if ((model.irVersion ?? 0) < 4) {
      const inputs = new Set(graph.input.map((i) => i.name ?? ''));
      for (const t of graph.initializer) {
        if (!inputs.has(t.name ?? '')) graph.input.push({ name: t.name, type: { tensorType: { elemType: t.dataType, shape: { dim: (t.dims ?? []).map((d) => ({ dimValue: Number(d) })) } } } });
      }
    }
  }

  const out: PruneLayer[] = [];
  for (const [layerNode, e] of entries) {
    const t = consts.tensor(layerNode.input[1]);
    const n = product(e.shapeAfter);
    e.params.after = n;
    e.bytes.after = t ? tensorBytes(t) : e.bytes.after;
    const v = t ? floatValues(t) : undefined;
    e.zeros = v ? v.reduce((z, x) => z + (x === 0 ? 1 : 0), 0) : 0;
    e.sparsity = n ? e.zeros / n : 0;
    out.push(e);
  }
  return out;
}

/** Prunes the model's MatMul/Gemm/Conv weights; see the module comment for the two modes. */
export function prune(model: ModelProto, options: PruneOptions): { model: ModelProto; report: PruneReport } {
  const { sparsity } = options;
  if (!Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) throw new Error(`sparsity must be in [0, 1), got ${sparsity}`);
  if (!model.graph) throw new Error('the model has no graph');
  const structured = options.structured ?? false;
  if (structured && options.scope === 'global') throw new Error("scope 'global' applies to unstructured pruning only");
  const scope = options.scope ?? 'per-layer';
  if (scope !== 'global' && scope !== 'per-layer') throw new Error(`scope must be 'global' or 'per-layer', got '${String(scope)}'`);
  const exclude = new Set(options.exclude ?? []);
  const nodeNames = new Set(model.graph.node.map((n) => n.name ?? ''));
  const unknown = [...exclude].filter((n) => !nodeNames.has(n));
  if (unknown.length) throw new Error(`--exclude names no node of the model: ${unknown.join(', ')}`);

  const before = sizes(model);
  const out = cloneModel(model);
  const graph = out.graph!;
  const { layers, skipped } = findLayers(graph, exclude);
  if (layers.length === 0 && sparsity > 0) {
    throw new Error(`nothing to prune: no MatMul/Gemm/Conv with a float initializer weight${skipped.length ? ` (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})` : ''}`);
  }
  const pruned = structured ? pruneStructured(out, graph, layers, sparsity, skipped) : pruneUnstructured(graph, layers, sparsity, scope);
  if (structured && sparsity > 0 && !pruned.some((l) => l.channels)) {
    throw new Error(`no layer could be pruned structurally: ${skipped.map((s) => `${s.name} (${s.op}): ${s.reason}`).join('; ')}`);
  }
  const after = sparsity === 0 ? before : sizes(out);
  const paramsBefore = pruned.reduce((n, l) => n + l.params.before, 0);
  const paramsAfter = pruned.reduce((n, l) => n + l.params.after, 0);
  const zeros = pruned.reduce((n, l) => n + l.zeros, 0);
  return {
    model: out,
    report: {
      mode: structured ? 'structured' : 'unstructured',
      scope: structured ? 'channel' : scope,
      targetSparsity: sparsity,
      layers: pruned,
      skipped,
      totals: {
        params: { before: paramsBefore, after: paramsAfter },
        zeros,
        sparsity: paramsAfter ? zeros / paramsAfter : 0,
        parameterBytes: { before: before.params, after: after.params },
        modelBytes: { before: before.bytes, after: after.bytes },
        gzipBytes: { before: before.gzip, after: after.gzip },
      },
    },
  };
}
