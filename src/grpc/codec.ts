/**
 * ModelInferRequest / ModelInferResponse (as @grpc/proto-loader decodes them with our loader
 * options: snake_case names, 64-bit integers as decimal strings, oneof member names) ↔ the
 * core's protocol-neutral InferRequest / InferResponse.
 *
 * Inputs arrive either as typed `contents` or as `raw_input_contents` (never both in one
 * request, as Triton rules). Outputs always leave as `raw_output_contents`: Triton does the
 * same and tritonclient reads nothing else for numeric tensors. Raw bytes are little-endian,
 * row-major; a BYTES element is a 4-byte little-endian length followed by its bytes.
 */
import { invalidArgument } from '../core/errors.js';
import type { Datatype, NumericArray, Tensor, TensorData } from '../core/tensor.js';
import { DATATYPES, decodeBytesElements, elementCount, isDatatype, numericFromBytes, tensorBytes } from '../core/tensor.js';
import type { InferRequest, InferResponse, Parameters } from '../core/types.js';
import type { InferParameter, InferParameter__Output } from './generated/inference/InferParameter.js';
import type { InferTensorContents__Output } from './generated/inference/InferTensorContents.js';
import type { ModelInferRequest__Output } from './generated/inference/ModelInferRequest.js';
import type { ModelInferResponse } from './generated/inference/ModelInferResponse.js';

// --- the wire shapes ---------------------------------------------------------------------------
// Generated from inference.proto (npm run gen): `X__Output` is what proto-loader hands us with
// our loader options (64-bit integers as decimal strings, oneof member names), `X` what it
// accepts to encode (numbers or strings for 64-bit integers).

/** A decoded ModelInferRequest. */
export type WireInferRequest = ModelInferRequest__Output;
/** The ModelInferResponse we encode. */
export type WireInferResponse = ModelInferResponse;
/** 64-bit integers: decimal strings when decoded; numbers or strings when encoded. */
export type WireLong = string | number;
type DecodedParameters = Record<string, InferParameter__Output>;
type EncodedParameters = Record<string, InferParameter>;

// --- parameters ------------------------------------------------------------------------------

/** A 64-bit integer as a JS number when it is exact, else its decimal string. */
function longValue(v: WireLong): number | string {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : String(v);
}

/**
 * InferParameter map → core Parameters. int64/uint64 become numbers when exactly representable
 * (so `priority` and `timeout` reach the core as it expects); larger ones stay decimal strings
 * rather than being rounded, and the core rejects them where it needs a number.
 */
export function fromWireParameters(params: DecodedParameters | undefined): Parameters | undefined {
  if (!params) return undefined;
  const out: Parameters = {};
  let any = false;
  for (const [key, p] of Object.entries(params)) {
    let value: string | number | boolean | undefined;
    switch (p.parameter_choice) {
      case 'bool_param': value = p.bool_param ?? false; break;
      case 'int64_param': value = longValue(p.int64_param ?? 0); break;
      case 'uint64_param': value = longValue(p.uint64_param ?? 0); break;
      case 'double_param': value = p.double_param ?? 0; break;
      case 'string_param': value = p.string_param ?? ''; break;
      default: throw invalidArgument(`parameter '${key}' has no value (set one of bool_param, int64_param, string_param, double_param, uint64_param)`);
    }
    out[key] = value;
    any = true;
  }
  return any ? out : undefined;
}

/** Core Parameters → InferParameter map: integers as int64, other numbers as double. */
export function toWireParameters(params: Parameters): EncodedParameters {
  const out: EncodedParameters = {};
  for (const [key, v] of Object.entries(params)) {
    if (typeof v === 'boolean') out[key] = { bool_param: v };
    else if (typeof v === 'string') out[key] = { string_param: v };
    else if (Number.isSafeInteger(v)) out[key] = { int64_param: v };
    else out[key] = { double_param: v };
  }
  return out;
}

// --- tensors ---------------------------------------------------------------------------------

type ContentsField = keyof InferTensorContents__Output;

/** The typed `contents` field that carries each datatype (FP16 has none). */
export const CONTENTS_FIELD: Record<Exclude<Datatype, 'FP16'>, ContentsField> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

/** Narrow integer types carried in 32-bit contents fields: the range each element must fit. */
const NARROW_RANGES: Partial<Record<Datatype, [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  UINT8: [0, 255],
  UINT16: [0, 65535],
};

const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

function parseShape(name: string, shape: string[] | undefined): number[] {
  const dims = (shape ?? []).map((d) => Number(d));
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw invalidArgument(`input '${name}': shape [${(shape ?? []).join(',')}] must hold non-negative integers`);
    }
  }
  return dims;
}

function decodeTyped(name: string, datatype: Datatype, contents: InferTensorContents__Output | undefined): TensorData {
  if (datatype === 'FP16') {
    throw invalidArgument(`input '${name}': FP16 data has no typed contents field; send it in raw_input_contents`);
  }
  const field = CONTENTS_FIELD[datatype];
  if (contents) {
    for (const [other, values] of Object.entries(contents) as [ContentsField, unknown[] | undefined][]) {
      if (other !== field && values && values.length > 0) {
        throw invalidArgument(`input '${name}' (${datatype}): data belongs in contents.${field}, got contents.${other}`);
      }
    }
  }
  const values = (contents?.[field] ?? []) as unknown[];
  switch (datatype) {
    case 'BYTES':
      return (values as Uint8Array[]).map((b) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
    case 'BOOL':
      return Uint8Array.from(values as boolean[], (v) => (v ? 1 : 0));
    case 'INT64':
      return BigInt64Array.from(values as string[], (v) => BigInt(v));
    case 'UINT64':
      return BigUint64Array.from(values as string[], (v) => BigInt(v));
    default: {
      const range = NARROW_RANGES[datatype];
      if (range) {
        const nums = values as number[];
        for (let i = 0; i < nums.length; i++) {
          const v = nums[i]!;
          if (v < range[0] || v > range[1]) {
            throw invalidArgument(`input '${name}' (${datatype}) element ${i} is not an integer in [${range[0]}, ${range[1]}]: ${v}`);
          }
        }
      }
      const Ctor = DATATYPES[datatype].array! as unknown as { from(values: ArrayLike<number>): NumericArray };
      return Ctor.from(values as number[]);
    }
  }
}

function decodeRaw(name: string, datatype: Datatype, shape: number[], raw: Uint8Array): TensorData {
  try {
    if (datatype === 'BYTES') return decodeBytesElements(raw);
    const expected = elementCount(shape) * DATATYPES[datatype].size;
    if (raw.byteLength !== expected) {
      throw invalidArgument(`input '${name}': raw_input_contents holds ${raw.byteLength} bytes but shape ${fmtShape(shape)} of ${datatype} needs ${expected}`);
    }
    return numericFromBytes(datatype, raw);
  } catch (err) {
    if (err instanceof RangeError) throw invalidArgument(`input '${name}': ${err.message}`);
    throw err;
  }
}

/** Decodes a ModelInferRequest into the core's InferRequest. */
export function decodeInferRequest(req: WireInferRequest): InferRequest {
  const wireInputs = req.inputs ?? [];
  const raw = req.raw_input_contents ?? [];
  const useRaw = raw.length > 0;
  if (useRaw) {
    const typed = wireInputs.find((i) => i.contents !== undefined);
    if (typed) {
      throw invalidArgument(`input '${typed.name ?? ''}': contents field must not be specified when using raw_input_contents`);
    }
    if (raw.length !== wireInputs.length) {
      throw invalidArgument(`the request has ${wireInputs.length} inputs but ${raw.length} raw_input_contents; raw_input_contents[i] must hold inputs[i]`);
    }
  }
  const inputs: Tensor[] = wireInputs.map((input, i) => {
    const name = input.name ?? '';
    const datatype = input.datatype ?? '';
    if (!isDatatype(datatype)) throw invalidArgument(`input '${name}' has unknown datatype '${datatype}'`);
    const shape = parseShape(name, input.shape);
    const data = useRaw ? decodeRaw(name, datatype, shape, raw[i]!) : decodeTyped(name, datatype, input.contents);
    return { name, datatype, shape, data };
  });
  const outputs = req.outputs && req.outputs.length > 0
    ? req.outputs.map((o) => {
      const parameters = fromWireParameters(o.parameters);
      return parameters ? { name: o.name ?? '', parameters } : { name: o.name ?? '' };
    })
    : undefined;
  const request: InferRequest = { modelName: req.model_name ?? '', inputs, protocol: 'grpc' };
  if (req.model_version) request.modelVersion = req.model_version;
  if (req.id) request.id = req.id;
  if (outputs) request.outputs = outputs;
  const parameters = fromWireParameters(req.parameters);
  if (parameters) request.parameters = parameters;
  // Sticky rollout routing: the request parameter `route_key` (a string) pins one version.
  if (typeof parameters?.route_key === 'string' && parameters.route_key !== '') request.routeKey = parameters.route_key;
  return request;
}

/** A tensor's wire bytes as a Buffer view (no copy for numeric types). */
function rawBytes(t: Tensor): Buffer {
  const bytes = tensorBytes(t);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Encodes the core's InferResponse as a ModelInferResponse with raw output contents. */
export function encodeInferResponse(res: InferResponse): WireInferResponse {
  const out: WireInferResponse = {
    model_name: res.modelName,
    model_version: res.modelVersion,
    id: res.id ?? '',
    outputs: res.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    raw_output_contents: res.outputs.map(rawBytes),
  };
  if (res.parameters) out.parameters = toWireParameters(res.parameters);
  return out;
}
