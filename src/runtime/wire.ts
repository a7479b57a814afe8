/**
 * How tensors cross the worker_threads boundary: plain objects whose numeric data is a typed
 * array that owns its whole ArrayBuffer, so it can go in the transfer list (moved, not copied).
 */
import type { Datatype, NumericArray, Tensor } from '../core/tensor.js';
import type { RequestTexts, TextPlan } from '../core/backend.js';
import { DATATYPES, datatypeFromOrt } from '../core/tensor.js';
import type { SaturationRisk } from './int8-saturation.js';

export interface WireTensor {
  name: string;
  /** onnxruntime type string: 'float32', 'int64', 'string', ... */
  type: string;
  dims: number[];
  data: NumericArray | string[];
}

export interface WireValueMetadata {
  name: string;
  /** undefined for non-tensor values (sequences, maps) */
  type?: string;
  shape: (number | string)[];
}

/** An opset upgrade applied in memory while loading an old model. */
export interface OpsetUpgrade {
  from: number;
  to: number;
  changes: string[];
}

// The JSON text plan and per-request texts are the backend interface's (core/backend.ts, a leaf).
export type { RequestTexts, TextPlan } from '../core/backend.js';

/** Main → worker messages. */
export type ToWorker =
  | { kind: 'run'; id: number; feeds: WireTensor[]; outputNames?: string[]; text?: TextPlan }
  | { kind: 'close' }
  /** fault injection: die with an uncaught error during the next run (tests, chaos drills) */
  | { kind: 'crash-on-next-run' };

/** Worker → main messages. */
export type FromWorker =
  | { kind: 'ready'; inputs: WireValueMetadata[]; outputs: WireValueMetadata[]; upgrade?: OpsetUpgrade; int8Risk?: SaturationRisk }
  | { kind: 'load-error'; message: string }
  /** `textsFollow`: the requests' texts come after, in 'texts' messages, in request order */
  | { kind: 'result'; id: number; outputs: WireTensor[]; texts?: RequestTexts[]; textsFollow?: boolean }
  /** texts of requests [from, from + texts.length) of run `id` */
  | { kind: 'texts'; id: number; from: number; texts: RequestTexts[] }
  | { kind: 'error'; id: number; message: string };

/**
 * Returns a typed array that owns its buffer: a view into a larger buffer (a request body, the
 * Buffer pool) is copied, because transferring it would detach memory others still use and
 * structured-cloning it would copy the whole underlying buffer.
 */
export function ownedArray(a: NumericArray): NumericArray {
  const buffer = a.buffer as ArrayBufferLike;
  if (!(buffer instanceof ArrayBuffer) || a.byteOffset !== 0 || a.byteLength !== buffer.byteLength) return a.slice();
  return a;
}

/** Collects the ArrayBuffers of numeric wire tensors, for postMessage's transfer list. */
export function transferList(tensors: readonly WireTensor[]): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const t of tensors) {
    if (!Array.isArray(t.data)) list.push((t.data as NumericArray).buffer as ArrayBuffer);
  }
  return list;
}

export function toWire(tensor: Tensor): WireTensor {
  const info = DATATYPES[tensor.datatype];
  if (tensor.datatype === 'BYTES') {
    return { name: tensor.name, type: info.ort, dims: tensor.shape, data: (tensor.data as Buffer[]).map((b) => b.toString('utf8')) };
  }
  return { name: tensor.name, type: info.ort, dims: tensor.shape, data: ownedArray(tensor.data as NumericArray) };
}

export function fromWire(wire: WireTensor): Tensor {
  const datatype: Datatype | undefined = datatypeFromOrt(wire.type);
  if (!datatype) throw new Error(`output '${wire.name}' has type ${wire.type}, which the protocol cannot carry`);
  if (datatype === 'BYTES') {
    return { name: wire.name, datatype, shape: wire.dims, data: (wire.data as string[]).map((s) => Buffer.from(s, 'utf8')) };
  }
  let data = wire.data as NumericArray;
  // onnxruntime hands bool tensors back as Uint8Array already; keep the protocol's byte layout.
  if (datatype === 'BOOL' && !(data instanceof Uint8Array)) data = Uint8Array.from(data as ArrayLike<number>);
  return { name: wire.name, datatype, shape: wire.dims, data };
}
