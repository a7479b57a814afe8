/**
 * Runs in the worker thread after a batch: renders the JSON text of each request's outputs,
 * split along the batch the way the batcher splits the tensors (core/batch-tensors.ts), so
 * the event loop never formats numbers. The bytes go back as transferred buffers.
 */
import type { JsonText } from '../core/tensor.js';
import { datatypeFromOrt, elementCount } from '../core/tensor.js';
import { JsonTextWriter, ResponseTooLargeError, estimateBytes, writeTensorJson } from '../text/tensor-json.js';
import type { JsonElements } from '../text/tensor-json.js';
import type { RequestTexts, TextPlan, WireTensor } from './wire.js';

export function renderTexts(outputs: readonly WireTensor[], plan: TextPlan): RequestTexts[] {
  const texts: RequestTexts[] = [];
  forEachRequest(plan, (i, firstRow, total) => texts.push(renderRequest(outputs, plan, i, firstRow, total)));
  return texts;
}

/** Calls `fn` for each request of the batch in order, with its first row and the batch's rows. */
export function forEachRequest(plan: TextPlan, fn: (i: number, firstRow: number, total: number) => void): void {
  const total = plan.rows.reduce((a, b) => a + b, 0);
  let firstRow = 0;
  plan.rows.forEach((rows, i) => {
    fn(i, firstRow, total);
    firstRow += rows;
  });
}

/**
 * The estimated size of a batch's texts: small ones go back with the tensors in one message,
 * large ones are streamed a few requests at a time (session-worker.ts).
 */
export function estimateTextBytes(outputs: readonly WireTensor[], plan: TextPlan): number {
  let bytes = 0;
  for (const out of outputs) {
    const datatype = datatypeFromOrt(out.type);
    if (datatype) bytes += estimateBytes(datatype, elementCount(out.dims));
  }
  const asking = plan.specs.filter(Boolean).length;
  return plan.specs.length === 0 ? 0 : Math.round((bytes * asking) / plan.specs.length);
}

/** One request's texts: its rows of the outputs it asked for (see renderTexts). */
export function renderRequest(outputs: readonly WireTensor[], plan: TextPlan, i: number, start: number, total: number): RequestTexts {
  const rows = plan.rows[i]!;
  const spec = plan.specs[i];
  if (!spec) return undefined;
  const texts: Record<string, JsonText> = {};
  let budget = spec.maxBytes;
  for (const out of outputs) {
    if (spec.outputs && !spec.outputs.includes(out.name)) continue;
    const datatype = datatypeFromOrt(out.type);
    if (!datatype) continue;
    let dims = out.dims;
    let offset = 0;
    if (plan.rows.length > 1) {
      // The batcher refuses outputs whose first dimension is not the batch; render nothing then.
      if (dims[0] !== total) continue;
      const perRow = elementCount(dims.slice(1));
      offset = start * perRow;
      dims = [rows, ...dims.slice(1)];
    }
    const count = elementCount(dims);
    const writer = new JsonTextWriter(budget, Math.min(estimateBytes(datatype, count), budget + 64));
    const rowRanges: number[] | undefined = spec.layout === 'rows' ? [] : undefined;
    try {
      // V1 rows of a scalar output: the one value is the one row.
      const shape = spec.layout === 'flat' ? [count] : dims.length === 0 ? [1] : dims;
      writeTensorJson(writer, datatype, out.data as JsonElements, offset, shape, rowRanges);
      const text = writer.finish();
      budget -= text.length;
      texts[out.name] = {
        bytes: text.length === writer.buf.length ? text : text.slice(),
        layout: spec.layout,
        ...(rowRanges ? { rows: Uint32Array.from(rowRanges) } : {}),
      };
    } catch (err) {
      if (!(err instanceof ResponseTooLargeError)) throw err;
      texts[out.name] = { bytes: new Uint8Array(0), layout: spec.layout, overLimit: spec.maxBytes };
      break;
    }
  }
  return texts;
}

/** The ArrayBuffers of rendered text, for postMessage's transfer list. */
export function textTransferList(texts: readonly RequestTexts[]): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const t of texts) {
    if (!t) continue;
    for (const text of Object.values(t)) {
      if (text.bytes.byteLength > 0) list.push(text.bytes.buffer as ArrayBuffer);
      if (text.rows) list.push(text.rows.buffer as ArrayBuffer);
    }
  }
  return list;
}
