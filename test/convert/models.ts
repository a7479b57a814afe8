/** Models generated for the convert and prune tests: an MLP and a CNN with BatchNorm, seeded weights. */
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/index.js';
import type { ModelProto, NodeProto, TensorProto } from '../../src/onnx/index.js';
import { mulberry32 } from '../../src/util/random.js';

/** Deterministic pseudo-random numbers (mulberry32), uniform in [-1, 1). */
export function rng(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => uniform() * 2 - 1;
}

export function randomArray(n: number, scale: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * scale);
}

/**
 * MLP: x[batch, sizes[0]] → (MatMul + Add + Relu) × (layers - 1) → MatMul + Add → y[batch, sizes.at(-1)].
 * `gemm` uses Gemm (transB=1) instead of MatMul + Add. Weights ~ U(-1,1)·sqrt(3/fan_in).
 */
export function mlp(sizes: number[], options: { gemm?: boolean; seed?: number; opset?: number } = {}): ModelProto {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  let cur = 'x';
  const seed = options.seed ?? 1;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [k, n] = [sizes[l], sizes[l + 1]];
    const last = l + 2 === sizes.length;
    const scale = Math.sqrt(3 / k);
    const out = last ? 'y' : `h${l}`;
    const pre = last ? out : `fc${l}`;
    if (options.gemm) {
      inits.push(makeTensor(`W${l}`, 'float32', [n, k], randomArray(n * k, scale, seed * 100 + l)));
      inits.push(makeTensor(`B${l}`, 'float32', [n], randomArray(n, 0.1, seed * 100 + 50 + l)));
      nodes.push(makeNode('Gemm', [cur, `W${l}`, `B${l}`], [pre], { transB: { int: 1 } }, { name: `fc${l}` }));
    } else {
      inits.push(makeTensor(`W${l}`, 'float32', [k, n], randomArray(k * n, scale, seed * 100 + l)));
      inits.push(makeTensor(`B${l}`, 'float32', [n], randomArray(n, 0.1, seed * 100 + 50 + l)));
      nodes.push(makeNode('MatMul', [cur, `W${l}`], [`mm${l}`], undefined, { name: `fc${l}` }));
      nodes.push(makeNode('Add', [`mm${l}`, `B${l}`], [pre], undefined, { name: `bias${l}` }));
    }
    if (!last) nodes.push(makeNode('Relu', [pre], [out], undefined, { name: `relu${l}` }));
    cur = out;
  }
  return makeModel({
    graph: makeGraph({
      name: 'mlp',
      nodes,
      inputs: [makeValueInfo('x', 'float32', ['batch', sizes[0]])],
      outputs: [makeValueInfo('y', 'float32', ['batch', sizes[sizes.length - 1]])],
      initializers: inits,
    }),
    opsetImports: [{ domain: '', version: options.opset ?? 13 }],
  });
}

/**
 * CNN: x[batch, 3, 16, 16] → Conv(3→c1, 3x3, pad 1) → BatchNorm → Relu → Conv(c1→c2, 3x3, pad 1)
 * + bias → BatchNorm → Relu → GlobalAveragePool → Flatten → Gemm(c2→classes) → y.
 */
export function cnn(options: { c1?: number; c2?: number; classes?: number; seed?: number } = {}): ModelProto {
  const c1 = options.c1 ?? 8;
  const c2 = options.c2 ?? 16;
  const classes = options.classes ?? 10;
  const seed = options.seed ?? 7;
  const bn = (name: string, c: number, s: number): TensorProto[] => [
    makeTensor(`${name}_scale`, 'float32', [c], randomArray(c, 0.3, s).map((v) => 1 + v)),
    makeTensor(`${name}_bias`, 'float32', [c], randomArray(c, 0.2, s + 1)),
    makeTensor(`${name}_mean`, 'float32', [c], randomArray(c, 0.2, s + 2)),
    makeTensor(`${name}_var`, 'float32', [c], randomArray(c, 0.3, s + 3).map((v) => 1 + v)),
  ];
  const inits = [
    makeTensor('conv1_W', 'float32', [c1, 3, 3, 3], randomArray(c1 * 27, Math.sqrt(3 / 27), seed)),
    ...bn('bn1', c1, seed + 10),
    makeTensor('conv2_W', 'float32', [c2, c1, 3, 3], randomArray(c2 * c1 * 9, Math.sqrt(3 / (c1 * 9)), seed + 20)),
    makeTensor('conv2_B', 'float32', [c2], randomArray(c2, 0.1, seed + 21)),
    ...bn('bn2', c2, seed + 30),
    makeTensor('fc_W', 'float32', [classes, c2], randomArray(classes * c2, Math.sqrt(3 / c2), seed + 40)),
    makeTensor('fc_B', 'float32', [classes], randomArray(classes, 0.1, seed + 41)),
  ];
  const bnNode = (name: string, input: string, output: string) =>
    makeNode('BatchNormalization', [input, `${name}_scale`, `${name}_bias`, `${name}_mean`, `${name}_var`], [output], { epsilon: { float: 1e-5 } }, { name });
  const nodes = [
    makeNode('Conv', ['x', 'conv1_W'], ['c1'], { pads: { ints: [1, 1, 1, 1] }, kernel_shape: { ints: [3, 3] } }, { name: 'conv1' }),
    bnNode('bn1', 'c1', 'b1'),
    makeNode('Relu', ['b1'], ['r1'], undefined, { name: 'relu1' }),
    makeNode('Conv', ['r1', 'conv2_W', 'conv2_B'], ['c2'], { pads: { ints: [1, 1, 1, 1] }, kernel_shape: { ints: [3, 3] } }, { name: 'conv2' }),
    bnNode('bn2', 'c2', 'b2'),
    makeNode('Relu', ['b2'], ['r2'], undefined, { name: 'relu2' }),
    makeNode('GlobalAveragePool', ['r2'], ['gap'], undefined, { name: 'gap' }),
    makeNode('Flatten', ['gap'], ['flat'], { axis: { int: 1 } }, { name: 'flatten' }),
    makeNode('Gemm', ['flat', 'fc_W', 'fc_B'], ['y'], { transB: { int: 1 } }, { name: 'fc' }),
  ];
  return makeModel({
    graph: makeGraph({
      name: 'cnn',
      nodes,
      inputs: [makeValueInfo('x', 'float32', ['batch', 3, 16, 16])],
      outputs: [makeValueInfo('y', 'float32', ['batch', classes])],
      initializers: inits,
    }),
    opsetImports: [{ domain: '', version: 13 }],
  });
}
