/** Helpers for the quantization tests: run models in onnxruntime, compare outputs, run the ONNX checker. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeModel, decodeTensor, encodeModel, tensorToArray, type ModelProto } from '../../src/onnx/index.js';
import type { Dataset } from '../../src/datasets/index.js';

export const PYTHON = ['/usr/bin/python3'].find((py) => spawnSync(py, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0);
export const NO_PYTHON = PYTHON ? false : 'no /usr/bin/python3 with the onnx module (Debian python3-onnx)';

/** Runs onnx.checker.check_model on a model; '' when it passes, the error otherwise. */
export function onnxCheck(model: ModelProto): string {
  return onnxCheckMany({ model }).model;
}

const CHECK_MANY = `
import onnx, sys, json
out = {}
for label, path in json.loads(sys.argv[1]).items():
    try:
        onnx.checker.check_model(onnx.load(path))
        out[label] = ''
    except Exception as e:
        out[label] = (str(e).strip().splitlines() or ['failed'])[-1]
print(json.dumps(out))
`;

/** Checks several models with one Python process; label -> '' or the checker's error. */
export function onnxCheckMany(models: Record<string, ModelProto>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-q-check-'));
  try {
    const paths: Record<string, string> = {};
    Object.entries(models).forEach(([label, model], i) => {
      paths[label] = join(dir, `m${i}.onnx`);
      writeFileSync(paths[label], encodeModel(model));
    });
    const r = spawnSync(PYTHON!, ['-c', CHECK_MANY, JSON.stringify(paths)], { encoding: 'utf8', maxBuffer: 16 << 20 });
    if (r.status !== 0) throw new Error(`checker failed to run: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, string>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function session(model: ModelProto, level: 'disabled' | 'basic' | 'extended' | 'all' = 'all'): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: level, logSeverityLevel: 3 });
}

/** Runs one float32 input through a model; returns the named outputs. */
export async function run(s: ort.InferenceSession, input: Float32Array, dims: number[], inputName = s.inputNames[0]): Promise<Record<string, Float32Array>> {
  const out = await s.run({ [inputName]: new ort.Tensor('float32', input, dims) });
  const res: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(out)) res[k] = v.data as Float32Array;
  return res;
}

/** ||a - b|| / ||b|| over all elements. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Fraction of rows (of width `classes`) whose argmax agrees. */
export function argmaxAgreement(a: Float32Array, b: Float32Array, classes: number): number {
  const rows = a.length / classes;
  let same = 0;
  for (let r = 0; r < rows; r++) {
    let ia = 0;
    let ib = 0;
    for (let j = 1; j < classes; j++) {
      if (a[r * classes + j] > a[r * classes + ia]) ia = j;
      if (b[r * classes + j] > b[r * classes + ib]) ib = j;
    }
    if (ia === ib) same++;
  }
  return same / rows;
}

export function dataset(name: string, data: Float32Array, shape: number[]): Dataset {
  return { samples: shape[0], inputs: { [name]: { datatype: 'FP32', shape, data } } };
}

export function countOps(model: ModelProto): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of model.graph!.node) {
    const k = `${n.domain ? `${n.domain}.` : ''}${n.opType}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/**
 * An ONNX backend test model (libonnx-testdata node/NAME) with the given inputs turned into
 * initializers from test_data_set_0, so its weights are constants; returns the model, the
 * remaining inputs' data and the reference output.
 */
export function testModelWithConstants(dir: string, constantInputs: string[]): { model: ModelProto; feeds: Record<string, { data: Float32Array; dims: number[] }>; expected: Float32Array; outputName: string } {
  const model = decodeModel(readFileSync(join(dir, 'model.onnx')));
  const graph = model.graph!;
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {};
  const initializer = [...graph.initializer];
  graph.input.forEach((vi, i) => {
    const t = decodeTensor(readFileSync(join(dir, 'test_data_set_0', `input_${i}.pb`)));
    if (constantInputs.includes(vi.name!)) initializer.push({ ...t, name: vi.name });
    else feeds[vi.name!] = { data: tensorToArray(t) as Float32Array, dims: (t.dims ?? []).map(Number) };
  });
  const expected = tensorToArray(decodeTensor(readFileSync(join(dir, 'test_data_set_0', 'output_0.pb')))) as Float32Array;
  const out: ModelProto = { ...model, graph: { ...graph, initializer, input: graph.input.filter((v) => !constantInputs.includes(v.name!)) } };
  return { model: out, feeds, expected, outputName: graph.output[0].name! };
}

/** Runs a model on several float32 feeds; returns the first output. */
export async function runFeeds(model: ModelProto, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<Float32Array> {
  const s = await session(model);
  const inputs: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) inputs[k] = new ort.Tensor('float32', v.data, v.dims);
  const out = await s.run(inputs);
  return out[s.outputNames[0]].data as Float32Array;
}

/** Runs `berth quantize ARGS` (the command as registered by registerQuantize) in a child process. */
export function runCli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// Entry point for runCli: a berth program with just the quantize command.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { Command } = await import('commander');
  const { registerQuantize } = await import('../../src/cli/commands/quantize.js');
  const program = new Command().name('berth');
  registerQuantize(program);
  await program.parseAsync(['node', 'berth', 'quantize', ...process.argv.slice(2)]);
}
