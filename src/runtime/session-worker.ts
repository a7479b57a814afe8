/**
 * One model instance: an onnxruntime-node session living in its own worker thread.
 * onnxruntime-node's run() is synchronous native code that blocks its thread for the whole
 * inference, so it must never run on the main thread, which only does I/O and batching.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { FromWorker, ToWorker, WireTensor, WireValueMetadata } from './wire.js';
import { ownedArray, transferList } from './wire.js';
import type { NumericArray } from '../core/tensor.js';

export interface SessionWorkerData {
  modelPath: string;
  /** the model as bytes instead of a path (e.g. after an in-memory opset upgrade) */
  modelBytes?: Uint8Array;
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
}

const port = parentPort!;
const data = workerData as SessionWorkerData;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[]): WireValueMetadata[] {
  return metadata.map((m) =>
    m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: undefined, shape: [] },
  );
}

async function main(): Promise<void> {
  const options: ort.InferenceSession.SessionOptions = {
    logSeverityLevel: 3,
    graphOptimizationLevel: 'all',
  };
  // onnxruntime-node rejects an explicit undefined; leave unset to get its default.
  if (data.intraOpNumThreads !== undefined) options.intraOpNumThreads = data.intraOpNumThreads;
  if (data.interOpNumThreads !== undefined) options.interOpNumThreads = data.interOpNumThreads;
  let session: ort.InferenceSession;
  try {
    session = data.modelBytes
      ? await ort.InferenceSession.create(data.modelBytes, options)
      : await ort.InferenceSession.create(data.modelPath, options);
  } catch (err) {
    post({ kind: 'load-error', message: err instanceof Error ? err.message : String(err) });
    return;
  }
  post({ kind: 'ready', inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) });

  let crashOnNextRun = false;
  port.on('message', (message: ToWorker) => {
    if (message.kind === 'close') {
      void session.release().finally(() => port.close());
      return;
    }
    if (message.kind === 'crash-on-next-run') {
      crashOnNextRun = true;
      return;
    }
    if (crashOnNextRun) {
      // An uncaught error kills this thread the way a fatal bug would, mid-request.
      setImmediate(() => {
        throw new Error('simulated crash (fault injection)');
      });
      return;
    }
    void run(session, message.id, message.feeds, message.outputNames);
  });
}

async function run(session: ort.InferenceSession, id: number, feeds: WireTensor[], outputNames?: string[]): Promise<void> {
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const f of feeds) inputs[f.name] = new ort.Tensor(f.type as ort.Tensor.Type, f.data as ort.Tensor.DataType, f.dims);
    const results = outputNames ? await session.run(inputs, outputNames) : await session.run(inputs);
    const outputs: WireTensor[] = [];
    for (const [name, value] of Object.entries(results)) {
      const tensor = value as ort.Tensor;
      const out = tensor.type === 'string' ? (tensor.data as string[]) : ownedArray(tensor.data as NumericArray);
      outputs.push({ name, type: tensor.type, dims: [...tensor.dims], data: out });
    }
    post({ kind: 'result', id, outputs }, transferList(outputs));
  } catch (err) {
    post({ kind: 'error', id, message: err instanceof Error ? err.message : String(err) });
  }
}

void main();
