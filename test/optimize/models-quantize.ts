/**
 * Models generated for the quantization tests and benches, with seeded random weights: an MLP
 * (MatMul+Add+Relu or Gemm), a small CNN (Conv+BatchNormalization+Relu, pooling, Gemm head) and
 * a transformer-encoder-like block (single-head attention, decomposed LayerNorm, FFN).
 */
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type ModelProto, type NodeProto, type TensorProto } from '../../src/onnx/index.js';
import { mulberry32 } from '../../src/util/random.js';

/** Deterministic PRNG (mulberry32) with a standard normal helper. */
export function rng(seed: number): { uniform: () => number; normal: () => number } {
  const uniform = mulberry32(seed);
  const normal = (): number => {
    const u = Math.max(uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return { uniform, normal };
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r.normal() * scale);
}

interface Builder {
  nodes: NodeProto[];
  inits: TensorProto[];
  seed: number;
}

function weight(b: Builder, name: string, dims: number[], scale: number): string {
  const n = dims.reduce((x, y) => x * y, 1);
  // weight seeds live far from the small seeds tests use for inputs, so inputs never equal weights
  b.inits.push(makeTensor(name, 'float32', dims, randomArray(n, 1_000_003 + 7919 * b.seed++, scale)));
  return name;
}

function constant(b: Builder, name: string, dims: number[], values: ArrayLike<number>, type: 'float32' | 'int64' = 'float32'): string {
  b.inits.push(makeTensor(name, type, dims, values));
  return name;
}

export interface MlpSpec {
  dims: number[];
  /** Gemm layers (transB = 1, bias as C) instead of MatMul + Add */
  gemm?: boolean;
  seed?: number;
  opset?: number;
}

/** MLP: [batch, dims[0]] -> logits [batch, dims.at(-1)], Relu between layers; nodes fc{i}. */
export function mlpModel(spec: MlpSpec): ModelProto {
  const b: Builder = { nodes: [], inits: [], seed: spec.seed ?? 1 };
  let x = 'input';
  const L = spec.dims.length - 1;
  for (let i = 0; i < L; i++) {
    const [k, n] = [spec.dims[i], spec.dims[i + 1]];
    const out = i === L - 1 ? 'logits' : `h${i}`;
    const bias = weight(b, `fc${i}.bias`, [n], 0.1);
    if (spec.gemm) {
      const w = weight(b, `fc${i}.weight`, [n, k], Math.sqrt(2 / k));
      b.nodes.push(makeNode('Gemm', [x, w, bias], [out], { transB: { int: 1 } }, { name: `fc${i}` }));
    } else {
      const w = weight(b, `fc${i}.weight`, [k, n], Math.sqrt(2 / k));
      b.nodes.push(makeNode('MatMul', [x, w], [`${out}.mm`], {}, { name: `fc${i}` }), makeNode('Add', [`${out}.mm`, bias], [out], {}, { name: `fc${i}.add` }));
    }
    if (i < L - 1) {
      b.nodes.push(makeNode('Relu', [out], [`${out}.relu`], {}, { name: `relu${i}` }));
      x = `${out}.relu`;
    }
  }
  const graph = makeGraph({
    name: 'mlp',
    nodes: b.nodes,
    inputs: [makeValueInfo('input', 'float32', ['batch', spec.dims[0]])],
    outputs: [makeValueInfo('logits', 'float32', ['batch', spec.dims[L]])],
    initializers: b.inits,
  });
  return makeModel({ graph, opsetImports: [{ domain: '', version: spec.opset ?? 13 }], irVersion: 8 });
}

/**
 * CNN: [batch, 3, 16, 16] -> Conv(8, 3x3) -> BN -> Relu -> Conv(16, 3x3, stride 2) -> BN -> Relu
 * -> Conv(16, 1x1, no bias) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(10) -> logits.
 */
export function cnnModel(seed = 11): ModelProto {
  const b: Builder = { nodes: [], inits: [], seed };
  const r = rng(seed + 1000);
  const bn = (name: string, x: string, c: number, out: string): void => {
    constant(b, `${name}.scale`, [c], Float32Array.from({ length: c }, () => 0.8 + 0.4 * r.uniform()));
    constant(b, `${name}.bias`, [c], Float32Array.from({ length: c }, () => 0.2 * (r.uniform() - 0.5)));
    constant(b, `${name}.mean`, [c], Float32Array.from({ length: c }, () => 0.2 * (r.uniform() - 0.5)));
    constant(b, `${name}.var`, [c], Float32Array.from({ length: c }, () => 0.5 + r.uniform()));
    b.nodes.push(makeNode('BatchNormalization', [x, `${name}.scale`, `${name}.bias`, `${name}.mean`, `${name}.var`], [out], { epsilon: { float: 1e-5 } }, { name }));
  };
  weight(b, 'conv1.weight', [8, 3, 3, 3], Math.sqrt(2 / 27));
  weight(b, 'conv1.bias', [8], 0.05);
  b.nodes.push(makeNode('Conv', ['input', 'conv1.weight', 'conv1.bias'], ['c1'], { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } }, { name: 'conv1' }));
  bn('bn1', 'c1', 8, 'b1');
  b.nodes.push(makeNode('Relu', ['b1'], ['r1'], {}, { name: 'relu1' }));
  weight(b, 'conv2.weight', [16, 8, 3, 3], Math.sqrt(2 / 72));
  weight(b, 'conv2.bias', [16], 0.05);
  b.nodes.push(makeNode('Conv', ['r1', 'conv2.weight', 'conv2.bias'], ['c2'], { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] }, strides: { ints: [2, 2] } }, { name: 'conv2' }));
  bn('bn2', 'c2', 16, 'b2');
  b.nodes.push(makeNode('Relu', ['b2'], ['r2'], {}, { name: 'relu2' }));
  weight(b, 'conv3.weight', [16, 16, 1, 1], Math.sqrt(2 / 16));
  b.nodes.push(makeNode('Conv', ['r2', 'conv3.weight'], ['c3'], {}, { name: 'conv3' }));
  b.nodes.push(makeNode('Relu', ['c3'], ['r3'], {}, { name: 'relu3' }));
  b.nodes.push(makeNode('GlobalAveragePool', ['r3'], ['gap'], {}, { name: 'gap' }));
  b.nodes.push(makeNode('Flatten', ['gap'], ['flat'], { axis: { int: 1 } }, { name: 'flatten' }));
  weight(b, 'fc.weight', [10, 16], Math.sqrt(2 / 16));
  weight(b, 'fc.bias', [10], 0.1);
  b.nodes.push(makeNode('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits'], { transB: { int: 1 } }, { name: 'fc' }));
  const graph = makeGraph({
    name: 'cnn',
    nodes: b.nodes,
    inputs: [makeValueInfo('input', 'float32', ['batch', 3, 16, 16])],
    outputs: [makeValueInfo('logits', 'float32', ['batch', 10])],
    initializers: b.inits,
  });
  return makeModel({ graph, opsetImports: [{ domain: '', version: 13 }], irVersion: 8 });
}

export interface TransformerSpec {
  seq?: number;
  d?: number;
  ff?: number;
  classes?: number;
  seed?: number;
}

/**
 * Encoder block on [batch, seq, d]: single-head self-attention (q/k/v/o projections, scores
 * MatMul with Transpose(K), Softmax), residual, LayerNorm written out (ReduceMean, Sub, Mul,
 * Sqrt, Div), FFN (MatMul, Relu, MatMul), residual, LayerNorm; then mean over the sequence and a
 * classifier head: outputs 'hidden' [batch, seq, d] and 'logits' [batch, classes].
 */
export function transformerModel(spec: TransformerSpec = {}): ModelProto {
  const seq = spec.seq ?? 16;
  const d = spec.d ?? 32;
  const ff = spec.ff ?? 64;
  const classes = spec.classes ?? 10;
  const b: Builder = { nodes: [], inits: [], seed: spec.seed ?? 21 };
  const n = (op: string, inputs: string[], out: string, attrs: Parameters<typeof makeNode>[3] = {}): string => {
    b.nodes.push(makeNode(op, inputs, [out], attrs, { name: out }));
    return out;
  };
  const linear = (name: string, x: string, k: number, m: number): string => {
    const w = weight(b, `${name}.weight`, [k, m], Math.sqrt(1 / k));
    const bias = weight(b, `${name}.bias`, [m], 0.02);
    return n('Add', [n('MatMul', [x, w], name), bias], `${name}.out`);
  };
  const layerNorm = (name: string, x: string): string => {
    const mean = n('ReduceMean', [x], `${name}.mean`, { axes: { ints: [-1] }, keepdims: { int: 1 } });
    const centered = n('Sub', [x, mean], `${name}.centered`);
    const sq = n('Mul', [centered, centered], `${name}.sq`);
    const variance = n('ReduceMean', [sq], `${name}.var`, { axes: { ints: [-1] }, keepdims: { int: 1 } });
    const eps = constant(b, `${name}.eps`, [], [1e-5]);
    const std = n('Sqrt', [n('Add', [variance, eps], `${name}.var_eps`)], `${name}.std`);
    const normed = n('Div', [centered, std], `${name}.normed`);
    const gamma = constant(b, `${name}.gamma`, [d], Float32Array.from({ length: d }, (_, i) => 1 + 0.01 * (i % 5)));
    const beta = constant(b, `${name}.beta`, [d], Float32Array.from({ length: d }, (_, i) => 0.01 * (i % 3)));
    return n('Add', [n('Mul', [normed, gamma], `${name}.scaled`), beta], `${name}.out`);
  };
  const q = linear('q_proj', 'input', d, d);
  const k = linear('k_proj', 'input', d, d);
  const v = linear('v_proj', 'input', d, d);
  const kt = n('Transpose', [k], 'k_t', { perm: { ints: [0, 2, 1] } });
  const scores = n('MatMul', [q, kt], 'scores');
  const scaled = n('Mul', [scores, constant(b, 'inv_sqrt_d', [], [1 / Math.sqrt(d)])], 'scores_scaled');
  const probs = n('Softmax', [scaled], 'attn', { axis: { int: -1 } });
  const ctxv = n('MatMul', [probs, v], 'context');
  const attnOut = linear('o_proj', ctxv, d, d);
  const ln1 = layerNorm('ln1', n('Add', ['input', attnOut], 'residual1'));
  const h = n('Relu', [linear('ffn1', ln1, d, ff)], 'ffn_act');
  const ffn = linear('ffn2', h, ff, d);
  layerNorm('ln2', n('Add', [ln1, ffn], 'residual2'));
  b.nodes.push(makeNode('Identity', ['ln2.out'], ['hidden'], {}, { name: 'hidden' }));
  const pooled = n('ReduceMean', ['ln2.out'], 'pooled', { axes: { ints: [1] }, keepdims: { int: 0 } });
  const w = weight(b, 'head.weight', [d, classes], Math.sqrt(1 / d));
  const bias = weight(b, 'head.bias', [classes], 0.02);
  b.nodes.push(makeNode('Gemm', [pooled, w, bias], ['logits'], {}, { name: 'head' }));
  const graph = makeGraph({
    name: 'encoder',
    nodes: b.nodes,
    inputs: [makeValueInfo('input', 'float32', ['batch', seq, d])],
    outputs: [makeValueInfo('hidden', 'float32', ['batch', seq, d]), makeValueInfo('logits', 'float32', ['batch', classes])],
    initializers: b.inits,
  });
  return makeModel({ graph, opsetImports: [{ domain: '', version: 13 }], irVersion: 8 });
}
