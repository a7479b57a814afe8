import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { affineExpected, tempDir, writeAffine, writeIdentityAll } from '../helpers/models.js';
import { getJson, postJson } from '../helpers/http.js';

const near = (a: number[], b: number[]) => a.every((x, i) => Math.abs(x - b[i]!) < 1e-4);

describe('V1 predict API (TF-Serving style)', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine');
    await writeIdentityAll(repo, 'identity');
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  test('instances → one prediction per row', async () => {
    const rows = [[1, 2, 3, 4], [0, 0, 0, 1], [5, -1, 2, 0]];
    const { status, body } = await postJson(`${server.url}/v1/models/affine:predict`, { instances: rows });
    assert.equal(status, 200, JSON.stringify(body));
    const predictions = body.predictions as number[][];
    assert.equal(predictions.length, 3);
    rows.forEach((r, i) => assert.ok(near(predictions[i]!, affineExpected(r))));
  });

  test('columnar inputs → predictions', async () => {
    const { status, body } = await postJson(`${server.url}/v1/models/affine:predict`, { inputs: [[1, 2, 3, 4]] });
    assert.equal(status, 200);
    assert.ok(near((body.predictions as number[][])[0]!, affineExpected([1, 2, 3, 4])));
  });

  test('several inputs and outputs: instances are objects, predictions too', async () => {
    const dts = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];
    const instance = Object.fromEntries(dts.map((dt) => [`in_${dt}`, dt === 'BOOL' ? [true, false, true] : dt === 'BYTES' ? ['a', 'b', 'c'] : [1, 2, 3]]));
    // FP16 cannot travel as JSON, so the whole request is refused with that reason.
    const refused = await postJson(`${server.url}/v1/models/identity:predict`, { instances: [instance] });
    assert.equal(refused.status, 400);
    assert.match(String(refused.body.error), /FP16/);
  });

  test('errors: bad body, missing input, unknown model, unknown verb', async () => {
    const empty = await postJson(`${server.url}/v1/models/affine:predict`, {});
    assert.equal(empty.status, 400);
    assert.match(String(empty.body.error), /"instances" or "inputs"/);
    const ragged = await postJson(`${server.url}/v1/models/affine:predict`, { instances: [[1, 2, 3, 4], [1, 2]] });
    assert.equal(ragged.status, 400);
    assert.match(String(ragged.body.error), /not rectangular/);
    const wrong = await postJson(`${server.url}/v1/models/affine:predict`, { instances: [[1, 2, 3]] });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, "input 'input' expects shape [-1,4], got [1,3]");
    const unknown = await postJson(`${server.url}/v1/models/nosuch:predict`, { instances: [[1]] });
    assert.equal(unknown.status, 404);
    const verb = await postJson(`${server.url}/v1/models/affine:classify`, { instances: [[1]] });
    assert.equal(verb.status, 404);
  });

  test('GET /v1/models/NAME reports version status', async () => {
    const { status, body } = await getJson(`${server.url}/v1/models/affine`);
    assert.equal(status, 200);
    assert.deepEqual(body, { model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] });
    assert.equal((await getJson(`${server.url}/v1/models/nosuch`)).status, 404);
  });
});
