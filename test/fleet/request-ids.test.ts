/**
 * Request ids end to end: the x-request-id a client or balancer sends (REST header, gRPC
 * metadata) is echoed, names the access log line and the trace span, is checked (1-256
 * printable ASCII, else refused), and a retried request with the same id is captured once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { captureDir } from '../../src/monitor/capture/store.js';
import { CaptureStore } from '../../src/monitor/capture/store.js';
import { readCaptured } from '../../src/monitor/capture/export.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { postJson } from '../helpers/http.js';
import { connect, type Msg, type TestClient } from '../grpc/helpers.js';

type Line = { msg: string; request_id?: string; id?: string; protocol?: string; status?: number };

const ROW = [1, 2, 3, 4];
const v2Body = (id?: string) => ({ ...(id ? { id } : {}), inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: ROW }] });
const JSON_HEADERS = { 'content-type': 'application/json' };
const flushed = () => new Promise((r) => setTimeout(r, 50));

/** A raw request (fetch refuses some header bytes that a hostile client can send). */
function rawPost(url: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: 'POST', headers: { host: 'localhost', 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('request ids end to end', () => {
  let server: RunningServer;
  let home: string;
  let client: TestClient;
  const lines: Line[] = [];
  const exporter = new InMemorySpanExporter();

  before(async () => {
    const repo = tempDir();
    home = tempDir('berth-home-');
    await writeAffine(repo, 'affine', 1);
    const logger = pino({ level: 'info' }, { write: (s: string) => { for (const l of s.split('\n')) if (l !== '') lines.push(JSON.parse(l) as Line); } });
    server = await startServer({
      paths: [repo], home, http: { port: 0 }, grpc: { port: 0 }, logger, accessLog: { sampleRate: 1 },
      tracing: { exporters: [exporter] },
      monitoring: { captureRate: 1, accuracyWindow: 100, driftWindow: 0 },
    });
    client = connect(server.grpcPort!);
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  const accessFor = (id: string) => lines.filter((l) => l.msg === 'access' && l.request_id === id);
  const spanAttrs = async (id: string) => {
    await server.tracing!.flush();
    return exporter.getFinishedSpans().filter((s) => s.attributes['berth.request_id'] === id).map((s) => s.attributes);
  };

  test('V2 REST: the header names the request when the body has no id, and beside the body id when it has one', async () => {
    const a = await postJson(`${server.url}/v2/models/affine/infer`, v2Body(), { ...JSON_HEADERS, 'x-request-id': 'lb-0001' });
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('x-request-id'), 'lb-0001');
    const b = await postJson(`${server.url}/v2/models/affine/infer`, v2Body('client-7'), { ...JSON_HEADERS, 'x-request-id': 'lb-0002' });
    assert.equal(b.status, 200);
    assert.equal(b.body.id, 'client-7', 'the body id is answered in the body');
    assert.equal(b.headers.get('x-request-id'), 'lb-0002', 'the header id is echoed in the header');
    const c = await postJson(`${server.url}/v2/models/affine/infer`, v2Body('client-8'));
    assert.equal(c.headers.get('x-request-id'), 'client-8', 'without a header, the body id is the request id (as before)');
    await flushed();
    assert.equal(accessFor('lb-0001').length, 1);
    const both = accessFor('lb-0002');
    assert.equal(both.length, 1);
    assert.equal(both[0]!.id, 'client-7');
    assert.equal(accessFor('client-8')[0]?.id, undefined, 'no separate id when there is only one');
    const span = (await spanAttrs('lb-0002')).find((a) => a['berth.model'] === 'affine');
    assert.ok(span, 'a span carries berth.request_id = the header id');
    assert.equal(span['berth.inference_id'], 'client-7');
    assert.ok((await spanAttrs('lb-0001')).length >= 1);
  });

  test('an error answer carries the id too', async () => {
    const r = await postJson(`${server.url}/v2/models/nope/infer`, v2Body(), { ...JSON_HEADERS, 'x-request-id': 'lb-err' });
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('x-request-id'), 'lb-err');
    await flushed();
    assert.equal(accessFor('lb-err')[0]?.status, 404);
  });

  test('V1: the header is the request id, echoed and logged', async () => {
    const r = await postJson(`${server.url}/v1/models/affine:predict`, { instances: [ROW] }, { ...JSON_HEADERS, 'x-request-id': 'lb-v1' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-request-id'), 'lb-v1');
    await flushed();
    assert.equal(accessFor('lb-v1')[0]?.protocol, 'v1');
  });

  test('gRPC ModelInfer: x-request-id metadata is echoed in the initial metadata, logged and traced', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-request-id', 'lb-grpc');
    const request = { model_name: 'affine', id: 'grpc-body', inputs: [{ name: 'input', datatype: 'FP32', shape: ['1', '4'], contents: { fp32_contents: ROW } }] };
    const raw = client.raw as unknown as Record<string, (req: Msg, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Msg) => void) => grpc.ClientUnaryCall>;
    const headers = await new Promise<grpc.Metadata>((resolve, reject) => {
      let got: grpc.Metadata | undefined;
      const call = raw.ModelInfer!.call(client.raw, request, metadata, (err, res) => {
        if (err) return reject(err);
        assert.equal(res!.id, 'grpc-body');
        resolve(got!);
      });
      call.on('metadata', (m: grpc.Metadata) => (got = m));
    });
    assert.deepEqual(headers.get('x-request-id'), ['lb-grpc']);
    await flushed();
    const line = accessFor('lb-grpc')[0];
    assert.equal(line?.protocol, 'grpc');
    assert.equal(line?.id, 'grpc-body');
    assert.ok((await spanAttrs('lb-grpc')).length >= 1);
  });

  test('ids that are too long or not printable ASCII are refused with a reason, on both front ends', async () => {
    const long = await postJson(`${server.url}/v2/models/affine/infer`, v2Body(), { ...JSON_HEADERS, 'x-request-id': 'x'.repeat(257) });
    assert.equal(long.status, 400);
    assert.match(String(long.body.error), /x-request-id is 257 characters long: at most 256/);
    const ok256 = await postJson(`${server.url}/v2/models/affine/infer`, v2Body(), { ...JSON_HEADERS, 'x-request-id': 'y'.repeat(256) });
    assert.equal(ok256.status, 200);
    const latin = await rawPost(server.url, '/v2/models/affine/infer', { 'x-request-id': Buffer.from('caf\xe9', 'latin1').toString('latin1') }, JSON.stringify(v2Body()));
    assert.equal(latin.status, 400);
    assert.match(JSON.parse(latin.body).error as string, /printable ASCII/);
    const v1 = await postJson(`${server.url}/v1/models/affine:predict`, { instances: [ROW] }, { ...JSON_HEADERS, 'x-request-id': 'z'.repeat(300) });
    assert.equal(v1.status, 400);
    const metadata = new grpc.Metadata();
    metadata.set('x-request-id', 'g'.repeat(257));
    await assert.rejects(client.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'input', datatype: 'FP32', shape: ['1', '4'], contents: { fp32_contents: ROW } }] }, metadata), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /x-request-id/);
      return true;
    });
  });

  test('a retried request (same id, same model) is captured once; feedback still joins by the client id', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await postJson(`${server.url}/v2/models/affine/infer`, v2Body(), { ...JSON_HEADERS, 'x-request-id': 'retry-me' });
      assert.equal(r.status, 200);
    }
    for (let i = 0; i < 2; i++) assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, v2Body('labelled-1'), { ...JSON_HEADERS, 'x-request-id': `hop-${i}` })).status, 200);
    await postJson(`${server.url}/v2/models/affine/infer`, v2Body(), { ...JSON_HEADERS, 'x-request-id': 'other-id' });
    const fb = await postJson(`${server.url}/api/v1/models/affine/feedback`, { id: 'labelled-1', label: 0 });
    assert.equal(fb.status, 200);
    assert.ok(Number(fb.body.matched) >= 1, JSON.stringify(fb.body));
    await server.close();
    const records = await readCaptured(captureDir(home));
    const count = (id: string) => records.filter((r) => r.requestId === id).length;
    assert.equal(count('retry-me'), 1);
    assert.equal(count('labelled-1'), 1, 'captured under the client id, once although the balancer ids differ');
    assert.equal(count('other-id'), 1);
  });
});

describe('capture de-duplication memory', () => {
  test('remembers the last N ids per store, so an old id is captured again', async () => {
    const dir = tempDir('berth-capture-');
    const store = new CaptureStore({ dir, rate: 1, dedupIds: 2 });
    const rec = (id: string, model = 'm') => ({ model, version: '1', requestId: id, outcome: 'success' as const, rows: 1, inputs: [], outputs: [], durationNs: 1, queueNs: 0, computeNs: 0, startedAt: Date.now() });
    for (const [id, model] of [['a', 'm'], ['a', 'm'], ['a', 'n'], ['b', 'm'], ['c', 'm'], ['a', 'm']] as const) store.offer(rec(id, model));
    await store.close();
    const got = (await readCaptured(dir)).map((r) => `${r.model}:${r.requestId}`);
    // a (m), a (n: another model), b, c; then a again: forgotten after two newer ids
    assert.deepEqual(got, ['m:a', 'n:a', 'm:b', 'm:c', 'm:a']);
    assert.equal(store.stats().duplicates, 1);
  });
});
