/**
 * `berth serve --registry` as its own process, driven by `berth rollout` / `berth rollback`
 * and by registry writes from this (another) process: every change is picked up while the
 * server runs, without a restart.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Registry } from '../../src/registry/registry.js';
import { tempDir } from '../helpers/models.js';
import { inferBody, rowFor, writeScaledAffine } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'src/cli/main.ts');
const ROLLOUT_CLI = join(ROOT, 'test/rollout/cli-entry.ts');

function rolloutCli(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ROLLOUT_CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function versionServed(url: string): Promise<string | undefined> {
  const res = await fetch(`${url}/v2/models/m/infer`, { method: 'POST', body: JSON.stringify(inferBody(rowFor(1))) });
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { model_version: string }).model_version;
}

async function until(what: string, fn: () => Promise<boolean>, ms = 30000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('berth serve --registry (a separate process)', () => {
  let home: string;
  let src: string;
  let child: ChildProcess;
  let exited: Promise<unknown[]>;
  let log = '';
  let url = '';
  let readKey = '';

  before(async () => {
    const dir = tempDir('berth-serve-registry-');
    home = join(dir, 'home');
    src = join(dir, 'src');
    const registry = await Registry.open({ home });
    for (const v of [1, 2]) await registry.push(await writeScaledAffine(src, 'm', v, v), { name: 'm' });
    await registry.setAlias('m', 'production', 1);
    readKey = (await registry.createKey('read', { name: 'status' })).key;
    await registry.close();
    child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--registry', '--home', home, '--registry-poll-secs', '0.2', '--port', '0', '--grpc-port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    exited = once(child, 'exit');
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await until('server started', async () => {
      const m = /berth serving on (http:\/\/[^"\s]+)/.exec(log);
      if (m) url = m[1]!;
      if (child.exitCode !== null) throw new Error(`server exited:\n${log}`);
      return m !== null;
    }, 60000);
  });

  after(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });

  test('serves the production alias, and follows rollout, promote, rollback and alias changes without restart', async () => {
    const pid = child.pid;
    assert.equal(await versionServed(url), '1');

    const canary = rolloutCli(['rollout', 'm', '--to', '2', '--canary', '100', '--home', home, '--actor', 'tester']);
    assert.equal(canary.code, 0, canary.stderr);
    assert.match(canary.stdout, /canary\s+v2 at 100%/);
    await until('canary serves', async () => (await versionServed(url)) === '2');

    const promote = rolloutCli(['rollout', 'm', '--promote', '--home', home, '--json']);
    assert.equal(promote.code, 0, promote.stderr);
    assert.equal((JSON.parse(promote.stdout) as { production: number }).production, 2);

    await until('promotion applied', async () => {
      const s = rolloutCli(['rollout', 'm', '--status', '--server', url, '--api-key', readKey, '--home', home, '--json']);
      assert.equal(s.code, 0, s.stderr);
      const state = JSON.parse(s.stdout) as { production: number; live: { policy: { production: string } | null; served: boolean } };
      return state.live.served && state.live.policy?.production === '2';
    });
    const denied = rolloutCli(['rollout', 'm', '--status', '--server', url, '--home', home]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /HTTP 401/);
    const status = rolloutCli(['rollout', 'm', '--status', '--server', url, '--home', home], { BERTH_API_KEY: readKey });
    assert.match(status.stdout, /production v2/);
    assert.match(status.stdout, /live \(http/);

    const back = rolloutCli(['rollback', 'm', '--home', home]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /production v1/);
    await until('rollback applied', async () => (await versionServed(url)) === '1');

    // A new version and a new production alias, written by another process.
    const registry = await Registry.open({ home });
    await registry.push(await writeScaledAffine(src, 'm', 3, 3), { name: 'm' });
    await registry.setAlias('m', 'production', 3, 'tester');
    await registry.close();
    await until('new production alias served', async () => (await versionServed(url)) === '3');
    assert.equal(child.pid, pid);
    assert.equal(child.exitCode, null, 'the server never restarted');

    const bad = rolloutCli(['rollout', 'm', '--to', '2', '--home', home]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--to V and --canary P go together/);
    const missing = rolloutCli(['rollout', 'nosuch', '--abort', '--home', home]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no model 'nosuch'/);
  });

  test('SIGTERM drains and exits 0', async () => {
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, log);
  });
});
