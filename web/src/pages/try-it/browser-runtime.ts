/**
 * Runs a served model in this browser with onnxruntime-web (WebAssembly only), loaded on first
 * use so the other pages never download it. Its runtime files come from the dashboard's own
 * ort/ folder (copied there by the build): nothing is fetched from a CDN. One thread, so the page
 * needs no cross-origin isolation.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-web';
import { request } from '../../api/client';

type Ort = typeof import('onnxruntime-web/wasm');

let runtime: Promise<Ort> | undefined;

function loadRuntime(): Promise<Ort> {
  runtime ??= import('onnxruntime-web/wasm').then((ort) => {
    ort.env.wasm.wasmPaths = new URL('ort/', document.baseURI).href;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
    return ort;
  });
  return runtime;
}

export interface BrowserModel {
  ort: Ort;
  session: InferenceSession;
  bytes: number;
  /** download + session creation, ms */
  loadMs: number;
  /** inferences run so far (the first one pays for the download) */
  runs: number;
}

const sessions = new Map<string, Promise<BrowserModel>>();

/**
 * The session for a served version, created once per server, model and version. The bytes
 * come from GET /api/v1/serving/models/{m}/versions/{v}/model.onnx: exactly the file the server
 * loaded.
 */
export function browserModel(baseKey: string, model: string, version: string): Promise<BrowserModel> {
  const key = `${baseKey}\u0000${model}\u0000${version}`;
  let found = sessions.get(key);
  if (!found) {
    found = (async () => {
      const started = performance.now();
      const [ort, res] = await Promise.all([loadRuntime(), request(`/api/v1/serving/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}/model.onnx`)]);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      return { ort, session, bytes: bytes.byteLength, loadMs: performance.now() - started, runs: 0 };
    })();
    // a failed load is not remembered: the next try asks again
    found.catch(() => sessions.delete(key));
    sessions.set(key, found);
  }
  return found;
}

export interface InputValue {
  name: string;
  datatype: string;
  shape: number[];
  data: (number | string | boolean)[];
}

export interface Output {
  name: string;
  datatype: string;
  shape: number[];
  data: (number | string | boolean)[];
}

const TYPED: Record<string, { type: OrtTensor.Type; make: (values: (number | string | boolean)[]) => OrtTensor.DataType }> = {
  FP32: { type: 'float32', make: (v) => Float32Array.from(v.map(Number)) },
  FP64: { type: 'float64', make: (v) => Float64Array.from(v.map(Number)) },
  INT8: { type: 'int8', make: (v) => Int8Array.from(v.map(Number)) },
  INT16: { type: 'int16', make: (v) => Int16Array.from(v.map(Number)) },
  INT32: { type: 'int32', make: (v) => Int32Array.from(v.map(Number)) },
  INT64: { type: 'int64', make: (v) => BigInt64Array.from(v.map((x) => BigInt(Math.trunc(Number(x))))) },
  UINT8: { type: 'uint8', make: (v) => Uint8Array.from(v.map(Number)) },
  UINT16: { type: 'uint16', make: (v) => Uint16Array.from(v.map(Number)) },
  UINT32: { type: 'uint32', make: (v) => Uint32Array.from(v.map(Number)) },
  UINT64: { type: 'uint64', make: (v) => BigUint64Array.from(v.map((x) => BigInt(Math.trunc(Number(x))))) },
  BOOL: { type: 'bool', make: (v) => Uint8Array.from(v.map((x) => (x === true || x === 'true' || Number(x) !== 0 ? 1 : 0))) },
  BYTES: { type: 'string', make: (v) => v.map(String) },
};

const DATATYPE_OF: Record<string, string> = Object.fromEntries(Object.entries(TYPED).map(([dt, t]) => [t.type, dt]));

/** Runs the inputs through the browser session; returns the outputs and the time of run() alone. */
export async function runInBrowser(model: BrowserModel, inputs: InputValue[]): Promise<{ outputs: Output[]; ms: number }> {
  const feeds: Record<string, OrtTensor> = {};
  for (const input of inputs) {
    const t = TYPED[input.datatype];
    if (!t) throw new Error(`onnxruntime-web cannot take ${input.datatype} input '${input.name}'`);
    feeds[input.name] = new model.ort.Tensor(t.type, t.make(input.data), input.shape);
  }
  const started = performance.now();
  const results = await model.session.run(feeds);
  const ms = performance.now() - started;
  model.runs++;
  const outputs = Object.entries(results).map(([name, tensor]): Output => {
    const raw = tensor.data as ArrayLike<number | bigint | string>;
    const data = Array.from(raw, (x) => (typeof x === 'bigint' ? Number(x) : x));
    return { name, datatype: DATATYPE_OF[tensor.type] ?? tensor.type, shape: [...tensor.dims], data: tensor.type === 'bool' ? data.map((x) => x === 1) : data };
  });
  return { outputs, ms };
}
