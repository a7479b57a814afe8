/**
 * Hostile JSON over HTTP (issue #15 classes 5 and 6): 64-bit integers in a JSON request reach
 * the model exact (read back through binary outputs of identity models, compared with BigInt
 * literals), values a datatype cannot hold are a 400 naming the input and element, and deep
 * nesting is a 400 on every route that takes JSON, never a 500 stack overflow.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/onnx/index.js';
import type { ElemType } from '../../src/onnx/index.js';
import { tempDir, writeAffine, writeModel } from '../helpers/models.js';

const TYPES: [string, ElemType][] = [['INT64', 'int64'], ['UINT64', 'uint64'], ['INT32', 'int32'], ['UINT8', 'uint8'], ['FP32', 'float32']];

/** id_<TYPE>: one input x [batch, 3], output y = x. */
async function writeIdentity(repo: string, dt: string, et: ElemType): Promise<void> {
  const graph = makeGraph({
    name: `id_${dt}`,
    nodes: [makeNode('Identity', ['x'], ['y'])],
    inputs: [makeValueInfo('x', et, ['batch', 3])],
    outputs: [makeValueInfo('y', et, ['batch', 3])],
  });
  await writeModel(repo, `id_${dt}`, 1, makeModel({ graph }));
}

async function post(url: string, text: string): Promise<{ status: number; body: Record<string, unknown>; raw: Buffer; headerLength?: number }> {
  const res = await fetch(url, { method: 'POST', body: text, headers: { 'content-type': 'application/json' } });
  const raw = Buffer.from(await res.arrayBuffer());
  const hl = res.headers.get('inference-header-content-length');
  const headerLength = hl === null ? undefined : Number(hl);
  return { status: res.status, body: JSON.parse(raw.subarray(0, headerLength ?? raw.length).toString('utf8')) as Record<string, unknown>, raw, headerLength };
}

function inferBody(dt: string, data: string, shape = '[1,3]'): string {
  return `{"inputs":[{"name":"x","shape":${shape},"datatype":"${dt}","data":${data}}],"parameters":{"binary_data_output":true}}`;
}

describe('hostile JSON over HTTP', () => {
  let server: RunningServer;
  let url: string;
  before(async () => {
    const repo = tempDir();
    for (const [dt, et] of TYPES) await writeIdentity(repo, dt, et);
    await writeAffine(repo, 'affine');
    server = await startServer({ paths: [repo], http: { port: 0 }, modelControl: { mode: 'explicit', startupModels: ['affine', ...TYPES.map(([dt]) => `id_${dt}`)] }, grpc: { enabled: false }, monitoring: { enabled: false } });
    url = server.url;
  });
  after(() => server.close());

  test('INT64 max, min and 2^53+1 in a JSON request reach the model exact', async () => {
    const r = await post(`${url}/v2/models/id_INT64/infer`, inferBody('INT64', '[[9223372036854775807, -9223372036854775808, 9007199254740993]]'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const expected = Buffer.from(new BigInt64Array([9223372036854775807n, -9223372036854775808n, 9007199254740993n]).buffer);
    assert.deepEqual(r.raw.subarray(r.headerLength), expected);
  });

  test('UINT64 max in a JSON request reaches the model exact', async () => {
    const r = await post(`${url}/v2/models/id_UINT64/infer`, inferBody('UINT64', '[18446744073709551615, 9007199254740993, 1e3]'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.raw.subarray(r.headerLength), Buffer.from(new BigUint64Array([18446744073709551615n, 9007199254740993n, 1000n]).buffer));
  });

  const refused: [string, string, RegExp][] = [
    ['INT64', '[1, 1e300, 2]', /^input 'x' \(INT64\) element 1 is not an integer in \[-9223372036854775808, 9223372036854775807\]: 1e300$/],
    ['INT32', '[1, 2, 1.5]', /^input 'x' \(INT32\) element 2 is not an integer in \[-2147483648, 2147483647\]: 1\.5$/],
    ['UINT8', '[300, 1, 2]', /^input 'x' \(UINT8\) element 0 is not an integer in \[0, 255\]: 300$/],
    ['UINT64', '[0, -1, 2]', /^input 'x' \(UINT64\) element 1 is not an integer in \[0, 18446744073709551615\]: -1$/],
    ['UINT64', '[0, 1, 18446744073709551616]', /^input 'x' \(UINT64\) element 2 is not an integer in \[0, 18446744073709551615\]: 18446744073709551616$/],
    ['FP32', '[0, 1e39, 2]', /^input 'x' \(FP32\) element 1 is out of range for FP32: 1e39$/],
  ];
  for (const [dt, data, message] of refused) {
    test(`v2: ${data} in ${dt} is a 400 naming the input and element`, async () => {
      const r = await post(`${url}/v2/models/id_${dt}/infer`, inferBody(dt, data));
      assert.equal(r.status, 400);
      assert.match(String(r.body.error), message);
    });
  }

  test('V1: 1e300 in INT64 and 300 in UINT8 are 400s naming the input and element', async () => {
    const a = await post(`${url}/v1/models/id_INT64:predict`, '{"instances": [[1, 1e300, 2]]}');
    assert.equal(a.status, 400);
    assert.match(String(a.body.error), /^input 'x' \(INT64\) element 1 is not an integer in .*: 1e300$/);
    const b = await post(`${url}/v1/models/id_UINT8:predict`, '{"instances": [[1, 2, 3], [4, 5, 300]]}');
    assert.equal(b.status, 400);
    assert.match(String(b.body.error), /^input 'x' \(UINT8\) element 5 is not an integer in \[0, 255\]: 300$/);
  });

  test('V1: a 100 000-deep instances array is a 400, not a 500', async () => {
    for (const model of ['affine', 'id_INT64']) {
      const r = await post(`${url}/v1/models/${model}:predict`, `{"instances": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(String(r.body.error), /nested deeper than 100 levels/);
    }
    const rows = await post(`${url}/v1/models/affine:predict`, `{"instances": [${'{"input":'.repeat(50_000)}1${'}'.repeat(50_000)}]}`);
    assert.equal(rows.status, 400, JSON.stringify(rows.body));
  });

  test('v2: deep data, deep elements and deep shape entries are 400s; deep unknown fields are ignored', async () => {
    const deepArray = `${'['.repeat(100_000)}1${']'.repeat(100_000)}`;
    const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const data = await post(`${url}/v2/models/affine/infer`, `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":${deepArray}}]}`);
    assert.equal(data.status, 400);
    assert.match(String(data.body.error), /input 'input': data is nested deeper than 100 levels/);
    const element = await post(`${url}/v2/models/affine/infer`, `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,${deepObject}]}]}`);
    assert.equal(element.status, 400);
    assert.match(String(element.body.error), /element 3 is not a number: \{\.\.\.\}/);
    const shape = await post(`${url}/v2/models/affine/infer`, `{"inputs":[{"name":"input","shape":[1,${deepObject}],"datatype":"FP32","data":[1,2,3,4]}]}`);
    assert.equal(shape.status, 400);
    assert.match(String(shape.body.error), /inputs\[0\]\.shape\[1\]/);
    const unknown = await post(`${url}/v2/models/affine/infer`, `{"x-client":${deepArray},"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4],"x-note":${deepObject}}]}`);
    assert.equal(unknown.status, 200, JSON.stringify(unknown.body));
  });

  test('repository load: a deep body or config override is a 400', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const body = await post(`${url}/v2/repository/models/affine/load`, `{"parameters":{"config":{"labels":[], "x":${deep}}}}`);
    assert.equal(body.status, 400, JSON.stringify(body.body));
    assert.match(String(body.body.error), /request body is nested deeper than 100 levels/);
    const config = await post(`${url}/v2/repository/models/affine/load`, JSON.stringify({ parameters: { config: `{"x":${deep}}` } }));
    assert.equal(config.status, 400, JSON.stringify(config.body));
    assert.match(String(config.body.error), /parameters\.config is nested deeper than 100 levels/);
  });
});
