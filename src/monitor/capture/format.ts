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
}

/** Tensor names and datatypes repeat on every record: their JSON, kept (bounded). */
const quoteName = cachedQuote();

/**
 * Appends one record (length prefix included) at `sink.off`. Records are sampled on the serving
 * thread, so the header is built as text rather than by JSON.stringify of an object (the same
 * JSON), and encoded once, straight into the sink.
 */
export function appendRecord(sink: RecordSink, r: CapturedRecord): void {
  const blobs: Uint8Array[] = [];
  let payload = 0;
  const describe = (tensors: readonly Tensor[]): string => {
    let out = '';
    for (const t of tensors) {
      const bytes = tensorBytes(t);
      blobs.push(bytes);
      payload += bytes.byteLength;
      let shape = '';
      for (let i = 0; i < t.shape.length; i++) shape += i === 0 ? number(t.shape[i]!) : `,${number(t.shape[i]!)}`;
      out += `${out === '' ? '' : ','}{"n":${quoteName(t.name)},"d":${quoteName(t.datatype)},"s":[${shape}],"b":${bytes.byteLength}}`;
    }
    return out;
  };
  const header = `{"t":${number(r.time)},"m":${quoteName(r.model)},"v":${quoteName(r.version)},"id":${quote(r.requestId)},"r":${number(r.rows)},"in":[${describe(r.inputs)}],"out":[${describe(r.outputs)}]}`;
  const room = 8 + header.length * 3 + payload; // UTF-8 takes at most 3 bytes per UTF-16 unit
  if (sink.off + room > sink.buf.length) {
    const bigger = Buffer.allocUnsafe(Math.max(sink.buf.length * 2, sink.off + room));
    sink.buf.copy(bigger, 0, 0, sink.off);
    sink.buf = bigger;
  }
  const buf = sink.buf;
  const start = sink.off;
  const hlen = buf.write(header, start + 8, 'utf8');
  let p = start + 8 + hlen;
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
