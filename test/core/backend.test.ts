/**
 * The serving core over the backend interface (core/backend.ts), with no onnxruntime: an
 * in-process test double stands in for the backend, so what is checked here is the core's
 * side of the contract (loading, warm-up, batching, JSON text plans, cancellation, crashes,
 * unloading, choosing a backend by config).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, BackendEvents, BackendLoadSpec, BatchResult, LoadedModel, TextPlan } from '../../src/core/backend.js';
import { BackendRegistry } from '../../src/core/backends.js';
import { InferenceService } from '../../src/core/inference-service.js';
import type { ModelSource } from '../../src/core/repository.js';
import type { Tensor } from '../../src/core/tensor.js';
import type { CancelSignal, TensorMetadata } from '../../src/core/types.js';

/**
 * TEST DOUBLE, not a real backend: a "model" that doubles its FP32 input, in the calling
 * thread. It records what the core asked of it, can hold batches until released, and lets the
 * test fire the backend events (crash, capacity, unavailable).
 */
class DoublingModel implements LoadedModel {
  readonly inputs: TensorMetadata[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }];
  readonly outputs: TensorMetadata[] = [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }];
  readonly warnings = [{ message: 'test double loaded', fields: { double: true } }];
  readonly cancelsRuns = true;
  readonly instances: { alive: boolean; inFlight: number; crashOnNextRun(): void }[] = [];
  readonly batches: { rows: number; text?: TextPlan; signals?: readonly (CancelSignal | undefined)[] }[] = [];
  warmups = 0;
  unloaded = false;
  hold = false;
  private releases: (() => void)[] = [];

  constructor(readonly spec: BackendLoadSpec) {
    for (let i = 0; i < spec.instances; i++) this.instances.push({ alive: true, inFlight: 0, crashOnNextRun: () => undefined });
  }

  get events(): BackendEvents {
    return this.spec.events;
  }

  get slots(): number {
    return this.instances.filter((i) => i.alive).length;
  }

  async warmUp(): Promise<string | undefined> {
    this.warmups++;
    return undefined;
  }

  async run(inputs: Tensor[], text?: TextPlan, signals?: readonly (CancelSignal | undefined)[]): Promise<BatchResult> {
    const x = inputs[0]!;
    this.batches.push({ rows: x.shape[0]!, text, signals });
    if (this.hold) await new Promise<void>((resolve) => this.releases.push(resolve));
    if (signals?.every((s) => s?.aborted)) throw new Error('every request of the batch was cancelled');
    const data = Float32Array.from(x.data as Float32Array, (v) => v * 2);
    const outputs: Tensor[] = [{ name: 'y', datatype: 'FP32', shape: [...x.shape], data }];
    // JSON text, as a backend renders it off the event loop: one flat array per request asking
    const texts = text?.specs.map((spec, i) => {
      if (!spec) return undefined;
      const start = text.rows.slice(0, i).reduce((a, b) => a + b, 0) * 2;
      const mine = Array.from(data.subarray(start, start + text.rows[i]! * 2));
      return { y: { bytes: Buffer.from(JSON.stringify(mine)), layout: 'flat' as const } };
    });
    return { outputs, texts };
  }

  release(): void {
    for (const r of this.releases.splice(0)) r();
  }

  async unload(): Promise<void> {
    this.unloaded = true;
  }
}

/** TEST DOUBLE: the backend that loads DoublingModels, keeping each for the test to inspect. */
class DoublingBackend implements Backend {
  readonly name = 'test-double';
  readonly platform = 'test_double';
  readonly loaded: DoublingModel[] = [];
  failWith?: string;

  async load(spec: BackendLoadSpec): Promise<LoadedModel> {
    if (this.failWith) throw new Error(this.failWith);
    const model = new DoublingModel(spec);
    this.loaded.push(model);
    return model;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'berth-backend-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A model source whose version 1 is a placeholder file (the core opens it; the double never reads it). */
function source(name: string, configFile?: unknown): ModelSource {
  mkdirSync(join(dir, name, '1'), { recursive: true });
  const path = join(dir, name, '1', 'model.onnx');
  writeFileSync(path, 'not a real model');
  return { name, dir: join(dir, name), versions: new Map([[1, path]]), configFile };
}

const rows = (values: number[][]): Tensor[] => [{ name: 'x', datatype: 'FP32', shape: [values.length, 2], data: Float32Array.from(values.flat()) }];

function service(backend: DoublingBackend, log?: { warn: (obj: object, msg: string) => void }): InferenceService {
  return new InferenceService({
    backends: new BackendRegistry([backend]),
    defaults: { maxBatchSize: 8, maxQueueDelayUs: 200_000, preferredBatchSizes: [3] },
    log: { info: () => undefined, error: () => undefined, warn: log?.warn ?? (() => undefined) },
  });
}

describe('InferenceService over a test backend', () => {
  test('the config chooses the backend; it loads, warms up, logs its warnings and reports its signature', async () => {
    const backend = new DoublingBackend();
    const warnings: [object, string][] = [];
    const svc = service(backend, { warn: (obj, msg) => warnings.push([obj, msg]) });
    await svc.loadModels([source('m', { backend: 'test-double', instances: 2 })]);
    const mv = svc.resolve('m');
    assert.equal(mv.state, 'READY');
    assert.equal(backend.loaded.length, 1);
    const model = backend.loaded[0]!;
    assert.equal(model.spec.instances, 2);
    assert.deepEqual(model.spec.configFile, { backend: 'test-double', instances: 2 }, 'the backend sees the config as written');
    assert.equal(model.warmups, 1);
    assert.equal(mv.slots, 2);
    assert.equal(mv.batching, true);
    assert.deepEqual(warnings, [[{ model: 'm', version: '1', double: true }, 'test double loaded']]);
    const meta = svc.modelMetadata('m');
    assert.equal(meta.platform, 'test_double');
    assert.deepEqual(meta.inputs.map((t) => t.name), ['x']);
    assert.equal(svc.modelConfigView('m').backend, 'test-double');
    await svc.close();
    assert.equal(model.unloaded, true);
  });

  test('requests are batched by the core and split back; JSON text is planned per request', async () => {
    const backend = new DoublingBackend();
    const svc = service(backend);
    await svc.loadModels([source('b', { platform: 'test_double' })]);
    const a = svc.infer({ modelName: 'b', inputs: rows([[1, 2]]) });
    const b = svc.infer({ modelName: 'b', inputs: rows([[3, 4], [5, 6]]), jsonText: { layout: 'flat', maxBytes: 1000 } });
    const [ra, rb] = await Promise.all([a, b]);
    const model = backend.loaded[0]!;
    // preferred batch size 3: the two requests (1 + 2 rows) went as one batch
    assert.equal(model.batches.length, 1);
    assert.equal(model.batches[0]!.rows, 3);
    assert.deepEqual(model.batches[0]!.text?.rows, [1, 2]);
    assert.equal(model.batches[0]!.text?.specs[0], undefined);
    assert.deepEqual(Array.from(ra.outputs[0]!.data as Float32Array), [2, 4]);
    assert.deepEqual(Array.from(rb.outputs[0]!.data as Float32Array), [6, 8, 10, 12]);
    assert.equal(ra.outputs[0]!.json, undefined);
    assert.equal(Buffer.from(rb.outputs[0]!.json!.bytes).toString(), '[6,8,10,12]');
    await svc.close();
  });

  test('a backend that cancels runs gets the requests\' signals', async () => {
    const backend = new DoublingBackend();
    const svc = service(backend);
    await svc.loadModels([source('c', { backend: 'test-double', max_batch_size: 0 })]);
    const model = backend.loaded[0]!;
    model.hold = true;
    const controller = new AbortController();
    const pending = svc.infer({ modelName: 'c', inputs: rows([[1, 1]]), signal: controller.signal });
    await new Promise((r) => setImmediate(r));
    assert.equal(model.batches.length, 1);
    assert.equal(model.batches[0]!.signals?.[0], controller.signal);
    controller.abort();
    model.release();
    await assert.rejects(pending, /cancelled/);
    await svc.close();
  });

  test('backend events: a crash is reported, and a backend that can run nothing fails what is queued', async () => {
    const backend = new DoublingBackend();
    const svc = service(backend);
    const crashes: string[] = [];
    svc.addObserver({ onInstanceCrash: (_m, _v, reason) => crashes.push(reason) });
    await svc.loadModels([source('d', { backend: 'test-double', max_batch_size: 0 })]);
    const model = backend.loaded[0]!;
    model.hold = true;
    const running = svc.infer({ modelName: 'd', inputs: rows([[1, 1]]) });
    const queued = svc.infer({ modelName: 'd', inputs: rows([[2, 2]]) });
    await new Promise((r) => setImmediate(r));
    model.events.onInstanceCrash('simulated');
    assert.deepEqual(crashes, ['simulated']);
    model.events.onUnavailable('no instance could be restarted');
    await assert.rejects(queued, /no instance could be restarted/);
    const mv = svc.resolve('d', '1');
    assert.equal(mv.state, 'UNAVAILABLE');
    assert.equal(mv.reason, 'no instance could be restarted');
    model.release();
    await running;
    await svc.close();
  });

  test('an unknown backend, a platform that disagrees, or a failing load leave the model not ready, saying why', async () => {
    const backend = new DoublingBackend();
    const svc = service(backend);
    await svc.loadModels([source('u', { backend: 'tensorrt' }), source('p', { backend: 'test-double', platform: 'onnxruntime_onnx' })]);
    assert.match(svc.modelStatus('u').reason, /backend "tensorrt" is not available on this server \(available: test-double\)/);
    assert.match(svc.modelStatus('p').reason, /platform "onnxruntime_onnx" is not available/);
    // no backend named: onnxruntime, which this service does not have
    await svc.loadModels([source('n')]);
    assert.match(svc.modelStatus('n').reason, /the default 'onnxruntime' is not available on this server \(available: test-double\)/);
    backend.failWith = 'cannot read the weights';
    await svc.loadModels([source('f', { backend: 'test-double' })]);
    assert.match(svc.modelStatus('f').reason, /failed to load: cannot read the weights/);
    await svc.close();
  });
});

describe('request sampling through the observer API', () => {
  test('observers that sample get one copy of the inputs, taken as the request entered, with their own mark', async () => {
    const backend = new DoublingBackend();
    const svc = service(backend);
    await svc.loadModels([source('s', { backend: 'test-double', max_batch_size: 0 })]);
    const events: string[] = [];
    const seen: { inputs: readonly Tensor[]; mark: unknown; outcome: string }[] = [];
    let asked = 0;
    // samples every other request, marking it with its count
    svc.addObserver({
      sampleRequest: (model) => (++asked % 2 === 0 ? `${model}#${asked}` : undefined),
      onRequest: (r) => events.push(`request ${r.outcome}`),
      onSampledRequest: (r, inputs, mark) => {
        events.push(`sampled ${r.outcome}`);
        seen.push({ inputs, mark, outcome: r.outcome });
      },
    });
    const other: { inputs: readonly Tensor[]; mark: unknown }[] = [];
    svc.addObserver({ sampleRequest: () => 7, onSampledRequest: (_r, inputs, mark) => other.push({ inputs, mark }) });
    const inputs = [rows([[1, 2]]), rows([[3, 4]]), rows([[5, 6]])];
    await svc.infer({ modelName: 's', inputs: inputs[0]! });
    await svc.infer({ modelName: 's', inputs: inputs[1]! });
    await assert.rejects(svc.infer({ modelName: 's', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) }] }));
    await svc.infer({ modelName: 's', inputs: inputs[2]! });
    assert.equal(asked, 4);
    assert.deepEqual(seen.map((s) => [s.mark, s.outcome]), [['s#2', 'success'], ['s#4', 'success']]);
    assert.deepEqual(events, ['request success', 'request success', 'sampled success', 'request failure', 'request success', 'sampled success']);
    // a copy (its own buffer), equal to what was sent
    const copy = seen[0]!.inputs[0]!;
    assert.notEqual(copy.data, inputs[1]![0]!.data);
    assert.notEqual((copy.data as Float32Array).buffer, (inputs[1]![0]!.data as Float32Array).buffer);
    assert.deepEqual(Array.from(copy.data as Float32Array), [3, 4]);
    // the second observer sampled every request, and shares the copy when both asked
    assert.equal(other.length, 4);
    assert.equal(other[1]!.inputs, seen[0]!.inputs);
    assert.equal(other[1]!.mark, 7);
    await svc.close();
  });
});
