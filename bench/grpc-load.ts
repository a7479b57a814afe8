// Closed-loop gRPC load generator for the serving bench: `concurrency` workers each keep one
// ModelInfer call outstanding for `durationSec`, sending raw contents.
//
// To keep the generator's own cost low (on a 2-core machine it shares the CPU with the server):
// - the request is serialized once; every call sends the same bytes (identity serializer);
// - answers are not decoded (identity deserializer); one answer is decoded and checked first;
// - calls are spread over `channels` HTTP/2 connections (default: one per 16 workers, see
//   DEFAULT_CALLS_PER_CHANNEL below for the measurement behind it).
//
// By hand: node --import tsx bench/grpc-load.ts --address 127.0.0.1:8001 --model affine \
//            --input input --shape 1,4 [--concurrency 32] [--duration 10] [--channels N]
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { inferencePackage, SERVICE_NAME } from '../src/grpc/proto.js';
import { quantileNearestRank } from '../src/util/stats.js';

export interface GrpcLoadOptions {
  /** host:port of berth's gRPC endpoint */
  address: string;
  model: string;
  inputName: string;
  /** full shape, batch dimension included */
  shape: number[];
  datatype: 'FP32';
  data: Float32Array;
  concurrency: number;
  durationSec: number;
  /** HTTP/2 connections to spread the workers over (default 1) */
  channels?: number;
  /**
   * 'http2' (default): gRPC framing written directly on node:http2, the leanest client Node has;
   * 'grpc-js': @grpc/grpc-js's client, as an application would call berth.
   */
  client?: 'http2' | 'grpc-js';
}

export interface GrpcLoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  /** the first error's status and message, to tell overload from misconfiguration */
  firstError?: string;
  /**
   * h2load only: calls still in flight when the run stopped. h2load closes its connections then,
   * so the server sees them cancelled (and counts them as failed requests): not errors.
   */
  cutAtEnd?: number;
}

const METHOD = 'ModelInfer';

interface MethodDef {
  path: string;
  requestSerialize(v: object): Buffer;
  responseDeserialize(b: Buffer): Record<string, unknown>;
}

/** One call: resolves with the answer's message bytes, rejects with `{code, details}`. */
type Call = () => Promise<Buffer>;

interface Transport {
  calls: Call[];
  close(): void;
}

class CallError extends Error {
  constructor(readonly code: number, readonly details: string) {
    super(`${grpc.status[code] ?? code}: ${details}`);
  }
}

/** Nearest-rank quantile of ascending values; 0 for none. */
function percentile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? 0 : quantileNearestRank(sorted, q);
}

/** gRPC over node:http2 by hand: one POST per call, the message in one length-prefixed frame. */
async function http2Transport(address: string, path: string, message: Buffer, channels: number): Promise<Transport> {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1); // byte 0 = 0: not compressed
  message.copy(frame, 5);
  const headers = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' };
  const sessions = await Promise.all(Array.from({ length: channels }, () => new Promise<http2.ClientHttp2Session>((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  })));
  const call = (session: http2.ClientHttp2Session): Call => () => new Promise<Buffer>((resolve, reject) => {
    const stream = session.request(headers);
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    const statusFrom = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) {
        grpcStatus = String(h['grpc-status']);
        grpcMessage = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    stream.on('response', statusFrom); // a trailers-only answer carries the status here
    stream.on('trailers', statusFrom);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (err) => reject(new CallError(grpc.status.UNAVAILABLE, err.message)));
    stream.on('close', () => {
      if (grpcStatus === '0') {
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        resolve(body.subarray(5));
      } else {
        reject(new CallError(grpcStatus === undefined ? grpc.status.UNKNOWN : Number(grpcStatus), grpcMessage || `stream closed (code ${stream.rstCode})`));
      }
    });
    stream.end(frame);
  });
  return { calls: sessions.map(call), close: () => sessions.forEach((s) => s.close()) };
}

/** The same calls through @grpc/grpc-js, request pre-serialized, answers left undecoded. */
async function grpcJsTransport(address: string, path: string, message: Buffer, channels: number): Promise<Transport> {
  const clients = Array.from({ length: channels }, () => new grpc.Client(address, grpc.credentials.createInsecure(), {
    // one connection per client: grpc-js otherwise shares a subchannel between clients
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  }));
  const deadline = new Date(Date.now() + 10_000);
  await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(deadline, (err) => (err ? reject(err) : resolve())))));
  const identity = (b: Buffer) => b;
  const call = (client: grpc.Client): Call => () => new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(path, identity, identity, message, (err, answer) => (err ? reject(new CallError(err.code, err.details)) : resolve(answer!)));
  });
  return { calls: clients.map(call), close: () => clients.forEach((c) => c.close()) };
}

const modelInfer = (): MethodDef => (inferencePackage()[SERVICE_NAME] as unknown as Record<string, MethodDef>)[METHOD]!;

/** The ModelInferRequest message (raw contents) every call of a run sends. */
function requestMessage(method: MethodDef, opts: Pick<GrpcLoadOptions, 'model' | 'inputName' | 'datatype' | 'shape' | 'data'>): Buffer {
  const raw = Buffer.from(opts.data.buffer, opts.data.byteOffset, opts.data.byteLength);
  return method.requestSerialize({
    model_name: opts.model,
    inputs: [{ name: opts.inputName, datatype: opts.datatype, shape: opts.shape }],
    raw_input_contents: [raw],
  });
}

export interface GrpcAnswer {
  outputs: { name: string; datatype: string; shape: number[] }[];
  /** raw_output_contents, in the order of `outputs` */
  raw: Buffer[];
}

/**
 * One ModelInfer call, decoded: what the serving bench compares with in-process onnxruntime
 * before it loads the target (h2load itself cannot tell a right answer from a wrong one).
 */
export async function grpcInferOnce(opts: Pick<GrpcLoadOptions, 'address' | 'model' | 'inputName' | 'datatype' | 'shape' | 'data'>): Promise<GrpcAnswer> {
  const method = modelInfer();
  const transport = await http2Transport(opts.address, method.path, requestMessage(method, opts), 1);
  try {
    const answer = method.responseDeserialize(await transport.calls[0]!()) as { outputs?: { name: string; datatype: string; shape: string[] }[]; raw_output_contents?: Buffer[] };
    return {
      outputs: (answer.outputs ?? []).map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape.map(Number) })),
      raw: answer.raw_output_contents ?? [],
    };
  } finally {
    transport.close();
  }
}

export async function runGrpcLoad(opts: GrpcLoadOptions): Promise<GrpcLoadResult> {
  const method = modelInfer();
  const message = requestMessage(method, opts);
  const channels = Math.max(1, Math.min(opts.concurrency, opts.channels ?? 1));
  const transport = await (opts.client === 'grpc-js' ? grpcJsTransport : http2Transport)(opts.address, method.path, message, channels);
  try {
    // One checked call per connection: the request is valid and the answer decodes.
    for (const call of transport.calls) {
      const answer = method.responseDeserialize(await call());
      const outputs = answer.raw_output_contents as Buffer[] | undefined;
      if (!outputs || outputs.length === 0) throw new Error(`ModelInfer answered without raw_output_contents: ${JSON.stringify(answer).slice(0, 200)}`);
    }

    let latencies = new Float64Array(1 << 16);
    let count = 0;
    let errors = 0;
    let firstError: string | undefined;
    const start = performance.now();
    const end = start + opts.durationSec * 1000;
    const worker = async (k: number) => {
      const call = transport.calls[k % transport.calls.length]!;
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await call();
          if (count === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[count++] = performance.now() - t0;
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
          // An overloaded or absent server answers at once: don't spin on it.
          await new Promise((r) => setTimeout(r, 1));
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, (_, k) => worker(k)));
    const elapsed = (performance.now() - start) / 1000;
    const sorted = latencies.slice(0, count).sort();
    return {
      requests: count,
      errors,
      rps: count / elapsed,
      p50ms: percentile(sorted, 0.5),
      p99ms: percentile(sorted, 0.99),
      ...(firstError ? { firstError } : {}),
    };
  } finally {
    transport.close();
  }
}

// --- h2load -------------------------------------------------------------------------------

/** Absolute path of h2load (Debian: nghttp2-client), or undefined when it is not installed. */
export function findH2load(): string | undefined {
  const candidates = [process.env['H2LOAD'], '/usr/bin/h2load', '/usr/local/bin/h2load'].filter((c): c is string => !!c);
  return candidates.find((c) => existsSync(c));
}

/**
 * The same closed-loop load driven by h2load, a C HTTP/2 load generator: the counterpart of wrk
 * for the REST rows, so the gRPC row does not pay for a JavaScript client (the Node clients
 * above spend 50–110 µs of CPU per call, wrk and h2load about 10). `concurrency` connections
 * with `streams` calls outstanding on each (default 1, as wrk's connections; tritonclient's
 * clients share a channel, so several calls go on one connection). h2load only sees HTTP statuses, and a
 * gRPC error is an HTTP 200 with a non-zero grpc-status trailer: so one call is checked first
 * with the http2 client, and callers should cross-check the server's statistics (the model's
 * `inference_stats.fail` count must not move).
 */
export async function runGrpcH2load(opts: GrpcLoadOptions & { h2load?: string; threads?: number; streams?: number }): Promise<GrpcLoadResult> {
  const h2load = opts.h2load ?? findH2load();
  if (!h2load) throw new Error('h2load is not installed (Debian: apt-get install nghttp2-client), or set H2LOAD=/path/to/h2load');
  const method = modelInfer();
  const message = requestMessage(method, opts);
  const check = await http2Transport(opts.address, method.path, message, 1);
  try {
    const answer = method.responseDeserialize(await check.calls[0]!());
    if (!(answer.raw_output_contents as Buffer[] | undefined)?.length) throw new Error('ModelInfer answered without raw_output_contents');
  } finally {
    check.close();
  }
  // h2load logs one line per request: on tmpfs when there is one, so no disk adds noise.
  const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'berth-h2load-'));
  try {
    const body = join(dir, 'request.grpc');
    const log = join(dir, 'requests.log');
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    await writeFile(body, frame);
    const threads = Math.max(1, Math.min(opts.threads ?? 2, opts.concurrency));
    const streams = Math.max(1, opts.streams ?? 1);
    const args = [
      '-D', String(opts.durationSec), '-c', String(opts.concurrency), '-m', String(streams), '-t', String(threads),
      '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', body, `--log-file=${log}`,
      `http://${opts.address}${method.path}`,
    ];
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(h2load, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`h2load exited ${code}: ${text.slice(-500)}`))));
    });
    // Each log line: start (µs since epoch) TAB HTTP status TAB duration (µs).
    const lines = (await readFile(log, 'utf8')).split('\n').filter((l) => l.length > 0);
    const durations = new Float64Array(lines.length);
    let ok = 0;
    let errors = 0;
    let first = Infinity;
    let last = -Infinity;
    for (const line of lines) {
      const [start, statusCode, micros] = line.split('\t').map(Number) as [number, number, number];
      if (statusCode !== 200) {
        errors++;
        continue;
      }
      durations[ok++] = micros / 1000;
      first = Math.min(first, start);
      last = Math.max(last, start + micros);
    }
    // h2load's "failed" counts non-2xx answers and broken streams alike.
    const failed = /(\d+) failed/.exec(out);
    if (failed) errors = Math.max(errors, Number(failed[1]));
    const counts = /(\d+) started, (\d+) done/.exec(out);
    const cutAtEnd = counts ? Number(counts[1]) - Number(counts[2]) : opts.concurrency * streams;
    const sorted = durations.slice(0, ok).sort();
    const elapsed = ok > 0 ? (last - first) / 1e6 : opts.durationSec;
    return { requests: ok, errors, rps: ok / elapsed, p50ms: percentile(sorted, 0.5), p99ms: percentile(sorted, 0.99), cutAtEnd };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// --- command line ---------------------------------------------------------------------------

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      address: { type: 'string', default: '127.0.0.1:8001' },
      model: { type: 'string', default: 'affine' },
      input: { type: 'string', default: 'input' },
      shape: { type: 'string', default: '1,4' },
      concurrency: { type: 'string', default: '32' },
      duration: { type: 'string', default: '10' },
      channels: { type: 'string' },
      client: { type: 'string', default: 'http2' }, // http2 | grpc-js | h2load
    },
  });
  const shape = values.shape.split(',').map(Number);
  const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 7919) % 1000) / 500 - 1);
  const run = values.client === 'h2load' ? runGrpcH2load : runGrpcLoad;
  const result = await run({
    address: values.address,
    model: values.model,
    inputName: values.input,
    shape,
    datatype: 'FP32',
    data,
    concurrency: Number(values.concurrency),
    durationSec: Number(values.duration),
    ...(values.channels ? { channels: Number(values.channels) } : {}),
    client: values.client === 'grpc-js' ? 'grpc-js' : 'http2',
  });
  console.log(JSON.stringify(result));
}
