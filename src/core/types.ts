import type { Datatype, Tensor } from './tensor.js';

/** Request-level parameters; Triton reserves `priority`, `timeout` (µs), `binary_data_output`. */
export type Parameters = Record<string, string | number | boolean>;

export interface RequestedOutput {
  name: string;
  parameters?: Parameters;
}

/**
 * What the core needs of a cancellation signal. An AbortSignal satisfies it; the HTTP front
 * end passes a cheaper one (http/client-gone-signal.ts), because an AbortController per
 * request is a measurable share of a small model's main-thread time.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A protocol-neutral inference request, produced by the HTTP and gRPC front ends. */
export interface InferRequest {
  modelName: string;
  /** absent: the model's version policy picks one */
  modelVersion?: string;
  /** the request's own id (V2 body `id`, gRPC `id`), answered back in the response body */
  id?: string;
  /**
   * The correlation id a client or balancer sent (`x-request-id`, checked by core/request-id.ts):
   * the request's requestId in logs and traces when present, beside `id`.
   */
  requestId?: string;
  inputs: Tensor[];
  /** absent: every output */
  outputs?: RequestedOutput[];
  parameters?: Parameters;
  /** Set by the front end: aborted when the client goes away (an AbortSignal will do). */
  signal?: CancelSignal;
  /** which front end carried it (rest, grpc, v1), for logs and metrics */
  protocol?: string;
  /**
   * Sticky routing: requests with the same key always reach the same version while a canary
   * is running (REST header `x-berth-route-key`, gRPC request parameter `route_key`).
   */
  routeKey?: string;
  /**
   * Outputs the front end will answer as JSON: the worker thread that runs the batch renders
   * their text (Tensor.json), so the event loop only copies bytes.
   */
  jsonText?: JsonTextSpec;
}

/** Which outputs of one request to render as JSON text, how, and how much of it at most. */
export interface JsonTextSpec {
  /** output names; absent: every output */
  outputs?: string[];
  /** 'flat': the v2 `data` array; 'rows': nested by shape, one item per row (V1 predictions) */
  layout: 'flat' | 'rows';
  /** most bytes of JSON text for all of the request's outputs together */
  maxBytes: number;
}

export interface InferResponse {
  modelName: string;
  modelVersion: string;
  id?: string;
  /** the client's id, or one the server assigned; what feedback and logs refer to */
  requestId?: string;
  outputs: Tensor[];
  parameters?: Parameters;
}

export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  /** -1 for a dynamic dimension */
  shape: number[];
  /** symbolic names of dynamic dimensions, where the model has them (e.g. "batch") */
  dimNames?: (string | null)[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export type ModelState = 'LOADING' | 'READY' | 'UNAVAILABLE' | 'UNLOADING';

export interface ModelVersionStatus {
  name: string;
  version: string;
  state: ModelState;
  /** why it is not ready (load error), empty when ready */
  reason: string;
}
