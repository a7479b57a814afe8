/**
 * One model instance: an onnxruntime-node session living in its own worker thread.
 * onnxruntime-node's run() is synchronous native code that blocks its thread for the whole
 * inference, so it must never run on the main thread, which only does I/O and batching.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { statSync } from 'node:fs';
import type { FromWorker, OpsetUpgrade, RequestTexts, TextPlan, ToWorker, WireTensor, WireValueMetadata } from './wire.js';
import { estimateTextBytes, forEachRequest, renderRequest, renderTexts, textTransferList } from './json-render.js';
import { decodeModel, defaultOpsetVersion, encodeModel, loadModel, readOpsetImports } from '../onnx/index.js';
import { fullRangeU8S8Weights, type SaturationRisk } from './int8-saturation.js';
import { RUNTIME_MIN_OPSET, RUNTIME_UPGRADE_OPSET, convertOpset } from '../convert/index.js';
import { ownedArray, transferList } from './wire.js';
import type { NumericArray } from '../core/tensor.js';

export interface SessionWorkerData {
  modelPath: string;
  /** the model as bytes instead of a path (e.g. after an in-memory opset upgrade) */
  modelBytes?: Uint8Array;
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /** look for full-range int8 weights that this CPU's u8s8 kernels can saturate (int8-saturation.ts) */
  checkInt8?: boolean;
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
    // Spinning intra-op threads burn the cores the main thread needs for HTTP between batches.
    ...(process.env.BERTH_ORT_SPIN === '1' ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
  };
  // onnxruntime-node rejects an explicit undefined; leave unset to get its default.
  if (data.intraOpNumThreads !== undefined) options.intraOpNumThreads = data.intraOpNumThreads;
  if (data.interOpNumThreads !== undefined) options.interOpNumThreads = data.interOpNumThreads;
  let session: ort.InferenceSession;
  let upgrade: OpsetUpgrade | undefined;
  try {
    ({ session, upgrade } = await createSession(options));
  } catch (err) {
    post({ kind: 'load-error', message: err instanceof Error ? err.message : String(err) });
    return;
  }
  post({ kind: 'ready', inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata), upgrade, int8Risk: data.checkInt8 ? await int8Risk() : undefined });

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
    void run(session, message.id, message.feeds, message.outputNames, message.text);
  });
}

/**
 * Creates the session. Models older than onnxruntime supports (opset < 7) are upgraded to
 * opset 13 in memory first; a model whose kernels onnxruntime no longer has ("Could not find an
 * implementation") is retried once upgraded. Both happen here, off the main thread.
 */
async function createSession(options: ort.InferenceSession.SessionOptions): Promise<{ session: ort.InferenceSession; upgrade?: OpsetUpgrade }> {
  if (data.modelBytes) return { session: await ort.InferenceSession.create(data.modelBytes, options) };
  let opset: number | undefined;
  try {
    opset = defaultOpsetVersion(readOpsetImports(data.modelPath, statSync(data.modelPath).size));
  } catch {
    // not a readable ModelProto: let onnxruntime report the problem in its own words
  }
  const upgraded = async (): Promise<{ session: ort.InferenceSession; upgrade: OpsetUpgrade }> => {
    const { model, report } = convertOpset(await loadModel(data.modelPath), RUNTIME_UPGRADE_OPSET);
    const changes = report.summary.map((c) => `${c.from} → ${c.to}: ${c.change}${c.count > 1 ? ` (${c.count} nodes)` : ''}`);
    const session = await ort.InferenceSession.create(encodeModel(model), options);
    return { session, upgrade: { from: opset!, to: RUNTIME_UPGRADE_OPSET, changes } };
  };
  if (opset !== undefined && opset < RUNTIME_MIN_OPSET) return upgraded();
  try {
    return { session: await ort.InferenceSession.create(data.modelPath, options) };
  } catch (err) {
    const missingKernel = err instanceof Error && /Could not find an implementation/.test(err.message);
    if (!missingKernel || opset === undefined || opset >= RUNTIME_UPGRADE_OPSET) throw err;
    try {
      return await upgraded();
    } catch {
      throw err; // the original error says more than the failed upgrade
    }
  }
}

/** Reads the model once more (off the main thread) to look for u8s8 saturation; never fails the load. */
async function int8Risk(): Promise<SaturationRisk | undefined> {
  try {
    return fullRangeU8S8Weights(data.modelBytes ? decodeModel(data.modelBytes) : await loadModel(data.modelPath));
  } catch {
    return undefined;
  }
}

async function run(session: ort.InferenceSession, id: number, feeds: WireTensor[], outputNames?: string[], text?: TextPlan): Promise<void> {
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
    // JSON text is rendered here, on this thread, so the main thread only writes bytes. A
    // rendering failure costs only the speed-up: the front end renders from the tensors then.
    if (text && shouldStream(outputs, text)) {
      // Large answers: the tensors go back first (copies: this thread still renders from its
      // own), then the texts a few requests at a time, so the main thread writes the first
      // answers while the later ones are rendered, instead of after all of them.
      const copies = outputs.map((o) => (Array.isArray(o.data) ? o : { ...o, data: (o.data as NumericArray).slice() }));
      post({ kind: 'result', id, outputs: copies, textsFollow: true }, transferList(copies));
      streamTexts(id, outputs, text);
      return;
    }
    let texts: RequestTexts[] | undefined;
    try {
      if (text) texts = renderTexts(outputs, text);
    } catch {
      texts = undefined;
    }
    post({ kind: 'result', id, outputs, texts }, [...transferList(outputs), ...(texts ? textTransferList(texts) : [])]);
  } catch (err) {
    post({ kind: 'error', id, message: err instanceof Error ? err.message : String(err) });
  }
}

/** Batches whose texts come to less than this go back in one message with the tensors. */
const STREAM_MIN_BYTES = 48 * 1024;
/** Texts are sent once this much is rendered (after the first request, sent alone). */
const STREAM_GROUP_BYTES = 24 * 1024;

function shouldStream(outputs: readonly WireTensor[], text: TextPlan): boolean {
  return text.rows.length > 1 && estimateTextBytes(outputs, text) >= STREAM_MIN_BYTES;
}

function streamTexts(id: number, outputs: readonly WireTensor[], text: TextPlan): void {
  let from = 0;
  let group: RequestTexts[] = [];
  let bytes = 0;
  const flush = (): void => {
    post({ kind: 'texts', id, from, texts: group }, textTransferList(group));
    from += group.length;
    group = [];
    bytes = 0;
  };
  forEachRequest(text, (i, firstRow, total) => {
    let rendered: RequestTexts;
    try {
      rendered = renderRequest(outputs, text, i, firstRow, total);
    } catch {
      rendered = undefined; // this answer is rendered by the front end instead
    }
    group.push(rendered);
    for (const t of Object.values(rendered ?? {})) bytes += t.bytes.byteLength;
    if (i === 0 || bytes >= STREAM_GROUP_BYTES) flush();
  });
  if (group.length > 0) flush();
}

void main();
