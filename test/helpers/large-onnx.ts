/**
 * Large ONNX models for packaging tests and benches, written streaming so that the writer's memory
 * does not grow with the model: the graph (a few KB) goes to model.onnx, every weight to one
 * external data file model.onnx.data, 4 MiB at a time: slices of a 16 MiB pool of seeded random
 * floats at PRNG-chosen offsets (a PRNG call per weight would make writing 2 GB take a minute).
 * Deflate's 32 KB window never sees the pool repeat, so the layer compresses like real weights.
 *
 * Graph: `input` [batch, width] → MatMul W0 [width, width] → … → MatMul W{layers-1} → MatMul Wout
 * [width, outputs] → `output` [batch, outputs], float32, opset 13. Weights are uniform in
 * ±sqrt(3/width), so every MatMul keeps the activations' variance (no Relu: the answer stays
 * sensitive to every weight). Bytes = 4 × (layers × width² + width × outputs).
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataLocation, DataType, encodeModel, makeGraph, makeModel, makeNode, makeValueInfo, type TensorProto } from '../../src/onnx/index.js';

export interface LargeModelSpec {
  width: number;
  /** square MatMuls before the output one */
  layers: number;
  outputs: number;
  seed: number;
}

export interface LargeModel {
  /** the model repository entry's version directory: DIR/NAME/1 */
  versionDir: string;
  modelPath: string;
  dataPath: string;
  /** bytes of the external data file */
  dataBytes: number;
  inputDim: number;
  outputDim: number;
}

const CHUNK_FLOATS = 1 << 20; // 4 MiB
const POOL_FLOATS = 1 << 22; // 16 MiB

/** Bytes of weights a spec gives, before anything is written (for the disk-space check). */
export function largeModelBytes(s: LargeModelSpec): number {
  return 4 * (s.layers * s.width * s.width + s.width * s.outputs);
}

/** xorshift128 over a Uint32Array, turned into floats in [-limit, limit) via the [1, 2) exponent trick. */
function filler(seed: number): (out: Float32Array, limit: number) => void {
  let a = seed >>> 0 || 1, b = 0x9e3779b9, c = 0x85ebca6b, d = 0xc2b2ae35;
  return (out, limit) => {
    const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < bits.length; i++) {
      const t = a ^ (a << 11);
      a = b; b = c; c = d;
      d = (d ^ (d >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
      bits[i] = ((d >>> 9) | 0x3f800000) >>> 0;
    }
    const scale = 2 * limit;
    for (let i = 0; i < out.length; i++) out[i] = (out[i]! - 1.5) * scale;
  };
}

function externalTensor(name: string, dims: number[], offset: number, length: number): TensorProto {
  return {
    name,
    dims,
    dataType: DataType.FLOAT,
    dataLocation: DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: 'model.onnx.data' },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  };
}

/** Writes DIR/NAME/1/model.onnx and model.onnx.data; the same spec gives the same bytes. */
export async function writeLargeModel(dir: string, name: string, spec: LargeModelSpec): Promise<LargeModel> {
  const versionDir = join(dir, name, '1');
  await mkdir(versionDir, { recursive: true });
  const shapes: [string, number, number][] = [];
  for (let i = 0; i < spec.layers; i++) shapes.push([`w${i}`, spec.width, spec.width]);
  shapes.push(['wout', spec.width, spec.outputs]);

  const dataPath = join(versionDir, 'model.onnx.data');
  const out = createWriteStream(dataPath, { flags: 'wx' });
  const pool = new Float32Array(POOL_FLOATS + CHUNK_FLOATS);
  filler(spec.seed)(pool, Math.sqrt(3 / spec.width));
  pool.copyWithin(POOL_FLOATS, 0, CHUNK_FLOATS); // a slice may wrap around the pool's end
  let pick = (spec.seed * 2654435761) >>> 0 || 1;
  const initializers: TensorProto[] = [];
  let offset = 0;
  try {
    for (const [wname, rows, cols] of shapes) {
      const length = rows * cols * 4;
      initializers.push(externalTensor(wname, [rows, cols], offset, length));
      for (let left = rows * cols; left > 0; ) {
        const n = Math.min(CHUNK_FLOATS, left);
        pick ^= pick << 13; pick ^= pick >>> 17; pick ^= pick << 5; pick >>>= 0;
        const start = pick % POOL_FLOATS;
        // a copy: the stream may still hold the previous chunk when this one is queued
        if (!out.write(Buffer.from(pool.slice(start, start + n).buffer))) await once(out, 'drain');
        left -= n;
      }
      offset += length;
    }
    out.end();
    await once(out, 'finish');
  } catch (err) {
    out.destroy();
    throw err;
  }

  const nodes = [];
  let prev = 'input';
  for (const [i, [wname]] of shapes.entries()) {
    const y = i === shapes.length - 1 ? 'output' : `h${i}`;
    nodes.push(makeNode('MatMul', [prev, wname], [y], undefined, { name: `matmul_${wname}` }));
    prev = y;
  }
  const graph = makeGraph({
    name: `large_${name}`,
    nodes,
    inputs: [makeValueInfo('input', 'float32', ['batch', spec.width])],
    outputs: [makeValueInfo('output', 'float32', ['batch', spec.outputs])],
    initializers,
  });
  const modelPath = join(versionDir, 'model.onnx');
  await writeFile(modelPath, encodeModel(makeModel({ graph, opsetImports: [{ domain: '', version: 13 }] })));
  return { versionDir, modelPath, dataPath, dataBytes: offset, inputDim: spec.width, outputDim: spec.outputs };
}
