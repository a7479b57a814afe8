import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { AFFINE, affineExpected, tempDir, writeAffine, writeCorrupt } from '../helpers/models.js';
import { getJson, postJson } from '../helpers/http.js';

const close = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]!) < 1e-4);

describe('REST API (Open Inference Protocol v2)', () => {
  let server: RunningServer;
  let url: string;
  const row1 = [1, 2, 3, 4];
  const row2 = [-1, 0.5, 2, -3];

  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1);
    await writeAffine(repo, 'affine', 2, { version_policy: { all: {} } });
    await writeAffine(repo, 'latest', 1);
    await writeAffine(repo, 'latest', 2);
    writeCorrupt(repo, 'broken');
    server = await startServer({ paths: [repo], http: { port: 0, maxBodyMb: (64 * 1024) / 2 ** 20 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    url = server.url;
  });
  after(() => server.close());

  test('server metadata and liveness', async () => {
    const meta = await getJson(`${url}/v2`);
    assert.equal(meta.status, 200);
    assert.equal(meta.body.name, 'berth');
    assert.ok((meta.body.extensions as string[]).includes('binary_tensor_data'));
    const live = await getJson(`${url}/v2/health/live`);
    assert.deepEqual([live.status, live.body], [200, { live: true }]);
  });

  test('a corrupt model is not ready, with its reason, and the others serve', async () => {
    const ready = await getJson(`${url}/v2/models/broken/ready`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.ready, false);
    assert.match(String(ready.body.error), /failed to load/);
    const good = await getJson(`${url}/v2/models/affine/ready`);
    assert.deepEqual([good.status, good.body], [200, { name: 'affine', ready: true }]);
    // strict readiness, as in Triton: the server is not ready while a model is not
    assert.equal((await getJson(`${url}/v2/health/ready`)).status, 503);
    const infer = await postJson(`${url}/v2/models/broken/infer`, { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] });
    assert.equal(infer.status, 503);
    assert.match(String(infer.body.error), /not ready: failed to load/);
  });

  test('model metadata lists versions, inputs and outputs with -1 for dynamic dims', async () => {
    const { status, body } = await getJson(`${url}/v2/models/affine`);
    assert.equal(status, 200);
    assert.deepEqual(body, {
      name: 'affine',
      versions: ['1', '2'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, AFFINE.inputs] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, AFFINE.outputs] }],
    });
    assert.equal((await getJson(`${url}/v2/models/affine/versions/1`)).status, 200);
    assert.equal((await getJson(`${url}/v2/models/affine/versions/1/ready`)).status, 200);
  });

  test('the default version policy serves only the latest version', async () => {
    const { body } = await getJson(`${url}/v2/models/latest`);
    assert.deepEqual(body.versions, ['2']);
    assert.equal((await getJson(`${url}/v2/models/latest/versions/1/ready`)).status, 404);
  });

  test('infer with nested data echoes id and reports model name and version', async () => {
    const { status, body } = await postJson(`${url}/v2/models/affine/infer`, {
      id: 'req-42',
      model_name: 'affine', // clients add fields of their own; tolerated
      inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [row1, row2] }],
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.id, 'req-42');
    assert.equal(body.model_name, 'affine');
    assert.equal(body.model_version, '2');
    const out = (body.outputs as { name: string; shape: number[]; datatype: string; data: number[] }[])[0]!;
    assert.equal(out.name, 'output');
    assert.deepEqual(out.shape, [2, 3]);
    assert.equal(out.datatype, 'FP32');
    assert.ok(close(out.data, [...affineExpected(row1), ...affineExpected(row2)]));
  });

  test('infer on an explicit version, flat data, no content type', async () => {
    const res = await fetch(`${url}/v2/models/affine/versions/1/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row1 }], outputs: [{ name: 'output' }] }),
    });
    const body = (await res.json()) as { model_version: string; outputs: { data: number[] }[] };
    assert.equal(res.status, 200);
    assert.equal(body.model_version, '1');
    assert.ok(close(body.outputs[0]!.data, affineExpected(row1)));
  });

  test('gzip-encoded request bodies are decoded', async () => {
    const { gzipSync } = await import('node:zlib');
    const res = await fetch(`${url}/v2/models/affine/infer`, {
      method: 'POST',
      headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
      body: gzipSync(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row1 }] })),
    });
    assert.equal(res.status, 200);
  });

  describe('errors name the problem', () => {
    const infer = (body: unknown, path = 'affine') => postJson(`${url}/v2/models/${path}/infer`, body);
    const input = (over: object) => ({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row1, ...over }] });

    test('wrong shape', async () => {
      const r = await infer(input({ shape: [1, 3], data: [1, 2, 3] }));
      assert.equal(r.status, 400);
      assert.equal(r.body.error, "input 'input' expects shape [-1,4], got [1,3]");
    });
    test('data does not fill the shape', async () => {
      const r = await infer(input({ data: [1, 2, 3] }));
      assert.equal(r.status, 400);
      assert.equal(r.body.error, "input 'input' has 3 elements but shape [1,4] needs 4");
    });
    test('wrong datatype', async () => {
      const r = await infer(input({ datatype: 'INT32' }));
      assert.equal(r.status, 400);
      assert.equal(r.body.error, "input 'input' expects datatype FP32, got INT32");
    });
    test('unknown datatype', async () => {
      const r = await infer(input({ datatype: 'FLOAT' }));
      assert.equal(r.status, 400);
      assert.match(String(r.body.error), /unknown datatype 'FLOAT'/);
    });
    test('non-numeric element', async () => {
      const r = await infer(input({ data: [1, 2, 'x', 4] }));
      assert.equal(r.status, 400);
      assert.match(String(r.body.error), /input 'input' \(FP32\) element 2 is not a number/);
    });
    test('missing and unexpected inputs', async () => {
      const r = await infer({ inputs: [{ name: 'nope', shape: [1, 4], datatype: 'FP32', data: row1 }] });
      assert.equal(r.status, 400);
      assert.match(String(r.body.error), /unexpected input 'nope'; the model's inputs are 'input'/);
    });
    test('unknown output', async () => {
      const r = await infer({ ...input({}), outputs: [{ name: 'logits' }] });
      assert.equal(r.status, 400);
      assert.match(String(r.body.error), /unknown output 'logits'/);
    });
    test('malformed JSON and wrong structure', async () => {
      const bad = await postJson(`${url}/v2/models/affine/infer`, '{"inputs": [', {});
      assert.equal(bad.status, 400);
      assert.match(String(bad.body.error), /not valid JSON/);
      const shape = await infer({ inputs: [{ name: 'input', shape: 'x', datatype: 'FP32', data: [] }] });
      assert.equal(shape.status, 400);
      assert.match(String(shape.body.error), /inputs\[0\]\.shape/);
      const empty = await infer({});
      assert.equal(empty.status, 400);
    });
    test('FP16 over JSON is refused with a pointer to binary', async () => {
      const r = await infer(input({ datatype: 'FP16' }));
      assert.equal(r.status, 400);
      assert.match(String(r.body.error), /FP16 data via JSON is not supported/);
    });
    test('unknown model and version are 404', async () => {
      const m = await infer(input({}), 'nosuch');
      assert.deepEqual([m.status, m.body], [404, { error: "unknown model 'nosuch'" }]);
      const v = await infer(input({}), 'affine/versions/9');
      assert.deepEqual([v.status, v.body], [404, { error: "unknown version '9' of model 'affine'" }]);
      const meta = await getJson(`${url}/v2/models/nosuch`);
      assert.equal(meta.status, 404);
    });
    test('unknown route is a JSON 404', async () => {
      const r = await getJson(`${url}/v3/anything`);
      assert.deepEqual([r.status, r.body], [404, { error: 'Not Found' }]);
    });
    test('a body over the limit is 413', async () => {
      const big = { inputs: [{ name: 'input', shape: [20000, 4], datatype: 'FP32', data: new Array(80000).fill(1.5) }] };
      const r = await infer(big);
      assert.equal(r.status, 413);
      assert.match(String(r.body.error), /larger than the limit of 65536 bytes/);
    });
    test('bad parameters', async () => {
      const r = await infer({ ...input({}), parameters: { timeout: -5 } });
      assert.equal(r.status, 400);
      assert.match(String(r.body.error), /parameter 'timeout' must be a non-negative integer/);
    });
  });
});
