/**
 * The TF-Serving style V1 API: `{"instances": [...]}` (row format) or `{"inputs": ...}`
 * (columnar format) in, `{"predictions": [...]}` out, one prediction per row.
 */
import { invalidArgument } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { InferResponse, TensorMetadata } from '../core/types.js';
import { ExactNumber, INT_RANGES, fromJson, nestedShape } from './json-decode.js';
import { JsonSyntaxError, parseJsonExact } from './json-exact.js';
import { DEFAULT_RESPONSE_LIMIT, JsonParts, tensorJson } from './json-encode.js';

type Columns = Map<string, unknown[]>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof ExactNumber);
}

/** Gathers per-input lists of rows from either request format. */
function columns(body: unknown, inputs: readonly TensorMetadata[]): Columns {
  if (!isPlainObject(body)) throw invalidArgument('request body must be a JSON object with "instances" or "inputs"');
  const cols: Columns = new Map();
  if ('instances' in body) {
    const rows = body.instances;
    if (!Array.isArray(rows) || rows.length === 0) throw invalidArgument('"instances" must be a non-empty list');
    if (rows.every(isPlainObject)) {
      for (const meta of inputs) cols.set(meta.name, []);
      rows.forEach((row, i) => {
        for (const key of Object.keys(row)) {
          if (!cols.has(key)) throw invalidArgument(`instance ${i} has unexpected input '${key}'; the model's inputs are ${inputs.map((m) => `'${m.name}'`).join(', ')}`);
        }
        for (const meta of inputs) {
          if (!(meta.name in row)) throw invalidArgument(`instance ${i} is missing input '${meta.name}'`);
          cols.get(meta.name)!.push(row[meta.name]);
        }
      });
      return cols;
    }
    if (inputs.length !== 1) {
      throw invalidArgument(`the model has ${inputs.length} inputs, so each instance must be an object keyed by input name`);
    }
    cols.set(inputs[0]!.name, rows);
    return cols;
  }
  if ('inputs' in body) {
    const value = body.inputs;
    if (isPlainObject(value) && inputs.length > 1) {
      for (const meta of inputs) {
        const col = value[meta.name];
        if (!Array.isArray(col)) throw invalidArgument(`"inputs" is missing input '${meta.name}' (a list of rows)`);
        cols.set(meta.name, col);
      }
      return cols;
    }
    const single = isPlainObject(value) && inputs.length === 1 ? value[inputs[0]!.name] : value;
    if (!Array.isArray(single)) throw invalidArgument(`"inputs" must be a list of rows for input '${inputs[0]?.name}'`);
    cols.set(inputs[0]!.name, single);
    return cols;
  }
  throw invalidArgument('request body must have "instances" or "inputs"');
}

/**
 * A number that JSON.parse may not read exactly as an integer has 16 or more digits (a point
 * may sit among them) or an exponent. Text without either (also inside strings, which only
 * makes this err on the safe side) parses exactly.
 */
const MAYBE_INEXACT = /\d(?:\.?\d){15}|\d[eE]/;

/**
 * Parses a V1 body. JSON.parse rounds integers to doubles, so a model with an integer input
 * gets the exact parser when the body has a number JSON.parse could misread (the body's
 * integers then arrive as their exact values); otherwise, and for float and BYTES models,
 * JSON.parse, whose doubles are exactly what they need.
 */
export function parsePredictBody(body: Buffer, inputs: readonly TensorMetadata[]): unknown {
  const text = body.toString('utf8');
  const exact = inputs.some((meta) => INT_RANGES[meta.datatype] !== undefined) && MAYBE_INEXACT.test(text);
  try {
    return exact ? parseJsonExact(text) : JSON.parse(text);
  } catch (err) {
    if (exact && !(err instanceof JsonSyntaxError)) throw err;
    throw invalidArgument(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Builds protocol tensors (first dimension = number of rows) from a V1 body (raw, or parsed). */
export function decodePredictRequest(raw: Buffer | unknown, inputs: readonly TensorMetadata[]): Tensor[] {
  const body = Buffer.isBuffer(raw) ? parsePredictBody(raw, inputs) : raw;
  const cols = columns(body, inputs);
  return inputs.map((meta) => {
    const rows = cols.get(meta.name)!;
    const shape = nestedShape(rows, meta.name);
    // A model without a batch dimension takes one row as the whole tensor.
    const modelBatches = meta.shape.length > 0 && meta.shape[0] === -1;
    const tensorShape = modelBatches || rows.length !== 1 ? shape : shape.slice(1);
    return { name: meta.name, datatype: meta.datatype, shape: tensorShape, data: fromJson(meta.name, meta.datatype, rows) };
  });
}

/**
 * `{"predictions": [...]}`, one prediction per row: the bare value for a single output, an
 * object keyed by output name for several (a row an output lacks leaves its key out). Built
 * from each output's row text, which the worker rendered (layout 'rows'); bounded by maxBytes.
 */
export function encodePredictions(response: InferResponse, maxBytes = DEFAULT_RESPONSE_LIMIT): Buffer {
  const out = new JsonParts();
  out.text('{"predictions":');
  const texts = response.outputs.map((t) => tensorJson(t, 'rows', maxBytes));
  if (response.outputs.length === 1) {
    out.bytes(texts[0]!.bytes);
  } else {
    const count = Math.max(...texts.map((t) => t.rows!.length / 2));
    const keys = response.outputs.map((t) => `${JSON.stringify(t.name)}:`);
    out.text('[');
    for (let i = 0; i < count; i++) {
      let first = true;
      out.text(i > 0 ? ',{' : '{');
      texts.forEach((text, k) => {
        const rows = text.rows!;
        if (2 * i >= rows.length) return;
        out.text(first ? keys[k]! : `,${keys[k]!}`);
        out.bytes(text.bytes, rows[2 * i]!, rows[2 * i + 1]!);
        first = false;
      });
      out.text('}');
      if (out.length > maxBytes) break;
    }
    out.text(']');
  }
  out.text('}');
  return out.join(maxBytes, response.outputs.at(-1)?.name ?? '');
}
