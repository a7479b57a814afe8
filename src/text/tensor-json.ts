/**
 * Tensor elements → JSON text bytes, written straight into a growing byte buffer: what the
 * worker thread that ran a batch uses to render each request's JSON `data` (so the event loop
 * only copies bytes), and what the front ends fall back to when no worker text is at hand.
 *
 * Element text: floats are the shortest text that parses back to the same value in their own
 * precision (float-text.ts); FP64 is JavaScript's shortest round-trip text for doubles; 64-bit
 * integers are printed exactly (never through a double); non-finite floats are `null`, as
 * `JSON.stringify` writes them; BOOL is true/false; BYTES are JSON strings of their UTF-8 text.
 *
 * The text is bounded: past `limit` bytes the writer stops with ResponseTooLargeError, so one
 * request whose model answers with a huge tensor cannot make the server build an unbounded
 * string. A leaf module (no berth imports), shared by runtime/ and http/.
 */
import { MAX_FLOAT_TEXT, writeFloat16, writeFloat32, writeInteger } from './float-text.js';

/** Element arrays the writer takes: typed arrays, or strings for BYTES. FP16 is raw Uint16 bits. */
export type JsonElements =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | readonly string[];

export class ResponseTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the JSON answer is larger than the limit of ${limit} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

const COMMA = 44;
const OPEN = 91;
const CLOSE = 93;
const NULL = [110, 117, 108, 108];
const TRUE = [116, 114, 117, 101];
const FALSE = [102, 97, 108, 115, 101];
const encoder = new TextEncoder();

/** A growing byte buffer that refuses to hold more than `limit` bytes of text. */
export class JsonTextWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(readonly limit: number, initial = 1024) {
    this.buf = new Uint8Array(Math.max(64, Math.min(initial, limit + 64)));
  }

  /** Makes room for n more bytes; past the limit, throws. */
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    // Checked only when growing: the buffer stays below twice the limit plus one element.
    if (this.pos > this.limit) throw new ResponseTooLargeError(this.limit);
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  ascii(codes: readonly number[]): void {
    this.room(codes.length);
    for (const c of codes) this.buf[this.pos++] = c;
  }

  /** The text so far; throws if it passed the limit. */
  finish(): Uint8Array {
    if (this.pos > this.limit) throw new ResponseTooLargeError(this.limit);
    return this.buf.subarray(0, this.pos);
  }

  check(): void {
    if (this.pos > this.limit) throw new ResponseTooLargeError(this.limit);
  }
}

/** Typical bytes per element, to size the buffer once for most answers. */
export function estimateBytes(datatype: string, count: number): number {
  const per = datatype === 'FP32' || datatype === 'FP16' ? 12 : datatype === 'FP64' ? 20 : datatype === 'INT64' || datatype === 'UINT64' ? 8 : datatype === 'BYTES' ? 16 : 4;
  return count * per + 16;
}

/** Writes `count` elements from `start`, comma-separated, no brackets. */
function writeElements(w: JsonTextWriter, datatype: string, data: JsonElements, start: number, count: number): void {
  const end = start + count;
  switch (datatype) {
    case 'FP32': {
      const f = data as Float32Array;
      const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
      for (let i = start; i < end; i++) {
        if (w.pos + MAX_FLOAT_TEXT + 1 > w.buf.length) w.room(MAX_FLOAT_TEXT + 1);
        const p = writeFloat32(w.buf, w.pos, bits[i]!);
        w.pos = p < 0 ? writeNull(w.buf, w.pos) : p;
        w.buf[w.pos++] = COMMA;
      }
      break;
    }
    case 'FP16': {
      const h = data as Uint16Array;
      for (let i = start; i < end; i++) {
        if (w.pos + MAX_FLOAT_TEXT + 1 > w.buf.length) w.room(MAX_FLOAT_TEXT + 1);
        const p = writeFloat16(w.buf, w.pos, h[i]!);
        w.pos = p < 0 ? writeNull(w.buf, w.pos) : p;
        w.buf[w.pos++] = COMMA;
      }
      break;
    }
    case 'FP64': {
      const d = data as Float64Array;
      for (let i = start; i < end; i++) {
        const v = d[i]!;
        if (!Number.isFinite(v)) w.ascii(NULL);
        else if (v === 0) w.ascii(Object.is(v, -0) ? [45, 48, 46, 48] : [48]);
        else writeAscii(w, String(v));
        w.byte(COMMA);
      }
      break;
    }
    case 'INT64':
    case 'UINT64': {
      const b = data as BigInt64Array | BigUint64Array;
      for (let i = start; i < end; i++) {
        writeAscii(w, b[i]!.toString());
        w.byte(COMMA);
      }
      break;
    }
    case 'BOOL': {
      const b = data as Uint8Array;
      for (let i = start; i < end; i++) {
        w.ascii(b[i] ? TRUE : FALSE);
        w.byte(COMMA);
      }
      break;
    }
    case 'BYTES': {
      const s = data as readonly string[];
      for (let i = start; i < end; i++) {
        const text = JSON.stringify(s[i]!);
        w.room(text.length * 3 + 1);
        w.pos += encoder.encodeInto(text, w.buf.subarray(w.pos)).written;
        w.buf[w.pos++] = COMMA;
      }
      break;
    }
    default: {
      // INT8..UINT32
      const a = data as Int32Array;
      for (let i = start; i < end; i++) {
        if (w.pos + 13 > w.buf.length) w.room(13);
        w.pos = writeInteger(w.buf, w.pos, a[i]!);
        w.buf[w.pos++] = COMMA;
      }
    }
  }
  if (count > 0) w.pos--; // the last comma
  w.check();
}

function writeNull(out: Uint8Array, pos: number): number {
  out[pos] = NULL[0]!;
  out[pos + 1] = NULL[1]!;
  out[pos + 2] = NULL[2]!;
  out[pos + 3] = NULL[3]!;
  return pos + 4;
}

function writeAscii(w: JsonTextWriter, s: string): void {
  w.room(s.length);
  for (let i = 0; i < s.length; i++) w.buf[w.pos++] = s.charCodeAt(i);
}

/**
 * Writes elements [start, start + product(dims)) nested by `dims` (`[]`: one bare element;
 * `[n]`: a flat array). With `rows`, records the byte range of each top-level item
 * (start, end pairs), for answers assembled row by row (V1 predictions).
 */
export function writeTensorJson(w: JsonTextWriter, datatype: string, data: JsonElements, start: number, dims: readonly number[], rows?: number[]): void {
  if (dims.length === 0) {
    writeElements(w, datatype, data, start, 1);
    return;
  }
  nested(w, datatype, data, start, dims, 0, rows);
}

function nested(w: JsonTextWriter, datatype: string, data: JsonElements, start: number, dims: readonly number[], level: number, rows?: number[]): number {
  const n = dims[level]!;
  w.byte(OPEN);
  if (level === dims.length - 1 && !rows) {
    writeElements(w, datatype, data, start, n);
    w.byte(CLOSE);
    return start + n;
  }
  let at = start;
  for (let i = 0; i < n; i++) {
    if (i > 0) w.byte(COMMA);
    const from = w.pos;
    if (level === dims.length - 1) {
      writeElements(w, datatype, data, at, 1);
      at++;
    } else {
      at = nested(w, datatype, data, at, dims, level + 1);
    }
    rows?.push(from, w.pos);
  }
  w.byte(CLOSE);
  return at;
}
