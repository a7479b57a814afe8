/**
 * Open Inference Protocol v2 request/response bodies over HTTP, JSON and the binary tensor
 * data extension: `<JSON header><blob 1><blob 2>...`, the header's length given by the
 * `Inference-Header-Content-Length` header, blobs sliced in tensor order by each tensor's
 * `binary_data_size`.
 */
import { invalidArgument } from '../core/errors.js';
import type { Datatype, NumericArray, Tensor } from '../core/tensor.js';
import { DATATYPES, decodeBytesElements, elementCount, isDatatype, numericFromBytes, tensorBytes } from '../core/tensor.js';
import type { InferRequest, InferResponse, TensorMetadata } from '../core/types.js';
import { fromJson } from './json-decode.js';
import { JsonSyntaxError, parseJsonExact } from './json-exact.js';
import { floatsFromParsed, locateInputData, scanNumericData, type DataSpan } from './json-scan.js';
import { DEFAULT_RESPONSE_LIMIT, JsonParts, tensorJson, wantsBinary } from './json-encode.js';
import { parseRequestHeader } from './v2-request-header.js';

/** Length of the JSON header, from Inference-Header-Content-Length (absent: the whole body). */
export function headerLength(header: string | string[] | undefined, bodyLength: number): number | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header[0]! : header;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > bodyLength) {
    throw invalidArgument(`Inference-Header-Content-Length must be an integer between 0 and the body length ${bodyLength}, got '${text}'`);
  }
  return n;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** The general parse of a body or one data value: exact integers, JSON.parse's verdict on syntax. */
function parseExact(text: string): unknown {
  try {
    return parseJsonExact(text);
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    parseJson(text); // JSON.parse's wording when it agrees the text is malformed
    throw invalidArgument(`request body is not valid JSON: ${err.message}`);
  }
}

/**
 * The JSON header with the `data` values located but not parsed (see json-scan.ts). When the
 * walk does not understand the text, the whole body is parsed the general way.
 */
function parseHeader(text: string): { json: unknown; spans?: Map<number, DataSpan> } {
  const located = locateInputData(text);
  if (!located) return { json: parseExact(text) };
  let json: unknown;
  try {
    json = JSON.parse(located.header);
  } catch {
    return { json: parseExact(text) };
  }
  return { json, spans: located.spans };
}

/** One input's JSON data: straight into a typed array when plain, else parsed and checked. */
function jsonData(name: string, datatype: Datatype, shape: number[], text: string, span: DataSpan): Tensor['data'] {
  const expected = shape.reduce((a, b) => a * b, 1);
  // The declared shape sizes the array, but never beyond what the text can hold: a shape of
  // [1e9] with three numbers must not allocate a billion elements.
  const capacity = Number.isSafeInteger(expected) ? Math.min(expected, ((span[1] - span[0]) >> 1) + 1) : 1;
  const fast = scanNumericData(text, span[0], span[1], datatype, capacity);
  if (fast) return fast;
  const slice = text.slice(span[0], span[1]);
  if (fast === null && (datatype === 'FP32' || datatype === 'FP64')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(slice);
    } catch {
      parsed = undefined; // the general path words the error
    }
    const floats = parsed === undefined ? undefined : floatsFromParsed(parsed, datatype, capacity);
    if (floats) return floats;
  }
  return fromJson(name, datatype, datatype === 'BYTES' ? parseJson(slice) : parseExact(slice));
}

/** Decodes a v2 infer body (JSON, or JSON + binary blobs). */
export function decodeInferRequest(body: Buffer, headerLen: number | undefined, model: string, version: string | undefined, modelInputs: () => TensorMetadata[]): InferRequest {
  if (headerLen === 0) return decodeRawBinary(body, model, version, modelInputs());
  const jsonLen = headerLen ?? body.length;
  if (jsonLen === 0) throw invalidArgument('request body is empty; expected an inference request');
  const text = body.toString('utf8', 0, jsonLen);
  const { json, spans } = parseHeader(text);
  const req = parseRequestHeader(json);
  let offset = jsonLen;
  const inputs: Tensor[] = req.inputs.map((input, i) => {
    if (!isDatatype(input.datatype)) throw invalidArgument(`input '${input.name}' has unknown datatype '${input.datatype}'`);
    const datatype: Datatype = input.datatype;
    const size = input.parameters?.binary_data_size;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
        throw invalidArgument(`input '${input.name}': binary_data_size must be a non-negative integer`);
      }
      if (offset + size > body.length) {
        throw invalidArgument(`input '${input.name}': binary_data_size ${size} runs past the end of the body (${body.length - offset} bytes left)`);
      }
      const blob = body.subarray(offset, offset + size);
      offset += size;
      return { name: input.name, datatype, shape: input.shape, data: decodeBlob(input.name, datatype, input.shape, blob) };
    }
    if (input.data === undefined) throw invalidArgument(`input '${input.name}' has neither data nor parameters.binary_data_size`);
    const span = spans?.get(i);
    const data = span ? jsonData(input.name, datatype, input.shape, text, span) : fromJson(input.name, datatype, input.data);
    return { name: input.name, datatype, shape: input.shape, data };
  });
  if (offset !== body.length) {
    throw invalidArgument(`the body has ${body.length - offset} bytes beyond the JSON header and the binary inputs`);
  }
  return {
    modelName: model,
    modelVersion: version,
    id: req.id,
    inputs,
    outputs: req.outputs,
    parameters: req.parameters,
  };
}

function decodeBlob(name: string, datatype: Datatype, shape: number[], blob: Buffer): Tensor['data'] {
  try {
    if (datatype === 'BYTES') return decodeBytesElements(blob);
    const expected = elementCount(shape) * DATATYPES[datatype].size;
    if (blob.length !== expected) {
      throw invalidArgument(`input '${name}': binary_data_size is ${blob.length} bytes but shape [${shape.join(',')}] of ${datatype} needs ${expected}`);
    }
    return numericFromBytes(datatype, blob);
  } catch (err) {
    if (err instanceof RangeError) throw invalidArgument(`input '${name}': ${err.message}`);
    throw err;
  }
}

/**
 * Header-less binary request (Inference-Header-Content-Length: 0): the whole body is the one
 * input of a single-input model, batch 1; every output comes back binary.
 */
function decodeRawBinary(body: Buffer, model: string, version: string | undefined, inputs: TensorMetadata[]): InferRequest {
  if (inputs.length !== 1) {
    throw invalidArgument(`a request without a JSON header (Inference-Header-Content-Length: 0) needs a model with exactly one input; '${model}' has ${inputs.length}`);
  }
  const meta = inputs[0]!;
  let shape: number[];
  if (meta.datatype === 'BYTES') {
    shape = [1];
  } else {
    const size = DATATYPES[meta.datatype].size;
    const dims = meta.shape.map((d, i) => (i === 0 && d < 0 ? 1 : d));
    const unknown = dims.filter((d) => d < 0).length;
    if (unknown > 1) throw invalidArgument(`input '${meta.name}' has more than one variable dimension besides the batch; send a JSON header`);
    const known = dims.filter((d) => d >= 0).reduce((a, b) => a * b, 1) * size;
    if (known === 0 || body.length % known !== 0) {
      throw invalidArgument(`input '${meta.name}' expects a multiple of ${known} bytes, got ${body.length}`);
    }
    shape = dims.map((d) => (d < 0 ? body.length / known : d));
  }
  const data = decodeBlob(meta.name, meta.datatype, shape, body);
  return {
    modelName: model,
    modelVersion: version,
    inputs: [{ name: meta.name, datatype: meta.datatype, shape, data }],
    parameters: { binary_data_output: true },
  };
}

export interface EncodedResponse {
  body: Buffer | string;
  contentType: string;
  /** set when the body carries binary blobs */
  headerLength?: number;
}

/**
 * Encodes a response, binary for the outputs that asked for it (or all, with binary_data_output).
 * JSON `data` is the text the worker rendered (Tensor.json), copied, not formatted, here; the
 * JSON part of the answer is bounded by `maxJsonBytes` (PAYLOAD_TOO_LARGE past it).
 */
export function encodeInferResponse(response: InferResponse, request: InferRequest, maxJsonBytes = DEFAULT_RESPONSE_LIMIT): EncodedResponse {
  const blobs: Uint8Array[] = [];
  const json = new JsonParts();
  let head = `{"model_name":${JSON.stringify(response.modelName)},"model_version":${JSON.stringify(response.modelVersion)}`;
  if (response.id !== undefined) head += `,"id":${JSON.stringify(response.id)}`;
  if (response.parameters) head += `,"parameters":${JSON.stringify(response.parameters)}`;
  json.text(`${head},"outputs":[`);
  let last = '';
  response.outputs.forEach((t, i) => {
    const meta = `${i > 0 ? ',' : ''}{"name":${JSON.stringify(t.name)},"datatype":"${t.datatype}","shape":[${t.shape.join(',')}]`;
    last = t.name;
    if (wantsBinary(request, t.name)) {
      const bytes = tensorBytes(t);
      blobs.push(bytes);
      json.text(`${meta},"parameters":{"binary_data_size":${bytes.byteLength}}}`);
      return;
    }
    json.text(`${meta},"data":`);
    json.bytes(tensorJson(t, 'flat', Math.max(0, maxJsonBytes - json.length)).bytes);
    json.text('}');
  });
  json.text(']}');
  const header = json.join(maxJsonBytes, last);
  if (blobs.length === 0) return { body: header, contentType: 'application/json' };
  const body = Buffer.concat([header, ...blobs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))]);
  return { body, contentType: 'application/octet-stream', headerLength: header.length };
}

/** Metadata tensor as the protocol writes it. */
export function metadataTensor(t: TensorMetadata): { name: string; datatype: string; shape: number[] } {
  return { name: t.name, datatype: t.datatype, shape: t.shape };
}

export type { NumericArray };
