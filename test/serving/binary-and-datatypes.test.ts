import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { affineExpected, IDENTITY_TYPES, tempDir, writeAffine, writeIdentityAll } from '../helpers/models.js';
import { postBinary, postJson } from '../helpers/http.js';

/** Three values per datatype, chosen to hit edges (sign, width, non-ASCII text). */
const VALUES: Record<string, unknown[]> = {
  BOOL: [true, false, true],
  UINT8: [0, 200, 255],
  UINT16: [1, 40000, 65535],
  UINT32: [0, 3000000000, 7],
  UINT64: [0, 2 ** 40, 9],
  INT8: [-128, 0, 127],
  INT16: [-32768, 5, 32767],
  INT32: [-2147483648, 1, 2147483647],
  INT64: [-(2 ** 50), 0, 2 ** 50],
  FP32: [1.5, -0.25, 2 ** 70],
  FP64: [Math.PI, -1e-300, 1e300],
  BYTES: ['hello', '', 'grüße ✓'],
};

/** Little-endian bytes of VALUES in the binary tensor layout, written by hand (not by berth). */
function blobOf(dt: string, values: unknown[]): Buffer {
  switch (dt) {
    case 'BOOL': return Buffer.from(values.map((v) => (v ? 1 : 0)));
    case 'UINT8': return Buffer.from(values as number[]);
    case 'INT8': return Buffer.from(new Int8Array(values as number[]).buffer);
    case 'UINT16': return Buffer.from(new Uint16Array(values as number[]).buffer);
    case 'INT16': return Buffer.from(new Int16Array(values as number[]).buffer);
    case 'UINT32': return Buffer.from(new Uint32Array(values as number[]).buffer);
    case 'INT32': return Buffer.from(new Int32Array(values as number[]).buffer);
    case 'UINT64': return Buffer.from(new BigUint64Array((values as number[]).map(BigInt)).buffer);
    case 'INT64': return Buffer.from(new BigInt64Array((values as number[]).map(BigInt)).buffer);
    case 'FP32': return Buffer.from(new Float32Array(values as number[]).buffer);
    case 'FP64': return Buffer.from(new Float64Array(values as number[]).buffer);
    case 'FP16': return Buffer.from(new Uint16Array([0x3c00, 0xc000, 0x7bff]).buffer); // 1, -2, 65504
    case 'BYTES': return Buffer.concat((values as string[]).map((s) => {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return Buffer.concat([len, b]);
    }));
    default: throw new Error(dt);
  }
}

describe('binary tensor extension and every datatype', () => {
  let server: RunningServer;
  let url: string;
  before(async () => {
    const repo = tempDir();
    await writeIdentityAll(repo, 'identity');
    await writeAffine(repo, 'affine');
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    url = server.url;
  });
  after(() => server.close());

  test('JSON round trip of every JSON-capable datatype', async () => {
    const types = IDENTITY_TYPES.map(([dt]) => dt).filter((dt) => dt !== 'FP16');
    const fp16 = { name: 'in_FP16', shape: [1, 3], datatype: 'FP16', parameters: { binary_data_size: 6 } };
    const json = Buffer.from(JSON.stringify({
      inputs: [...types.map((dt) => ({ name: `in_${dt}`, shape: [1, 3], datatype: dt, data: VALUES[dt] })), fp16],
      outputs: types.map((dt) => ({ name: `out_${dt}`, parameters: { binary_data: false } })),
    }));
    const res = await postBinary(`${url}/v2/models/identity/infer`, JSON.parse(json.toString()) as object, [blobOf('FP16', [])]);
    assert.equal(res.status, 200, JSON.stringify(res.header));
    const outputs = res.header.outputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[];
    for (const dt of types) {
      const out = outputs.find((o) => o.name === `out_${dt}`)!;
      assert.equal(out.datatype, dt);
      assert.deepEqual(out.shape, [1, 3]);
      // FP32 is printed in float32's shortest text (2^70 as 1.1805916e+21): exact once read as float32.
      const data = dt === 'FP32' ? out.data.map((v) => Math.fround(v as number)) : out.data;
      assert.deepEqual(data, VALUES[dt], dt);
    }
  });

  test('binary in, binary out for all thirteen datatypes, with no Content-Type', async () => {
    const inputs = IDENTITY_TYPES.map(([dt]) => ({ dt, blob: blobOf(dt, VALUES[dt] ?? []) }));
    const res = await postBinary(`${url}/v2/models/identity/infer`, {
      inputs: inputs.map(({ dt, blob }) => ({ name: `in_${dt}`, shape: [1, 3], datatype: dt, parameters: { binary_data_size: blob.length } })),
      parameters: { binary_data_output: true },
    }, inputs.map((i) => i.blob));
    assert.equal(res.status, 200, JSON.stringify(res.header));
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    let offset = 0;
    for (const out of res.header.outputs as { name: string; datatype: string; parameters: { binary_data_size: number } }[]) {
      const dt = out.name.slice(4);
      const size = out.parameters.binary_data_size;
      assert.deepEqual(res.blobs.subarray(offset, offset + size), blobOf(dt, VALUES[dt] ?? []), dt);
      assert.equal(out.datatype, dt);
      offset += size;
    }
    assert.equal(offset, res.blobs.length);
  });

  test('per-output binary_data overrides the request default', async () => {
    const blob = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
    const res = await postBinary(`${url}/v2/models/affine/infer`, {
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
    }, [blob]);
    assert.equal(res.status, 200);
    const out = (res.header.outputs as { parameters: { binary_data_size: number } }[])[0]!;
    assert.equal(out.parameters.binary_data_size, 12);
    const values = Array.from(new Float32Array(res.blobs.buffer.slice(res.blobs.byteOffset, res.blobs.byteOffset + 12)));
    assert.deepEqual(values, affineExpected([1, 2, 3, 4]));
    // and JSON when not asked for binary
    const plain = await postJson(`${url}/v2/models/affine/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    assert.equal(plain.headers.get('content-type')?.startsWith('application/json'), true);
  });

  test('a header-less binary request (Inference-Header-Content-Length: 0) is the single input, batch 1', async () => {
    const res = await fetch(`${url}/v2/models/affine/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': '0', 'content-type': 'application/octet-stream' },
      body: Buffer.from(new Float32Array([1, 2, 3, 4]).buffer),
    });
    assert.equal(res.status, 200);
    const raw = Buffer.from(await res.arrayBuffer());
    const n = Number(res.headers.get('inference-header-content-length'));
    const header = JSON.parse(raw.subarray(0, n).toString()) as { outputs: { shape: number[] }[] };
    assert.deepEqual(header.outputs[0]!.shape, [1, 3]);
    assert.deepEqual(Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset + n, raw.byteOffset + n + 12))), affineExpected([1, 2, 3, 4]));
  });

  test('binary errors: size mismatch, blob past the end, bad header length, trailing bytes', async () => {
    const blob = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
    const header = (size: number) => ({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: size } }] });
    const mismatch = await postBinary(`${url}/v2/models/affine/infer`, header(12), [blob.subarray(0, 12)]);
    assert.equal(mismatch.status, 400);
    assert.match(String(mismatch.header.error), /binary_data_size is 12 bytes but shape \[1,4\] of FP32 needs 16/);
    const past = await postBinary(`${url}/v2/models/affine/infer`, header(32), [blob]);
    assert.equal(past.status, 400);
    assert.match(String(past.header.error), /runs past the end of the body/);
    const trailing = await postBinary(`${url}/v2/models/affine/infer`, header(16), [blob, Buffer.from([1, 2])]);
    assert.equal(trailing.status, 400);
    assert.match(String(trailing.header.error), /2 bytes beyond/);
    const res = await fetch(`${url}/v2/models/affine/infer`, { method: 'POST', headers: { 'inference-header-content-length': '9999' }, body: '{}' });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /Inference-Header-Content-Length must be an integer between 0 and the body length 2/);
  });

  test('a truncated BYTES element is a 400', async () => {
    const blob = Buffer.from([10, 0, 0, 0, 65, 66]);
    const fp16 = blobOf('FP16', []);
    const res = await postBinary(`${url}/v2/models/identity/infer`, {
      inputs: IDENTITY_TYPES.map(([dt]) => dt === 'BYTES' || dt === 'FP16'
        ? { name: `in_${dt}`, shape: [1, 3], datatype: dt, parameters: { binary_data_size: dt === 'BYTES' ? blob.length : fp16.length } }
        : { name: `in_${dt}`, shape: [1, 3], datatype: dt, data: dt === 'BOOL' ? [true, true, true] : [1, 2, 3] }),
    }, [fp16, blob]);
    assert.equal(res.status, 400);
    assert.match(String(res.header.error), /in_BYTES.*truncated BYTES element/);
  });
});
