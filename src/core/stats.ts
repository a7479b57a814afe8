/**
 * Per-version counters in the shape of Triton's statistics extension (counts and cumulative
 * nanoseconds), kept by the core so every front end reports the same figures.
 */
export interface Duration {
  count: number;
  ns: number;
}

const zero = (): Duration => ({ count: 0, ns: 0 });

export class VersionStats {
  /** inferences = rows served; executions = batches run */
  inferenceCount = 0;
  executionCount = 0;
  /** ms since epoch of the last inference, 0 if none */
  lastInference = 0;
  readonly success = zero();
  readonly fail = zero();
  readonly queue = zero();
  readonly computeInput = zero();
  readonly computeInfer = zero();
  readonly computeOutput = zero();
  /** batch size → executions of that size and their compute time */
  readonly batches = new Map<number, { count: number; computeInferNs: number }>();

  recordExecution(batchSize: number, computeNs: number): void {
    this.executionCount++;
    this.inferenceCount += batchSize;
    const b = this.batches.get(batchSize) ?? { count: 0, computeInferNs: 0 };
    b.count++;
    b.computeInferNs += computeNs;
    this.batches.set(batchSize, b);
  }

  recordSuccess(totalNs: number, queueNs: number, computeNs: number): void {
    this.lastInference = Date.now();
    add(this.success, totalNs);
    add(this.queue, queueNs);
    add(this.computeInfer, computeNs);
    // Tensors are prepared and split on the main thread; the time is folded into infer.
    add(this.computeInput, 0);
    add(this.computeOutput, 0);
  }

  recordFailure(totalNs: number): void {
    add(this.fail, totalNs);
  }
}

function add(d: Duration, ns: number): void {
  d.count++;
  d.ns += ns;
}
