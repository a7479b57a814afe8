/**
 * The protobuf layer: our schema loaded into protobufjs, plus the reader/writer tweaks ONNX needs.
 *
 * - Unknown fields are kept: our readers set `discardUnknown = false` per instance, so other
 *   protobufjs users in the process keep the library default.
 * - int64 values decode to a number when safe and a bigint otherwise (protobufjs would give Long
 *   objects, or silently rounded numbers without the `long` package), and bigints encode exactly.
 * - Decoded messages are converted to plain objects (see types.ts for the conventions): protobufjs
 *   message instances carry defaults on their prototype, which hides whether a field was present.
 */
import { constants as bufferConstants } from 'node:buffer';
import protobuf from 'protobufjs';
import { ONNX_PROTO } from './schema.js';

const root = protobuf.parse(ONNX_PROTO).root;
root.resolveAll();

export const ModelType = root.lookupType('onnx.ModelProto');
export const TensorType = root.lookupType('onnx.TensorProto');

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const BUFFER_MAX = bufferConstants.MAX_LENGTH;

function outOfRange(r: protobuf.Reader): RangeError {
  return new RangeError(`index out of range: ${r.pos} > ${r.len}`);
}

/** Reads a base-128 varint of up to 10 bytes as 64 bits, two's complement when `signed`. */
function readVarint64(r: protobuf.Reader, signed: boolean): number | bigint {
  const buf = r.buf;
  let pos = r.pos;
  // Fast path: up to 7 bytes (49 bits) is exact in a double, which covers nearly every value.
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    if (pos >= r.len) throw outOfRange(r);
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      r.pos = pos;
      return value;
    }
    scale *= 128;
  }
  // Slow path: continue with bigint arithmetic for the remaining bytes.
  let big = BigInt(value);
  let shift = 49n;
  for (let i = 7; i < 10; i++) {
    if (pos >= r.len) throw outOfRange(r);
    const b = buf[pos++];
    big |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      big = signed ? BigInt.asIntN(64, big) : BigInt.asUintN(64, big);
      return big >= -MAX_SAFE && big <= MAX_SAFE ? Number(big) : big;
    }
    shift += 7n;
  }
  throw new Error('invalid varint encoding');
}

/** A reader that keeps unknown fields and decodes int64 without loss. */
export class OnnxReader extends protobuf.BufferReader {
  constructor(bytes: Uint8Array) {
    // BufferReader slices Buffers (views, no copies) and decodes strings natively.
    super(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.discardUnknown = false;
  }

  override int64(): protobuf.Long {
    return readVarint64(this, true) as unknown as protobuf.Long;
  }

  override uint64(): protobuf.Long {
    return readVarint64(this, false) as unknown as protobuf.Long;
  }
}

/** protobufjs's LongBits.from understands {low, high} objects but turns a bigint into 0. */
function longLike(v: unknown): unknown {
  if (typeof v !== 'bigint') return v;
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned: false };
}

function longLikes(values: unknown[]): unknown[] {
  return values.some((v) => typeof v === 'bigint') ? Array.from(values, longLike) : values;
}

type LongArg = protobuf.Long | number | string;

/** A writer that encodes bigint int64 values exactly. */
export class OnnxWriter extends protobuf.BufferWriter {
  override int64(value: LongArg): protobuf.Writer {
    return super.int64(longLike(value) as LongArg);
  }

  override uint64(value: LongArg): protobuf.Writer {
    return super.uint64(longLike(value) as LongArg);
  }

  override int64s(values: LongArg[]): protobuf.Writer {
    return super.int64s(longLikes(values) as LongArg[]);
  }

  override uint64s(values: LongArg[]): protobuf.Writer {
    return super.uint64s(longLikes(values) as LongArg[]);
  }
}

/**
 * protobufjs grows its buffer with `length << 1`, which turns negative past 1 GiB; it then grows
 * to exactly the size needed, so every later field copies the whole buffer again (quadratic for
 * models between 1 and 2 GiB). Our writer keeps doubling, capped at the largest Buffer.
 */
interface GrowableWriter {
  buf: Uint8Array;
  pos: number;
  view: DataView | null;
  _reserve(n: number): void;
}
const writerProto = OnnxWriter.prototype as unknown as GrowableWriter;
if (typeof writerProto._reserve === 'function') {
  writerProto._reserve = function reserve(this: GrowableWriter, n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    const size = Math.max(need, Math.min(this.buf.length * 2, BUFFER_MAX));
    const buf = Buffer.allocUnsafe(size);
    buf.set(this.buf.subarray(0, this.pos), 0);
    this.buf = buf;
    this.view = null;
  };
}

interface FieldPlan {
  name: string;
  repeated: boolean;
  type?: protobuf.Type;
}

const plans = new Map<protobuf.Type, FieldPlan[]>();

function planFor(type: protobuf.Type): FieldPlan[] {
  let plan = plans.get(type);
  if (!plan) {
    plan = type.fieldsArray.map((f) => ({
      name: f.name,
      repeated: f.repeated,
      type: f.resolvedType instanceof protobuf.Type ? f.resolvedType : undefined,
    }));
    plans.set(type, plan);
  }
  return plan;
}

type Msg = Record<string, unknown>;

/** protobufjs message instance -> plain object: own properties for present fields only. */
export function toPlain(type: protobuf.Type, message: object): Msg {
  const m = message as Msg;
  const out: Msg = {};
  for (const f of planFor(type)) {
    const has = Object.hasOwn(m, f.name) && m[f.name] != null;
    if (f.repeated) {
      const values = has ? (m[f.name] as unknown[]) : [];
      out[f.name] = f.type ? values.map((v) => toPlain(f.type!, v as object)) : values;
    } else if (has) {
      out[f.name] = f.type ? toPlain(f.type, m[f.name] as object) : m[f.name];
    }
  }
  if (Object.hasOwn(m, '$unknowns') && Array.isArray(m.$unknowns) && m.$unknowns.length > 0) {
    out.$unknowns = m.$unknowns;
  }
  return out;
}

export function decodeWith(type: protobuf.Type, bytes: Uint8Array): Msg {
  return toPlain(type, type.decode(new OnnxReader(bytes)));
}

/**
 * Encodes into a fresh writer. With `shared`, returns a view of the writer's buffer (no final copy,
 * which matters for models near 2 GB); otherwise a right-sized copy.
 */
export function encodeWith(type: protobuf.Type, message: object, shared = false): Uint8Array {
  const writer = new OnnxWriter();
  type.encode(message, writer);
  // BufferWriter inherits Writer#finish(shared); its typings just don't repeat the parameter.
  return protobuf.Writer.prototype.finish.call(writer, shared);
}
