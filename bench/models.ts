// Bench models: multilayer perceptrons with seeded random weights, written with berth's own ONNX
// builder as a model repository entry `DIR/NAME/1/model.onnx`.
//
//   writeMlp(dir, 'small', [64, 256, 256, 10], 1)        // digits-sized
//   writeMlp(dir, 'heavy', [512, 2048, 2048, 1000], 2)   // compute-bound
//
// Graph: input `input` [batch, layers[0]] (symbolic batch) → (Gemm → Relu)* → Gemm → `output`
// [batch, layers.at(-1)], float32, opset 13. Weights use He-uniform scaling so activations stay O(1).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, saveModel } from '../src/onnx/index.js';
import { mulberry32 } from '../src/util/random.js';

const FLOAT = 'float32';

// the benches' seeded inputs come from the one PRNG (src/util/random.ts); re-exported for them
export { mulberry32 };

/** `n` float32 values uniform in [lo, hi) from `rand`. */
export function uniform(rand: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  const span = hi - lo;
  for (let i = 0; i < n; i++) out[i] = lo + span * rand();
  return out;
}

export interface MlpInfo {
  /** Path of the written model.onnx. */
  path: string;
  name: string;
  layers: number[];
  inputName: 'input';
  outputName: 'output';
  inputDim: number;
  outputDim: number;
  /** Number of weights + biases. */
  parameters: number;
}

/**
 * Write an MLP `layers[0] → … → layers.at(-1)` (ReLU between layers) to
 * `dir/name/1/model.onnx`. Same `seed`, same bytes.
 */
export async function writeMlp(dir: string, name: string, layers: number[], seed: number): Promise<MlpInfo> {
  if (layers.length < 2 || layers.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`writeMlp: layers must be ≥ 2 positive integers, got ${JSON.stringify(layers)}`);
  }
  const rand = mulberry32(seed);
  const nodes = [];
  const initializers = [];
  let parameters = 0;
  let prev = 'input';
  for (let i = 0; i + 1 < layers.length; i++) {
    const fanIn = layers[i]!;
    const fanOut = layers[i + 1]!;
    const limit = Math.sqrt(6 / fanIn);
    const w = `fc${i}.weight`;
    const b = `fc${i}.bias`;
    initializers.push(makeTensor(w, FLOAT, [fanIn, fanOut], uniform(rand, fanIn * fanOut, -limit, limit)));
    initializers.push(makeTensor(b, FLOAT, [fanOut], uniform(rand, fanOut, -0.05, 0.05)));
    parameters += fanIn * fanOut + fanOut;
    const last = i + 2 === layers.length;
    const gemmOut = last ? 'output' : `fc${i}`;
    nodes.push(makeNode('Gemm', [prev, w, b], [gemmOut], undefined, { name: `fc${i}` }));
    if (!last) {
      nodes.push(makeNode('Relu', [gemmOut], [`relu${i}`], undefined, { name: `relu${i}` }));
      prev = `relu${i}`;
    }
  }
  const graph = makeGraph({
    name: `mlp_${name}`,
    nodes,
    inputs: [makeValueInfo('input', FLOAT, ['batch', layers[0]!])],
    outputs: [makeValueInfo('output', FLOAT, ['batch', layers.at(-1)!])],
    initializers,
  });
  const model = makeModel({ graph, opsetImports: [{ domain: '', version: 13 }] });
  const versionDir = join(dir, name, '1');
  await mkdir(versionDir, { recursive: true });
  const path = join(versionDir, 'model.onnx');
  await saveModel(model, path);
  return { path, name, layers: [...layers], inputName: 'input', outputName: 'output', inputDim: layers[0]!, outputDim: layers.at(-1)!, parameters };
}
