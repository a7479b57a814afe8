/**
 * Helpers for the ONNX backend conformance test: read ONNX's own test cases (a model.onnx and
 * test_data_set_N/{input,output}_K.pb serialized TensorProtos), turn a data set into Open
 * Inference Protocol requests (JSON and binary tensor data), decode the answers, and compare
 * them with the reference outputs.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelConfig } from '../../src/core/model-config.js';
import type { Datatype, NumericArray } from '../../src/core/tensor.js';
import { DATATYPES, datatypeFromOnnx, decodeBytesElements, encodeBytesElements, numericFromBytes } from '../../src/core/tensor.js';
import { decodeModel, decodeTensor, elemTypeName, float16ToFloat32, tensorToArray } from '../../src/onnx/index.js';
import type { ModelProto, TypedArray, TypeProto } from '../../src/onnx/index.js';

/** Where Debian's libonnx-testdata puts ONNX's backend test data (override: BERTH_ONNX_TESTDATA). */
export const TESTDATA_ROOT = process.env.BERTH_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';

/** Float comparison: |got − expected| ≤ ATOL + RTOL·|expected|. Integers, bools and strings are exact. */
export const RTOL = 1e-3;
export const ATOL = 1e-4;

// ---------------------------------------------------------------------------------------------
// Test cases on disk

export interface TestCase {
  /** node, pytorch-converted, pytorch-operator, simple */
  suite: string;
  /** the directory name, which is also the served model's name (…/test_abs/model.onnx → test_abs) */
  name: string;
  dir: string;
  model: string;
  /** test_data_set_N directories, in N order */
  dataSets: string[];
}

const byNumberSuffix = (a: string, b: string): number => Number(/(\d+)\D*$/.exec(a)?.[1] ?? 0) - Number(/(\d+)\D*$/.exec(b)?.[1] ?? 0);

/** Every test case of a suite that has a model.onnx, sorted by name. */
export function listCases(suite: string, root = TESTDATA_ROOT): TestCase[] {
  const suiteDir = join(root, suite);
  if (!existsSync(suiteDir)) return [];
  return readdirSync(suiteDir)
    .filter((name) => name.startsWith('test_') && existsSync(join(suiteDir, name, 'model.onnx')))
    .sort()
    .map((name) => {
      const dir = join(suiteDir, name);
      const dataSets = readdirSync(dir)
        .filter((d) => d.startsWith('test_data_set_'))
        .sort(byNumberSuffix)
        .map((d) => join(dir, d));
      return { suite, name, dir, model: join(dir, 'model.onnx'), dataSets };
    });
}

/** What a model's graph looks like, read with berth's own ONNX codec (for sampling and reports). */
export interface GraphSummary {
  /** sorted distinct `domain:op_type` of the top-level nodes */
  ops: string[];
  /** element types (or sequence/map/optional/…) of graph inputs that are not initializers, and of outputs */
  inputTypes: string[];
  outputTypes: string[];
}

function typeLabel(t: TypeProto | undefined): string {
  if (!t) return 'none';
  if (t.tensorType) return elemTypeName(t.tensorType.elemType ?? 0) ?? `elem${t.tensorType.elemType ?? 0}`;
  if (t.sequenceType) return `seq(${typeLabel(t.sequenceType.elemType)})`;
  if (t.mapType) return `map(${elemTypeName(t.mapType.keyType ?? 0) ?? '?'},${typeLabel(t.mapType.valueType)})`;
  if (t.optionalType) return `optional(${typeLabel(t.optionalType.elemType)})`;
  if (t.sparseTensorType) return 'sparse';
  if (t.opaqueType) return 'opaque';
  return 'unknown';
}

export function summarizeGraph(model: ModelProto): GraphSummary {
  const graph = model.graph;
  const inits = new Set((graph?.initializer ?? []).map((t) => t.name));
  return {
    ops: [...new Set((graph?.node ?? []).map((n) => `${n.domain ?? ''}:${n.opType ?? ''}`))].sort(),
    inputTypes: (graph?.input ?? []).filter((v) => !inits.has(v.name)).map((v) => typeLabel(v.type)),
    outputTypes: (graph?.output ?? []).map((v) => typeLabel(v.type)),
  };
}

export function readGraphSummary(modelPath: string): GraphSummary {
  return summarizeGraph(decodeModel(readFileSync(modelPath)));
}

// ---------------------------------------------------------------------------------------------
// Reference tensors

export interface RefTensor {
  /** TensorProto.name; often empty, then matched to the model's inputs/outputs by position */
  name: string;
  elemType: number;
  dims: number[];
  values: TypedArray | string[];
}

/** A data-set file that holds a SequenceProto, MapProto or OptionalProto rather than a tensor. */
export class NotATensorError extends Error {}

export function readRefTensor(path: string): RefTensor {
  const proto = decodeTensor(readFileSync(path));
  const elemType = proto.dataType ?? 0;
  if (elemType === 0) throw new NotATensorError(`${path.split('/').slice(-2).join('/')} has no data_type: a sequence, map or optional value, not a tensor`);
  return { name: proto.name ?? '', elemType, dims: (proto.dims ?? []).map(Number), values: tensorToArray(proto) };
}

export interface DataSet {
  dir: string;
  inputs: RefTensor[];
  outputs: RefTensor[];
}

export function readDataSet(dir: string): DataSet {
  const files = readdirSync(dir).filter((f) => f.endsWith('.pb'));
  const pick = (prefix: string): RefTensor[] => files
    .filter((f) => f.startsWith(prefix))
    .sort(byNumberSuffix)
    .map((f) => readRefTensor(join(dir, f)));
  return { dir, inputs: pick('input_'), outputs: pick('output_') };
}

// ---------------------------------------------------------------------------------------------
// Model metadata (GET /v2/models/{name})

export interface MetaTensor {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMeta {
  inputs: MetaTensor[];
  outputs: MetaTensor[];
}

/**
 * Assigns data-set tensors to the model's tensors: by name when the TensorProto has one the
 * model knows, otherwise by position (ONNX writes inputs in graph order, initializers excluded).
 */
export function assignNames(refs: readonly RefTensor[], model: readonly MetaTensor[]): { ref: RefTensor; meta: MetaTensor | undefined }[] {
  const names = new Set(model.map((m) => m.name));
  const allNamed = refs.every((r) => r.name !== '' && names.has(r.name));
  return refs.map((ref, i) => ({ ref, meta: allNamed ? model.find((m) => m.name === ref.name) : model[i] }));
}

// ---------------------------------------------------------------------------------------------
// Requests

export type Mode = 'json' | 'binary';

/** The protocol datatype of an ONNX element type, or undefined when the protocol has none. */
export function refDatatype(ref: RefTensor): Datatype | undefined {
  return datatypeFromOnnx(ref.elemType);
}

/**
 * Why a tensor cannot travel as JSON (so the case runs in binary mode only), or undefined.
 * Non-finite floats cannot be sent (JSON has no NaN/Infinity); in outputs they come back as
 * null, which compareTensor accepts.
 */
export function jsonObstacle(ref: RefTensor, role: 'input' | 'output'): string | undefined {
  const dt = refDatatype(ref);
  if (dt === 'FP16') return 'FP16 is binary-only in the protocol';
  if ((dt === 'FP32' || dt === 'FP64') && role === 'input') {
    for (const v of ref.values as Float32Array) if (!Number.isFinite(v)) return 'JSON has no NaN/Infinity';
  }
  if (dt === 'INT64' || dt === 'UINT64') {
    for (const v of ref.values as BigInt64Array) {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) return 'a 64-bit integer beyond ±2^53 is not exact in JSON';
    }
  }
  return undefined;
}

function jsonValues(dt: Datatype, values: TypedArray | string[]): unknown[] {
  if (dt === 'BYTES') return values as string[];
  if (dt === 'BOOL') return Array.from(values as Uint8Array, (v) => v !== 0);
  if (dt === 'INT64' || dt === 'UINT64') return Array.from(values as BigInt64Array, (v) => Number(v));
  return Array.from(values as Float32Array);
}

function binaryBytes(dt: Datatype, values: TypedArray | string[]): Uint8Array {
  if (dt === 'BYTES') return encodeBytesElements((values as string[]).map((s) => Buffer.from(s, 'utf8')));
  const a = values as TypedArray;
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export interface BuiltRequest {
  body: Buffer;
  headers: Record<string, string>;
}

/**
 * One infer request. JSON mode puts `data` inline and asks for no particular outputs (so all
 * come back as JSON); binary mode sends every input as a blob and asks for every output as one.
 */
export function buildRequest(mode: Mode, inputs: readonly { name: string; ref: RefTensor; datatype: Datatype }[], outputNames: readonly string[]): BuiltRequest {
  if (mode === 'json') {
    const json = {
      id: 'conformance',
      inputs: inputs.map((i) => ({ name: i.name, shape: i.ref.dims, datatype: i.datatype, data: jsonValues(i.datatype, i.ref.values) })),
    };
    return { body: Buffer.from(JSON.stringify(json), 'utf8'), headers: { 'content-type': 'application/json' } };
  }
  const blobs = inputs.map((i) => binaryBytes(i.datatype, i.ref.values));
  const json = {
    id: 'conformance',
    inputs: inputs.map((i, k) => ({ name: i.name, shape: i.ref.dims, datatype: i.datatype, parameters: { binary_data_size: blobs[k]!.byteLength } })),
    outputs: outputNames.map((name) => ({ name, parameters: { binary_data: true } })),
  };
  const header = Buffer.from(JSON.stringify(json), 'utf8');
  return {
    body: Buffer.concat([header, ...blobs]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

// ---------------------------------------------------------------------------------------------
// Responses

export interface GotTensor {
  name: string;
  datatype: string;
  shape: number[];
  /** numbers (floats, ints, bools as 0/1; null for a JSON null), bigints for 64-bit binary, or strings */
  values: ArrayLike<number | bigint | string | null>;
  /** how it arrived */
  binary: boolean;
}

interface ResponseOutput {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: { binary_data_size?: number };
}

/** Decodes an infer response body (plain JSON, or JSON header + blobs). Throws on malformed bodies. */
export function decodeResponse(body: Buffer, headerLength: string | null): GotTensor[] {
  const jsonLen = headerLength === null ? body.length : Number(headerLength);
  if (!Number.isInteger(jsonLen) || jsonLen < 0 || jsonLen > body.length) throw new Error(`bad Inference-Header-Content-Length '${headerLength}'`);
  const json = JSON.parse(body.subarray(0, jsonLen).toString('utf8')) as { outputs?: ResponseOutput[] };
  if (!Array.isArray(json.outputs)) throw new Error('response has no outputs array');
  let offset = jsonLen;
  const out = json.outputs.map((o): GotTensor => {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) {
      if (!Array.isArray(o.data)) throw new Error(`output '${o.name}' has neither data nor binary_data_size`);
      const values = o.data.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)) as (number | string | null)[];
      return { name: o.name, datatype: o.datatype, shape: o.shape, values, binary: false };
    }
    if (offset + size > body.length) throw new Error(`output '${o.name}': binary_data_size ${size} runs past the body`);
    const blob = new Uint8Array(body.buffer, body.byteOffset + offset, size);
    offset += size;
    if (o.datatype === 'BYTES') {
      return { name: o.name, datatype: o.datatype, shape: o.shape, values: decodeBytesElements(blob).map((b) => b.toString('utf8')), binary: true };
    }
    if (!Object.hasOwn(DATATYPES, o.datatype)) throw new Error(`output '${o.name}' has unknown datatype '${o.datatype}'`);
    const typed: NumericArray = numericFromBytes(o.datatype as Exclude<Datatype, 'BYTES'>, blob);
    const values = o.datatype === 'FP16' ? float16ToFloat32(typed as Uint16Array) : typed;
    return { name: o.name, datatype: o.datatype, shape: o.shape, values: values as ArrayLike<number | bigint>, binary: true };
  });
  if (offset !== body.length) throw new Error(`${body.length - offset} bytes after the last output blob`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Comparison

const isFloat = (dt: string): boolean => dt === 'FP16' || dt === 'FP32' || dt === 'FP64';

function fmt(v: unknown): string {
  return typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * Compares one output with its reference. Returns undefined when they agree, else a short
 * description of the first differences. A JSON `null` matches a non-finite reference value
 * (JSON cannot carry NaN or ±Infinity; JSON.stringify writes null for them).
 */
export function compareTensor(expected: RefTensor, got: GotTensor): string | undefined {
  const dt = refDatatype(expected);
  if (got.datatype !== dt) return `datatype ${got.datatype}, expected ${dt ?? `ONNX type ${expected.elemType}`}`;
  if (got.shape.length !== expected.dims.length || got.shape.some((d, i) => d !== expected.dims[i])) {
    return `shape [${got.shape.join(',')}], expected [${expected.dims.join(',')}]`;
  }
  let exp: ArrayLike<number | bigint | string> = expected.values as ArrayLike<number | bigint | string>;
  if (dt === 'FP16') exp = float16ToFloat32(expected.values as Uint16Array);
  if (got.values.length !== exp.length) return `${got.values.length} elements, expected ${exp.length}`;
  const diffs: string[] = [];
  let count = 0;
  let maxErr = 0;
  for (let i = 0; i < exp.length; i++) {
    const e = exp[i]!;
    const g = got.values[i];
    let ok: boolean;
    if (isFloat(dt!)) {
      const ev = e as number;
      if (g === null) ok = !Number.isFinite(ev);
      else if (typeof g !== 'number') ok = false;
      else if (Number.isNaN(ev)) ok = Number.isNaN(g);
      else if (!Number.isFinite(ev)) ok = g === ev;
      else {
        const err = Math.abs(g - ev);
        ok = err <= ATOL + RTOL * Math.abs(ev);
        if (!ok && err > maxErr) maxErr = err;
      }
    } else if (typeof e === 'bigint') {
      ok = typeof g === 'bigint' ? g === e : typeof g === 'number' && Number.isSafeInteger(g) && BigInt(g) === e;
    } else {
      ok = g === e;
    }
    if (!ok) {
      count++;
      if (diffs.length < 5) diffs.push(`[${i}] got ${fmt(g)}, expected ${fmt(e)}`);
    }
  }
  if (count === 0) return undefined;
  return `${count}/${exp.length} elements differ${maxErr > 0 ? ` (max abs error ${maxErr.toPrecision(3)})` : ''}: ${diffs.join('; ')}`;
}

// ---------------------------------------------------------------------------------------------
// Load-error classification

/**
 * The category of a model onnxruntime loaded but berth then marked UNAVAILABLE because its
 * warm-up inference (zero-filled inputs) failed: a berth problem, so the test counts it as a failure.
 */
export const WARMUP_FAILED = 'warm-up inference failed';

/**
 * A load error none of the patterns below explains. Counted as a failure, never as
 * "unsupported": a new cause must be looked at and classified here before it is accepted.
 */
export const UNRECOGNIZED = 'unrecognized load error';

export interface Unsupported {
  /** a short category: no-kernel, unregistered-op, element-type, non-tensor, … */
  category: string;
  /** the specific reason, for per-reason counts (no file paths, no case names) */
  reason: string;
}

/**
 * Classifies why a model did not load, from the error berth reports (onnxruntime's own text,
 * or berth's when the signature has something the protocol cannot carry).
 */
export function classifyLoadError(message: string): Unsupported {
  const text = message
    .replace(/^model '[^']*' is not ready: /, '')
    .replace(/^version \d+: /, '')
    .replace(/^failed to load: /, '')
    .replace(/Load model from \S+ failed:/, '')
    .trim();
  let m = /Could not find an implementation for (\S+?)\((\d+)\)/.exec(text);
  if (m) return { category: 'no onnxruntime kernel', reason: `Could not find an implementation for ${m[1]}(${m[2]})` };
  m = /(\S+) is not a registered function\/op/.exec(text);
  if (m) return { category: 'op not registered in onnxruntime', reason: `${m[1]} is not a registered function/op` };
  m = /Unsupported data type: (\d+)/.exec(text);
  if (m) return { category: 'element type onnxruntime-node cannot carry', reason: `Unsupported data type: ${m[1]} (${elemTypeName(Number(m[1])) ?? '?'})` };
  m = /(input|output) '[^']*' is not a tensor/.exec(text);
  if (m) return { category: 'non-tensor input/output', reason: `${m[1]} is a sequence, map or optional (not a tensor)` };
  m = /has type (\S+), which the inference protocol cannot carry/.exec(text);
  if (m) return { category: 'element type the protocol lacks', reason: `tensor type ${m[1]}` };
  if (/Batchwise recurrent operations \(layout == 1\) are not supported/.test(text)) {
    const op = /(GRU|LSTM|RNN)/i.exec(text)?.[1]?.toUpperCase() ?? 'RNN';
    return { category: 'onnxruntime kernel limitation', reason: `${op} with layout=1 (batch-first): "Batchwise recurrent operations (layout == 1) are not supported"` };
  }
  m = /Failed to construct locale with name:(\S+?):/.exec(text);
  if (m) return { category: 'environment: locale not installed', reason: `StringNormalizer needs the ${m[1]} locale, which this machine lacks` };
  m = /inference failed: (.*)/s.exec(text);
  if (m) return { category: WARMUP_FAILED, reason: shorten(m[1]!) };
  return { category: UNRECOGNIZED, reason: shorten(text) };
}

/** Strips node names and paths so equal causes count together. */
function shorten(text: string): string {
  return text
    .replace(/\/\S+\/model\.onnx/g, 'model.onnx')
    .replace(/node with name '[^']*'/g, 'node')
    .replace(/Node \([^)]*\)/g, 'Node')
    .replace(/Name:'[^']*' /g, '')
    .replace(/Non-zero status code returned while running (\w+) node\. Status Message: /g, '$1: ')
    .replace(/(\/onnxruntime_src\/)?\S+\.(cc|h):\d+ /g, '')
    .replace(/(onnxruntime::\S+ )?onnxruntime::[\w:<>]+?(::operator\(\))?\([^)]*\)(::<lambda\(\)>)?( \[with [^\]]*\])? /g, '')
    .replace(/^(\w+: )(Compute|operator\(\)|ScalesValidation) /, '$1')
    .replace(/\s+/g, ' ')
    .slice(0, 240);
}

// ---------------------------------------------------------------------------------------------
// A berth server in a child process

export interface ChildServer {
  url: string;
  /** what the server process wrote to stderr so far (onnxruntime's own log lines go there) */
  stderr(): string;
  close(): Promise<void>;
}

const REPO = fileURLToPath(new URL('../..', import.meta.url));

function tsFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...tsFiles(dir, path));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

export interface ServerModule {
  /** file URL of the module that exports startServer */
  url: string;
  /** true: dist/ (compiled JavaScript); false: src/ through tsx */
  compiled: boolean;
  /** why the source was chosen */
  why: string;
}

/**
 * Which build of berth to serve with. dist/ when every src/ file has a compiled counterpart at
 * least as new (as right after `npm run build`, which `npm test` runs first); otherwise src/
 * through tsx. The code is the same; the difference is speed: under tsx every model's worker
 * thread loads tsx and transpiles the worker, several times the cost of starting the worker
 * itself. BERTH_CONFORMANCE_SOURCE=dist|src forces one.
 */
export function serverModule(): ServerModule {
  const src = join(REPO, 'src');
  const dist = join(REPO, 'dist');
  const forced = process.env.BERTH_CONFORMANCE_SOURCE;
  const compiledUrl = new URL('../../dist/server.js', import.meta.url).href;
  const sourceUrl = new URL('../../src/server.ts', import.meta.url).href;
  if (forced === 'dist') return { url: compiledUrl, compiled: true, why: 'BERTH_CONFORMANCE_SOURCE=dist' };
  if (forced === 'src') return { url: sourceUrl, compiled: false, why: 'BERTH_CONFORMANCE_SOURCE=src' };
  if (!existsSync(join(dist, 'server.js'))) return { url: sourceUrl, compiled: false, why: 'dist/ is not built' };
  for (const file of tsFiles(src)) {
    const js = join(dist, file.replace(/\.ts$/, '.js'));
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(src, file)).mtimeMs) {
      return { url: sourceUrl, compiled: false, why: `dist/ is older than src/${file}` };
    }
  }
  return { url: compiledUrl, compiled: true, why: 'dist/ is up to date with src/' };
}

// The child is started without `--import tsx`: worker threads inherit that flag, so under it
// every model's worker would load tsx (and, for src/, berth's worker bootstrap registers it a
// second time). For src/ the child registers tsx through its API, in its main thread only.
// With tsx in ~40 workers libuv's 4 default threads stay busy, and a worker whose model failed
// to load then takes tens of seconds to exit, stalling startServer; a larger pool avoids that.
const CHILD = `(async () => {
  if (process.env.BERTH_SERVER_MODULE.endsWith('.ts')) (await import('tsx/esm/api')).register();
  const { startServer } = await import(process.env.BERTH_SERVER_MODULE);
  const server = await startServer({
    paths: JSON.parse(process.env.BERTH_PATHS),
    http: { port: 0 },
    models: JSON.parse(process.env.BERTH_DEFAULTS),
    grpc: { enabled: false },
    monitoring: { enabled: false },
  });
  process.stdout.write(JSON.stringify({ url: server.url }) + '\\n');
  process.stdin.on('end', () => server.close().then(() => process.exit(0), () => process.exit(1)));
  process.stdin.resume();
})().catch((err) => {
  console.error(err);
  process.exit(1);
});`;

/**
 * Starts `startServer({ paths })` from `module` in a separate Node process and resolves once it
 * listens. A separate process keeps onnxruntime's stderr logging and any native crash out of
 * the test runner.
 */
export function spawnServer(module: ServerModule, paths: readonly string[], defaults: Partial<ModelConfig> = {}, timeoutMs = 120_000): Promise<ChildServer> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16',
    BERTH_SERVER_MODULE: module.url,
    BERTH_PATHS: JSON.stringify(paths),
    BERTH_DEFAULTS: JSON.stringify(defaults),
  };
  delete env.NODE_TEST_CONTEXT; // set by node --test for its own children
  const child = spawn(process.execPath, ['--eval', CHILD], { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    if (err.length > 1_000_000) err = err.slice(-500_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const close = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth did not start within ${timeoutMs} ms; stderr: ${err.slice(-2000)}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      clearTimeout(timer);
      resolve({ url: (JSON.parse(line) as { url: string }).url, stderr: () => err, close });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`berth exited with code ${code} before listening; stderr: ${err.slice(-2000)}`));
    });
  });
}
