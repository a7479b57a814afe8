/**
 * JSON answers from tensors: the text of each output's `data` (v2) or rows (V1), as bytes.
 * Normally the worker thread that ran the batch already rendered it (Tensor.json, asked for with
 * InferRequest.jsonText); otherwise it is rendered here with the same writer, so the text is
 * the same either way: shortest exact floats, exact 64-bit integers, `null` for NaN/±Infinity
 * (src/text/tensor-json.ts).
 */
import { jsonTooLarge } from '../core/inference-service.js';
import type { JsonText, Tensor } from '../core/tensor.js';
import { elementCount } from '../core/tensor.js';
import type { InferRequest, JsonTextSpec } from '../core/types.js';
import { JsonTextWriter, ResponseTooLargeError, estimateBytes, writeTensorJson } from '../text/tensor-json.js';
import type { JsonElements } from '../text/tensor-json.js';
import { DEFAULT_RESPONSE_LIMIT_BYTES } from '../config/defaults.js';

/** Default bound on one JSON answer (--max-response-mb), the same as the request body limit. */
export const DEFAULT_RESPONSE_LIMIT = DEFAULT_RESPONSE_LIMIT_BYTES;

/** Whether an output goes binary: its own `binary_data` parameter, else the request's `binary_data_output`. */
export function wantsBinary(request: InferRequest, output: string): boolean {
  const own = request.outputs?.find((o) => o.name === output)?.parameters?.binary_data;
  return typeof own === 'boolean' ? own : request.parameters?.binary_data_output === true;
}

/** What a v2 request will answer as JSON, for the worker to render (undefined: nothing). */
export function v2JsonTextSpec(request: InferRequest, maxBytes: number): JsonTextSpec | undefined {
  if (request.outputs) {
    const outputs = request.outputs.map((o) => o.name).filter((name) => !wantsBinary(request, name));
    return outputs.length === 0 ? undefined : { outputs, layout: 'flat', maxBytes };
  }
  if (request.parameters?.binary_data_output === true) return undefined;
  return { layout: 'flat', maxBytes };
}

/**
 * The JSON text of a tensor's data in the given layout: the worker's if it rendered it, else
 * rendered now. `maxBytes` bounds what is rendered here; past it, PAYLOAD_TOO_LARGE.
 */
export function tensorJson(t: Tensor, layout: 'flat' | 'rows', maxBytes: number): JsonText {
  if (t.json?.overLimit !== undefined) throw jsonTooLarge(t.name, t.json.overLimit);
  if (t.json && t.json.layout === layout) return t.json;
  const data: JsonElements = t.datatype === 'BYTES' ? (t.data as Buffer[]).map((b) => b.toString('utf8')) : (t.data as JsonElements);
  const count = elementCount(t.shape);
  const writer = new JsonTextWriter(maxBytes, Math.min(estimateBytes(t.datatype, count), maxBytes + 64));
  const rows: number[] | undefined = layout === 'rows' ? [] : undefined;
  try {
    writeTensorJson(writer, t.datatype, data, 0, layout === 'flat' ? [count] : t.shape.length === 0 ? [1] : t.shape, rows);
    return { bytes: writer.finish(), layout, ...(rows ? { rows: Uint32Array.from(rows) } : {}) };
  } catch (err) {
    if (err instanceof ResponseTooLargeError) throw jsonTooLarge(t.name, maxBytes);
    throw err;
  }
}

/** Collects pieces of a JSON answer (strings and rendered bytes) and joins them in one allocation. */
export class JsonParts {
  private readonly parts: (string | Uint8Array)[] = [];
  length = 0;

  text(s: string): void {
    this.parts.push(s);
    this.length += Buffer.byteLength(s, 'utf8');
  }

  bytes(b: Uint8Array, start = 0, end = b.byteLength): void {
    this.parts.push(start === 0 && end === b.byteLength ? b : b.subarray(start, end));
    this.length += end - start;
  }

  /** The joined bytes; past `maxBytes`, PAYLOAD_TOO_LARGE (blaming `output`). */
  join(maxBytes: number, output: string): Buffer {
    if (this.length > maxBytes) throw jsonTooLarge(output, maxBytes);
    const out = Buffer.allocUnsafe(this.length);
    let pos = 0;
    for (const p of this.parts) {
      if (typeof p === 'string') pos += out.write(p, pos, 'utf8');
      else {
        out.set(p, pos);
        pos += p.byteLength;
      }
    }
    return out;
  }
}
