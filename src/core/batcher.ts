/**
 * The dynamic batcher: our scheduler, in the core. Requests for one model version wait in a
 * bounded priority queue; when an instance is free, the oldest request and every queued
 * request with the same non-batch dimensions are concatenated, up to maxBatchSize rows, run
 * once and split back.
 *
 * When a batch goes (Triton's rule): at once if the queue can form a preferred batch size or a
 * full batch, cut at the largest preferred size it reaches; otherwise it waits at most
 * maxQueueDelayUs, measured from when its oldest request arrived, then goes as large as it is.
 */
import { BerthError, overloaded, unavailable } from './errors.js';
import type { Tensor } from './tensor.js';
import type { CancelSignal, JsonTextSpec } from './types.js';
import type { Executor, RequestTexts, TextPlan } from './backend.js';
import { concatBatch, splitBatch } from './batch-tensors.js';

export interface BatcherOptions {
  /** rows per batch; 0 or 1 disables batching (each request runs alone) */
  maxBatchSize: number;
  maxQueueDelayUs: number;
  /** batch sizes (rows) that go without waiting for the delay; empty = only a full batch does */
  preferredBatchSizes?: readonly number[];
  /** queued requests beyond which new ones are refused with 503; 0 = unbounded */
  maxQueueSize: number;
  /** level for requests with priority 0 (Triton: 1 is the highest priority) */
  defaultPriorityLevel: number;
}

// Where a batch runs (a backend's loaded model) and what it returns: the backend interface's.
export type { BatchResult, Executor } from './backend.js';

/** Per-request timings handed to whoever keeps statistics. Nanoseconds. */
export interface RequestTiming {
  queueNs: number;
  computeNs: number;
  batchSize: number;
}

export interface BatchObserver {
  onExecution?(batchSize: number, computeNs: number): void;
}

export interface EnqueueOptions {
  /** Triton priority: 1 highest, 0 = the default level */
  priority?: number;
  /** microseconds the request may wait in the queue; 0/undefined = no limit */
  timeoutUs?: number;
  signal?: CancelSignal;
  /** outputs to render as JSON text off the event loop (Tensor.json) */
  jsonText?: JsonTextSpec;
}

interface Queued {
  inputs: Tensor[];
  rows: number;
  key: string;
  level: number;
  enqueuedAt: number;
  timer?: NodeJS.Timeout;
  resolve: (result: { outputs: Tensor[]; timing: RequestTiming }) => void;
  reject: (err: unknown) => void;
  onAbort?: () => void;
  signal?: CancelSignal;
  jsonText?: JsonTextSpec;
}

const RETRY_AFTER_SECONDS = 1;

export class DynamicBatcher {
  private readonly queue: Queued[] = [];
  private running = 0;
  private delayTimer?: NodeJS.Timeout;
  private readonly idleWaiters: (() => void)[] = [];
  /** true while batching applies: the model's first dimension is dynamic for all tensors */
  readonly batching: boolean;
  private readonly preferred: ReadonlySet<number>;

  constructor(
    private readonly executor: Executor,
    private readonly options: BatcherOptions,
    batchable: boolean,
    private readonly observer: BatchObserver = {},
  ) {
    this.batching = batchable && options.maxBatchSize > 1;
    this.preferred = new Set(options.preferredBatchSizes ?? []);
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.running;
  }

  enqueue(inputs: Tensor[], options: EnqueueOptions = {}): Promise<{ outputs: Tensor[]; timing: RequestTiming }> {
    if (this.options.maxQueueSize > 0 && this.queue.length >= this.options.maxQueueSize) {
      return Promise.reject(overloaded(`Exceeds maximum queue size (${this.options.maxQueueSize})`, RETRY_AFTER_SECONDS, 'queue_full'));
    }
    if (options.signal?.aborted) return Promise.reject(unavailable('request cancelled by the client'));
    return new Promise((resolve, reject) => {
      const item: Queued = {
        inputs,
        rows: this.batching ? inputs[0]!.shape[0]! : 1,
        key: this.batching ? shapeKey(inputs) : '',
        level: options.priority && options.priority > 0 ? options.priority : this.options.defaultPriorityLevel,
        enqueuedAt: performance.now(),
        resolve,
        reject,
        signal: options.signal,
        jsonText: options.jsonText,
      };
      if (options.timeoutUs && options.timeoutUs > 0) {
        // clamped to what a Node timer holds (2^31−1 ms): a longer delay would fire at once
        item.timer = setTimeout(() => this.expire(item), Math.min(2 ** 31 - 1, Math.max(1, options.timeoutUs / 1000)));
      }
      if (options.signal) {
        item.onAbort = () => this.remove(item, unavailable('request cancelled by the client'));
        options.signal.addEventListener('abort', item.onAbort, { once: true });
      }
      this.insert(item);
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or running. */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Fails every queued request (used when a model is unloaded without draining). */
  rejectAll(err: BerthError): void {
    for (const item of this.queue.splice(0)) this.finish(item, err);
  }

  /** Called when an executor slot may have become free (e.g. a crashed instance was replaced). */
  schedule(): void {
    while (this.running < this.executor.slots && this.queue.length > 0) {
      const batch = this.takeBatch();
      if (!batch) return;
      void this.execute(batch);
    }
  }

  private insert(item: Queued): void {
    // Stable insertion by level: equal levels keep arrival order.
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.level > item.level) i--;
    this.queue.splice(i, 0, item);
  }

  /** Picks the next batch, or undefined (and arms the delay timer) if it should wait for more rows. */
  private takeBatch(force = false): Queued[] | undefined {
    const head = this.queue[0]!;
    if (!this.batching) {
      this.queue.shift();
      return [head];
    }
    const max = this.options.maxBatchSize;
    const picked: number[] = [0];
    let rows = head.rows;
    let full = rows >= max;
    // the longest prefix of `picked` whose rows are a preferred size (0: none)
    let preferredCount = this.preferred.has(rows) ? 1 : 0;
    for (let i = 1; i < this.queue.length && !full; i++) {
      const q = this.queue[i]!;
      if (q.key !== head.key) continue;
      if (rows + q.rows > max) {
        full = true; // the next compatible request does not fit: this batch is as large as it gets
        break;
      }
      picked.push(i);
      rows += q.rows;
      if (rows === max) full = true;
      if (this.preferred.has(rows)) preferredCount = picked.length;
    }
    if (preferredCount > 0 && !(full && rows === max)) {
      picked.length = preferredCount; // a full batch goes whole; otherwise cut at the largest preferred size
      full = true;
    }
    const waitedUs = (performance.now() - head.enqueuedAt) * 1000;
    if (!full && !force && waitedUs < this.options.maxQueueDelayUs) {
      if (!this.delayTimer) {
        const remainingMs = (this.options.maxQueueDelayUs - waitedUs) / 1000;
        this.delayTimer = setTimeout(() => {
          this.delayTimer = undefined;
          this.flushDue();
        }, remainingMs);
      }
      return undefined;
    }
    if (this.delayTimer) {
      clearTimeout(this.delayTimer); // re-armed by the next schedule() if still needed
      this.delayTimer = undefined;
    }
    const batch: Queued[] = [];
    for (let k = picked.length - 1; k >= 0; k--) batch.unshift(this.queue.splice(picked[k]!, 1)[0]!);
    return batch;
  }

  /** The delay timer fired: run whatever the oldest request can take with it. */
  private flushDue(): void {
    while (this.running < this.executor.slots && this.queue.length > 0) {
      const batch = this.takeBatch(true);
      if (!batch) return;
      void this.execute(batch);
    }
  }

  private async execute(batch: Queued[]): Promise<void> {
    this.running++;
    const start = performance.now();
    for (const item of batch) this.detach(item);
    try {
      const inputs = batch[0]!.inputs.map((_, k) => concatBatch(batch.map((b) => b.inputs[k]!)));
      const rows = batch.map((b) => b.rows);
      const text: TextPlan | undefined = batch.some((b) => b.jsonText) ? { rows, specs: batch.map((b) => b.jsonText) } : undefined;
      const result = this.executor.cancelsRuns
        ? await this.executor.run(inputs, text, batch.map((b) => b.signal))
        : await this.executor.run(inputs, text);
      const outputs = Array.isArray(result) ? result : result.outputs;
      const texts = Array.isArray(result) ? undefined : result.texts;
      const end = performance.now();
      const computeNs = Math.round((end - start) * 1e6);
      const total = rows.reduce((a, b) => a + b, 0);
      this.observer.onExecution?.(total, computeNs);
      const perRequest = batch.length === 1
        ? [outputs]
        : splitOutputs(outputs, rows, total);
      batch.forEach((item, i) => {
        const own = perRequest[i]!;
        const answer = (text: RequestTexts): void => {
          if (text) for (const t of own) t.json = text[t.name];
          item.resolve({
            outputs: own,
            timing: { queueNs: Math.round((start - item.enqueuedAt) * 1e6), computeNs, batchSize: total },
          });
        };
        const text = texts?.[i];
        // A text still being rendered: answer when it is ready (it never rejects).
        if (text instanceof Promise) void text.then(answer, () => answer(undefined));
        else answer(text);
      });
    } catch (err) {
      for (const item of batch) item.reject(err);
    } finally {
      this.running--;
      this.schedule();
      this.notifyIdle();
    }
  }

  private expire(item: Queued): void {
    item.timer = undefined;
    this.remove(item, overloaded('Request timeout expired', RETRY_AFTER_SECONDS, 'timeout'));
  }

  private remove(item: Queued, err: unknown): void {
    const i = this.queue.indexOf(item);
    if (i < 0) return; // already running: it will complete normally
    this.queue.splice(i, 1);
    this.finish(item, err);
    this.notifyIdle();
  }

  private finish(item: Queued, err: unknown): void {
    this.detach(item);
    item.reject(err);
  }

  private detach(item: Queued): void {
    if (item.timer) clearTimeout(item.timer);
    if (item.onAbort) item.signal?.removeEventListener('abort', item.onAbort);
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.running > 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

/** Requests batch together only if every input agrees on dtype and on every dimension but the first. */
function shapeKey(inputs: readonly Tensor[]): string {
  let key = '';
  for (const t of inputs) key += `${t.datatype}:${t.shape.slice(1).join('x')};`;
  return key;
}

function splitOutputs(outputs: Tensor[], rows: number[], total: number): Tensor[][] {
  const perRequest: Tensor[][] = rows.map(() => []);
  for (const out of outputs) {
    if (out.shape[0] !== total) {
      throw new BerthError('INTERNAL', `output '${out.name}' has first dimension ${out.shape[0]}, expected the batch size ${total}`);
    }
    splitBatch(out, rows).forEach((part, i) => perRequest[i]!.push(part));
  }
  return perRequest;
}
