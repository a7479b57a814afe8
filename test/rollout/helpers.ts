/**
 * Helpers for the rollout tests: affine models whose versions differ in output (so a response
 * tells which version answered it, and by how much two versions disagree), and a bounded
 * closed-loop load generator over loopback HTTP.
 */
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/index.js';
import { writeModel } from '../helpers/models.js';

export const INPUTS = 4;
export const OUTPUTS = 3;
/** W[i, j] = i − j, bias[j] = j / 2, as test/helpers/models.ts's AFFINE */
const weight = (i: number, j: number): number => i - j;
const bias = (j: number): number => j / 2;

/**
 * output[b, j] = scale · (Σ_i input[b, i] · W[i, j] + bias[j]) + shift[j]. A positive scale keeps
 * each row's top-1 class; `shift` can change it.
 */
export function scaledExpected(row: readonly number[], scale = 1, shift: readonly number[] = [0, 0, 0]): number[] {
  return Array.from({ length: OUTPUTS }, (_, j) => Math.fround(scale * row.reduce((s, x, i) => s + x * weight(i, j), bias(j)) + (shift[j] ?? 0)));
}

/** Writes NAME/VERSION/model.onnx: the affine model scaled by `scale`, plus `shift`. */
export async function writeScaledAffine(repo: string, name: string, version: number, scale = 1, shift: readonly number[] = [0, 0, 0], config?: object): Promise<string> {
  const w = new Float32Array(INPUTS * OUTPUTS);
  for (let i = 0; i < INPUTS; i++) for (let j = 0; j < OUTPUTS; j++) w[i * OUTPUTS + j] = scale * weight(i, j);
  const b = Float32Array.from({ length: OUTPUTS }, (_, j) => scale * bias(j) + (shift[j] ?? 0));
  const graph = makeGraph({
    name: 'scaled_affine',
    nodes: [makeNode('MatMul', ['input', 'W'], ['mm']), makeNode('Add', ['mm', 'B'], ['output'])],
    inputs: [makeValueInfo('input', 'float32', ['batch', INPUTS])],
    outputs: [makeValueInfo('output', 'float32', ['batch', OUTPUTS])],
    initializers: [makeTensor('W', 'float32', [INPUTS, OUTPUTS], w), makeTensor('B', 'float32', [OUTPUTS], b)],
  });
  return writeModel(repo, name, version, makeModel({ graph }), config);
}

/** The i-th test input row: small integers, so float results are exact. */
export function rowFor(i: number): number[] {
  return [i % 7, (i * 3) % 5, (i * 5) % 11 - 5, (i % 13) - 6];
}

export function inferBody(row: readonly number[]): object {
  return { inputs: [{ name: 'input', shape: [1, INPUTS], datatype: 'FP32', data: row }] };
}

// --- load --------------------------------------------------------------------------------------

export interface LoadResult {
  i: number;
  status: number;
  version?: string;
  output?: number[];
  error?: string;
  ms: number;
}

/**
 * Closed-loop load: `clients` concurrent loops over loopback HTTP, `total` requests in all (or
 * until `until()` turns true, with at least `total`), each bounded by `maxMs`. Request i sends
 * rowFor(i); headers(i) may add a route key.
 */
export async function runLoad(url: string, options: { clients?: number; total: number; maxMs?: number; headers?: (i: number) => Record<string, string>; until?: () => boolean; model?: string }): Promise<LoadResult[]> {
  const clients = options.clients ?? 32;
  const deadline = Date.now() + (options.maxMs ?? 60000);
  const results: LoadResult[] = [];
  let next = 0;
  const target = `${url}/v2/models/${options.model ?? 'm'}/infer`;
  const more = (): boolean => Date.now() < deadline && (next < options.total || (options.until !== undefined && !options.until()));
  await Promise.all(Array.from({ length: clients }, async () => {
    while (more()) {
      const i = next++;
      const started = performance.now();
      try {
        const res = await fetch(target, { method: 'POST', body: JSON.stringify(inferBody(rowFor(i))), headers: { 'content-type': 'application/json', ...(options.headers?.(i) ?? {}) } });
        const body = (await res.json()) as { model_version?: string; outputs?: { data: number[] }[]; error?: string };
        results.push({ i, status: res.status, version: body.model_version, output: body.outputs?.[0]?.data, error: body.error, ms: performance.now() - started });
      } catch (err) {
        results.push({ i, status: 0, error: (err as Error).message, ms: performance.now() - started });
      }
    }
  }));
  return results;
}
