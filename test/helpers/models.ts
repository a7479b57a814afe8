/**
 * Small models built with our ONNX builder for serving tests. Expected outputs are computed
 * in the tests by plain arithmetic, independent of onnxruntime and of berth.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, saveModel } from '../../src/onnx/index.js';
import type { ElemType } from '../../src/onnx/index.js';

export function tempDir(prefix = 'berth-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Affine model: output[b, j] = sum_i input[b, i] * W[i, j] + bias[j], W[i,j] = i - j, bias[j] = j / 2. */
export const AFFINE = { inputs: 4, outputs: 3, weight: (i: number, j: number) => i - j, bias: (j: number) => j / 2 };

export function affineExpected(row: readonly number[]): number[] {
  return Array.from({ length: AFFINE.outputs }, (_, j) => row.reduce((s, x, i) => s + x * AFFINE.weight(i, j), AFFINE.bias(j)));
}

/** Writes NAME/VERSION/model.onnx (+ config.json) under repo; returns the model file path. */
export async function writeAffine(repo: string, name = 'affine', version = 1, config?: object): Promise<string> {
  const w = new Float32Array(AFFINE.inputs * AFFINE.outputs);
  for (let i = 0; i < AFFINE.inputs; i++) for (let j = 0; j < AFFINE.outputs; j++) w[i * AFFINE.outputs + j] = AFFINE.weight(i, j);
  const b = Float32Array.from({ length: AFFINE.outputs }, (_, j) => AFFINE.bias(j));
  const graph = makeGraph({
    name: 'affine',
    nodes: [makeNode('MatMul', ['input', 'W'], ['mm']), makeNode('Add', ['mm', 'B'], ['output'])],
    inputs: [makeValueInfo('input', 'float32', ['batch', AFFINE.inputs])],
    outputs: [makeValueInfo('output', 'float32', ['batch', AFFINE.outputs])],
    initializers: [makeTensor('W', 'float32', [AFFINE.inputs, AFFINE.outputs], w), makeTensor('B', 'float32', [AFFINE.outputs], b)],
  });
  return writeModel(repo, name, version, makeModel({ graph }), config);
}

export async function writeModel(repo: string, name: string, version: number, model: ReturnType<typeof makeModel>, config?: object): Promise<string> {
  const dir = join(repo, name, String(version));
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'model.onnx');
  await saveModel(model, path);
  if (config) writeFileSync(join(repo, name, 'config.json'), JSON.stringify(config));
  return path;
}

/**
 * A deliberately slow model: DEPTH chained MatMuls of input [batch, 512] with one shared
 * 512×512 weight. A big batch keeps a worker busy for a long time.
 */
export async function writeSlow(repo: string, name = 'slow', depth = 24, config?: object): Promise<string> {
  const n = 512;
  const w = new Float32Array(n * n);
  for (let i = 0; i < n; i++) w[i * n + i] = 1; // identity: values stay finite however deep
  const nodes = Array.from({ length: depth }, (_, k) => makeNode('MatMul', [k === 0 ? 'input' : `h${k}`, 'W'], [k === depth - 1 ? 'output' : `h${k + 1}`]));
  const graph = makeGraph({
    name: 'slow',
    nodes,
    inputs: [makeValueInfo('input', 'float32', ['batch', n])],
    outputs: [makeValueInfo('output', 'float32', ['batch', n])],
    initializers: [makeTensor('W', 'float32', [n, n], w)],
  });
  return writeModel(repo, name, 1, makeModel({ graph }), config);
}

/** Sums each row: input [batch, width] (width dynamic) → output [batch, 1]. */
export async function writeRowSum(repo: string, name = 'rowsum'): Promise<string> {
  const graph = makeGraph({
    name: 'rowsum',
    nodes: [makeNode('ReduceSum', ['input', 'axes'], ['output'], { keepdims: { int: 1 } })],
    inputs: [makeValueInfo('input', 'float32', ['batch', 'width'])],
    outputs: [makeValueInfo('output', 'float32', ['batch', 1])],
    initializers: [makeTensor('axes', 'int64', [1], [1n])],
  });
  return writeModel(repo, name, 1, makeModel({ graph }));
}

/** Identity for every protocol datatype: inputs in_<type>, outputs out_<type>, shape [batch, 3]. */
export const IDENTITY_TYPES: [string, ElemType][] = [
  ['BOOL', 'bool'], ['UINT8', 'uint8'], ['UINT16', 'uint16'], ['UINT32', 'uint32'], ['UINT64', 'uint64'],
  ['INT8', 'int8'], ['INT16', 'int16'], ['INT32', 'int32'], ['INT64', 'int64'],
  ['FP16', 'float16'], ['FP32', 'float32'], ['FP64', 'float64'], ['BYTES', 'string'],
];

export async function writeIdentityAll(repo: string, name = 'identity'): Promise<string> {
  const graph = makeGraph({
    name: 'identity',
    nodes: IDENTITY_TYPES.map(([dt]) => makeNode('Identity', [`in_${dt}`], [`out_${dt}`])),
    inputs: IDENTITY_TYPES.map(([dt, et]) => makeValueInfo(`in_${dt}`, et, ['batch', 3])),
    outputs: IDENTITY_TYPES.map(([dt, et]) => makeValueInfo(`out_${dt}`, et, ['batch', 3])),
  });
  return writeModel(repo, name, 1, makeModel({ graph }));
}

/** Not ONNX at all: for the corrupt-model tests. */
export function writeCorrupt(repo: string, name = 'corrupt'): string {
  const dir = join(repo, name, '1');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'model.onnx');
  writeFileSync(path, Buffer.from('this is not an onnx model, just bytes \x00\x01\x02'));
  return path;
}
