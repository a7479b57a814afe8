/**
 * The backend interface: what the serving core needs of whatever runs a model. The core
 * (ModelVersion, the batcher) queues, batches, routes and counts; a backend loads a model
 * version, warms it up, runs batches on its instances and unloads it. onnxruntime in worker
 * threads is one (runtime/onnx-backend.ts); a generative decoder engine is meant to be another.
 *
 * A leaf module: it imports nothing of berth but the tensor and request types, so backends
 * (runtime/) can implement it without importing the core's internals, and the core never
 * imports a backend: the server injects them (a BackendRegistry, core/backends.ts).
 */
import type { JsonText, Tensor } from './tensor.js';
import type { CancelSignal, JsonTextSpec, TensorMetadata } from './types.js';

/**
 * JSON text to render after a batch runs: the batch's requests in order, their rows (how the
 * batch splits along dimension 0) and what each wants rendered (undefined: nothing).
 */
export interface TextPlan {
  rows: number[];
  specs: (JsonTextSpec | undefined)[];
}

/** Per request of the batch: its outputs' JSON text by output name (undefined: none asked). */
export type RequestTexts = Record<string, JsonText> | undefined;

/**
 * A batch's outputs, and per request the JSON text its outputs were rendered to (if asked). A
 * text may still be coming (a promise): a backend that renders large answers a few at a time
 * hands the tensors back first, so the front end answers each request as its text is ready.
 * Such a promise never rejects; it resolves undefined when the text cannot be had.
 */
export interface BatchResult {
  outputs: Tensor[];
  texts?: (RequestTexts | Promise<RequestTexts>)[];
}

/**
 * Where a batch runs. The batcher calls run() at most `slots` times at once; a backend's loaded
 * model is one, and tests use in-process ones.
 */
export interface Executor {
  /** number of batches that may run at once (e.g. the live instance count) */
  readonly slots: number;
  /**
   * true when run() honours the requests' cancel signals (a running batch can be stopped);
   * only then does the batcher hand them over. Requests cancelled while queued never run either way.
   */
  readonly cancelsRuns?: boolean;
  /**
   * Runs one batch. `text`: the JSON text to render per request (an executor that renders none
   * may return the tensors alone). `signals`: per request of the batch, when cancelsRuns is set.
   */
  run(inputs: Tensor[], text?: TextPlan, signals?: readonly (CancelSignal | undefined)[]): Promise<Tensor[] | BatchResult>;
}

/** Called by a loaded model about what happens to its instances after the load. */
export interface BackendEvents {
  /** an instance died (its in-flight batch failed); the backend is starting a replacement */
  onInstanceCrash(reason: string): void;
  /** an instance came back: a slot is free again, queued batches may go */
  onCapacity(): void;
  /** nothing can run any more (instances died and could not be restarted); `reason` says why */
  onUnavailable(reason: string): void;
}

/** What a backend is given to load one model version. */
export interface BackendLoadSpec {
  /** model name and version, for messages */
  model: string;
  version: string;
  /** the model file (a version directory's model.onnx, say) */
  path: string;
  /** the model as bytes when it was rewritten in memory: load these instead of reading `path` */
  modelBytes?: Uint8Array;
  /** instances to run (batches at once); at least 1 */
  instances: number;
  /** threads per instance for one operator; undefined: the backend's default */
  intraOpThreads?: number;
  /**
   * The model's config.json as written (or the load request's override), for settings of the
   * backend's own (a decoder's cache size, say): the backend validates what it reads. The
   * core's settings (batching, instances, versions) are already applied.
   */
  configFile?: unknown;
  /**
   * The bytes the version was loaded from, when the file at `path` has been replaced since
   * (an instance restarted after a crash must load what its siblings did); undefined when
   * `path` still holds them.
   */
  heldBytes(): Promise<Uint8Array | undefined>;
  events: BackendEvents;
}

/** One instance of a loaded model, as tests and fault injection see it. */
export interface BackendInstance {
  readonly alive: boolean;
  /** runs in progress on this instance */
  readonly inFlight: number;
  /** fault injection (tests, chaos drills): the instance dies during its next run */
  crashOnNextRun(): void;
}

/** Something the operator should know about a loaded model: logged at warn with its fields. */
export interface BackendWarning {
  message: string;
  fields: Record<string, unknown>;
}

/** A model version loaded by a backend: its signature, its instances, and how to run and unload it. */
export interface LoadedModel extends Executor {
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
  /** found while loading (an in-memory opset upgrade, int8 weights this CPU may saturate...) */
  readonly warnings: readonly BackendWarning[];
  /** the instances, in slot order (undefined: a slot whose replacement is starting) */
  readonly instances: readonly (BackendInstance | undefined)[];
  /**
   * One inference per instance before the version reports ready, so the first real request is
   * not the slow one. Resolves with why it failed (the version serves anyway), else undefined.
   */
  warmUp(): Promise<string | undefined>;
  /** Stops every instance once it has finished what it is running. */
  unload(): Promise<void>;
}

/** A kind of backend: loads model versions. Registered by name in a BackendRegistry. */
export interface Backend {
  /** the config's `backend` value that selects it (Triton's name: "onnxruntime") */
  readonly name: string;
  /** Triton's `platform` for its models ("onnxruntime_onnx"): the config's `platform` may name it instead */
  readonly platform: string;
  /** Loads (does not warm up) a model version; rejects with why it cannot. */
  load(spec: BackendLoadSpec): Promise<LoadedModel>;
}
