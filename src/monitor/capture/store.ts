/**
 * Prediction capture: a sampled record of served requests (inputs, outputs, request id, model,
 * version, time) in a bounded, rotating local store of segment files (format.ts) under
 * HOME/monitor/capture/.
 *
 * The hot path decides whether to sample (a countdown to the next sample, drawn geometrically),
 * copies a sampled request's inputs as it enters the service (monitoring.ts), and encodes the
 * record into a byte buffer as the request completes; appending to the segment file runs in
 * batches from a timer, and the written buffer is reused for the records after next. Only
 * bytes wait for that timer: records kept as objects (tensors, arrays, header) until a flush 200 ms later survived
 * young-generation GCs and got promoted, which made capture at 10% cost ~0.9 µs per request
 * of the serving thread, mostly in the garbage collector (measured on the small bench MLP).
 * Segments are named `<first record ms>-<pid>-<n>.bcap` so name order is time order; once the
 * directory holds more than `maxBytes`, the oldest segments are deleted.
 */
import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { predictionId, type RequestRecord } from '../../core/observer.js';
import type { Tensor } from '../../core/tensor.js';
import type { HeaderTails, RecordSink } from './format.js';
import { MAGIC, SEGMENT_SUFFIX, appendRecord } from './format.js';

export interface CaptureOptions {
  /** directory of the segments (HOME/monitor/capture) */
  dir: string;
  /** share of successful requests captured, 0..1 */
  rate: number;
  /** the store's largest size, bytes (default 256 MiB) */
  maxBytes?: number;
  /** size at which a segment is closed and the next begun (default maxBytes/8, within 64 KiB..32 MiB) */
  segmentBytes?: number;
  /** how often pending records are written (default 200 ms) */
  flushMs?: number;
  /** pending bytes beyond which new samples are dropped (default 64 MiB) */
  maxPendingBytes?: number;
  /** captured ids remembered to skip a retried request's second capture (default 4096) */
  dedupIds?: number;
  log?: { warn(obj: object, msg: string): void };
}

export interface CaptureStats {
  rate: number;
  dir: string;
  max_bytes: number;
  /** bytes in the store's segments now */
  bytes: number;
  segments: number;
  /** records written by this process */
  records: number;
  /** sampled records dropped (writer behind, or one record larger than the store) */
  dropped: number;
  /** segments deleted by rotation */
  rotated: number;
  /** sampled records skipped: their model and id were captured a moment ago (a retry) */
  duplicates: number;
}

/**
 * The last N (model, id) pairs captured, so that a request a balancer or client retried with
 * the same id is captured once. A ring of keys beside a set: memory stays at N keys.
 */
export class RecentIds {
  private readonly ring: (string | undefined)[];
  private readonly set = new Set<string>();
  private next = 0;

  constructor(readonly size: number) {
    this.ring = new Array<string | undefined>(Math.max(1, size));
  }

  /** true when the key was seen among the last N; otherwise remembers it and returns false */
  seen(key: string): boolean {
    if (this.set.has(key)) return true;
    const old = this.ring[this.next];
    if (old !== undefined) this.set.delete(old);
    this.ring[this.next] = key;
    this.set.add(key);
    this.next = (this.next + 1) % this.ring.length;
    return false;
  }
}

export function captureDir(home: string): string {
  return join(home, 'monitor', 'capture');
}

/**
 * A copy of a tensor that outlives its request. Numeric data goes into Buffer's shared pool
 * (allocUnsafe aligns each slice to 8 bytes, so any typed array fits) rather than a new
 * ArrayBuffer per copy, which the GC tracks one by one.
 */
export function copyTensor(t: Tensor): Tensor {
  if (Array.isArray(t.data)) return { name: t.name, datatype: t.datatype, shape: t.shape.slice(), data: t.data.map((b) => Buffer.from(b)) };
  const src = t.data;
  const bytes = Buffer.allocUnsafe(src.byteLength);
  bytes.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  const Ctor = src.constructor as new (buffer: ArrayBufferLike, byteOffset: number, length: number) => typeof src;
  return { name: t.name, datatype: t.datatype, shape: t.shape.slice(), data: new Ctor(bytes.buffer, bytes.byteOffset, src.length) };
}

const INITIAL_CHUNK_BYTES = 64 * 1024;
/** A written chunk's buffer is kept for the next one up to this size. */
const MAX_SPARE_BYTES = 8 * 1024 * 1024;

/** Records encoded since the last flush: their bytes, where each ends, and their times. */
interface Chunk extends RecordSink {
  ends: number[];
  times: number[];
}

/**
 * Requests to let pass before the next sample, for sampling at `rate`: geometric, so every
 * request is still taken with probability `rate` independently of the others, but the hot path
 * counts down an integer instead of drawing a random number per request.
 */
export function requestsToSkip(rate: number, random: () => number = Math.random): number {
  if (rate >= 1) return 0;
  if (rate <= 0) return Infinity;
  // 1 - random() is in (0, 1]: log of it is finite
  return Math.floor(Math.log(1 - random()) / Math.log1p(-rate));
}

export class CaptureStore {
  readonly rate: number;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  private readonly maxPendingBytes: number;
  /** header tails by model, kept across chunks (format.ts) */
  private readonly tails: HeaderTails = new Map();
  /** a written chunk's buffer, for the next chunk: reused memory is still in cache and needs no growing */
  private spare?: Buffer;
  private pending: Chunk;
  private skip: number;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private fh?: FileHandle;
  private current?: { name: string; bytes: number };
  private seq = 0;
  /** closed segments of the directory, oldest first (any process's) */
  private closedSegments: { name: string; bytes: number }[] = [];
  private records = 0;
  private dropped = 0;
  private rotated = 0;
  private duplicates = 0;
  private readonly recent: RecentIds;
  private closed = false;
  private ready: Promise<void>;

  constructor(private readonly options: CaptureOptions) {
    if (!(options.rate >= 0 && options.rate <= 1)) throw new RangeError(`capture rate must be within 0..1, got ${options.rate}`);
    this.rate = options.rate;
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    this.segmentBytes = options.segmentBytes ?? Math.min(32 * 1024 * 1024, Math.max(64 * 1024, Math.floor(this.maxBytes / 8)));
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.ready = this.rate > 0 ? this.scan() : Promise.resolve();
    this.pending = this.emptyChunk();
    this.skip = requestsToSkip(this.rate);
    this.recent = new RecentIds(options.dedupIds ?? 4096);
  }

  /** Hot path: the sampling decision, then a copy of the sampled request. */
  offer(record: RequestRecord): void {
    if (this.sample()) this.add(record, record.inputs.map(copyTensor));
  }

  /** The sampling decision alone (true for `rate` of the calls, each call independently). */
  sample(): boolean {
    if (this.skip > 0) {
      this.skip--;
      return false;
    }
    if (this.closed) return false;
    this.skip = requestsToSkip(this.rate);
    return true;
  }

  /**
   * Adds a sampled request whose inputs were already copied (the runtime detaches request
   * buffers it transfers to a worker, so monitoring copies them before inference). The record
   * is encoded now, its outputs straight from the answer: nothing of it but bytes is kept.
   */
  add(record: RequestRecord, inputs: Tensor[]): void {
    if (this.closed || record.outcome !== 'success' || !record.outputs) return;
    const chunk = this.pending;
    if (chunk.off >= this.maxPendingBytes) {
      this.dropped++;
      return;
    }
    const id = predictionId(record);
    if (this.recent.seen(`${record.model}\u0000${id}`)) {
      this.duplicates++;
      return;
    }
    const start = chunk.off;
    appendRecord(chunk, { time: record.startedAt, model: record.model, version: record.version, requestId: id, rows: record.rows, inputs, outputs: record.outputs as Tensor[] });
    if (chunk.off - start + MAGIC.length > this.maxBytes) {
      // a record larger than the whole store: dropped
      chunk.off = start;
      this.dropped++;
      return;
    }
    chunk.ends.push(chunk.off);
    chunk.times.push(record.startedAt);
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.options.flushMs ?? 200);
      this.timer.unref();
    }
  }

  /** Writes everything pending; resolves when it is on disk (appended, not fsynced). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.pending;
    if (batch.ends.length > 0) {
      this.pending = this.emptyChunk(batch.off);
      this.writing = this.writing
        .then(() => this.write(batch))
        .catch((err: unknown) => {
          this.dropped += batch.ends.length;
          this.options.log?.warn({ err: (err as Error).message, dir: this.options.dir }, 'prediction capture could not write');
        })
        .finally(() => {
          // written (or given up): its buffer can take the chunk after next
          if (batch.buf.length <= MAX_SPARE_BYTES) this.spare = batch.buf;
        });
    }
    return this.writing;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.writing;
    await this.fh?.close();
    this.fh = undefined;
  }

  stats(): CaptureStats {
    const bytes = this.closedSegments.reduce((s, x) => s + x.bytes, 0) + (this.current?.bytes ?? 0);
    return {
      rate: this.rate,
      dir: this.options.dir,
      max_bytes: this.maxBytes,
      bytes,
      segments: this.closedSegments.length + (this.current ? 1 : 0),
      records: this.records,
      dropped: this.dropped,
      rotated: this.rotated,
      duplicates: this.duplicates,
    };
  }

  /** A chunk for the next records, sized for about as many bytes as the last one took. */
  private emptyChunk(lastBytes = 0): Chunk {
    let buf = this.spare;
    this.spare = undefined;
    if (!buf || buf.length < lastBytes) buf = Buffer.allocUnsafe(Math.max(INITIAL_CHUNK_BYTES, Math.min(MAX_SPARE_BYTES, 2 ** Math.ceil(Math.log2(lastBytes + 1)))));
    return { buf, off: 0, ends: [], times: [], tails: this.tails };
  }

  private async scan(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    const names = (await readdir(this.options.dir)).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
    const out: { name: string; bytes: number }[] = [];
    for (const name of names) {
      if (name === this.current?.name) continue;
      try {
        out.push({ name, bytes: (await stat(join(this.options.dir, name))).size });
      } catch {
        // deleted meanwhile (another process rotating)
      }
    }
    this.closedSegments = out;
  }

  private async write(batch: Chunk): Promise<void> {
    await this.ready;
    // records [from, i) are the ones not appended yet; they start at byte `start`
    let from = 0;
    let start = 0;
    for (let i = 0; i < batch.ends.length; i++) {
      const recordStart = i === 0 ? 0 : batch.ends[i - 1]!;
      const length = batch.ends[i]! - recordStart;
      // a segment ends before the record that would take it past its size
      const used = (this.current?.bytes ?? MAGIC.length) + (recordStart - start);
      if (used > MAGIC.length && used + length > this.segmentBytes) {
        if (recordStart > start) await this.append(batch.buf.subarray(start, recordStart), batch.times[from]!);
        from = i;
        start = recordStart;
        await this.rotate(batch.times[i]!);
      }
      this.records++;
    }
    if (batch.off > start) await this.append(batch.buf.subarray(start, batch.off), batch.times[from]!);
  }

  private async append(bytes: Buffer, time: number): Promise<void> {
    if (!this.fh) await this.openSegment(time);
    await this.fh!.write(bytes);
    this.current!.bytes += bytes.length;
    await this.enforceBound();
  }

  private async openSegment(time: number): Promise<void> {
    const name = `${String(Math.floor(time)).padStart(14, '0')}-${process.pid}-${String(this.seq++).padStart(6, '0')}${SEGMENT_SUFFIX}`;
    this.fh = await open(join(this.options.dir, name), 'a');
    await this.fh.write(MAGIC);
    this.current = { name, bytes: MAGIC.length };
  }

  private async rotate(time: number): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
    this.current = undefined;
    await this.scan(); // picks up other processes' segments, and ours just closed
    await this.openSegment(time);
    await this.enforceBound();
  }

  private async enforceBound(): Promise<void> {
    let total = this.closedSegments.reduce((s, x) => s + x.bytes, 0) + (this.current?.bytes ?? 0);
    while (total > this.maxBytes && this.closedSegments.length > 0) {
      const oldest = this.closedSegments.shift()!;
      total -= oldest.bytes;
      this.rotated++;
      await unlink(join(this.options.dir, oldest.name)).catch(() => undefined);
    }
  }
}
