import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startServer } from '../../src/server.js';
import { decodeTensor, tensorToArray } from '../../src/onnx/index.js';
import { postJson } from '../helpers/http.js';

const CASE = '/usr/share/libonnx-testdata/data/pytorch-converted/test_AvgPool1d';

test('an opset-6 model whose kernels onnxruntime lacks is upgraded on load, logged, and answers correctly', { skip: existsSync(CASE) ? false : 'libonnx-testdata is not installed' }, async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  const server = await startServer({ paths: [`${CASE}/model.onnx`], http: { port: 0 }, logger: pino({ level: 'info' }, sink), grpc: { enabled: false }, monitoring: { enabled: false } });
  try {
    const upgrade = lines.find((l) => l.from_opset === 6);
    assert.ok(upgrade, 'an upgrade log line');
    assert.equal(upgrade.to_opset, 13);
    assert.match(String(upgrade.msg), /upgraded to opset 13 in memory/);
    const input = decodeTensor(readFileSync(`${CASE}/test_data_set_0/input_0.pb`));
    const output = decodeTensor(readFileSync(`${CASE}/test_data_set_0/output_0.pb`));
    const meta = server.service.resolve('test_AvgPool1d').inputs[0]!;
    const r = await postJson(`${server.url}/v2/models/test_AvgPool1d/infer`, {
      inputs: [{ name: meta.name, shape: input.dims, datatype: 'FP32', data: Array.from(tensorToArray(input) as Float32Array) }],
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const got = (r.body.outputs as { data: number[] }[])[0]!.data;
    const want = Array.from(tensorToArray(output) as Float32Array);
    assert.equal(got.length, want.length);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 1e-4 + 1e-3 * Math.abs(want[i]!), `element ${i}: ${v} vs ${want[i]}`));
  } finally {
    await server.close();
  }
});
