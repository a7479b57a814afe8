/**
 * Hooks for monitoring: the core tells observers about every request, batch, load and crash,
 * and knows nothing of what they do with it (metrics, logs, capture, drift live in monitor/).
 * Observers run synchronously on the hot path, so they must be cheap and must not throw.
 * An observer that needs a request's inputs after the request ended (capture, drift) samples
 * it as it enters (sampleRequest): the core then hands it a copy taken before the backend ran.
 */
import type { ErrorCode, ShedReason } from './errors.js';
import type { Tensor } from './tensor.js';

export interface RequestRecord {
  model: string;
  /** empty when the request failed before a version was chosen (e.g. unknown model) */
  version: string;
  /** the client's id, if it sent one */
  id?: string;
  /** always set: the x-request-id sent, else the client's id, else one the server made up */
  requestId: string;
  outcome: 'success' | 'failure';
  errorCode?: ErrorCode;
  errorMessage?: string;
  /** set when the core shed the request (full queue, expired queue timeout) */
  shedReason?: ShedReason;
  /** rows (first dimension) for batching models, else 1 */
  rows: number;
  inputs: readonly Tensor[];
  outputs?: readonly Tensor[];
  /** wall time in the core, nanoseconds */
  durationNs: number;
  queueNs: number;
  computeNs: number;
  /** ms since the epoch when the request reached the core */
  startedAt: number;
  /** front end that carried it: rest, grpc, v1 */
  protocol?: string;
}

export interface InferenceObserver {
  onRequest?(record: RequestRecord): void;
  /**
   * Asked as a request enters the core, before a backend may take its input buffers (the
   * onnxruntime backend transfers them to a worker thread; afterwards they are unreadable).
   * Return a mark (any value but undefined) to sample the request: when it ends, right after
   * onRequest, onSampledRequest gets its record, a copy of its inputs and the mark back. The
   * core copies the inputs once however many observers ask, and only when one does.
   */
  sampleRequest?(model: string): unknown;
  /** A request this observer sampled has ended (success or failure): `inputs` is the core's copy, the observer's to keep. */
  onSampledRequest?(record: RequestRecord, inputs: readonly Tensor[], mark: unknown): void;
  onExecution?(model: string, version: string, batchSize: number, computeNs: number): void;
  onModelLoaded?(model: string, version: string, loadMs: number): void;
  onModelUnloaded?(model: string, version: string): void;
  onInstanceCrash?(model: string, version: string, reason: string): void;
}

/**
 * The id a prediction is known by to feedback and capture: the client's own id when it sent
 * one (so labels posted with that id still join behind a balancer that adds x-request-id),
 * else the request id.
 */
export function predictionId(record: Pick<RequestRecord, 'id' | 'requestId'>): string {
  return record.id || record.requestId;
}
