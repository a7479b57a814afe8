/**
 * JSON data: a nested array (one input); `{ "input_name": array, ... }` (several inputs); an
 * Open Inference Protocol request `{ "inputs": [{ name, shape, datatype, data }] }`; or a V1
 * predict request `{ "instances": [...] }`.
 */
import { castTensor } from './cast.js';
import { failFile, fmtShape, product } from './errors.js';
import type { RawInput } from './raw-input.js';
import { isDatasetDatatype, type DatasetDatatype, type DatasetTensor } from './types.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Shape and flat values of a nested JSON array (rectangular, numbers or booleans). */
export function flattenJson(value: Json, where: string, what: string): { shape: number[]; values: number[]; bool: boolean } {
  const shape: number[] = [];
  let probe: Json = value;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const values: number[] = [];
  let bools = 0;
  const walk = (v: Json, depth: number, path: string): void => {
    if (depth < shape.length) {
      if (!Array.isArray(v)) failFile(where, `${what}: ${path} is not an array; ragged nesting (expected shape ${fmtShape(shape)})`);
      if (v.length !== shape[depth]) failFile(where, `${what}: ${path} has ${v.length} elements, expected ${shape[depth]} (arrays must be rectangular)`);
      for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
      return;
    }
    if (typeof v === 'number') values.push(v);
    else if (typeof v === 'boolean') {
      values.push(v ? 1 : 0);
      bools++;
    } else if (v === null) values.push(Number.NaN);
    else failFile(where, `${what}: ${path} is ${Array.isArray(v) ? 'an array (ragged nesting)' : JSON.stringify(v)}, expected a number`);
  };
  walk(value, 0, what);
  if (bools > 0 && bools !== values.length) failFile(where, `${what}: mixes booleans and numbers`);
  return { shape, values, bool: bools > 0 };
}

function jsonTensor(value: Json, where: string, what: string, datatype?: DatasetDatatype): DatasetTensor {
  const { shape, values, bool } = flattenJson(value, where, what);
  if (shape.length === 0) failFile(where, `${what} is a single value; the first axis must be the sample axis`);
  const numeric: DatasetTensor = { datatype: 'FP64', shape, data: Float64Array.from(values) };
  return castTensor(numeric, datatype ?? (bool ? 'BOOL' : 'FP32'), `${where}: ${what}`);
}

export function isRecord(v: Json): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseJsonData(bytes: Buffer, where: string, modelInputs: string[] | undefined): RawInput[] {
  let doc: Json;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Json;
  } catch (err) {
    failFile(where, `not valid JSON (${(err as Error).message})`);
  }
  if (Array.isArray(doc)) return [{ tensor: jsonTensor(doc, where, 'data') }];
  if (!isRecord(doc)) failFile(where, 'expected a nested array or an object {input_name: array}');
  const keys = Object.keys(doc);
  const isModelInput = (k: string): boolean => modelInputs?.includes(k) ?? false;
  // Open Inference Protocol request body.
  const oip = doc.inputs;
  if (Array.isArray(oip) && !isModelInput('inputs') && oip.every((t) => isRecord(t) && typeof t.name === 'string' && 'data' in t)) {
    return oip.map((entry) => {
      const t = entry as { [k: string]: Json };
      const name = t.name as string;
      const what = `inputs['${name}']`;
      const dt = typeof t.datatype === 'string' ? t.datatype : undefined;
      if (dt !== undefined && !isDatasetDatatype(dt)) failFile(where, `${what}: unsupported datatype '${dt}'`);
      const flat = flattenJson(t.data, where, what);
      let shape = flat.shape;
      if (Array.isArray(t.shape)) {
        shape = t.shape.map((d) => {
          if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) failFile(where, `${what}: bad shape ${JSON.stringify(t.shape)}`);
          return d;
        });
        if (product(shape) !== flat.values.length) failFile(where, `${what}: shape ${fmtShape(shape)} needs ${product(shape)} values, data has ${flat.values.length}`);
      }
      if (shape.length === 0) failFile(where, `${what} is a single value; the first axis must be the sample axis`);
      const tensor = castTensor({ datatype: 'FP64', shape, data: Float64Array.from(flat.values) }, (dt as DatasetDatatype | undefined) ?? (flat.bool ? 'BOOL' : 'FP32'), `${where}: ${what}`);
      return { name, tensor };
    });
  }
  // V1 predict request body: one entry per sample.
  const instances = doc.instances;
  if (Array.isArray(instances) && !isModelInput('instances')) {
    if (instances.length === 0) failFile(where, 'instances is empty');
    if (instances.every(isRecord)) {
      const names = Object.keys(instances[0] as object);
      return names.map((name) => {
        const column = instances.map((inst, i) => {
          const rec = inst as { [k: string]: Json };
          if (!Object.hasOwn(rec, name)) failFile(where, `instances[${i}] has no '${name}'`);
          return rec[name];
        });
        return { name, tensor: jsonTensor(column, where, `instances[*].${name}`) };
      });
    }
    return [{ tensor: jsonTensor(instances, where, 'instances') }];
  }
  if (keys.length === 0) failFile(where, 'empty object: expected {input_name: array}');
  return keys.map((name) => ({ name, tensor: jsonTensor(doc[name], where, `'${name}'`) }));
}
