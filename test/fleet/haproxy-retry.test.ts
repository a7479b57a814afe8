/**
 * What the generated HAProxy configuration promises, checked against a real HAProxy: a replica
 * that dies after reading a request gets it replayed elsewhere only if it is inference and fits
 * the buffer (--max-body), never when it is an admin write; X-Request-ID is kept or made;
 * gRPC calls on one channel are balanced per call over HTTP/2.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { AFFINE, affineExpected, tempDir, writeAffine } from '../helpers/models.js';
import { connect } from '../grpc/helpers.js';
import { waitFor } from '../helpers/wait.js';
import { Haproxy, distMissing, freePort, haproxyMissing, startFleet } from './helpers/fleet.js';
import type { Fleet } from './helpers/fleet.js';

const skip = haproxyMissing() || distMissing();
const MAX_BODY = 64 * 1024;

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  bodyBytes: number;
}

/**
 * A replica that passes its health checks but dies on every other request once it has read it
 * whole (HAProxy sees an empty response): the case `retry-on empty-response` is for.
 */
async function dyingReplica(): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((sock: Socket) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [line, ...fields] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const [method, path] = line!.split(' ');
      const headers: Record<string, string> = {};
      for (const f of fields) {
        const i = f.indexOf(':');
        headers[f.slice(0, i).trim().toLowerCase()] = f.slice(i + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (buf.length < end + 4 + length) return;
      if (method === 'GET' && path === '/v2/health/ready') {
        sock.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return;
      }
      seen.push({ method: method!, path: path!, headers, bodyBytes: length });
      sock.destroy();
    });
    sock.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, seen };
}

/** A binary-tensor request for the affine model of exactly `size` bytes (JSON header padded with spaces). */
function affineBody(size: number): { body: Buffer; headerLength: number; rows: number[][] } {
  const rows: number[][] = [];
  let header = '';
  let n = Math.floor(size / 16);
  for (;;) {
    header = JSON.stringify({ inputs: [{ name: 'input', shape: [n, AFFINE.inputs], datatype: 'FP32', parameters: { binary_data_size: n * 16 } }], outputs: [{ name: 'output' }] });
    if (header.length + n * 16 <= size) break;
    n--;
  }
  for (let r = 0; r < n; r++) rows.push([r % 7, 1, -2, r % 3]);
  const tensor = Buffer.from(Float32Array.from(rows.flat()).buffer);
  const padded = header.padEnd(size - tensor.length, ' ');
  return { body: Buffer.concat([Buffer.from(padded), tensor]), headerLength: padded.length, rows };
}

/** A POST on a fresh connection (agent: false): no keep-alive reuse blurs what one request did. */
function post(url: string, path: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', agent: false, headers: { host: 'localhost', 'content-length': String(body.length), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function retries(h: Haproxy): Promise<number> {
  return (await h.servers()).reduce((s, r) => s + Number(r.wretr || 0), 0);
}

describe('HAProxy in front of a replica that dies mid-request', { skip }, () => {
  let fleet: Fleet;
  let dying: Awaited<ReturnType<typeof dyingReplica>>;
  let haproxy: Haproxy;
  before(async () => {
    const repo = tempDir('berth-fleet-');
    await writeAffine(repo);
    fleet = await startFleet(tempDir('berth-fleet-haproxy-'), 1, [repo]);
    await fleet.haproxy.stop();
    dying = await dyingReplica();
    haproxy = new Haproxy(tempDir('berth-fleet-haproxy-'), await freePort(), {
      replica: [`127.0.0.1:${dying.port}`, `127.0.0.1:${fleet.replicas[0]!.port}`],
      maxBody: String(MAX_BODY),
    });
    await haproxy.start();
    await haproxy.waitStatus('replica1', 'UP');
    await haproxy.waitStatus('replica2', 'UP');
  });
  after(async () => {
    await haproxy?.stop();
    await fleet?.stop();
    dying?.server.close();
  });

  test('inference with a body of --max-body is replayed on the other replica: every request answered', async () => {
    const { body, headerLength, rows } = affineBody(MAX_BODY);
    assert.equal(body.length, MAX_BODY);
    const seenBefore = dying.seen.length;
    const retriesBefore = await retries(haproxy);
    for (let i = 0; i < 8; i++) {
      const r = await post(haproxy.url, '/v2/models/affine/infer', body, { 'inference-header-content-length': String(headerLength) });
      assert.equal(r.status, 200, r.text.slice(0, 300));
      const out = JSON.parse(r.text) as { outputs: { data: number[] }[] };
      const data = out.outputs[0]!.data;
      assert.equal(data.length, rows.length * AFFINE.outputs);
      assert.deepEqual(data.slice(-AFFINE.outputs), affineExpected(rows.at(-1)!));
    }
    const died = dying.seen.length - seenBefore;
    assert.ok(died >= 1, 'leastconn never chose the dying replica: nothing was tested');
    assert.ok(dying.seen.slice(seenBefore).every((s) => s.bodyBytes === MAX_BODY), 'the dying replica got the whole body before it died');
    assert.equal((await retries(haproxy)) - retriesBefore, died, 'one retry for each request the dying replica swallowed');
  });

  test('a body bigger than the buffer cannot be replayed: the client gets 502 (the limit --max-body documents is real)', async () => {
    const { body, headerLength } = affineBody(2 * MAX_BODY);
    const seenBefore = dying.seen.length;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post(haproxy.url, '/v2/models/affine/infer', body, { 'inference-header-content-length': String(headerLength) })).status);
    const died = dying.seen.length - seenBefore;
    assert.ok(died >= 1, 'leastconn never chose the dying replica: nothing was tested');
    assert.equal(statuses.filter((s) => s === 502).length, died, `statuses ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 200).length, 8 - died);
  });

  test('an admin write is never replayed: the one that reached the dying replica fails, the client decides', async () => {
    const seenBefore = dying.seen.length;
    const retriesBefore = await retries(haproxy);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post(haproxy.url, '/v2/repository/models/affine/load', Buffer.from('{}'), { 'content-type': 'application/json' })).status);
    const died = dying.seen.length - seenBefore;
    assert.ok(died >= 1, 'leastconn never chose the dying replica: nothing was tested');
    assert.equal(statuses.filter((s) => s === 502).length, died, `statuses ${statuses.join(',')}`);
    assert.equal((await retries(haproxy)) - retriesBefore, 0);
  });

  test('X-Request-ID: the client\'s passes unchanged, one is made when missing, and every replay of a request carries the same id', async () => {
    // a balancer whose only replica is the dying one: every attempt (1 + 3 retries) lands there
    const lone = new Haproxy(tempDir('berth-fleet-haproxy-'), await freePort(), { replica: [`127.0.0.1:${dying.port}`], log: 'stdout' });
    await lone.start();
    try {
      await lone.waitStatus('replica1', 'UP');
      const { body, headerLength } = affineBody(1024);
      const ids: string[][] = [];
      for (const id of ['client-chosen-7', undefined]) {
        const before = dying.seen.length;
        const r = await post(lone.url, '/v2/models/affine/infer', body, { 'inference-header-content-length': String(headerLength), ...(id ? { 'x-request-id': id } : {}) });
        assert.equal(r.status, 502, 'no replica answered, so the client gets 502');
        const attempts = dying.seen.slice(before);
        assert.equal(attempts.length, 4, 'retries 3: four attempts');
        for (const a of attempts) assert.equal(a.headers['x-forwarded-for'], '127.0.0.1');
        ids.push(attempts.map((a) => a.headers['x-request-id'] ?? ''));
      }
      assert.deepEqual(ids[0], Array(4).fill('client-chosen-7'));
      const made = ids[1]!;
      assert.match(made[0]!, /^[0-9A-F]+:[0-9A-F]+_[0-9A-F]+:[0-9A-F]+_[0-9A-F]+_[0-9A-F]+:[0-9A-F]+$/, 'HAProxy\'s unique-id-format');
      assert.deepEqual(made, Array(4).fill(made[0]), 'a replay keeps its id, so prediction capture can de-duplicate it');
      // --log: one line per request, with its id and its retries (the last of a/f/b/s/retries)
      await waitFor(() => lone.log().includes(`id=${made[0]}`), 5000, 'the log line of the request without an id');
      const line = lone.log().split('\n').find((l) => l.includes('id=client-chosen-7'));
      assert.ok(line, lone.log().slice(-2000));
      assert.match(line, / 502 /);
      assert.match(line, /\/\+?3 /, line);
    } finally {
      await lone.stop();
    }
  });
});

describe('gRPC through HAProxy', { skip }, () => {
  let fleet: Fleet;
  before(async () => {
    const repo = tempDir('berth-fleet-');
    await writeAffine(repo);
    fleet = await startFleet(tempDir('berth-fleet-haproxy-'), 2, [repo], { grpc: true });
    for (const r of fleet.replicas) await fleet.haproxy.waitStatus(r.name, 'UP', 15_000, 'berth_grpc');
  });
  after(async () => {
    await fleet?.stop();
  });

  test('one channel, calls balanced over both replicas (HTTP/2 per call), answers right, readiness checked on the HTTP port', async () => {
    const client = connect(Number(fleet.haproxy.flags.grpcPort));
    try {
      assert.equal((await client.call('ServerReady', {})).ready, true);
      for (let i = 0; i < 20; i++) {
        const rows = [[i, 1, 2, 3]];
        const res = await client.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [Buffer.from(Float32Array.from(rows.flat()).buffer)] });
        const raw = res.raw_output_contents[0] as Buffer;
        assert.deepEqual(Array.from(new Float32Array(new Uint8Array(raw).buffer)), affineExpected(rows[0]!));
      }
      // a stream passes through too, its answers in order
      const answers = await client.stream([0, 1, 2].map((i) => ({ model_name: 'affine', id: `s${i}`, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [Buffer.from(Float32Array.from([i, 0, 0, 0]).buffer)] })));
      assert.deepEqual(answers.map((a) => a.infer_response?.id), ['s0', 's1', 's2']);
    } finally {
      client.close();
    }
    const servers = await fleet.haproxy.servers('berth_grpc');
    const served = servers.map((s) => Number(s.stot));
    assert.ok(served.every((n) => n >= 5), `calls on one channel were not spread over the replicas: ${served.join('/')}`);
    assert.ok(servers.every((s) => s.check_status === 'L7OK'), servers.map((s) => s.check_status).join(','));
  });
});
