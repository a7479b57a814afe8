import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bufferSize, haproxyConfig } from '../../src/package/manifests/haproxy.js';
import { haproxyOptions, parseEndpoint } from '../../src/package/manifests/haproxy-options.js';
import type { HaproxyFlags } from '../../src/package/manifests/haproxy-options.js';
import { tempDir } from '../helpers/models.js';
import { HAPROXY, haproxyMissing } from './helpers/fleet.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

function config(flags: HaproxyFlags): string {
  return haproxyConfig(haproxyOptions(flags));
}

/** `haproxy -c -f FILE`: HAProxy's own parser is the judge of the configuration. */
function haproxyCheck(text: string): { ok: boolean; output: string } {
  const file = join(tempDir('berth-haproxy-'), 'haproxy.cfg');
  writeFileSync(file, text);
  const r = spawnSync(HAPROXY, ['-c', '-f', file], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** The lines of one section (`backend berth_http`, …), trimmed, comments dropped. */
function section(text: string, name: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(name);
  assert.ok(start >= 0, `no section ${name}`);
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l !== '' && !l.startsWith(' ')) break;
    const t = l.trim();
    if (t !== '' && !t.startsWith('#')) body.push(t);
  }
  return body;
}

describe('berth manifests haproxy: inputs', () => {
  test('HOST:PORT parses names, IPv4 and bracketed IPv6; anything else is refused with the flag named', () => {
    assert.deepEqual(parseEndpoint('--replica', 'node-1.example.com:8000'), { host: 'node-1.example.com', port: 8000 });
    assert.deepEqual(parseEndpoint('--replica', '10.0.0.7:80'), { host: '10.0.0.7', port: 80 });
    assert.deepEqual(parseEndpoint('--replica', '[fd00::7]:8000'), { host: 'fd00::7', port: 8000 });
    for (const bad of ['node-1', ':8000', 'node-1:', 'node-1:0', 'node-1:65536', 'node-1:80x', 'fd00::7:8000', '[node]:80', 'a b:80', 'http://node:80', 'node:80/x', '-node:80']) {
      assert.throws(() => parseEndpoint('--replica', bad), /--replica/, bad);
    }
  });

  test('a replica given twice, gRPC endpoints that do not pair up, or a gRPC port that is an HTTP one are refused', () => {
    assert.throws(() => haproxyOptions({ replica: [] }), /--replica HOST:PORT is required/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000', 'A:8000'] }), /given twice/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000', 'b:8000'], grpcReplica: ['a:8001'] }), /one gRPC endpoint per replica/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000', 'b:8000'], grpcReplica: ['a:8001', 'a:8001'] }), /given twice/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000', 'b:8000'], grpcReplica: ['b:8000', 'a:8001'] }), /also a --replica/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000'], grpcReplica: ['a:8001'], port: '9000', grpcPort: '9000' }), /must differ/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000'], statsBind: '127.0.0.1:8000' }), /already a frontend/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000'], statsSocket: '/run/ha proxy.sock' }), /--stats-socket/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000'], serverTimeout: '10 minutes' }), /--server-timeout/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000'], maxBody: '1GiB' }), /--max-body/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000'], maxBody: '65MiB' }), /--max-body must be between/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000'], maxconn: '0' }), /--maxconn/);
    assert.throws(() => haproxyOptions({ replica: ['a:8000'], log: 'stdout local7' }), /--log/);
  });

  test('durations and sizes take units', () => {
    const o = haproxyOptions({ replica: ['a:8000'], serverTimeout: '2m', checkTimeout: '750ms', requestTimeout: '45', maxBody: '4MiB' });
    assert.equal(o.serverTimeoutMs, 120_000);
    assert.equal(o.checkTimeoutMs, 750);
    assert.equal(o.requestTimeoutMs, 45_000);
    assert.equal(o.maxBodyBytes, 4 * 1024 * 1024);
  });
});

describe('berth manifests haproxy: the configuration', () => {
  const text = config({ replica: ['10.0.0.1:8000', '10.0.0.2:8000', '[fd00::3]:8000'], grpcReplica: ['10.0.0.1:8001', '10.0.0.2:8001', '[fd00::3]:8001'], statsSocket: '/run/berth-haproxy.sock', statsBind: '127.0.0.1:8404' });

  test('inference is balanced by least connections, checked on readiness, and retried elsewhere on failure, 503 included, 429 not', () => {
    const b = section(text, 'backend berth_http');
    assert.ok(b.includes('balance leastconn'));
    assert.ok(b.includes('option httpchk'));
    assert.ok(b.includes('http-check send meth GET uri /v2/health/ready'));
    assert.ok(b.includes('http-check expect status 200'));
    const retryOn = b.find((l) => l.startsWith('retry-on '))!.split(/\s+/).slice(1);
    assert.deepEqual(retryOn.sort(), ['503', 'conn-failure', 'empty-response', 'response-timeout']);
    const directives = text.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');
    assert.ok(!directives.includes('observe layer7'), 'a burst of 429s must not mark replicas down');
    assert.ok(!/retry-on[^\n]*(429|all-retryable)/.test(directives));
    const servers = b.filter((l) => l.startsWith('server '));
    assert.deepEqual(servers.map((l) => l.split(' ')[2]), ['10.0.0.1:8000', '10.0.0.2:8000', 'ipv6@fd00::3:8000']);
    for (const s of servers) assert.match(s, /check inter 500ms fastinter 200ms .*rise 2 fall 2/);
    const d = section(text, 'defaults');
    assert.ok(d.includes('retries 3') && d.includes('option redispatch 1'));
  });

  test('only inference, V1 predict and reads are replayed; every other write is not', () => {
    const b = section(text, 'backend berth_http');
    const disable = b.find((l) => l.startsWith('http-request disable-l7-retry'));
    assert.equal(disable, 'http-request disable-l7-retry unless METH_GET or inference or v1_predict');
    const infer = new RegExp(b.find((l) => l.startsWith('acl inference '))!.split(' ').slice(3).join(' '));
    const predict = new RegExp(b.find((l) => l.startsWith('acl v1_predict '))!.split(' ').slice(3).join(' '));
    const replayed = (path: string) => infer.test(path) || predict.test(path);
    for (const p of ['/v2/models/digits/infer', '/v2/models/digits/versions/3/infer', '/v1/models/digits:predict']) assert.ok(replayed(p), p);
    for (const p of ['/api/v1/models/digits/feedback', '/v2/repository/models/digits/load', '/v2/repository/models/digits/unload', '/api/v1/rollouts', '/v2/models/digits/infer/x', '/v2/models/a/b/infer']) {
      assert.ok(!replayed(p), p);
    }
  });

  test('tune.bufsize holds a whole request with a body of --max-body', () => {
    for (const [flag, bytes] of [['1MiB', 1 << 20], ['64KiB', 64 << 10]] as const) {
      const t = config({ replica: ['a:8000'], maxBody: flag });
      const size = Number(/tune\.bufsize (\d+)/.exec(t)![1]);
      assert.equal(size, bufferSize(bytes));
      const rewrite = Number(/tune\.maxrewrite (\d+)/.exec(t)![1]);
      assert.ok(size - rewrite >= bytes + 8 * 1024, 'room for the body and 8 KiB of headers after the rewrite reserve');
    }
  });

  test('X-Request-ID is kept when the client sends one, made otherwise; X-Forwarded-For added', () => {
    for (const f of ['frontend berth_http', 'frontend berth_grpc']) {
      const s = section(text, f);
      assert.ok(s.some((l) => l.startsWith('unique-id-format ')));
      assert.ok(s.includes('http-request set-header X-Request-ID %[unique-id] unless { req.hdr(x-request-id) -m found }'));
      assert.ok(s.includes('option forwardfor'));
    }
  });

  test('gRPC: its own HTTP/2 frontend, per-call balancing, readiness checked on the paired HTTP port, only reads and unary inference replayed', () => {
    assert.ok(section(text, 'frontend berth_grpc').includes('bind :8001 proto h2'));
    const b = section(text, 'backend berth_grpc');
    const servers = b.filter((l) => l.startsWith('server '));
    assert.equal(servers.length, 3);
    assert.match(servers[0]!, /^server replica1 10\.0\.0\.1:8001 proto h2 check .* check-proto h1 port 8000$/);
    assert.match(servers[2]!, /^server replica3 ipv6@fd00::3:8001 proto h2 check .* check-proto h1 port 8000$/);
    const acl = b.find((l) => l.startsWith('acl replayable '))!;
    assert.ok(acl.includes('/inference.GRPCInferenceService/ModelInfer'));
    assert.ok(!/ModelStreamInfer|RepositoryModelLoad|RepositoryModelUnload/.test(acl));
    assert.ok(!b.some((l) => l.startsWith('retry-on') && l.includes('503')), 'gRPC statuses are trailers; a 503 there is not a berth answer');
    assert.ok(!b.includes('option http-buffer-request'), 'a bidirectional stream must not wait for a full buffer');
  });

  test('no gRPC frontend without --grpc-replica', () => {
    const t = config({ replica: ['a:8000'] });
    assert.ok(!t.includes('berth_grpc'));
  });

  test('HAProxy accepts it (haproxy -c), with every option and with the fewest', { skip: haproxyMissing() }, () => {
    for (const t of [text, config({ replica: ['127.0.0.1:9000'] }), config({ replica: ['127.0.0.1:9000'], log: 'stdout' }), config({ replica: ['127.0.0.1:9000'], log: 'udp@10.0.0.5:514' })]) {
      const r = haproxyCheck(t);
      assert.ok(r.ok, r.output);
      assert.ok(!/\[WARNING\]|\[ALERT\]/.test(r.output), r.output);
    }
    // the check itself can fail: a broken configuration is refused
    assert.equal(haproxyCheck(text.replace('balance leastconn', 'balance fastest')).ok, false);
  });

  test('the CLI writes the same configuration to --out, and fails with one line on bad input', () => {
    const out = join(tempDir('berth-haproxy-cli-'), 'haproxy.cfg');
    const ok = spawnSync(process.execPath, [CLI, 'manifests', 'haproxy', '--replica', '10.0.0.1:8000', '10.0.0.2:8000', '--grpc-replica', '10.0.0.1:8001', '10.0.0.2:8001', '--out', out], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const written = readFileSync(out, 'utf8');
    assert.ok(written.startsWith('# generated by berth'));
    assert.ok(written.endsWith(config({ replica: ['10.0.0.1:8000', '10.0.0.2:8000'], grpcReplica: ['10.0.0.1:8001', '10.0.0.2:8001'] })));
    const bad = spawnSync(process.execPath, [CLI, 'manifests', 'haproxy', '--replica', '10.0.0.1:8000', '10.0.0.1:8000'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^error: --replica 10\.0\.0\.1:8000 is given twice/);
    assert.equal(bad.stdout, '');
  });
});
