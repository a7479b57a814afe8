/**
 * Runs ONNX's backend test models (Debian libonnx-testdata) in onnxruntime-node and compares the
 * outputs with the reference outputs stored next to them. Shared by the convert tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeTensor, encodeModel, tensorToArray } from '../../src/onnx/index.js';
import type { ModelProto, TensorProto } from '../../src/onnx/index.js';

export const TESTDATA = '/usr/share/libonnx-testdata/data';
export const NO_TESTDATA = existsSync(TESTDATA) ? false : `${TESTDATA} is absent (Debian package libonnx-testdata)`;

export interface TestCase {
  name: string;
  dir: string;
  modelPath: string;
}

export function testCases(group: string): TestCase[] {
  const dir = join(TESTDATA, group);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => ({ name, dir: join(dir, name), modelPath: join(dir, name, 'model.onnx') }))
    .filter((c) => existsSync(c.modelPath));
}

const ORT_TYPE: Record<number, ort.Tensor.Type> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64',
};

export function toOrt(t: TensorProto): ort.Tensor {
  const type = ORT_TYPE[t.dataType ?? 0];
  if (!type) throw new Error(`unsupported tensor type ${t.dataType}`);
  const values = tensorToArray(t);
  const dims = (t.dims ?? []).map(Number);
  if (type === 'bool') return new ort.Tensor('bool', Uint8Array.from(values as Uint8Array), dims);
  return new ort.Tensor(type, values as never, dims);
}

/** Inputs of a test data set by graph input name (inputs that are initializers are not fed). */
export function loadDataSet(model: ModelProto, dir: string): { feeds: Record<string, ort.Tensor>; expected: TensorProto[] } {
  const inits = new Set(model.graph!.initializer.map((t) => t.name));
  const inputs = model.graph!.input.filter((i) => !inits.has(i.name));
  const feeds: Record<string, ort.Tensor> = {};
  inputs.forEach((vi, k) => {
    const f = join(dir, `input_${k}.pb`);
    if (existsSync(f)) feeds[vi.name!] = toOrt(decodeTensor(readFileSync(f)));
  });
  const expected: TensorProto[] = [];
  for (let k = 0; existsSync(join(dir, `output_${k}.pb`)); k++) expected.push(decodeTensor(readFileSync(join(dir, `output_${k}.pb`))));
  return { feeds, expected };
}

export function dataSets(c: TestCase): string[] {
  return readdirSync(c.dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort()
    .map((d) => join(c.dir, d));
}

function num(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : typeof v === 'boolean' ? Number(v) : (v as number);
}

/** Largest violation of |got - want| <= atol + rtol * |want| (0 when all elements pass). */
export function violation(got: ArrayLike<unknown>, want: ArrayLike<unknown>, rtol: number, atol: number): number {
  if (got.length !== want.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = num(got[i]);
    const w = num(want[i]);
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (g === w) continue;
    const excess = Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (!(excess <= 0)) worst = Math.max(worst, Number.isNaN(excess) ? Infinity : excess);
  }
  return worst;
}

export interface RunResult {
  ok: boolean;
  /** why it failed: load error, run error or the first mismatching output */
  error?: string;
}

/** Runs `model` (a converted test model) on every data set of the case and compares outputs. */
export async function runAndCompare(model: ModelProto, c: TestCase, rtol = 1e-3, atol = 1e-4, outputType?: (t: TensorProto) => TensorProto): Promise<RunResult> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 4 });
  } catch (err) {
    return { ok: false, error: `load: ${(err as Error).message.split('\n')[0]}` };
  }
  try {
    for (const ds of dataSets(c)) {
      const { feeds, expected } = loadDataSet(model, ds);
      const out = await session.run(feeds);
      for (let k = 0; k < expected.length; k++) {
        const name = model.graph!.output[k].name!;
        const want = tensorToArray(outputType ? outputType(expected[k]) : expected[k]);
        const got = out[name].data as ArrayLike<unknown>;
        if (Array.isArray(want)) {
          if (JSON.stringify(Array.from(got)) !== JSON.stringify(want)) return { ok: false, error: `output '${name}' differs` };
          continue;
        }
        const v = violation(got, want as ArrayLike<unknown>, rtol, atol);
        if (v > 0) return { ok: false, error: `output '${name}' off by ${v.toExponential(2)} beyond tolerance` };
      }
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, error: `run: ${(err as Error).message.split('\n')[0]}` };
  } finally {
    await session.release();
  }
}

/** Debian's python3 with the onnx package (a pyenv python3 on PATH may lack it). */
export const PYTHON = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0);
export const NO_PYTHON = PYTHON ? false : 'no python3 with the onnx module (Debian package python3-onnx)';

const CHECK_SCRIPT = `
import json, sys, onnx
out = {}
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
    except Exception as e:
        out[path] = str(e).split('\\n')[0][:300]
print(json.dumps(out))
`;

/**
 * Runs the ONNX checker (with shape inference, full_check) on model files in one Python process;
 * returns the files that fail with the checker's message. python3-onnx 1.12 knows opsets up to 17.
 */
export function onnxCheckAll(paths: string[]): Map<string, string> {
  if (!PYTHON) throw new Error('python3 with onnx is not available');
  const r = spawnSync(PYTHON, ['-c', CHECK_SCRIPT, ...paths], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`onnx checker failed to run: ${r.stderr}`);
  return new Map(Object.entries(JSON.parse(r.stdout) as Record<string, string>));
}
