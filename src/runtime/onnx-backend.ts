/**
 * The onnxruntime backend: a model version runs on `instances` worker threads, each holding
 * one onnxruntime session (instance.ts). It loads every instance, replaces one that crashes,
 * renders JSON text in the worker that ran the batch, and closes them when asked.
 */
import type { Backend, BackendLoadSpec, BackendWarning, BatchResult, LoadedModel, TextPlan } from '../core/backend.js';
import { unavailable } from '../core/errors.js';
import type { Datatype, Tensor } from '../core/tensor.js';
import { DATATYPES, datatypeFromOrt } from '../core/tensor.js';
import type { TensorMetadata } from '../core/types.js';
import { WorkerInstance } from './instance.js';
import type { InstanceSignature } from './instance.js';
import { fromWire, toWire } from './wire.js';
import type { WireValueMetadata } from './wire.js';
import { describeCpu, detectCpuFeatures, u8s8Saturates } from './cpu-features.js';
import { int8RiskMessage } from './int8-saturation.js';

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

/** What the operator is told about a model this backend loaded. */
function loadWarnings(spec: BackendLoadSpec, signature: InstanceSignature): BackendWarning[] {
  const warnings: BackendWarning[] = [];
  const { model, version } = spec;
  const upgrade = signature.upgrade;
  if (upgrade) {
    warnings.push({
      fields: { from_opset: upgrade.from, to_opset: upgrade.to, changes: upgrade.changes },
      message: `model '${model}' version ${version} uses opset ${upgrade.from}, older than onnxruntime supports: upgraded to opset ${upgrade.to} in memory (the file is unchanged)`,
    });
  }
  const risk = signature.int8Risk;
  if (risk) {
    const cpu = describeCpu(detectCpuFeatures());
    warnings.push({ fields: { cpu, int8_nodes: risk.nodes }, message: int8RiskMessage(model, version, risk, cpu) });
  }
  return warnings;
}

/** One model version on onnxruntime worker threads. */
class OnnxModel implements LoadedModel {
  inputs: TensorMetadata[] = [];
  outputs: TensorMetadata[] = [];
  warnings: BackendWarning[] = [];
  /** onnxruntime's run() cannot be stopped safely once started (terminating the thread aborts the process) */
  readonly cancelsRuns = false;
  private workers: (WorkerInstance | undefined)[] = [];
  private closed = false;

  constructor(private readonly spec: BackendLoadSpec) {}

  get slots(): number {
    let n = 0;
    for (const w of this.workers) if (w?.alive) n++;
    return n;
  }

  get instances(): readonly (WorkerInstance | undefined)[] {
    return this.workers;
  }

  async load(): Promise<void> {
    const count = Math.max(1, this.spec.instances);
    // Only on a CPU without VNNI, and by one instance: the check reads the model once more.
    const checkInt8 = u8s8Saturates(detectCpuFeatures().target);
    const created = await Promise.allSettled(Array.from({ length: count }, (_, i) => this.startInstance(checkInt8 && i === 0)));
    const failure = created.find((r) => r.status === 'rejected');
    this.workers = created.map((r) => (r.status === 'fulfilled' ? r.value.instance : undefined));
    try {
      if (failure) throw (failure as PromiseRejectedResult).reason;
      const signature = (created[0] as PromiseFulfilledResult<{ signature: InstanceSignature }>).value.signature;
      this.inputs = signature.inputs.map((m) => toMetadata(m, 'input'));
      this.outputs = signature.outputs.map((m) => toMetadata(m, 'output'));
      this.warnings = loadWarnings(this.spec, signature);
    } catch (err) {
      await this.unload();
      throw err;
    }
  }

  async warmUp(): Promise<string | undefined> {
    // Zeros are not valid input for every model (a Reshape shape, a divisor): the session
    // already proved the model loads, so a failed warm-up is reported, not fatal.
    // Fresh tensors per instance: run() transfers their buffers to the worker thread, and a
    // detached buffer posted again is silently dropped (the second warm-up would never answer).
    const results = await Promise.allSettled(this.workers.map((i) => i!.run(this.inputs.map(warmupTensor).map(toWire))));
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    return failed ? String(failed.reason?.message ?? failed.reason) : undefined;
  }

  private async startInstance(checkInt8 = false): Promise<{ instance: WorkerInstance; signature: InstanceSignature }> {
    // An instance restarted after a crash loads what its siblings loaded: when the file was
    // replaced on disk since, the held bytes, not the new file (one version, one model).
    const modelBytes = this.spec.modelBytes ?? await this.spec.heldBytes();
    const instance = new WorkerInstance({
      checkInt8,
      modelPath: this.spec.path,
      modelBytes,
      intraOpNumThreads: this.spec.intraOpThreads,
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
    this.spec.events.onInstanceCrash(reason);
    if (this.closed) return;
    const index = this.workers.indexOf(dead);
    if (index < 0) return;
    this.workers[index] = undefined;
    try {
      const { instance } = await this.startInstance();
      if (this.closed) {
        await instance.close();
        return;
      }
      this.workers[index] = instance;
      this.spec.events.onCapacity();
    } catch (err) {
      if (this.slots === 0) this.spec.events.onUnavailable(`model instance crashed and could not be restarted: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Runs one (batched) set of inputs on a free instance, rendering JSON text if asked. */
  async run(inputs: Tensor[], text?: TextPlan): Promise<BatchResult> {
    const instance = this.workers.find((i) => i?.alive && i.inFlight === 0) ?? this.workers.find((i) => i?.alive);
    if (!instance) throw unavailable(`model '${this.spec.model}' version ${this.spec.version} has no running instance`, 1);
    const result = await instance.run(inputs.map(toWire), undefined, text);
    return { outputs: result.outputs.map(fromWire), texts: result.texts };
  }

  async unload(): Promise<void> {
    this.closed = true;
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((i) => i?.close()));
  }
}

/** The onnxruntime backend (Triton's `backend: "onnxruntime"`, `platform: "onnxruntime_onnx"`). */
export const onnxruntimeBackend: Backend = {
  name: 'onnxruntime',
  platform: 'onnxruntime_onnx',
  async load(spec: BackendLoadSpec): Promise<LoadedModel> {
    const model = new OnnxModel(spec);
    await model.load();
    return model;
  },
};
