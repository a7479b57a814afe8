/**
 * Request bodies, read as a stream: Content-Encoding is undone while the bytes arrive (zlib
 * streams, on the thread pool, not the event loop), the body limit holds on the decoded bytes
 * (and the wire bytes), and every decoded byte is taken from the server's in-flight budget as it
 * arrives. A decompression bomb therefore costs at most the limit of memory and stops at it.
 */
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { BerthError, invalidArgument, overloaded } from '../core/errors.js';
import type { Lease } from './inflight-budget.js';

export type Coding = 'gzip' | 'deflate' | 'br';

/** More nested codings than this are refused: each one multiplies the work a small body can ask for. */
const MAX_CODINGS = 2;

/** An error that is not in the core's catalogue: 415 for a coding we cannot undo (RFC 9110 §15.5.16). */
export class UnsupportedEncodingError extends Error {
  readonly statusCode = 415;
}

/**
 * The codings of a Content-Encoding header, in the order they were applied (RFC 9110 §8.4:
 * a comma-separated, case-insensitive list, possibly over several header lines).
 */
export function parseContentEncoding(header: string | string[] | undefined): Coding[] {
  if (header === undefined) return [];
  const names = (Array.isArray(header) ? header.join(',') : header).split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  const codings: Coding[] = [];
  for (const name of names) {
    if (name === 'identity') continue;
    if (name === 'gzip' || name === 'x-gzip') codings.push('gzip');
    else if (name === 'deflate') codings.push('deflate');
    else if (name === 'br') codings.push('br');
    else throw new UnsupportedEncodingError(`unsupported Content-Encoding '${name}' (supported: gzip, deflate, br, identity)`);
  }
  if (codings.length > MAX_CODINGS) throw new UnsupportedEncodingError(`Content-Encoding lists ${codings.length} codings; at most ${MAX_CODINGS} are accepted`);
  return codings;
}

/**
 * `deflate` is meant to be zlib-wrapped (RFC 9110 §8.4.1.2), but some clients send raw deflate:
 * the first two bytes tell which.
 */
class InflateEither extends Transform {
  private inner?: Transform;
  private head = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.inner) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < 2) return callback();
      const zlibWrapped = (this.head[0]! & 0x0f) === 8 && ((this.head[0]! << 8) | this.head[1]!) % 31 === 0;
      this.inner = zlibWrapped ? createInflate({ chunkSize: DECODE_CHUNK }) : createInflateRaw({ chunkSize: DECODE_CHUNK });
      this.inner.on('data', (d: Buffer) => this.push(d));
      this.inner.on('error', (err) => this.destroy(err));
      chunk = this.head;
    }
    this.inner.write(chunk, () => callback());
  }

  override _flush(callback: TransformCallback): void {
    if (!this.inner) return callback(this.head.length > 0 ? new Error('unexpected end of file') : null);
    this.inner.once('end', () => callback());
    this.inner.end();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.inner?.destroy();
    callback(err);
  }
}

/** Output chunk of the decoders: larger than zlib's 16 KiB, fewer thread-pool round trips per MiB. */
const DECODE_CHUNK = 256 * 1024;

function decoderFor(coding: Coding): Transform {
  if (coding === 'gzip') return createGunzip({ chunkSize: DECODE_CHUNK });
  if (coding === 'br') return createBrotliDecompress({ chunkSize: DECODE_CHUNK });
  return new InflateEither();
}

export interface ReadBodyOptions {
  /** largest body, decoded bytes; the wire bytes are bounded by it too */
  limit: number;
  /** this request's share of the in-flight budget */
  lease: Lease;
}

export const tooLarge = (limit: number, what = 'request body'): BerthError =>
  new BerthError('PAYLOAD_TOO_LARGE', `${what} is larger than the limit of ${limit} bytes (--max-body-mb)`);

export const overBudget = (): BerthError =>
  overloaded('the server is over its budget of bytes in flight (--max-inflight-mb); retry later', 1);

/** Reads and decodes a request body; rejects with a BerthError (400, 413, 429) or a 415. */
export function readBody(req: IncomingMessage, options: ReadBodyOptions): Promise<Buffer> {
  const { limit, lease } = options;
  return new Promise<Buffer>((resolve, reject) => {
    const codings = parseContentEncoding(req.headers['content-encoding']);
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    // Announced too much: refuse before reading a byte.
    if (declared !== undefined && declared > limit) return reject(tooLarge(limit));
    // already over (answers waiting to be written): refuse before reading
    if (!lease.tryAcquire(0)) return reject(overBudget());
    if (declared !== undefined && codings.length === 0 && !lease.tryAcquire(declared)) return reject(overBudget());
    const reserved = codings.length === 0 && declared !== undefined ? declared : 0;

    const decoders = [...codings].reverse().map(decoderFor);
    const chunks: Buffer[] = [];
    let wire = 0;
    let decoded = 0;
    let settled = false;

    const stop = (err: Error): void => {
      if (settled) return;
      settled = true;
      req.off('data', onWire);
      req.pause();
      for (const d of decoders) d.destroy();
      chunks.length = 0;
      reject(err);
    };
    const collect = (chunk: Buffer): void => {
      if (settled) return;
      decoded += chunk.length;
      if (decoded > limit) return stop(tooLarge(limit, codings.length > 0 ? `the decoded (${codings.join(', ')}) request body` : 'request body'));
      // an identity body announced by Content-Length was reserved whole up front
      if (decoded > reserved && !lease.tryAcquire(Math.min(chunk.length, decoded - reserved))) return stop(overBudget());
      chunks.push(chunk);
    };
    const finish = (): void => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, decoded));
    };
    function onWire(chunk: Buffer): void {
      wire += chunk.length;
      if (wire > limit) return stop(tooLarge(limit));
      const first = decoders[0];
      if (!first) return collect(chunk);
      // respect the decoder's backpressure: read no faster than it inflates
      if (!first.write(chunk)) {
        req.pause();
        first.once('drain', () => {
          if (!settled) req.resume();
        });
      }
    }

    for (let i = 0; i + 1 < decoders.length; i++) decoders[i]!.pipe(decoders[i + 1]!);
    const last = decoders.at(-1);
    decoders.forEach((d, i) =>
      d.on('error', (err) => stop(invalidArgument(`could not decode the ${codings[codings.length - 1 - i]} request body: ${err.message}`))),
    );
    if (last) {
      last.on('data', collect);
      last.on('end', finish);
    }
    req.on('data', onWire);
    req.once('end', () => (decoders[0] ? decoders[0].end() : finish()));
    req.once('error', (err) => stop(invalidArgument(`the request body was not received whole: ${err.message}`)));
  });
}
