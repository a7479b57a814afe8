/** `berth serve --config FILE` as a user runs it (the built CLI), and startServer() with a config object. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, startCliServer } from '../helpers/cli-server.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { startServer } from '../../src/server.js';

describe('berth serve --config', { skip: existsSync(CLI) ? false : 'dist/ not built: run npm run build' }, () => {
  test('the file configures the server and flags override it', async () => {
    const dir = tempDir('berth-config-cli-');
    await writeAffine(join(dir, 'models'));
    // relative to the file; the port is overridden by startCliServer's --port 0
    const file = join(dir, 'berth.yaml');
    writeFileSync(file, ['paths: [models]', 'home: home', 'http: { port: 1 }', 'models: { maxBatchSize: 4, maxQueueDelayUs: 100 }', 'metrics: false', 'grpc: { enabled: false }', ''].join('\n'));
    const server = await startCliServer(['--config', file, '--max-batch-size', '2']);
    try {
      const config = await (await fetch(`${server.url}/v2/models/affine/config`)).json() as { max_batch_size: number; dynamic_batching?: { max_queue_delay_microseconds?: number } };
      assert.equal(config.max_batch_size, 2, 'the flag beats the file');
      assert.equal(config.dynamic_batching?.max_queue_delay_microseconds, 100, 'the file beats the default');
      assert.equal((await fetch(`${server.url}/metrics`)).status, 404, 'metrics: false from the file');
      assert.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200);
      assert.doesNotMatch(server.log(), /gRPC on port/);
    } finally {
      await server.stop();
    }
  });

  test('an unknown key or a bad value exits non-zero naming the file and the key', () => {
    const dir = tempDir('berth-config-bad-');
    const typo = join(dir, 'typo.yaml');
    writeFileSync(typo, 'http:\n  prot: 9000\n');
    const r = spawnSync(process.execPath, [CLI, 'serve', '--config', typo], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`error: ${typo.replace(/[.]/g, '\\.')}: unknown key 'http\\.prot'`));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ monitoring: { captureRate: 'all' } }));
    const b = spawnSync(process.execPath, [CLI, 'serve', '--config', bad], { encoding: 'utf8', timeout: 30000 });
    assert.equal(b.status, 1);
    assert.match(b.stderr, /bad\.json: monitoring\.captureRate: .*expected number/);
    const flag = spawnSync(process.execPath, [CLI, 'serve', '--max-batch-size', '-1'], { encoding: 'utf8', timeout: 30000 });
    assert.notEqual(flag.status, 0);
    assert.match(flag.stderr, /--max-batch-size/);
  });
});

describe('startServer(config)', () => {
  test('parses a partial config object with the same schema: unknown keys and bad values are refused with their path', async () => {
    await assert.rejects(startServer({ http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false }, port: 0 } as never), /startServer config: unknown key 'port'/);
    await assert.rejects(startServer({ http: { port: -1 } }), /startServer config: http\.port: /);
    await assert.rejects(startServer({ paths: [], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false }, requireAuth: true }), /--require-auth needs --registry/);
  });

  test('a partial config gets the defaults', async () => {
    const repo = tempDir('berth-config-lib-');
    await writeAffine(repo);
    const server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { port: 0 }, monitoring: { enabled: false } });
    try {
      assert.ok(server.grpcPort && server.grpcPort !== 8001, 'grpc.port 0 in an object is any free port');
      const config = await (await fetch(`${server.url}/v2/models/affine/config`)).json() as { max_batch_size: number };
      assert.equal(config.max_batch_size, 32);
      assert.equal((await fetch(`${server.url}/metrics`)).status, 200);
    } finally {
      await server.close();
    }
  });
});
