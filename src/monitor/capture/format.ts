/**
 * The capture segment format: length-prefixed binary records, so writing is one append and
 * reading needs no parsing of tensor data as text.
 *
 * ```
 * segment := MAGIC record*
 * MAGIC   := "BCAP" 0x01 0x00 0x00 0x00
 * record  := u32le length-of-rest · u32le header-length · header (UTF-8 JSON) · payload
 * header  := {"t": ms since epoch, "m": model, "v": version, "id": request id, "r": samples,
 *             "in": [{"n": name, "d": datatype, "s": shape, "b": payload bytes}], "out": [...]}
 * payload := the tensors' little-endian bytes, inputs then outputs, in header order
 *            (BYTES tensors in the binary wire form: u32le length + bytes per element)
 * ```
 * A record cut short (the process died mid-append) ends the segment for readers.
 */
import type { Datatype, Tensor } from '../../core/tensor.js';
import { decodeBytesElements, numericFromBytes, tensorBytes } from '../../core/tensor.js';
import { cachedQuote, number, quote } from '../json-text.js';

export const MAGIC = Buffer.from([0x42, 0x43, 0x41, 0x50, 0x01, 0, 0, 0]);
export const SEGMENT_SUFFIX = '.bcap';

export interface CapturedRecord {
  time: number;
  model: string;
  version: string;
  requestId: string;
  rows: number;
  inputs: Tensor[];
  outputs: Tensor[];
}

interface TensorHeader {
  n: string;
  d: Datatype;
  s: number[];
  b: number;
}

interface RecordHeader {
  t: number;
  m: string;
  v: string;
  id: string;
  r: number;
  in: TensorHeader[];
  out: TensorHeader[];
}

/** Where records are appended: a buffer that grows as needed, and the end of what is written. */
export interface RecordSink {
  buf: Buffer;
  off: number;
  /** the header tails of recent layouts, per model (kept across sinks by whoever owns them) */
  tails?: HeaderTails;
}

/**
 * The end of a record's header, `"r":…,"in":[…],"out":[…]}`, encoded, for the last layout
 * (rows, tensor names, datatypes, shapes, byte sizes) seen for a model. A model's requests
 * mostly repeat one layout, so a record usually writes only its time, model, version and id
 * as text and copies the rest; checking the layout reads a few fields and allocates nothing.
 */
interface HeaderTail {
  version: string;
  rows: number;
  inputs: TensorHeader[];
  outputs: TensorHeader[];
  bytes: Buffer;
}

export type HeaderTails = Map<string, HeaderTail>;

/** Models whose tails are kept at most (the names may come from clients' requests). */
const MAX_TAILS = 256;

/** Tensor names and datatypes repeat on every record: their JSON, kept (bounded). */
const quoteName = cachedQuote();

function sameLayout(cached: readonly TensorHeader[], tensors: readonly Tensor[], sizes: readonly Uint8Array[], from: number): boolean {
  if (cached.length !== tensors.length) return false;
  for (let i = 0; i < tensors.length; i++) {
    const c = cached[i]!;
    const t = tensors[i]!;
    if (c.n !== t.name || c.d !== t.datatype || c.b !== sizes[from + i]!.byteLength || c.s.length !== t.shape.length) return false;
    for (let j = 0; j < c.s.length; j++) if (c.s[j] !== t.shape[j]) return false;
  }
  return true;
}

function tensorHeaders(tensors: readonly Tensor[], sizes: readonly Uint8Array[], from: number): TensorHeader[] {
  return tensors.map((t, i) => ({ n: t.name, d: t.datatype, s: t.shape.slice(), b: sizes[from + i]!.byteLength }));
}

function tensorsJson(hs: readonly TensorHeader[]): string {
  return hs.map((h) => `{"n":${quoteName(h.n)},"d":${quoteName(h.d)},"s":[${h.s.map(number).join(',')}],"b":${h.b}}`).join(',');
}

/** The encoded header tail for this record's layout: the model's cached one when it matches. */
function headerTail(tails: HeaderTails | undefined, r: CapturedRecord, blobs: readonly Uint8Array[]): Buffer {
  const nIn = r.inputs.length;
  const cached = tails?.get(r.model);
  if (cached && cached.version === r.version && cached.rows === r.rows && sameLayout(cached.inputs, r.inputs, blobs, 0) && sameLayout(cached.outputs, r.outputs, blobs, nIn)) return cached.bytes;
  const inputs = tensorHeaders(r.inputs, blobs, 0);
  const outputs = tensorHeaders(r.outputs, blobs, nIn);
  const bytes = Buffer.from(`"r":${number(r.rows)},"in":[${tensorsJson(inputs)}],"out":[${tensorsJson(outputs)}]}`);
  if (tails) {
    if (tails.size >= MAX_TAILS && !tails.has(r.model)) tails.clear();
    tails.set(r.model, { version: r.version, rows: r.rows, inputs, outputs, bytes });
  }
  return bytes;
}

/**
 * Appends one record (length prefix included) at `sink.off`. Records are encoded on the serving
 * thread, so the header is text written straight into the sink (the same JSON as
 * JSON.stringify of the header object), and its tail is copied from `sink.tails` when the
 * record's layout is the model's last one.
 */
export function appendRecord(sink: RecordSink, r: CapturedRecord): void {
  const blobs: Uint8Array[] = [];
  let payload = 0;
  for (const tensors of [r.inputs, r.outputs]) {
    for (const t of tensors) {
      const bytes = tensorBytes(t);
      blobs.push(bytes);
      payload += bytes.byteLength;
    }
  }
  const head = `{"t":${number(r.time)},"m":${quoteName(r.model)},"v":${quoteName(r.version)},"id":${quote(r.requestId)},`;
  const tail = headerTail(sink.tails, r, blobs);
  const room = 8 + head.length * 3 + tail.length + payload; // UTF-8 takes at most 3 bytes per UTF-16 unit
  if (sink.off + room > sink.buf.length) {
    const bigger = Buffer.allocUnsafe(Math.max(sink.buf.length * 2, sink.off + room));
    sink.buf.copy(bigger, 0, 0, sink.off);
    sink.buf = bigger;
  }
  const buf = sink.buf;
  const start = sink.off;
  let p = start + 8 + buf.write(head, start + 8, 'utf8');
  buf.set(tail, p);
  p += tail.length;
  const hlen = p - start - 8;
  for (const b of blobs) {
    buf.set(b, p);
    p += b.byteLength;
  }
  buf.writeUInt32LE(p - start - 4, start);
  buf.writeUInt32LE(hlen, start + 4);
  sink.off = p;
}

/** Encodes one record (length prefix included). */
export function encodeRecord(r: CapturedRecord): Buffer {
  const sink: RecordSink = { buf: Buffer.alloc(0), off: 0 };
  appendRecord(sink, r);
  return sink.buf.subarray(0, sink.off);
}

function decodeTensor(h: TensorHeader, bytes: Buffer): Tensor {
  if (h.d === 'BYTES') return { name: h.n, datatype: h.d, shape: h.s, data: decodeBytesElements(bytes) };
  // copy so the typed array is aligned and does not pin the whole segment buffer
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return { name: h.n, datatype: h.d, shape: h.s, data: numericFromBytes(h.d, copy) };
}

export interface DecodeFilter {
  model?: string;
  version?: string;
  since?: number;
  until?: number;
  /** decode tensors only for the side that is wanted */
  want?: 'inputs' | 'outputs' | 'both';
}

/**
 * Decodes the records of one segment's bytes that pass the filter. Returns them and whether
 * the segment ended cleanly (false: a truncated tail was ignored).
 */
export function decodeSegment(buf: Buffer, filter: DecodeFilter = {}): { records: CapturedRecord[]; clean: boolean } {
  const records: CapturedRecord[] = [];
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return { records, clean: false };
  let offset = MAGIC.length;
  const want = filter.want ?? 'both';
  while (offset < buf.length) {
    if (offset + 8 > buf.length) return { records, clean: false };
    const len = buf.readUInt32LE(offset);
    const end = offset + 4 + len;
    if (end > buf.length || len < 4) return { records, clean: false };
    const hlen = buf.readUInt32LE(offset + 4);
    const hstart = offset + 8;
    let header: RecordHeader;
    try {
      header = JSON.parse(buf.toString('utf8', hstart, hstart + hlen)) as RecordHeader;
    } catch {
      return { records, clean: false };
    }
    const pass =
      (filter.model === undefined || header.m === filter.model) &&
      (filter.version === undefined || header.v === filter.version) &&
      (filter.since === undefined || header.t >= filter.since) &&
      (filter.until === undefined || header.t < filter.until);
    if (pass) {
      let p = hstart + hlen;
      const take = (hs: TensorHeader[], decode: boolean): Tensor[] =>
        hs.map((h) => {
          const bytes = buf.subarray(p, p + h.b);
          p += h.b;
          return decode ? decodeTensor(h, bytes) : { name: h.n, datatype: h.d, shape: h.s, data: new Uint8Array(0) };
        });
      const inputs = take(header.in, want !== 'outputs');
      const outputs = take(header.out, want !== 'inputs');
      records.push({ time: header.t, model: header.m, version: header.v, requestId: header.id, rows: header.r, inputs, outputs });
    }
    offset = end;
  }
  return { records, clean: true };
}
