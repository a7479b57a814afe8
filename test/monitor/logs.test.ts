import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { AccessLog } from '../../src/monitor/access-log.js';
import type { AccessLine } from '../../src/monitor/access-log.js';
import type { RequestRecord } from '../../src/core/observer.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { postJson } from '../helpers/http.js';

type Line = AccessLine & { level: number; msg: string; time: number };

/** A pino logger writing into an array of parsed lines. */
function capture(level = 'info'): { logger: pino.Logger; lines: Line[]; raw: string[] } {
  const lines: Line[] = [];
  const raw: string[] = [];
  const logger = pino({ level }, {
    write: (s: string) => {
      raw.push(s);
      for (const l of s.split('\n')) if (l !== '') lines.push(JSON.parse(l) as Line);
    },
  });
  return { logger, lines, raw };
}

const access = (lines: Line[]) => lines.filter((l) => l.msg === 'access');
/** Access lines reach the destination within 10 ms of being logged (in one write). */
const flushed = () => new Promise((r) => setTimeout(r, 30));

// distinctive values, to look for in the log afterwards
const SECRET = 'sk-berth-test-9f8e7d6c5b4a';
const PIXELS = [987654.25, 123.0625, 55555.5, 4242.125];

describe('access log lines', () => {
  let server: RunningServer;
  let log: ReturnType<typeof capture>;
  let repo: string;
  before(async () => {
    repo = tempDir();
    await writeAffine(repo, 'affine', 1);
    log = capture('info');
    server = await startServer({ paths: [repo], http: { port: 0 }, logger: log.logger, accessLog: { sampleRate: 1 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  test('one line per request with id, model, version, protocol, status and durations; no tensors, no credentials', async () => {
    const before = access(log.lines).length;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${SECRET}`, 'x-api-key': SECRET };
    const ok = await postJson(`${server.url}/v2/models/affine/infer`, { id: 'req-1', inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: PIXELS }] }, headers);
    assert.equal(ok.status, 200);
    const v1 = await postJson(`${server.url}/v1/models/affine:predict`, { instances: [PIXELS] }, { ...headers, 'x-request-id': 'v1-req' });
    assert.equal(v1.status, 200);
    const bad = await postJson(`${server.url}/v2/models/affine/infer`, { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: PIXELS.slice(0, 3) }] }, headers);
    assert.equal(bad.status, 400);
    const missing = await postJson(`${server.url}/v2/models/nope/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: PIXELS }] }, headers);
    assert.equal(missing.status, 404);

    await flushed();
    const lines = access(log.lines).slice(before);
    assert.equal(lines.length, 4, JSON.stringify(lines));
    const [first, second, third, fourth] = lines as [Line, Line, Line, Line];
    assert.equal(first.request_id, 'req-1');
    assert.equal(first.model, 'affine');
    assert.equal(first.version, '1');
    assert.equal(first.protocol, 'rest');
    assert.equal(first.outcome, 'success');
    assert.equal(first.code, 'OK');
    assert.equal(first.status, 200);
    assert.equal(first.rows, 1);
    assert.equal(first.level, 30);
    for (const f of ['duration_ms', 'queue_ms', 'compute_ms'] as const) assert.ok(typeof first[f] === 'number' && first[f] >= 0, f);
    assert.ok(first.duration_ms > 0);
    assert.ok(first.queue_ms + first.compute_ms <= first.duration_ms + 0.002);
    assert.equal(second.request_id, 'v1-req');
    assert.equal(second.protocol, 'v1');
    assert.equal(second.status, 200);
    assert.equal(third.status, 400);
    assert.equal(third.code, 'INVALID_ARGUMENT');
    assert.equal(third.outcome, 'failure');
    assert.match(third.error!, /expects shape/);
    assert.match(third.request_id, /^[0-9a-f-]{36}$/, 'the server made up an id');
    assert.equal(fourth.status, 404);
    assert.equal(fourth.model, 'nope');
    assert.equal(fourth.version, '');

    const everything = log.raw.join('');
    assert.ok(!everything.includes(SECRET), 'no API key or Authorization value in the log');
    for (const x of ['987654', '55555', '4242.125']) assert.ok(!everything.includes(x), `no tensor value ${x} in the log`);
    // nor the outputs (affine of the pixels: large sums)
    const outputs = (ok.body.outputs as { data: number[] }[])[0]!.data;
    for (const y of outputs) assert.ok(!everything.includes(String(y)), `no output value ${y} in the log`);
    for (const line of lines) {
      assert.ok(!('inputs' in line) && !('outputs' in line) && !('headers' in line));
    }
  });

  test('sampling: successes are sampled, failures always logged', async () => {
    const sampled = capture('info');
    const s = await startServer({ paths: [repo], http: { port: 0 }, logger: sampled.logger, accessLog: { sampleRate: 0.3 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    try {
      const n = 300;
      for (let i = 0; i < n; i += 30) {
        await Promise.all(Array.from({ length: 30 }, () => postJson(`${s.url}/v2/models/affine/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })));
      }
      for (let i = 0; i < 10; i++) await postJson(`${s.url}/v2/models/affine/infer`, { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] });
      await flushed();
      const lines = access(sampled.lines);
      const successes = lines.filter((l) => l.outcome === 'success').length;
      // binomial(300, 0.3): mean 90, sd 7.9; these bounds are 5 sd away
      assert.ok(successes >= 50 && successes <= 130, `${successes} of ${n} successes logged at rate 0.3`);
      assert.equal(lines.filter((l) => l.outcome === 'failure').length, 10);
    } finally {
      await s.close();
    }
  });

  test('sample rate 0 logs failures only; accessLog: false logs nothing', async () => {
    const none = capture('info');
    const s = await startServer({ paths: [repo], http: { port: 0 }, logger: none.logger, accessLog: { sampleRate: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    const off = capture('info');
    const t = await startServer({ paths: [repo], http: { port: 0 }, logger: off.logger, accessLog: { enabled: false }, grpc: { enabled: false }, monitoring: { enabled: false } });
    try {
      for (const server of [s, t]) {
        for (let i = 0; i < 5; i++) await postJson(`${server.url}/v2/models/affine/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
        assert.equal((await postJson(`${server.url}/v2/models/other/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })).status, 404);
      }
      await flushed();
      assert.deepEqual(access(none.lines).map((l) => l.status), [404]);
      assert.equal(access(off.lines).length, 0);
    } finally {
      await Promise.all([s.close(), t.close()]);
    }
  });
});

describe('AccessLog (unit)', () => {
  const record = (over: Partial<RequestRecord>): RequestRecord => ({
    model: 'm', version: '1', requestId: 'r', outcome: 'success', rows: 1, inputs: [], durationNs: 2_500_000, queueNs: 1_000_000, computeNs: 1_234_567, startedAt: 0, ...over,
  });

  test('levels follow the outcome, so --log-level warn keeps only trouble; gRPC lines carry gRPC status codes', () => {
    const log = capture('warn');
    const al = new AccessLog(log.logger);
    al.onRequest(record({}));
    al.onRequest(record({ outcome: 'failure', errorCode: 'INVALID_ARGUMENT', errorMessage: 'bad' }));
    al.onRequest(record({ outcome: 'failure', errorCode: 'OVERLOADED', errorMessage: 'Exceeds maximum queue size (1)', protocol: 'grpc' }));
    al.onRequest(record({ outcome: 'failure', errorCode: 'OVERLOADED', errorMessage: 'Request timeout expired' }));
    al.onRequest(record({ outcome: 'failure', errorCode: 'UNAVAILABLE', errorMessage: 'server is shutting down', protocol: 'grpc' }));
    al.onRequest(record({ outcome: 'failure', errorCode: 'INTERNAL', errorMessage: 'model instance crashed' }));
    al.flush();
    assert.deepEqual(log.lines.map((l) => [l.level, l.code, l.status]), [[40, 'OVERLOADED', 8], [40, 'OVERLOADED', 429], [40, 'UNAVAILABLE', 14], [50, 'INTERNAL', 500]]);
  });

  test('the fast path writes what pino itself would; lines go out together, a little later', async () => {
    const fast = capture('info');
    const slow: string[] = [];
    // a level formatter makes AccessLog go through pino's own serialiser
    const viaPino = pino({ level: 'info', formatters: { level: (_label, number) => ({ level: number }) } }, { write: (s: string) => void slow.push(s) });
    const records = [
      record({ requestId: 'id with "quotes" and \\ and \u0001' }),
      record({ outcome: 'failure', errorCode: 'NOT_FOUND', errorMessage: "unknown model 'x\ny'", model: 'x\ny', version: '' }),
      record({ protocol: 'grpc', outcome: 'failure', errorCode: 'UNAVAILABLE', errorMessage: 'E'.repeat(400) }),
      record({ model: 'lone \ud800 surrogate', requestId: 'tab\there' }),
    ];
    const a = new AccessLog(fast.logger, { traceId: () => '0af7651916cd43dd8448eb211c80319c' });
    const b = new AccessLog(viaPino, { traceId: () => '0af7651916cd43dd8448eb211c80319c' });
    for (const r of records) {
      a.onRequest(r);
      b.onRequest(r);
    }
    assert.equal(fast.raw.length, 0, 'nothing written at once');
    await flushed();
    assert.equal(fast.raw.length, 1, 'one write for all the lines');
    const strip = (o: Record<string, unknown>) => {
      const { time, ...rest } = o;
      assert.equal(typeof time, 'number');
      return rest;
    };
    assert.deepEqual(fast.lines.map((l) => strip(l as unknown as Record<string, unknown>)), slow.map((l) => strip(JSON.parse(l) as Record<string, unknown>)));
    assert.equal(fast.lines[2]!.error!.length, 301);
  });

  test('above maxLinesPerSec successes are sampled, the share adapting each second; failures always logged', () => {
    const log = capture('info');
    let now = 1_000_000;
    let r = 0;
    const al = new AccessLog(log.logger, { maxLinesPerSec: 100, now: () => now, random: () => r });
    const second = (successes: number, failures = 0): void => {
      for (let i = 0; i < successes; i++) {
        r = (i % 100) / 100; // evenly spread "random" draws
        al.onRequest(record({ requestId: `s${i}` }));
      }
      for (let i = 0; i < failures; i++) al.onRequest(record({ outcome: 'failure', errorCode: 'INVALID_ARGUMENT', errorMessage: 'bad' }));
      al.flush();
      now += 1000;
    };
    second(50);
    assert.equal(log.lines.length, 50, 'below the cap: every line');
    assert.ok(log.lines.every((l) => l.sample_rate === undefined));
    log.lines.length = 0;
    second(5000, 7);
    // the second in which traffic jumps: at most twice the cap, then only failures
    assert.equal(log.lines.filter((l) => l.outcome === 'success').length, 200);
    assert.equal(log.lines.filter((l) => l.outcome === 'failure').length, 7);
    log.lines.length = 0;
    second(5000, 3);
    const sampled = log.lines.filter((l) => l.outcome === 'success');
    assert.equal(sampled.length, 100, 'the next second: 100/5000 of them');
    assert.ok(sampled.every((l) => l.sample_rate === 0.02));
    assert.ok(log.lines.filter((l) => l.outcome === 'failure').every((l) => l.sample_rate === undefined));
    log.lines.length = 0;
    now += 5000; // a quiet spell resets the share
    second(10);
    assert.equal(log.lines.length, 10);
    const uncapped = capture('info');
    const all = new AccessLog(uncapped.logger, { maxLinesPerSec: 0, now: () => now });
    for (let i = 0; i < 3000; i++) all.onRequest(record({}));
    all.flush();
    assert.equal(uncapped.lines.length, 3000, 'maxLinesPerSec 0: no cap');
  });

  test('durations in ms with µs precision; trace id when tracing; sampling uses the random source', async () => {
    const log = capture('info');
    let r = 0.5;
    const al = new AccessLog(log.logger, { sampleRate: 0.4, random: () => r, traceId: () => 'abc123' });
    al.onRequest(record({}));
    r = 0.1;
    al.onRequest(record({}));
    al.flush();
    assert.equal(log.lines.length, 1);
    assert.equal(log.lines[0]!.duration_ms, 2.5);
    assert.equal(log.lines[0]!.queue_ms, 1);
    assert.equal(log.lines[0]!.compute_ms, 1.235);
    assert.equal(log.lines[0]!.trace_id, 'abc123');
    assert.throws(() => new AccessLog(log.logger, { sampleRate: 1.5 }), /between 0 and 1/);
  });
});
