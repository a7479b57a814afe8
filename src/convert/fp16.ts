/**
 * float32 → float16 conversion of a model's weights and activations.
 *
 * Every float32 value gets a storage type — float16, or float32 where it is produced or consumed
 * by an operator kept in float32 (the block list, other domains) — and a Cast is inserted wherever
 * a consumer wants the other type. Initializers and Constant tensors become float16 when any
 * consumer computes in float16, with values clamped as onnxconverter-common does (0 < |x| < min
 * positive → ±min, |x| > max finite → ±max, so weights neither flush to 0 nor overflow to ±inf).
 * Operators whose output type comes from an attribute (Cast `to`, ConstantOfShape `value`,
 * RandomNormal `dtype`, window `output_datatype`, ...) are retargeted to float16.
 *
 * With keepIoTypes the graph's float inputs/outputs stay float32, with Casts at the boundary.
 */
import { makeNode, makeValueInfo } from '../onnx/builder.js';
import { float32ToFloat16, makeTensor as makeAnyTensor, tensorToArray } from '../onnx/tensor.js';
import { isExternal } from '../onnx/external.js';
import { AttributeType, DataType, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.js';
import { NameGen, attr, cloneModel, consumers, defaultOpset, isDefaultDomain, renameUses, setAttr, subgraphOuterRefs, topoSort } from './graph.js';
import { inferTypes, type TypeMap } from './infer.js';

export interface Fp16Options {
  /** keep the graph's float32 inputs and outputs float32, casting at the boundary (default false) */
  keepIoTypes?: boolean;
  /** operator types kept in float32 (default: DEFAULT_FP16_BLOCK_OPS); replaces the default list */
  blockOps?: string[];
  /** node names kept in float32 */
  blockNodes?: string[];
  /** smallest magnitude a non-zero weight is clamped to (default 1e-7) */
  minPositiveValue?: number;
  /** largest magnitude a finite weight is clamped to (default 1e4) */
  maxFiniteValue?: number;
}

export interface Fp16Report {
  keepIoTypes: boolean;
  blockOps: string[];
  /** nodes in all graphs, before conversion */
  nodes: number;
  /** nodes computing in float16 */
  nodesFp16: number;
  /** nodes with float inputs or outputs kept in float32, by operator */
  nodesFp32: { opType: string; count: number }[];
  castsInserted: number;
  /** float32 tensors (initializers, Constant and attribute tensors) converted to float16 */
  tensorsConverted: number;
  /** values changed by clamping */
  clamped: { toMinPositive: number; toMaxFinite: number };
  /** bytes of float tensors before and after */
  weightBytes: { before: number; after: number };
}

/**
 * Operators kept in float32 by default. Two sources:
 * - onnxconverter-common's DEFAULT_OP_BLOCK_LIST (ML-domain ops, and ops whose float16 results
 *   are unreliable or unsupported: NonMaxSuppression, TopK, RoiAlign, Resize, Range, CumSum,
 *   Min, Max, Upsample, RandomUniformLike);
 * - operators that fail to load or run in float16 on onnxruntime-node 1.30's CPU provider,
 *   measured by test/convert/fp16-kernels.ts over ONNX's node test models (see docs/conversion.md).
 */
export const ONNXCONVERTER_BLOCK_OPS = [
  'ArrayFeatureExtractor', 'Binarizer', 'CastMap', 'CategoryMapper', 'DictVectorizer', 'FeatureVectorizer', 'Imputer',
  'LabelEncoder', 'LinearClassifier', 'LinearRegressor', 'Normalizer', 'OneHotEncoder', 'RandomUniformLike', 'SVMClassifier',
  'SVMRegressor', 'Scaler', 'TreeEnsembleClassifier', 'TreeEnsembleRegressor', 'ZipMap', 'NonMaxSuppression', 'TopK',
  'RoiAlign', 'Resize', 'Range', 'CumSum', 'Min', 'Max', 'Upsample',
];

/**
 * Measured on onnxruntime-node 1.30 (CPU) by test/convert/fp16-kernels.ts: float16 models with
 * these operators fail to load. EyeLike and the Random* generators have no float16 kernel and,
 * their output type being an attribute, onnxruntime cannot fall back to float32 by itself;
 * MelWeightMatrix's fallback Cast conflicts with its output_datatype; MeanVarianceNormalization's
 * function body is expanded with float32 constants. Most other operators load: onnxruntime's CPU
 * provider has native float16 kernels for few compute operators and runs the rest in float32
 * behind Casts it inserts itself, so float16 on CPU is a size optimization (docs/conversion.md).
 */
export const ORT_CPU_NO_FP16 = [
  'EyeLike', 'MelWeightMatrix', 'MeanVarianceNormalization', 'RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike',
];

/** Measured likewise: ScatterElements/ScatterND with reduction add/mul fail at run time in float16. */
function failsAtRunTime(node: NodeProto): boolean {
  const op = node.opType ?? '';
  if (op !== 'ScatterElements' && op !== 'ScatterND') return false;
  const r = attr(node, 'reduction');
  return r !== undefined && new TextDecoder().decode(r.s ?? new Uint8Array()) !== 'none';
}

/** Operators whose float inputs/outputs are float32 by definition (or whose float16 form needs a newer opset). */
const ALWAYS_FP32 = new Set(['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'TfIdfVectorizer', 'QLinearConv', 'QLinearMatMul']);

/**
 * Operators whose ONNX type constraints exclude float16 for their float inputs (python3-onnx
 * schemas), with the opset that first allows it (Infinity: none does). Kept in float32 whatever
 * the block list says, since a float16 node would be an invalid model.
 */
const SPEC_FP16_SINCE: Record<string, number> = {
  Celu: Infinity, Range: Infinity, NonMaxSuppression: Infinity, CumSum: 14, IsInf: 20, QuantizeLinear: 19, DequantizeLinear: 19,
};

export const DEFAULT_FP16_BLOCK_OPS: readonly string[] = [...new Set([...ONNXCONVERTER_BLOCK_OPS, ...ORT_CPU_NO_FP16])].sort();

/** Input slots that are float32 by definition even when the operator computes in float16. */
const FIXED_FP32_INPUTS: Record<string, number[]> = { Resize: [1, 2], Upsample: [1] };

/** Operators with an attribute choosing a float output type. */
const DTYPE_ATTR: Record<string, string> = {
  Cast: 'to', RandomNormal: 'dtype', RandomUniform: 'dtype', RandomNormalLike: 'dtype', RandomUniformLike: 'dtype',
  EyeLike: 'dtype', Bernoulli: 'dtype', HannWindow: 'output_datatype', HammingWindow: 'output_datatype',
  BlackmanWindow: 'output_datatype', MelWeightMatrix: 'output_datatype',
};
/** ...and whose default (attribute absent) is float32. */
const DTYPE_DEFAULT_FLOAT = new Set(['RandomNormal', 'RandomUniform', 'HannWindow', 'HammingWindow', 'BlackmanWindow', 'MelWeightMatrix']);

const FP16 = DataType.FLOAT16;
const FP32 = DataType.FLOAT;

interface Stats {
  castsInserted: number;
  tensorsConverted: number;
  toMinPositive: number;
  toMaxFinite: number;
  bytesBefore: number;
  bytesAfter: number;
  nodesFp16: number;
  fp32ByOp: Map<string, number>;
}

class Converter {
  readonly stats: Stats = { castsInserted: 0, tensorsConverted: 0, toMinPositive: 0, toMaxFinite: 0, bytesBefore: 0, bytesAfter: 0, nodesFp16: 0, fp32ByOp: new Map() };

  constructor(
    private readonly names: NameGen,
    private readonly opset: number,
    private readonly blockOps: Set<string>,
    private readonly blockNodes: Set<string>,
    private readonly minPositive: number,
    private readonly maxFinite: number,
    private readonly keepIoTypes: boolean,
  ) {}

  isBlocked(node: NodeProto): boolean {
    if (!isDefaultDomain(node)) return true;
    const op = node.opType ?? '';
    if (node.name && this.blockNodes.has(node.name)) return true;
    if (this.opset < (SPEC_FP16_SINCE[op] ?? 0) || failsAtRunTime(node)) return true;
    return this.blockOps.has(op) || ALWAYS_FP32.has(op);
  }

  cast(input: string, output: string, to: number): NodeProto {
    return makeNode('Cast', [input], [output], { to: { int: to } });
  }

  /** float32 tensor → float16 tensor with clamping; other tensors unchanged. */
  convertTensor(t: TensorProto): TensorProto {
    if (t.dataType !== FP32) return t;
    if (isExternal(t)) throw new Error(`tensor '${t.name ?? ''}' has external data that was not loaded; load the model with its external data`);
    const values = tensorToArray(t) as Float32Array;
    const min = this.minPositive;
    const max = this.maxFinite;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const a = Math.abs(v);
      if (a > 0 && a < min) {
        values[i] = v < 0 ? -min : min;
        this.stats.toMinPositive++;
      } else if (a > max && a !== Infinity) {
        values[i] = v < 0 ? -max : max;
        this.stats.toMaxFinite++;
      }
    }
    this.stats.tensorsConverted++;
    this.stats.bytesBefore += values.length * 4;
    this.stats.bytesAfter += values.length * 2;
    const out = makeAnyTensor(t.name ?? '', 'float16', (t.dims ?? []).map(Number), float32ToFloat16(values));
    if (t.name === undefined) delete out.name;
    if (t.docString !== undefined) out.docString = t.docString;
    return out;
  }

  /** Converts one graph in place. `outer` holds the storage types of enclosing-scope values. */
  convertGraph(graph: GraphProto, isMain: boolean, outerTypes?: TypeMap, outer?: Map<string, number>): void {
    const types = inferTypes(graph, this.opset, outerTypes);
    const isFloat = (name: string) => types.get(name)?.elemType === FP32;
    const storage = new Map<string, number>(outer ?? []);
    const ioType = isMain && this.keepIoTypes ? FP32 : FP16;
    const initNames = new Set(graph.initializer.map((t) => t.name ?? ''));
    const uses = consumers(graph);

    // Who wants what: per consumer slot.
    const wantOf = (node: NodeProto, slot: number): number => {
      if (this.isBlocked(node)) return FP32;
      return FIXED_FP32_INPUTS[node.opType ?? '']?.includes(slot) ? FP32 : FP16;
    };

    for (const v of graph.input) {
      if (v.name && isFloat(v.name) && !initNames.has(v.name)) storage.set(v.name, ioType);
    }
    // Constants (initializers and Constant nodes) follow their consumers.
    const constantWants = (name: string): number => {
      const list = uses.get(name) ?? [];
      let wants16 = false;
      for (const n of list) {
        n.input.forEach((x, slot) => {
          if (x === name && wantOf(n, slot) === FP16) wants16 = true;
        });
        if (!n.input.includes(name) && !this.isBlocked(n)) wants16 = true; // captured by a subgraph
      }
      if (graph.output.some((o) => o.name === name)) wants16 = wants16 || ioType === FP16;
      return wants16 ? FP16 : FP32;
    };
    for (const t of graph.initializer) {
      if (t.name && t.dataType === FP32) storage.set(t.name, constantWants(t.name));
    }
    for (const node of graph.node) {
      const blocked = this.isBlocked(node);
      const hasFloat = node.input.some((x) => x && (storage.has(x) ? true : isFloat(x))) || node.output.some((o) => o && isFloat(o));
      if (node.opType === 'Constant' && isDefaultDomain(node)) {
        const out = node.output[0];
        if (isFloat(out)) storage.set(out, constantWants(out));
        continue;
      }
      if (hasFloat) {
        if (blocked) this.stats.fp32ByOp.set(node.opType ?? '', (this.stats.fp32ByOp.get(node.opType ?? '') ?? 0) + 1);
        else this.stats.nodesFp16++;
      }
      for (const o of node.output) if (o && isFloat(o)) storage.set(o, blocked ? FP32 : FP16);
    }

    // Retarget nodes computing in float16: type attributes, Constant tensors.
    for (const node of graph.node) {
      const op = node.opType ?? '';
      if (op === 'Constant' && isDefaultDomain(node)) {
        if (storage.get(node.output[0]) === FP16) this.convertConstantNode(node);
        continue;
      }
      if (this.isBlocked(node)) continue;
      const dtypeAttr = DTYPE_ATTR[op];
      if (dtypeAttr) {
        const a = attr(node, dtypeAttr);
        if ((a && Number(a.i ?? 0) === FP32) || (!a && DTYPE_DEFAULT_FLOAT.has(op))) setAttr(node, dtypeAttr, { int: FP16 });
        if (node.output[0] && storage.get(node.output[0]) === FP32 && (a ? Number(a.i ?? 0) === FP32 : DTYPE_DEFAULT_FLOAT.has(op))) storage.set(node.output[0], FP16);
      }
      if (op === 'ConstantOfShape') {
        const a = attr(node, 'value');
        if (!a) {
          setAttr(node, 'value', { tensor: makeAnyTensor('', 'float16', [1], [0]) });
          storage.set(node.output[0], FP16);
        } else if (a.t?.dataType === FP32) {
          a.t = this.convertTensor(a.t);
        }
      }
    }

    // Graph outputs that must keep their name but differ in type from their producer: rename the producer's output.
    const producers = new Map<string, NodeProto>();
    for (const n of graph.node) n.output.forEach((o) => o && producers.set(o, n));
    const finalCasts: NodeProto[] = [];
    for (const out of graph.output) {
      const name = out.name ?? '';
      const have = storage.get(name);
      if (have === undefined) continue;
      if (have === ioType) continue;
      const producer = producers.get(name);
      if (!producer) continue; // a graph input or initializer passed through: handled by its storage
      const inner = this.names.fresh(`${name}_${have === FP16 ? 'fp16' : 'fp32'}`);
      producer.output = producer.output.map((o) => (o === name ? inner : o));
      renameUses(graph, name, inner);
      storage.set(inner, have);
      storage.set(name, ioType);
      finalCasts.push(this.cast(inner, name, ioType));
      this.stats.castsInserted++;
    }

    // Casts for consumers wanting the other type (one Cast per value and type).
    const added: NodeProto[] = [];
    const memo = new Map<string, string>();
    const castTo = (name: string, to: number): string => {
      const key = `${name}|${to}`;
      const hit = memo.get(key);
      if (hit) return hit;
      const out = this.names.fresh(`${name}_${to === FP16 ? 'fp16' : 'fp32'}`);
      added.push(this.cast(name, out, to));
      this.stats.castsInserted++;
      memo.set(key, out);
      storage.set(out, to);
      return out;
    };
    for (const node of graph.node) {
      node.input = node.input.map((x, slot) => {
        const have = storage.get(x);
        if (!x || have === undefined) return x;
        const want = wantOf(node, slot);
        return have === want ? x : castTo(x, want);
      });
      // Subgraphs capturing a value with the wrong type get a Cast inside them (below, recursively).
    }
    graph.node.push(...added, ...finalCasts);

    // Tensors.
    graph.initializer = graph.initializer.map((t) => (t.name && storage.get(t.name) === FP16 ? this.convertTensor(t) : t));
    if (graph.sparseInitializer) {
      for (const s of graph.sparseInitializer) {
        const name = s.values?.name ?? '';
        if (s.values && storage.get(name) === FP16) s.values = this.convertTensor(s.values);
      }
    }

    // Declared types.
    const retype = (vi: { name?: string; type?: { tensorType?: { elemType?: number } } }) => {
      const st = storage.get(vi.name ?? '');
      if (st !== undefined && vi.type?.tensorType && vi.type.tensorType.elemType === FP32) vi.type.tensorType.elemType = st;
    };
    graph.input.forEach(retype);
    graph.output.forEach(retype);
    (graph.valueInfo ?? []).forEach(retype);
    // value_info of renamed producer outputs: the old name now holds the cast result.
    for (const c of finalCasts) {
      const vi = (graph.valueInfo ?? []).find((v) => v.name === c.output[0]);
      if (vi?.type?.tensorType) vi.type.tensorType.elemType = ioType;
    }
    for (const c of added) {
      const st = storage.get(c.output[0]);
      const srcInfo = types.get(c.input[0]);
      if (st !== undefined && srcInfo?.shape && !graph.valueInfo?.some((v) => v.name === c.output[0])) {
        (graph.valueInfo ??= []).push(makeValueInfo(c.output[0], st === FP16 ? 'float16' : 'float32', srcInfo.shape));
      }
    }

    // Subgraphs: their I/O follow the enclosing node (float16 unless blocked); captures get Casts.
    for (const node of graph.node) {
      for (const a of node.attribute ?? []) {
        for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
          this.convertSubgraph(g, node, types, storage);
        }
      }
    }
    topoSort(graph);
  }

  private convertSubgraph(g: GraphProto, owner: NodeProto, outerTypes: TypeMap, outerStorage: Map<string, number>): void {
    if (this.isBlocked(owner)) {
      // A blocked control-flow node keeps its body in float32; captured float16 values are cast inside.
      this.castCaptures(g, outerStorage, FP32);
      return;
    }
    this.convertGraph(g, false, outerTypes, outerStorage);
  }

  /** Inside a float32 body: captured values stored as float16 are cast back at the top of the body. */
  private castCaptures(g: GraphProto, outerStorage: Map<string, number>, want: number): void {
    const refs = subgraphOuterRefs({ input: [], output: [], attribute: [{ name: 'g', type: AttributeType.GRAPH, g }] });
    const casts: NodeProto[] = [];
    for (const name of refs) {
      if (outerStorage.get(name) === FP16 && want === FP32) {
        const local = this.names.fresh(`${name}_fp32`);
        casts.push(this.cast(name, local, FP32));
        for (const n of g.node) n.input = n.input.map((x) => (x === name ? local : x));
        this.stats.castsInserted++;
      }
    }
    g.node.unshift(...casts);
  }

  private convertConstantNode(node: NodeProto): void {
    const attrs: AttributeProto[] = [];
    for (const a of node.attribute ?? []) {
      if (a.name === 'value' && a.t?.dataType === FP32) attrs.push({ ...a, t: this.convertTensor(a.t) });
      else if (a.name === 'value_float') attrs.push({ name: 'value', type: AttributeType.TENSOR, t: this.convertTensor(makeAnyTensor('', 'float32', [], [a.f ?? 0])) });
      else if (a.name === 'value_floats') attrs.push({ name: 'value', type: AttributeType.TENSOR, t: this.convertTensor(makeAnyTensor('', 'float32', [(a.floats ?? []).length], a.floats ?? [])) });
      else attrs.push(a);
    }
    for (const a of attrs) if (a.t && a.t.name === '') delete a.t.name;
    node.attribute = attrs;
  }
}

function countNodes(g: GraphProto): number {
  let n = 0;
  for (const node of g.node) {
    n++;
    for (const a of node.attribute ?? []) {
      if (a.g) n += countNodes(a.g);
      for (const sg of a.graphs ?? []) n += countNodes(sg);
    }
  }
  return n;
}

/** Converts a model's float32 weights and computation to float16. The input model is not modified. */
export function convertFp16(model: ModelProto, options: Fp16Options = {}): { model: ModelProto; report: Fp16Report } {
  if (!model.graph) throw new Error('the model has no graph');
  const minPositive = options.minPositiveValue ?? 1e-7;
  const maxFinite = options.maxFiniteValue ?? 1e4;
  if (!(minPositive > 0) || !(maxFinite > minPositive) || maxFinite > 65504) {
    throw new Error(`invalid clamping bounds: need 0 < minPositiveValue (${minPositive}) < maxFiniteValue (${maxFinite}) <= 65504`);
  }
  const blockOps = options.blockOps ?? [...DEFAULT_FP16_BLOCK_OPS];
  const keepIoTypes = options.keepIoTypes ?? false;
  const out = cloneModel(model);
  const opset = defaultOpset(out) ?? 13;
  if (opset < 7) {
    throw new Error(`float16 conversion needs ai.onnx opset 7 or later (the model has ${opset}, older than onnxruntime supports); upgrade it first with \`berth convert --opset 13\``);
  }
  const names = new NameGen(out);
  const conv = new Converter(names, opset, new Set(blockOps), new Set(options.blockNodes ?? []), minPositive, maxFinite, keepIoTypes);
  conv.convertGraph(out.graph!, true);
  const s = conv.stats;
  return {
    model: out,
    report: {
      keepIoTypes,
      blockOps: [...blockOps].sort(),
      nodes: countNodes(model.graph),
      nodesFp16: s.nodesFp16,
      nodesFp32: [...s.fp32ByOp].map(([opType, count]) => ({ opType, count })).sort((a, b) => b.count - a.count),
      castsInserted: s.castsInserted,
      tensorsConverted: s.tensorsConverted,
      clamped: { toMinPositive: s.toMinPositive, toMaxFinite: s.toMaxFinite },
      weightBytes: { before: s.bytesBefore, after: s.bytesAfter },
    },
  };
}
