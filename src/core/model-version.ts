/**
 * One loaded version of a model: its worker instances, its batcher and its state. It loads and
 * warms every instance before it reports READY, replaces an instance that crashes, and drains
 * (finishes what is queued and running) before it closes.
 */
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { WorkerInstance } from '../runtime/instance.js';
import type { InstanceSignature } from '../runtime/instance.js';
import { fromWire, toWire } from '../runtime/wire.js';
import { detectCpuFeatures, u8s8Saturates } from '../runtime/cpu-features.js';
import type { SaturationRisk } from '../runtime/int8-saturation.js';
import type { OpsetUpgrade, TextPlan, WireValueMetadata } from '../runtime/wire.js';
import { DynamicBatcher } from './batcher.js';
import type { BatchObserver, BatchResult, Executor, RequestTiming } from './batcher.js';
import { BerthError, internal, unavailable } from './errors.js';
import type { ModelConfig } from './model-config.js';
import { preferredBatchSizes } from './model-config.js';
import type { Datatype, Tensor } from './tensor.js';
import { DATATYPES, datatypeFromOrt } from './tensor.js';
import type { CancelSignal, JsonTextSpec, ModelState, TensorMetadata } from './types.js';
import { VersionStats } from './stats.js';
import { LoadedFile } from './loaded-file.js';

export interface ModelVersionOptions {
  name: string;
  version: string;
  path: string;
  config: ModelConfig;
  /** identifies the file's content at load time (to notice changes) */
  fingerprint?: string;
  /** the model as bytes when it was rewritten in memory (e.g. an opset upgrade) */
  modelBytes?: Uint8Array;
  observer?: BatchObserver;
  /** told about instance crashes, for logs and metrics */
  onInstanceCrash?: (reason: string) => void;
}

function toMetadata(meta: WireValueMetadata, role: string): TensorMetadata {
  if (meta.type === undefined) throw new Error(`${role} '${meta.name}' is not a tensor (sequences and maps are not served)`);
  const datatype: Datatype | undefined = datatypeFromOrt(meta.type);
  if (!datatype) throw new Error(`${role} '${meta.name}' has type ${meta.type}, which the inference protocol cannot carry`);
  const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  const dimNames = meta.shape.map((d) => (typeof d === 'string' ? d : null));
  return dimNames.some((d) => d !== null) ? { name: meta.name, datatype, shape, dimNames } : { name: meta.name, datatype, shape };
}

/** A zero tensor for warm-up: dynamic dimensions become 1. */
function warmupTensor(meta: TensorMetadata): Tensor {
  const shape = meta.shape.map((d) => (d < 0 ? 1 : d));
  const count = shape.reduce((a, b) => a * b, 1);
  if (meta.datatype === 'BYTES') return { name: meta.name, datatype: 'BYTES', shape, data: Array.from({ length: count }, () => Buffer.alloc(0)) };
  const Ctor = DATATYPES[meta.datatype].array!;
  return { name: meta.name, datatype: meta.datatype, shape, data: new Ctor(count) };
}

export class ModelVersion implements Executor {
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
  /** set when an old model was upgraded to a newer opset in memory to load */
  upgrade?: OpsetUpgrade;
  /** set when the model's full-range int8 weights can saturate this CPU's u8s8 kernels (no VNNI) */
  int8Risk?: SaturationRisk;
  /** milliseconds from start of load to READY */
  loadMs = 0;
  readonly stats = new VersionStats();
  private instances: (WorkerInstance | undefined)[] = [];
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

  get slots(): number {
    return this.instances.filter((i) => i?.alive).length;
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
      const count = Math.max(1, this.config.instances);
      // Only on a CPU without VNNI, and by one instance: the check reads the model once more.
      const checkInt8 = u8s8Saturates(detectCpuFeatures().target);
      const created = await Promise.allSettled(Array.from({ length: count }, (_, i) => this.startInstance(checkInt8 && i === 0)));
      const failure = created.find((r) => r.status === 'rejected');
      this.instances = created.map((r) => (r.status === 'fulfilled' ? r.value.instance : undefined));
      if (failure) throw (failure as PromiseRejectedResult).reason;
      const signature = (created[0] as PromiseFulfilledResult<{ signature: InstanceSignature }>).value.signature;
      this.upgrade = signature.upgrade;
      this.int8Risk = signature.int8Risk;
      this.inputs = signature.inputs.map((m) => toMetadata(m, 'input'));
      this.outputs = signature.outputs.map((m) => toMetadata(m, 'output'));
      const batchable = [...this.inputs, ...this.outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
      this.batcher = new DynamicBatcher(this, {
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
      // Zeros are not valid input for every model (a Reshape shape, a divisor): the session
      // already proved the model loads, so a failed warm-up is reported, not fatal.
      // Fresh tensors per instance: run() transfers their buffers to the worker thread, and a
      // detached buffer posted again is silently dropped (the second warm-up would never answer).
      const results = await Promise.allSettled(this.instances.map((i) => i!.run(this.inputs.map(warmupTensor).map(toWire))));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) this.warmupError = String((failed as PromiseRejectedResult).reason?.message ?? (failed as PromiseRejectedResult).reason);
      // Replaced on disk while the workers were reading it: which bytes they loaded is not
      // known, so the file is not offered for download (the version serves all the same).
      if (!(await this.file.samePathAs(this.path))) await this.dropFile();
      this.loadMs = performance.now() - started;
      this.state = 'READY';
    } catch (err) {
      this.state = 'UNAVAILABLE';
      this.reason = `failed to load: ${err instanceof Error ? err.message : String(err)}`;
      await Promise.all(this.instances.map((i) => i?.close()));
      this.instances = [];
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

  private async startInstance(checkInt8 = false): Promise<{ instance: WorkerInstance; signature: InstanceSignature }> {
    // An instance restarted after a crash loads what its siblings loaded: when the file was
    // replaced on disk since, the held bytes, not the new file (one version, one model).
    let modelBytes = this.options.modelBytes;
    if (!modelBytes && this.file && !(await this.file.samePathAs(this.path))) modelBytes = await this.file.readAll();
    const instance = new WorkerInstance({
      checkInt8,
      modelPath: this.path,
      modelBytes,
      intraOpNumThreads: this.config.intraOpThreads,
    });
    instance.onCrash = (reason) => void this.replace(instance, reason);
    try {
      return { instance, signature: await instance.ready };
    } catch (err) {
      await instance.close();
      throw err;
    }
  }

  /** A worker died: start a fresh one in its slot so the version keeps serving. */
  private async replace(dead: WorkerInstance, reason: string): Promise<void> {
    this.options.onInstanceCrash?.(reason);
    if (this.closed) return;
    const index = this.instances.indexOf(dead);
    if (index < 0) return;
    this.instances[index] = undefined;
    try {
      const { instance } = await this.startInstance();
      if (this.closed) {
        await instance.close();
        return;
      }
      this.instances[index] = instance;
      this.batcher?.schedule();
    } catch (err) {
      if (this.slots === 0) {
        this.state = 'UNAVAILABLE';
        this.reason = `model instance crashed and could not be restarted: ${err instanceof Error ? err.message : String(err)}`;
        this.batcher?.rejectAll(unavailable(this.reason));
      }
    }
  }

  /** Executor: runs one (batched) set of inputs on a free instance, rendering JSON text if asked. */
  async run(inputs: Tensor[], text?: TextPlan): Promise<BatchResult> {
    const instance = this.instances.find((i) => i?.alive && i.inFlight === 0) ?? this.instances.find((i) => i?.alive);
    if (!instance) throw unavailable(`model '${this.name}' version ${this.version} has no running instance`, 1);
    const result = await instance.run(inputs.map(toWire), undefined, text);
    return { outputs: result.outputs.map(fromWire), texts: result.texts };
  }

  /** Queues a validated request; resolves with its outputs and timings. */
  infer(inputs: Tensor[], options: { priority?: number; timeoutUs?: number; signal?: CancelSignal; jsonText?: JsonTextSpec }): Promise<{ outputs: Tensor[]; timing: RequestTiming }> {
    if (this.state !== 'READY' || !this.batcher) {
      return Promise.reject(unavailable(`model '${this.name}' version ${this.version} is not ready${this.reason ? `: ${this.reason}` : ''}`));
    }
    return this.batcher.enqueue(inputs, options);
  }

  /** Instances, for tests that simulate a crash. */
  get workerInstances(): readonly (WorkerInstance | undefined)[] {
    return this.instances;
  }

  /** Stops taking requests, finishes queued and running ones, then stops the workers. */
  async unload(): Promise<void> {
    if (this.closed) return;
    this.state = 'UNLOADING';
    await this.batcher?.whenIdle();
    this.closed = true;
    await Promise.all(this.instances.map((i) => i?.close()));
    this.instances = [];
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
