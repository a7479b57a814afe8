/**
 * Checks a request against the model's signature before it is queued, so a bad request is a
 * 400 naming the input and what was expected, never an onnxruntime error from inside a batch.
 */
import { invalidArgument } from './errors.js';
import type { Tensor } from './tensor.js';
import { elementCount } from './tensor.js';
import type { RequestedOutput, TensorMetadata } from './types.js';

const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** Returns the request's inputs in the model's input order. */
export function validateInputs(modelInputs: readonly TensorMetadata[], inputs: readonly Tensor[]): Tensor[] {
  const byName = new Map<string, Tensor>();
  for (const t of inputs) {
    if (byName.has(t.name)) throw invalidArgument(`input '${t.name}' is given more than once`);
    byName.set(t.name, t);
  }
  const known = modelInputs.map((m) => `'${m.name}'`).join(', ');
  for (const t of inputs) {
    if (!modelInputs.some((m) => m.name === t.name)) {
      throw invalidArgument(`unexpected input '${t.name}'; the model's inputs are ${known}`);
    }
  }
  return modelInputs.map((meta) => {
    const t = byName.get(meta.name);
    if (!t) throw invalidArgument(`missing input '${meta.name}' (${meta.datatype} ${fmtShape(meta.shape)}); the model's inputs are ${known}`);
    if (t.datatype !== meta.datatype) {
      throw invalidArgument(`input '${t.name}' expects datatype ${meta.datatype}, got ${t.datatype}`);
    }
    const shapeOk = meta.shape.length === 0 && t.shape.length === 0
      ? true
      : meta.shape.length === t.shape.length && meta.shape.every((d, i) => d < 0 || d === t.shape[i]);
    if (!shapeOk) throw invalidArgument(`input '${t.name}' expects shape ${fmtShape(meta.shape)}, got ${fmtShape(t.shape)}`);
    const expected = elementCount(t.shape);
    if (t.data.length !== expected) {
      throw invalidArgument(`input '${t.name}' has ${t.data.length} elements but shape ${fmtShape(t.shape)} needs ${expected}`);
    }
    return t;
  });
}

/** The batch size of a request to a batching model: the shared first dimension of its inputs. */
export function batchSizeOf(inputs: readonly Tensor[]): number {
  const size = inputs[0]!.shape[0]!;
  for (const t of inputs) {
    if (t.shape[0] !== size) {
      throw invalidArgument(`inputs disagree on the batch dimension: '${inputs[0]!.name}' has ${size}, '${t.name}' has ${t.shape[0]}`);
    }
  }
  return size;
}

export function validateOutputs(modelOutputs: readonly TensorMetadata[], requested: readonly RequestedOutput[] | undefined): void {
  if (!requested) return;
  const seen = new Set<string>();
  for (const o of requested) {
    if (!modelOutputs.some((m) => m.name === o.name)) {
      const known = modelOutputs.map((m) => `'${m.name}'`).join(', ');
      throw invalidArgument(`unknown output '${o.name}'; the model's outputs are ${known}`);
    }
    if (seen.has(o.name)) throw invalidArgument(`output '${o.name}' is requested more than once`);
    seen.add(o.name);
  }
}
