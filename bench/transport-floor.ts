// What the transports cost before any serving work: `node --import tsx bench/transport-floor.ts`
//
// Three servers that do nothing but read a request the size of the heavy bench model's (2 KB of
// float32 rows and a small header) and answer a fixed body the size of its answer (4 KB):
//   http     node:http                 loaded by wrk  -t2 -c32          (REST: wrk's shape)
//   fastify  fastify, one route        loaded by wrk  -t2 -c32          (berth's REST front end)
//   http2    node:http2, gRPC-shaped   loaded by h2load -t2, 32 calls as 32 connections × 1 and
//            (headers, one 5-byte-framed message, grpc-status trailers)    8 connections × 4
// and reports, per request, the server's CPU time and the load generator's, in alternating
// rounds (medians). Every Node gRPC server, grpc-js or hand-written, sits on node:http2: its row
// is the floor under berth's gRPC front end, as fastify's is under REST; the difference between
// the two floors is what gRPC pays per call before berth does anything (issue #3's target
// compares the two protocols on the same server).
//
//   --rounds N (default 3)   --seconds S (default 5)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { findH2load } from './grpc-load.js';
import { findWrk, runWrk, writeWrkScript } from './wrk.js';
import { freePort, median, sleep } from './common.js';

const REQUEST_HEADER = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 512], datatype: 'FP32', parameters: { binary_data_size: 2048 } }] });
const ANSWER_HEADER = JSON.stringify({ model_name: 'heavy', model_version: '1', outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 1000], parameters: { binary_data_size: 4000 } }] });
const REST_REQUEST = Buffer.concat([Buffer.from(REQUEST_HEADER), Buffer.alloc(2048, 1)]);
const REST_ANSWER = Buffer.concat([Buffer.from(ANSWER_HEADER), Buffer.alloc(4000, 1)]);
/** A gRPC message frame: compressed flag, 4-byte big-endian length, the message. */
const grpcFrame = (size: number): Buffer => {
  const frame = Buffer.alloc(5 + size, 1);
  frame[0] = 0;
  frame.writeUInt32BE(size, 1);
  return frame;
};
const GRPC_REQUEST = grpcFrame(REST_REQUEST.length);
const GRPC_ANSWER = grpcFrame(REST_ANSWER.length);

// --- the servers (run in child processes: `--serve KIND --port P`) -----------------------------

function serve(kind: string, port: number): void {
  if (kind === 'http') {
    http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        Buffer.concat(chunks);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': REST_ANSWER.length, 'inference-header-content-length': ANSWER_HEADER.length });
        res.end(REST_ANSWER);
      });
    }).listen(port, '127.0.0.1');
  } else if (kind === 'fastify') {
    const app = Fastify({ logger: false });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    app.post('/v2/models/:model/infer', async (_req, reply) => {
      void reply.header('inference-header-content-length', String(ANSWER_HEADER.length));
      return reply.type('application/octet-stream').send(REST_ANSWER);
    });
    void app.listen({ port, host: '127.0.0.1' });
  } else if (kind === 'http2') {
    const server = http2.createServer();
    server.on('stream', (stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        Buffer.concat(chunks);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(GRPC_ANSWER);
      });
    });
    server.listen(port, '127.0.0.1');
  } else {
    throw new Error(`unknown server kind ${kind}`);
  }
}

// --- measuring ---------------------------------------------------------------------------------

/** utime+stime of a process, or with `self` also its reaped children's (the load generators), in ticks. */
function ticks(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return f[11]! + f[12]! + (pid === 'self' ? f[13]! + f[14]! : 0);
}
const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

interface Load {
  label: string;
  server: string;
  run(port: number, seconds: number): Promise<number>; // completed requests
}

function h2load(path: string, port: number, seconds: number, connections: number, streams: number, body: string): Promise<number> {
  const args = ['-D', String(seconds), '-c', String(connections), '-m', String(streams), '-t', '2', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', body, `http://127.0.0.1:${port}/inference.GRPCInferenceService/ModelInfer`];
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const done = /(\d+) succeeded/.exec(out);
      if (code !== 0 || !done) reject(new Error(`h2load exited ${code}: ${out.slice(-400)}`));
      else resolve(Number(done[1]));
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' }, serve: { type: 'string' }, port: { type: 'string' } } });
  if (values.serve) {
    serve(values.serve, Number(values.port));
    return;
  }
  const wrk = findWrk();
  const h2 = findH2load();
  if (!wrk || !h2) {
    console.error('needs wrk (Debian: wrk) and h2load (Debian: nghttp2-client)');
    process.exit(1);
  }
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const dir = await mkdtemp(join(tmpdir(), 'berth-floor-'));
  const restBody = join(dir, 'rest.bin');
  const grpcBody = join(dir, 'grpc.bin');
  const script = join(dir, 'rest.lua');
  await writeFile(restBody, REST_REQUEST);
  await writeFile(grpcBody, GRPC_REQUEST);
  await writeWrkScript(script, restBody, { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(REQUEST_HEADER.length) });

  const self = fileURLToPath(import.meta.url);
  const servers = new Map<string, { port: number; pid: number; kill: () => void }>();
  for (const kind of ['http', 'fastify', 'http2']) {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--serve', kind, '--port', String(port)], { stdio: 'ignore' });
    servers.set(kind, { port, pid: child.pid!, kill: () => child.kill('SIGKILL') });
  }
  await sleep(2000);
  const rest = (server: string): Load => ({
    label: `${server.padEnd(7)} wrk -c32`,
    server,
    run: async (port, s) => (await runWrk({ url: `http://127.0.0.1:${port}/v2/models/heavy/infer`, script, durationSec: s, connections: 32, threads: 2, wrkPath: wrk })).requests,
  });
  const grpc = (connections: number, streams: number): Load => ({
    label: `http2   h2load ${connections}×${streams}`,
    server: 'http2',
    run: (port, s) => h2load(h2, port, s, connections, streams, grpcBody),
  });
  const loads = [rest('http'), rest('fastify'), grpc(32, 1), grpc(8, 4)];
  const figures = new Map<string, { rps: number[]; server: number[]; client: number[] }>(loads.map((l) => [l.label, { rps: [], server: [], client: [] }]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const load of loads.map((_, i) => loads[(i + round) % loads.length]!)) {
        const s = servers.get(load.server)!;
        await load.run(s.port, 1); // warm-up
        const server0 = ticks(s.pid);
        const client0 = ticks('self');
        const t0 = performance.now();
        const n = await load.run(s.port, seconds);
        const elapsed = (performance.now() - t0) / 1000;
        const f = figures.get(load.label)!;
        f.rps.push(n / elapsed);
        f.server.push(((ticks(s.pid) - server0) * TICK_US) / n);
        // our own CPU is idle waiting; the reaped load generator's is in our children's ticks
        f.client.push(((ticks('self') - client0) * TICK_US) / n);
      }
    }
  } finally {
    for (const s of servers.values()) s.kill();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`transport floor: heavy-sized bodies (request ${REST_REQUEST.length} B, answer ${REST_ANSWER.length} B), ${rounds} rounds × ${seconds} s, medians\n`);
  console.log('server   load                  req/s   server µs/req   client µs/req   both µs/req');
  const rows = new Map<string, number>();
  for (const load of loads) {
    const f = figures.get(load.label)!;
    const both = median(f.server) + median(f.client);
    rows.set(load.label, both);
    console.log(`${load.label.padEnd(30)} ${median(f.rps).toFixed(0).padStart(6)}   ${median(f.server).toFixed(1).padStart(13)}   ${median(f.client).toFixed(1).padStart(13)}   ${both.toFixed(1).padStart(11)}`);
  }
  const fastifyBoth = rows.get(loads[1]!.label)!;
  console.log(`\nper call, gRPC-shaped HTTP/2 over fastify + wrk: 32×1 ${(rows.get(loads[2]!.label)! - fastifyBoth).toFixed(1)} µs, 8×4 ${(rows.get(loads[3]!.label)! - fastifyBoth).toFixed(1)} µs (server + load generator, on the same cores)`);
}

await main();
