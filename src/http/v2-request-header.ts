/**
 * The JSON header of a v2 inference request, checked by hand. This runs once per request on
 * the main thread, which is what bounds small-model throughput; a schema library's generic
 * walk (and the copy it returns) cost several times more than these few type tests. Errors
 * name the offending path the way the protocol's clients see it: `inputs[0].shape`.
 */
import { invalidArgument } from '../core/errors.js';
import type { Parameters } from '../core/types.js';
import { describe } from './json-decode.js';

export interface HeaderInput {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Parameters;
  /** JSON data, absent when the tensor travels as a binary blob */
  data?: unknown;
}

export interface HeaderOutput {
  name: string;
  parameters?: Parameters;
}

export interface RequestHeader {
  id?: string;
  parameters?: Parameters;
  inputs: HeaderInput[];
  outputs?: HeaderOutput[];
}

function fail(path: string, message: string): never {
  throw invalidArgument(`invalid inference request: ${path}: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parameters(value: unknown, path: string): Parameters | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) fail(path, 'expected an object of parameters');
  for (const key in value) {
    const v = value[key];
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      fail(`${path}.${key}`, 'expected a string, number or boolean');
    }
  }
  return value as Parameters;
}

function shape(value: unknown, path: string): number[] {
  if (!Array.isArray(value)) fail(path, 'expected an array of non-negative integers');
  for (let i = 0; i < value.length; i++) {
    const d = value[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) fail(`${path}[${i}]`, `expected a non-negative integer, got ${describe(d)}`);
  }
  return value as number[];
}

function name(value: unknown, path: string): string {
  if (typeof value !== 'string') fail(path, value === undefined ? 'required' : 'expected a string');
  return value;
}

/**
 * Checks the parsed JSON header and returns it typed. Unknown fields are tolerated (clients add
 * their own, e.g. KServe's `model_name`); the returned objects are the parsed ones, not copies.
 */
export function parseRequestHeader(json: unknown): RequestHeader {
  if (!isObject(json)) fail('body', 'expected a JSON object');
  if (json.id !== undefined && typeof json.id !== 'string') fail('id', 'expected a string');
  const params = parameters(json.parameters, 'parameters');
  const rawInputs = json.inputs;
  if (!Array.isArray(rawInputs)) fail('inputs', rawInputs === undefined ? 'required' : 'expected an array');
  if (rawInputs.length === 0) fail('inputs', 'expected at least one input');
  const inputs: HeaderInput[] = new Array(rawInputs.length);
  for (let i = 0; i < rawInputs.length; i++) {
    const input = rawInputs[i];
    const path = `inputs[${i}]`;
    if (!isObject(input)) fail(path, 'expected an object');
    inputs[i] = {
      name: name(input.name, `${path}.name`),
      shape: shape(input.shape, `${path}.shape`),
      datatype: name(input.datatype, `${path}.datatype`),
      parameters: parameters(input.parameters, `${path}.parameters`),
      data: input.data,
    };
  }
  let outputs: HeaderOutput[] | undefined;
  if (json.outputs !== undefined) {
    if (!Array.isArray(json.outputs)) fail('outputs', 'expected an array');
    outputs = json.outputs.map((output: unknown, i: number) => {
      const path = `outputs[${i}]`;
      if (!isObject(output)) fail(path, 'expected an object');
      return { name: name(output.name, `${path}.name`), parameters: parameters(output.parameters, `${path}.parameters`) };
    });
  }
  return { id: json.id as string | undefined, parameters: params, inputs, outputs };
}
