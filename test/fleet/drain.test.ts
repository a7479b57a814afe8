import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { tempDir, writeAffine, writeSlow } from '../helpers/models.js';
import { getJson, postJson } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { CLI } from '../helpers/cli-server.js';
import { connect } from '../grpc/helpers.js';
import { freePort } from '../helpers/ports.js';

/**
 * Issue 19, item 2: `berth serve` under SIGTERM as a balancer (or Kubernetes) needs it. Real
 * processes and signals: readiness fails at once, inference goes on for --drain-delay, then new
 * connections are refused, idle keep-alive connections closed, requests in flight finished, exit
 * 0; a second signal exits at once; a request that outlives --drain-timeout forces exit 1.
 */

interface Serve {
  url: string;
  port: number;
  grpcPort: number;
  child: ChildProcess;
  exited: Promise<unknown[]>;
  log(): string;
}

const children: ChildProcess[] = [];


async function serve(repo: string, args: string[]): Promise<Serve> {
  const grpcPort = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', repo, '--port', '0', '--grpc-port', String(grpcPort), '--log-level', 'info', '--keep-alive-timeout-secs', '60', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const exited = once(child, 'exit');
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await waitFor(() => /berth serving on/.test(log) || child.exitCode !== null, 60_000, `server start:\n${log}`);
  const url = /berth serving on (http:\/\/[^"\s]+)/.exec(log)?.[1];
  assert.ok(url, log);
  return { url, port: Number(new URL(url).port), grpcPort, child, exited, log: () => log };
}

/** An HTTP/1.1 keep-alive connection that has had one answer and now sits idle. */
/** An accepted inference request whose body never finishes arriving: it cannot end before the client sends the rest. */
async function stalledUpload(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write('POST /v2/models/affine/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs": ');
  await new Promise((r) => setTimeout(r, 200));
  return socket;
}

async function idleKeepAlive(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await once(socket, 'connect');
  socket.write('GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await waitFor(() => /\{"live":true\}/.test(text), 10_000, 'live answer');
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.match(text, /connection: keep-alive/i);
  return { socket, closed };
}

const connectRefused = (url: string): Promise<boolean> =>
  fetch(`${url}/v2/health/live`).then(() => false, (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED');

const exitCode = async (s: Serve): Promise<number | null> => ((await s.exited) as [number | null])[0];

const slowBody = (rows: number) => ({ inputs: [{ name: 'input', shape: [rows, 512], datatype: 'FP32', data: new Array(rows * 512).fill(1) }] });
const AFFINE_BODY = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };

describe('berth serve: SIGTERM drain', { skip: existsSync(CLI) ? false : 'dist/ not built: run npm run build' }, () => {
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  test('--drain-delay: ready 503 at once, live 200 and inference 200 during the delay; then connections refused, idle keep-alive closed, in-flight REST and gRPC requests finish, exit 0', async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine');
    await writeSlow(repo, 'slow', 96, { max_batch_size: 8192 });
    const DELAY_S = 2;
    const s = await serve(repo, ['--drain-delay', String(DELAY_S), '--drain-timeout', '60']);
    const grpc = connect(s.grpcPort);
    try {
      assert.equal((await getJson(`${s.url}/v2/health/ready`)).status, 200);
      const idle = await idleKeepAlive(s.port);
      let idleClosedAt = 0;
      void idle.closed.then(() => (idleClosedAt = performance.now()));

      const t0 = performance.now();
      s.child.kill('SIGTERM');
      await waitFor(() => /draining/.test(s.log()), 10_000, 'the draining log line');
      // readiness fails at once; liveness does not
      const ready = await getJson(`${s.url}/v2/health/ready`);
      assert.equal(ready.status, 503);
      assert.equal(ready.headers.get('connection'), 'close');
      assert.equal((await getJson(`${s.url}/v2/models/affine/ready`)).status, 503);
      assert.equal((await grpc.call('ServerReady', {})).ready ?? false, false);
      assert.equal((await getJson(`${s.url}/v2/health/live`)).status, 200);
      // inference goes on: balancers still route here until they have seen the failed checks
      const during = await postJson(`${s.url}/v2/models/affine/infer`, AFFINE_BODY);
      assert.equal(during.status, 200, JSON.stringify(during.body));
      assert.equal(during.headers.get('connection'), 'close', 'keep-alive clients move to another replica');
      const grpcDuring = await grpc.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }] });
      assert.equal(grpcDuring.outputs.length, 1);
      assert.equal(idleClosedAt, 0, 'idle keep-alive connections stay open during the delay');
      // requests in flight across the end of the delay: one whose body the client finishes
      // only after the delay (so it is surely in flight at the stop), a slow one over REST and
      // one over gRPC
      const body = Buffer.from(JSON.stringify(AFFINE_BODY));
      const upload = net.connect(s.port, '127.0.0.1');
      let uploadAnswer = '';
      upload.on('data', (d: Buffer) => (uploadAnswer += d.toString('latin1')));
      upload.on('error', () => {});
      const uploadClosed = once(upload, 'close');
      await once(upload, 'connect');
      upload.write(`POST /v2/models/affine/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      upload.write(body.subarray(0, 10));
      const restInflight = postJson(`${s.url}/v2/models/slow/infer`, slowBody(4096));
      const grpcInflight = grpc.call('ModelInfer', { model_name: 'slow', inputs: [{ name: 'input', datatype: 'FP32', shape: [2048, 512] }], raw_input_contents: [Buffer.from(new Float32Array(2048 * 512).fill(1).buffer)] });
      const elapsedS = (performance.now() - t0) / 1000;
      assert.ok(elapsedS < DELAY_S, `the checks above took ${elapsedS.toFixed(1)} s, past the ${DELAY_S} s delay: the test proves nothing`);

      await waitFor(() => /drain delay over/.test(s.log()), 10_000, 'the end of the delay');
      const stoppedAt = performance.now();
      assert.ok((stoppedAt - t0) / 1000 >= DELAY_S - 0.1, 'the delay was honoured');
      await waitFor(() => idleClosedAt > 0, 5000, 'the idle keep-alive connection closed by the server');
      assert.equal(await connectRefused(s.url), true, 'new connections are refused after the delay');
      assert.equal(uploadAnswer, '', 'the upload cannot have been answered yet');
      upload.write(body.subarray(10));
      await uploadClosed;
      assert.match(uploadAnswer, /^HTTP\/1\.1 200 /, uploadAnswer);
      assert.match(uploadAnswer, /connection: close/i);

      const rest = await restInflight;
      assert.equal(rest.status, 200, JSON.stringify(rest.body));
      assert.equal((await grpcInflight).outputs.length, 1);
      assert.equal(await exitCode(s), 0, s.log());
      const totalS = (performance.now() - t0) / 1000;
      assert.ok(totalS < DELAY_S + 60, `exit took ${totalS.toFixed(1)} s`);
      assert.match(s.log(), /"msg":"stopped"/);
    } finally {
      grpc.close();
    }
  });

  test('a second signal while draining exits at once, non-zero, and says so', async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine');
    const s = await serve(repo, ['--drain-delay', '30']);
    s.child.kill('SIGTERM');
    await waitFor(() => /draining/.test(s.log()), 10_000, 'the draining log line');
    assert.equal((await getJson(`${s.url}/v2/health/ready`)).status, 503);
    const t0 = performance.now();
    s.child.kill('SIGINT');
    const code = await exitCode(s);
    const ms = performance.now() - t0;
    assert.notEqual(code, 0);
    assert.equal(code, 1, s.log());
    assert.ok(ms < 3000, `exit took ${ms.toFixed(0)} ms after the second signal`);
    assert.match(s.log(), /second signal while draining/);
  });

  test('a request that outlives --drain-timeout forces exit 1 after the timeout (the old --exit-timeout-secs spelling still works)', async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine');
    // --drain-timeout wins over its alias when both are given
    const s = await serve(repo, ['--drain-timeout', '1', '--exit-timeout-secs', '30']);
    // an accepted request whose body is still arriving: it cannot finish before the client sends the rest
    const socket = await stalledUpload(s.port);
    const t0 = performance.now();
    s.child.kill('SIGTERM');
    const code = await exitCode(s);
    const ms = performance.now() - t0;
    socket.destroy();
    assert.equal(code, 1, s.log());
    assert.ok(ms >= 900, `exited after ${ms.toFixed(0)} ms, before the 1 s drain timeout`);
    assert.ok(ms < 5000, `exited after ${ms.toFixed(0)} ms`);
    assert.match(s.log(), /did not finish within the drain timeout/);
  });

  test('--exit-timeout-secs alone is still the drain timeout', async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine');
    const s = await serve(repo, ['--exit-timeout-secs', '1']);
    const socket = await stalledUpload(s.port);
    const t0 = performance.now();
    s.child.kill('SIGTERM');
    const code = await exitCode(s);
    socket.destroy();
    assert.equal(code, 1, s.log());
    assert.ok(performance.now() - t0 < 5000);
    assert.match(s.log(), /"drain_timeout_secs":1\b/);
  });
});
