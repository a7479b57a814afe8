/**
 * JSON answers against binary answers from the same server: every FP32 number berth prints
 * must read back (in JavaScript and in numpy) as exactly the float32 onnxruntime produced; 64-bit
 * integers come back exact; FP16 outputs come back as their shortest text; answers past the
 * response limit are a 413; and the text is rendered in the worker, not on the event loop.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/index.js';
import { tempDir, writeModel } from '../helpers/models.js';
import { postBinary } from '../helpers/http.js';
import { NO_PYTHON, python } from '../onnx/helpers.js';
import { v2JsonTextSpec } from '../../src/http/json-encode.js';
import { lcg32 } from '../../src/util/random.js';

const IN = 16;
const OUT = 256;
const LIMIT = 100_000;

/** Deterministic pseudo-random floats spanning several orders of magnitude (model inputs: squashed into (-1, 1)). */
function randomFloats(n: number, seed: number): Float32Array {
  const next = lcg32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = next() / 2 ** 32;
    const s = next();
    out[i] = Math.tanh((u - 0.5) * 10 ** ((s % 9) - 4));
  }
  return out;
}

async function writeDense(repo: string): Promise<void> {
  const graph = makeGraph({
    name: 'dense',
    nodes: [makeNode('MatMul', ['input', 'W'], ['mm']), makeNode('Exp', ['mm'], ['output'])],
    inputs: [makeValueInfo('input', 'float32', ['batch', IN])],
    outputs: [makeValueInfo('output', 'float32', ['batch', OUT])],
    initializers: [makeTensor('W', 'float32', [IN, OUT], randomFloats(IN * OUT, 7).map((v) => v / 4))],
  });
  await writeModel(repo, 'dense', 1, makeModel({ graph }), { max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 20000 } });
}

async function writeIdentities(repo: string): Promise<void> {
  const types = [['f32', 'float32'], ['f16', 'float16'], ['i64', 'int64'], ['u64', 'uint64']] as const;
  const graph = makeGraph({
    name: 'ident',
    nodes: types.map(([n]) => makeNode('Identity', [`in_${n}`], [`out_${n}`])),
    inputs: types.map(([n, t]) => makeValueInfo(`in_${n}`, t, ['n'])),
    outputs: types.map(([n, t]) => makeValueInfo(`out_${n}`, t, ['n'])),
  });
  await writeModel(repo, 'ident', 1, makeModel({ graph }), { max_batch_size: 0 });
}

/** Two outputs of different datatypes per row, for V1's object-per-row predictions. */
async function writeTwoOutputs(repo: string): Promise<void> {
  const graph = makeGraph({
    name: 'two',
    nodes: [makeNode('Add', ['a', 'a'], ['double']), makeNode('ArgMax', ['a'], ['label'], { axis: { int: 1 }, keepdims: { int: 0 } })],
    inputs: [makeValueInfo('a', 'float32', ['batch', 3])],
    outputs: [makeValueInfo('double', 'float32', ['batch', 3]), makeValueInfo('label', 'int64', ['batch'])],
  });
  await writeModel(repo, 'two', 1, makeModel({ graph }));
}

const bytes = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A binary-input request; answers JSON unless `binary` asks otherwise. Returns the raw answer too. */
async function ask(url: string, model: string, inputs: { name: string; datatype: string; data: ArrayBufferView }[], binary = false, extra: object = {}): Promise<{ status: number; header: Record<string, unknown>; blobs: Buffer; raw: string }> {
  const header = {
    inputs: inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.name === 'input' ? [i.data.byteLength / 4 / IN, IN] : [i.data.byteLength / (i.datatype === 'FP16' ? 2 : i.datatype === 'FP32' ? 4 : 8)], parameters: { binary_data_size: i.data.byteLength } })),
    ...(binary ? { parameters: { binary_data_output: true } } : {}),
    ...extra,
  };
  const res = await postBinary(`${url}/v2/models/${model}/infer`, header, inputs.map((i) => bytes(i.data)));
  const raw = res.blobs.length === 0 ? JSON.stringify(res.header) : '';
  return { ...res, raw };
}

/** Raw text of an answer (no JSON.parse on the way: 64-bit integers and float texts stay as sent). */
async function rawAnswer(url: string, model: string, inputs: { name: string; datatype: string; shape: number[]; data: ArrayBufferView }[]): Promise<{ status: number; text: string }> {
  const json = Buffer.from(JSON.stringify({ inputs: inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape, parameters: { binary_data_size: i.data.byteLength } })) }));
  const res = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'inference-header-content-length': String(json.length) },
    body: Buffer.concat([json, ...inputs.map((i) => bytes(i.data))]),
  });
  return { status: res.status, text: await res.text() };
}

describe('JSON outputs: exact shortest text, rendered in the worker', () => {
  let server: RunningServer;
  let url: string;
  before(async () => {
    const repo = tempDir();
    await writeDense(repo);
    await writeIdentities(repo);
    await writeTwoOutputs(repo);
    server = await startServer({ paths: [repo], http: { port: 0, maxResponseMb: LIMIT / 2 ** 20 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    url = server.url;
  });
  after(() => server.close());

  test('batched JSON answers equal binary answers bit for bit, and numpy reads the same float32s', async () => {
    const inputs = Array.from({ length: 6 }, (_, i) => randomFloats(IN * (i + 1), 100 + i));
    // concurrent requests batch together: each answer must be its own rows of the batch
    const [json, binary] = await Promise.all([
      Promise.all(inputs.map((x) => rawAnswer(url, 'dense', [{ name: 'input', datatype: 'FP32', shape: [x.length / IN, IN], data: x }]))),
      Promise.all(inputs.map((x) => ask(url, 'dense', [{ name: 'input', datatype: 'FP32', data: x }], true))),
    ]);
    const texts: string[] = [];
    const expected: number[] = [];
    json.forEach((answer, i) => {
      assert.equal(answer.status, 200, answer.text);
      const data = /"data":\[([^\]]*)\]/.exec(answer.text)![1]!.split(',');
      const blob = binary[i]!.blobs;
      const want = new Uint32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.length));
      assert.equal(data.length, want.length);
      const got = new Uint32Array(Float32Array.from(data, (t) => Math.fround(Number(t))).buffer);
      assert.deepEqual(got, want, `request ${i}`);
      texts.push(...data);
      expected.push(...want);
    });
    // shorter than float64 text of the same values (what JSON.stringify printed before)
    const before = JSON.stringify(Array.from(new Float32Array(new Uint32Array(expected).buffer))).length;
    assert.ok(texts.join(',').length + 2 < before * 0.75, `${texts.join(',').length} vs ${before}`);
    if (NO_PYTHON) return;
    const bad = python(`
import sys, numpy as np
texts, bits = sys.stdin.read().split('\\n')
got = np.array([np.float32(float(t)) for t in texts.split(',')], dtype=np.float32).view(np.uint32)
want = np.array([int(b) for b in bits.split(',')], dtype=np.uint32)
print(int((got != want).sum()))
`, [], `${texts.join(',')}\n${expected.join(',')}`);
    assert.equal(bad.trim(), '0');
  });

  test('exotic float32 bits: subnormals, extremes, -0 as -0.0, NaN and ±Infinity as null', async () => {
    const bitsIn = Uint32Array.from([1, 0x7fffff, 0x800000, 0x7f7fffff, 0x80000000, 0, 0x15ae43fd, 0x3f800001, 0x7fc00000, 0x7f800000, 0xff800000, 0x80000001]);
    const zeros = (n: number, C: typeof BigInt64Array | typeof BigUint64Array | typeof Uint16Array) => new C(n);
    const { status, text } = await rawAnswer(url, 'ident', [
      { name: 'in_f32', datatype: 'FP32', shape: [bitsIn.length], data: bitsIn },
      { name: 'in_f16', datatype: 'FP16', shape: [1], data: zeros(1, Uint16Array) },
      { name: 'in_i64', datatype: 'INT64', shape: [1], data: zeros(1, BigInt64Array) },
      { name: 'in_u64', datatype: 'UINT64', shape: [1], data: zeros(1, BigUint64Array) },
    ]);
    assert.equal(status, 200, text);
    const data = /"name":"out_f32"[^}]*"data":\[([^\]]*)\]/.exec(text)![1]!.split(',');
    assert.deepEqual(data.slice(0, 7), ['1e-45', '1.1754942e-38', '1.1754944e-38', '3.4028235e+38', '-0.0', '0', '7.0385307e-26']);
    assert.deepEqual(data.slice(8, 11), ['null', 'null', 'null']);
    const f = new Float32Array(bitsIn.buffer);
    for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 11]) assert.ok(Object.is(Math.fround(Number(data[i])), f[i]), `${i}: ${data[i]}`);
  });

  test('INT64 and UINT64 outputs are printed exactly (INT64 max stays positive, 2^53+1 stays odd)', async () => {
    const i64 = BigInt64Array.from([2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -1n]);
    const u64 = BigUint64Array.from([2n ** 64n - 1n, 2n ** 53n + 1n, 0n, 12345678901234567890n]);
    const { status, text } = await rawAnswer(url, 'ident', [
      { name: 'in_f32', datatype: 'FP32', shape: [0], data: new Float32Array(0) },
      { name: 'in_f16', datatype: 'FP16', shape: [0], data: new Uint16Array(0) },
      { name: 'in_i64', datatype: 'INT64', shape: [4], data: i64 },
      { name: 'in_u64', datatype: 'UINT64', shape: [4], data: u64 },
    ]);
    assert.equal(status, 200, text);
    assert.match(text, /"name":"out_i64","datatype":"INT64","shape":\[4\],"data":\[9223372036854775807,-9223372036854775808,9007199254740993,-1\]/);
    assert.match(text, /"name":"out_u64","datatype":"UINT64","shape":\[4\],"data":\[18446744073709551615,9007199254740993,0,12345678901234567890\]/);
    assert.match(text, /"name":"out_f32","datatype":"FP32","shape":\[0\],"data":\[\]/);
    if (NO_PYTHON) return;
    // Python's json module reads integers exactly: the independent reader of these texts
    const back = python(`
import sys, json
outs = {o['name']: o['data'] for o in json.loads(sys.stdin.read())['outputs']}
print(outs['out_i64'] == [2**63 - 1, -2**63, 2**53 + 1, -1] and outs['out_u64'] == [2**64 - 1, 2**53 + 1, 0, 12345678901234567890])
`, [], text);
    assert.equal(back.trim(), 'True');
  });

  test('FP16 outputs come back as JSON: the shortest text that reads back as the same half', { skip: NO_PYTHON }, async () => {
    const halves = Uint16Array.from({ length: 4096 }, (_, i) => (i * 16 + 3) & 0xffff).filter((b) => (b & 0x7c00) !== 0x7c00);
    const { status, text } = await rawAnswer(url, 'ident', [
      { name: 'in_f32', datatype: 'FP32', shape: [0], data: new Float32Array(0) },
      { name: 'in_f16', datatype: 'FP16', shape: [halves.length], data: halves },
      { name: 'in_i64', datatype: 'INT64', shape: [0], data: new BigInt64Array(0) },
      { name: 'in_u64', datatype: 'UINT64', shape: [0], data: new BigUint64Array(0) },
    ]);
    assert.equal(status, 200, text);
    const data = /"name":"out_f16"[^}]*"data":\[([^\]]*)\]/.exec(text)![1]!;
    const report = python(`
import sys, numpy as np
texts, bits = sys.stdin.read().split('\\n')
texts = texts.split(',')
want = np.array([int(b) for b in bits.split(',')], dtype=np.uint16)
got = np.array([np.float16(float(t)) for t in texts], dtype=np.float16).view(np.uint16)
ref = [np.format_float_scientific(h, unique=True).split('e')[0].lstrip('-').replace('.', '').strip('0') for h in want.view(np.float16)]
ours = [t.lstrip('-').split('e')[0].replace('.', '').strip('0') for t in texts]
print(int((got != want).sum()), sum(1 for a, b in zip(ref, ours) if a != b and not (a in ('', '0') and b in ('', '0'))))
`, [], `${data}\n${Array.from(halves).join(',')}`);
    assert.equal(report.trim(), '0 0');
  });

  test('V1 predictions are the same float32s as the binary answer', async () => {
    const x = randomFloats(IN * 3, 55);
    const rows = Array.from({ length: 3 }, (_, r) => Array.from(x.subarray(r * IN, (r + 1) * IN)));
    const v1 = await fetch(`${url}/v1/models/dense:predict`, { method: 'POST', body: JSON.stringify({ instances: rows }) });
    assert.equal(v1.status, 200);
    assert.match(v1.headers.get('content-type') ?? '', /^application\/json/);
    const predictions = (JSON.parse(await v1.text()) as { predictions: number[][] }).predictions;
    const binary = await ask(url, 'dense', [{ name: 'input', datatype: 'FP32', data: x }], true);
    const want = new Float32Array(binary.blobs.buffer.slice(binary.blobs.byteOffset, binary.blobs.byteOffset + binary.blobs.length));
    assert.equal(predictions.length, 3);
    assert.deepEqual(Float32Array.from(predictions.flat(), Math.fround), want);
  });

  test('V1 with several outputs: one object per row, from each output row text', async () => {
    const rows = [[0.1, 0.7, -3], [5, 1e-7, 2], [-1, -2, -0.5]];
    const res = await fetch(`${url}/v1/models/two:predict`, { method: 'POST', body: JSON.stringify({ instances: rows }) });
    assert.equal(res.status, 200);
    const text = await res.text();
    const expected = rows.map((r) => ({ double: r.map((v) => Math.fround(Math.fround(v) * 2)), label: r.indexOf(Math.max(...r)) }));
    const got = (JSON.parse(text) as { predictions: { double: number[]; label: number }[] }).predictions;
    assert.deepEqual(got.map((p) => ({ double: p.double.map(Math.fround), label: p.label })), expected);
    assert.match(text, /^\{"predictions":\[\{"double":\[0\.2,1\.4,-6\],"label":1\},\{"double":\[10,2e-7,4\],"label":0\},/);
  });

  test('a JSON answer past --max-response-mb is a 413 naming the limit; the binary answer is not limited', async () => {
    const x = randomFloats(IN * 64, 9); // 64 × 256 floats: 64 KiB binary, ~160 KB as text
    const json = await ask(url, 'dense', [{ name: 'input', datatype: 'FP32', data: x }]);
    assert.equal(json.status, 413);
    assert.match(String(json.header.error), new RegExp(`larger than the response limit of ${LIMIT} bytes.*binary_data_output`));
    const binary = await ask(url, 'dense', [{ name: 'input', datatype: 'FP32', data: x }], true);
    assert.equal(binary.status, 200);
    assert.equal(binary.blobs.length, 64 * OUT * 4);
    const v1 = await fetch(`${url}/v1/models/dense:predict`, { method: 'POST', body: JSON.stringify({ instances: Array.from({ length: 64 }, (_, r) => Array.from(x.subarray(r * IN, (r + 1) * IN))) }) });
    assert.equal(v1.status, 413);
    // the server is fine afterwards
    const small = await ask(url, 'dense', [{ name: 'input', datatype: 'FP32', data: x.subarray(0, IN) }]);
    assert.equal(small.status, 200);
  });

  test('the worker renders the text: the core hands the front end JSON bytes with the tensors', async () => {
    const x = randomFloats(IN * 2, 3);
    const request = { modelName: 'dense', inputs: [{ name: 'input', datatype: 'FP32' as const, shape: [2, IN], data: x }], protocol: 'rest' };
    const spec = v2JsonTextSpec(request, LIMIT);
    assert.deepEqual(spec, { layout: 'flat', maxBytes: LIMIT });
    const response = await server.service.infer({ ...request, jsonText: spec });
    const out = response.outputs[0]!;
    assert.ok(out.json, 'no worker-rendered text');
    const parsed = JSON.parse(Buffer.from(out.json.bytes).toString('utf8')) as number[];
    assert.deepEqual(Float32Array.from(parsed, Math.fround), out.data);
    // binary outputs are not rendered at all
    assert.equal(v2JsonTextSpec({ ...request, parameters: { binary_data_output: true } }, LIMIT), undefined);
    assert.deepEqual(v2JsonTextSpec({ ...request, outputs: [{ name: 'output', parameters: { binary_data: false } }], parameters: { binary_data_output: true } }, LIMIT)?.outputs, ['output']);
  });
});

describe('a small request with a huge JSON answer', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    // 1000 floats in, tiled 4000 times: a 4 KB request, 4M floats out (~45 MB of JSON text)
    const graph = makeGraph({
      name: 'tile',
      nodes: [makeNode('Tile', ['x', 'repeats'], ['y'])],
      inputs: [makeValueInfo('x', 'float32', [1000])],
      outputs: [makeValueInfo('y', 'float32', [4_000_000])],
      initializers: [makeTensor('repeats', 'int64', [1], BigInt64Array.from([4000n]))],
    });
    await writeModel(repo, 'tile', 1, makeModel({ graph }), { max_batch_size: 0 });
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  test('is rendered off the event loop: /v2/health/live keeps answering fast meanwhile', async () => {
    const x = randomFloats(1000, 11);
    let done = false;
    const probes: number[] = [];
    const probing = (async () => {
      while (!done) {
        const started = performance.now();
        await fetch(`${server.url}/v2/health/live`);
        probes.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const answer = await rawAnswer(server.url, 'tile', [{ name: 'x', datatype: 'FP32', shape: [1000], data: x }]);
    done = true;
    await probing;
    assert.equal(answer.status, 200);
    assert.ok(answer.text.length > 30_000_000, `${answer.text.length} bytes`);
    assert.ok(probes.length >= 3, `${probes.length} probes`);
    // JSON.stringify of these 4M floats on the event loop took seconds (issue #15: 13 s stalls)
    assert.ok(Math.max(...probes) < 1000, `slowest liveness probe ${Math.max(...probes).toFixed(0)} ms`);
  });
});
