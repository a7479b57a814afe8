/**
 * One loaded version of a model: its batcher, its state, and what its backend loaded (the
 * instances: core/backend.ts). It has the backend load and warm the model before it reports
 * READY, keeps the model file open for download, and drains (finishes what is queued and
 * running) before it has the backend unload.
 */
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type { Backend, BackendInstance, BackendWarning, LoadedModel } from './backend.js';
import { DynamicBatcher } from './batcher.js';
import type { BatchObserver, RequestTiming } from './batcher.js';
import { BerthError, internal, unavailable } from './errors.js';
import type { ModelConfig } from './model-config.js';
import { preferredBatchSizes } from './model-config.js';
import type { Tensor } from './tensor.js';
import type { CancelSignal, JsonTextSpec, ModelState, TensorMetadata } from './types.js';
import { VersionStats } from './stats.js';
import { LoadedFile } from './loaded-file.js';

export interface ModelVersionOptions {
  name: string;
  version: string;
  path: string;
  config: ModelConfig;
  /** what runs it (chosen by the config from the server's BackendRegistry) */
  backend: Backend;
  /** the config file as written, for the backend's own settings (BackendLoadSpec.configFile) */
  configFile?: unknown;
  /** identifies the file's content at load time (to notice changes) */
  fingerprint?: string;
  /** the model as bytes when it was rewritten in memory (e.g. an opset upgrade) */
  modelBytes?: Uint8Array;
  observer?: BatchObserver;
  /** told about instance crashes, for logs and metrics */
  onInstanceCrash?: (reason: string) => void;
}

export class ModelVersion {
  readonly name: string;
  readonly version: string;
  readonly path: string;
  readonly config: ModelConfig;
  readonly fingerprint?: string;
  state: ModelState = 'LOADING';
  reason = '';
  inputs: TensorMetadata[] = [];
  outputs: TensorMetadata[] = [];
  batcher?: DynamicBatcher;
  /** why the warm-up inference (zero inputs) failed, if it did; the version serves anyway */
  warmupError?: string;
  /** what the backend found while loading that the operator should know (logged at warn) */
  warnings: readonly BackendWarning[] = [];
  /** milliseconds from start of load to READY */
  loadMs = 0;
  readonly stats = new VersionStats();
  private model?: LoadedModel;
  private closed = false;
  /** the model file as it was when loaded (what the download endpoint serves) */
  private file?: LoadedFile;

  constructor(private readonly options: ModelVersionOptions) {
    this.name = options.name;
    this.version = options.version;
    this.path = options.path;
    this.config = options.config;
    this.fingerprint = options.fingerprint;
  }

  /** the backend's name (Triton's `backend`: "onnxruntime") */
  get backendName(): string {
    return this.options.backend.name;
  }

  /** Triton's `platform` ("onnxruntime_onnx") */
  get platform(): string {
    return this.options.backend.platform;
  }

  /** batches that can run at once: the backend's live instances */
  get slots(): number {
    return this.model?.slots ?? 0;
  }

  get batching(): boolean {
    return this.batcher?.batching ?? false;
  }

  /** Loads and warms every instance. Never throws: failure leaves state UNAVAILABLE with a reason. */
  async load(): Promise<void> {
    const started = performance.now();
    try {
      // Opened before the workers read it: a FIFO or a device would block a worker forever,
      // a missing file gets a reason that names the version directory.
      this.file = await this.openModelFile();
      this.model = await this.options.backend.load({
        model: this.name,
        version: this.version,
        path: this.path,
        modelBytes: this.options.modelBytes,
        instances: this.config.instances,
        intraOpThreads: this.config.intraOpThreads,
        configFile: this.options.configFile,
        heldBytes: () => this.heldBytes(),
        events: {
          onInstanceCrash: (reason) => this.options.onInstanceCrash?.(reason),
          onCapacity: () => this.batcher?.schedule(),
          onUnavailable: (reason) => {
            this.state = 'UNAVAILABLE';
            this.reason = reason;
            this.batcher?.rejectAll(unavailable(reason));
          },
        },
      });
      this.inputs = [...this.model.inputs];
      this.outputs = [...this.model.outputs];
      this.warnings = this.model.warnings;
      const batchable = [...this.inputs, ...this.outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
      this.batcher = new DynamicBatcher(this.model, {
        maxBatchSize: this.config.maxBatchSize,
        maxQueueDelayUs: this.config.maxQueueDelayUs,
        preferredBatchSizes: preferredBatchSizes(this.config),
        maxQueueSize: this.config.maxQueueSize,
        defaultPriorityLevel: this.config.defaultPriorityLevel,
      }, batchable, {
        onExecution: (size, ns) => {
          this.stats.recordExecution(size, ns);
          this.options.observer?.onExecution?.(size, ns);
        },
      });
      // One inference per instance before READY, so the first real request is not the slow one.
      this.warmupError = await this.model.warmUp();
      // Replaced on disk while the workers were reading it: which bytes they loaded is not
      // known, so the file is not offered for download (the version serves all the same).
      if (!(await this.file.samePathAs(this.path))) await this.dropFile();
      this.loadMs = performance.now() - started;
      this.state = 'READY';
    } catch (err) {
      this.state = 'UNAVAILABLE';
      this.reason = `failed to load: ${err instanceof Error ? err.message : String(err)}`;
      const model = this.model;
      this.model = undefined;
      await model?.unload();
      await this.dropFile();
    }
  }

  private async openModelFile(): Promise<LoadedFile> {
    try {
      return await LoadedFile.open(this.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`${this.path}: no such file (a version directory needs a ${basename(this.path)})`);
      if (code === 'ELOOP') throw new Error(`${this.path}: a symbolic link loop`);
      if (code === 'EACCES' || code === 'EPERM') throw new Error(`${this.path}: permission denied`);
      throw err;
    }
  }

  private async dropFile(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  /**
   * The bytes this version was loaded from, while it is READY; undefined when it is not
   * loaded, or the file was rewritten in place or replaced during the load.
   */
  async modelFileStream(): Promise<{ stream: Readable; size: number } | undefined> {
    const file = this.file;
    if (this.state !== 'READY' || !file) return undefined;
    const stream = await file.stream();
    return stream ? { stream, size: file.size } : undefined;
  }

  /**
   * For an instance restarted after a crash: the bytes it must load when the file was replaced
   * on disk since the load (one version, one model); undefined when the path still holds them.
   */
  private async heldBytes(): Promise<Uint8Array | undefined> {
    if (this.file && !(await this.file.samePathAs(this.path))) return this.file.readAll();
    return undefined;
  }

  /** Queues a validated request; resolves with its outputs and timings. */
  infer(inputs: Tensor[], options: { priority?: number; timeoutUs?: number; signal?: CancelSignal; jsonText?: JsonTextSpec }): Promise<{ outputs: Tensor[]; timing: RequestTiming }> {
    if (this.state !== 'READY' || !this.batcher) {
      return Promise.reject(unavailable(`model '${this.name}' version ${this.version} is not ready${this.reason ? `: ${this.reason}` : ''}`));
    }
    return this.batcher.enqueue(inputs, options);
  }

  /** The backend's instances, for tests that simulate a crash. */
  get workerInstances(): readonly (BackendInstance | undefined)[] {
    return this.model?.instances ?? [];
  }

  /** Stops taking requests, finishes queued and running ones, then stops the workers. */
  async unload(): Promise<void> {
    if (this.closed) return;
    this.state = 'UNLOADING';
    await this.batcher?.whenIdle();
    this.closed = true;
    const model = this.model;
    this.model = undefined;
    await model?.unload();
    await this.dropFile();
    this.state = 'UNAVAILABLE';
    this.reason = 'unloaded';
  }

  /** Ends immediately, failing whatever is queued. */
  async abort(err: BerthError = internal('model unloaded')): Promise<void> {
    this.batcher?.rejectAll(err);
    await this.unload();
  }
}
