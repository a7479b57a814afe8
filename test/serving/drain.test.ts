import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { tempDir, writeSlow } from '../helpers/models.js';
import { postJson } from '../helpers/http.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

describe('berth serve (the CLI process)', { skip: existsSync(CLI) ? false : 'dist/ not built: run npm run build' }, () => {
  test('SIGTERM drains: readiness turns false, the in-flight request finishes, exit code 0', async () => {
    const repo = tempDir();
    await writeSlow(repo, 'slow', 48, { max_batch_size: 8192 });
    // with a drain delay the listener stays open while readiness is withdrawn (without one it
    // closes at once, and the probe below would be refused: test/fleet/drain.test.ts)
    const child = spawn(process.execPath, [CLI, 'serve', repo, '--port', '0', '--grpc-port', '0', '--log-level', 'info', '--drain-delay', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 30000);
      child.stdout.on('data', () => {
        const m = /berth serving on (http:\/\/[^"\s]+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200);
    const rows = 4096;
    const inflight = postJson(`${url}/v2/models/slow/infer`, { inputs: [{ name: 'input', shape: [rows, 512], datatype: 'FP32', data: new Array(rows * 512).fill(1) }] });
    await new Promise((r) => setTimeout(r, 300)); // let the request reach the worker
    child.kill('SIGTERM');
    // probe readiness once the server has taken the signal: a fixed 50 ms was not always enough
    // on a loaded machine, where the event loop can still be parsing the large request body
    const deadline = Date.now() + 10_000;
    while (!/draining/.test(log) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const ready = await fetch(`${url}/v2/health/ready`).then((r) => r.status, () => 'closed');
    const answer = await inflight;
    const [code] = (await exited) as [number | null];
    assert.equal(answer.status, 200, `in-flight request failed: ${JSON.stringify(answer.body)}\n${log}`);
    assert.equal(ready, 503);
    assert.equal(code, 0, log);
    assert.match(log, /draining/);
  });

  test('--help and a bad path give clear messages', async () => {
    const help = spawn(process.execPath, [CLI, '--help']);
    const helpExit = once(help, 'exit');
    let out = '';
    help.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await helpExit;
    assert.match(out, /serve/);
    const bad = spawn(process.execPath, [CLI, 'serve', '/no/such/place', '--port', '0', '--grpc-port', '0']);
    const badExit = once(bad, 'exit');
    let err = '';
    bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await badExit) as [number];
    assert.equal(code, 1);
    assert.match(err, /\/no\/such\/place: no such file or directory/);
  });
});
