/**
 * One broken model never stops the server: every way a model directory can be wrong (a
 * config.json that is not JSON, not an object, has bad fields, is a FIFO or a directory; a
 * model directory that is a symlink loop or a dangling link; a version directory with no
 * model; a model file that is not ONNX or is a FIFO) leaves that model not ready, with a
 * reason, while the good model serves.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { AFFINE, tempDir, writeAffine, writeCorrupt, writeModel } from '../helpers/models.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/index.js';
import { getJson, postJson } from '../helpers/http.js';
import { startCliServer } from '../helpers/cli-server.js';
import { waitFor } from '../helpers/wait.js';

const request = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };

/** model name → a pattern its not-ready reason must match */
const BROKEN: Record<string, RegExp> = {
  badjson: /config\.json: not valid JSON/,
  nullconfig: /config\.json: must be a JSON object/,
  badfield: /max_batch_size/,
  fifoconfig: /config\.json: not a regular file/,
  dirconfig: /config\.json: not a regular file/,
  zeroconfig: /config\.json: not a regular file/,
  hugeconfig: /config\.json: \d+ bytes, larger than the limit of 1048576/,
  loop: /symbolic link loop/,
  dangling: /dangling/,
  noversion: /no such file \(a version directory needs a model\.onnx\)/,
  emptydir: /no version directories/,
  corrupt: /failed to load/,
  fifomodel: /not a regular file/,
};

describe('a repository with broken models', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir('berth-broken-');
    await writeAffine(repo, 'affine', 1);
    await writeAffine(repo, 'badjson', 1);
    writeFileSync(join(repo, 'badjson', 'config.json'), '{ "max_batch_size": 4, oops');
    await writeAffine(repo, 'nullconfig', 1);
    writeFileSync(join(repo, 'nullconfig', 'config.json'), 'null');
    await writeAffine(repo, 'badfield', 1, { max_batch_size: 'eight' });
    await writeAffine(repo, 'fifoconfig', 1);
    execFileSync('mkfifo', [join(repo, 'fifoconfig', 'config.json')]); // reading it would block forever
    await writeAffine(repo, 'dirconfig', 1);
    mkdirSync(join(repo, 'dirconfig', 'config.json'));
    await writeAffine(repo, 'zeroconfig', 1);
    symlinkSync('/dev/zero', join(repo, 'zeroconfig', 'config.json')); // endless
    await writeAffine(repo, 'hugeconfig', 1);
    writeFileSync(join(repo, 'hugeconfig', 'config.json'), `{${' '.repeat(2 * 1024 * 1024)}}`);
    symlinkSync(join(repo, 'loop'), join(repo, 'loop'));
    symlinkSync(join(repo, 'nowhere'), join(repo, 'dangling'));
    mkdirSync(join(repo, 'noversion', '1'), { recursive: true });
    mkdirSync(join(repo, 'emptydir'));
    writeCorrupt(repo, 'corrupt');
    mkdirSync(join(repo, 'fifomodel', '1'), { recursive: true });
    execFileSync('mkfifo', [join(repo, 'fifomodel', '1', 'model.onnx')]);
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server?.close());

  test('the good model serves', async () => {
    const r = await postJson(`${server.url}/v2/models/affine/infer`, request);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await getJson(`${server.url}/v2/models/affine/ready`)).status, 200);
  });

  test('each broken model is listed not ready, with its reason', async () => {
    const index = (await postJson(`${server.url}/v2/repository/index`, {})).body as unknown as { name: string; state: string; reason: string }[];
    for (const [name, reason] of Object.entries(BROKEN)) {
      const entries = index.filter((e) => e.name === name);
      assert.ok(entries.length > 0, `${name} is listed`);
      for (const e of entries) assert.equal(e.state, 'UNAVAILABLE', name);
      assert.ok(entries.some((e) => reason.test(e.reason)), `${name}: ${JSON.stringify(entries)}`);
      assert.notEqual((await getJson(`${server.url}/v2/models/${name}/ready`)).status, 200, name);
      const infer = await postJson(`${server.url}/v2/models/${name}/infer`, request);
      assert.equal(infer.status, 503, name);
      assert.match(String(infer.body.error), /not ready/, name);
    }
  });
});

describe('the model-file download serves the bytes that were loaded', () => {
  let server: RunningServer;
  let repo: string;
  let loaded: Buffer;
  before(async () => {
    repo = tempDir('berth-download-');
    loaded = readFileSync(await writeAffine(repo, 'affine', 1));
    await writeAffine(repo, 'inplace', 1);
    // a version that fails to load, whose model.onnx is a link to a file that is not a model
    const secret = join(repo, 'secret.txt');
    writeFileSync(secret, 'not for download');
    mkdirSync(join(repo, 'linked', '1'), { recursive: true });
    symlinkSync(secret, join(repo, 'linked', '1', 'model.onnx'));
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server?.close());

  const download = (model: string, version = '1') => fetch(`${server.url}/api/v1/serving/models/${model}/versions/${version}/model.onnx`);

  test('a loaded version: its bytes', async () => {
    const res = await download('affine');
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), loaded);
  });

  test('after the file is replaced on disk: still the loaded bytes, which the server still serves', async () => {
    const path = join(repo, 'affine', '1', 'model.onnx');
    const tmp = `${path}.new`;
    writeFileSync(tmp, 'replacement bytes, not the served model');
    renameSync(tmp, path);
    const res = await download('affine');
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), loaded);
    assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, request)).status, 200);
  });

  test('after the file is rewritten in place: 409, not the new bytes', async () => {
    writeFileSync(join(repo, 'inplace', '1', 'model.onnx'), 'rewritten in place');
    const res = await download('inplace');
    assert.equal(res.status, 409);
    assert.match(String(((await res.json()) as { error: string }).error), /changed on disk after it was loaded/);
  });

  test('a version that failed to load: 409, never the bytes behind its path', async () => {
    const res = await download('linked');
    const text = await res.text();
    assert.equal(res.status, 409, text);
    assert.doesNotMatch(text, /not for download/);
    assert.match(text, /is not loaded/);
    assert.equal((await download('affine', '7')).status, 404);
  });
});

describe('model control with a broken model in the repository', () => {
  test('explicit mode: the others load; loading the broken one answers 400 with its reason', async () => {
    const repo = tempDir('berth-broken-explicit-');
    await writeAffine(repo, 'affine', 1);
    await writeAffine(repo, 'badjson', 1);
    writeFileSync(join(repo, 'badjson', 'config.json'), '{');
    const server = await startServer({ paths: [repo], http: { port: 0 }, modelControl: { mode: 'explicit' }, grpc: { enabled: false }, monitoring: { enabled: false } });
    try {
      const ok = await postJson(`${server.url}/v2/repository/models/affine/load`, {});
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, request)).status, 200);
      const bad = await postJson(`${server.url}/v2/repository/models/badjson/load`, {});
      assert.equal(bad.status, 400);
      assert.match(String(bad.body.error), /config\.json: not valid JSON/);
      // an override replaces config.json, as in Triton: the model loads with it
      const override = await postJson(`${server.url}/v2/repository/models/badjson/load`, { parameters: { config: '{"max_batch_size": 2}' } });
      assert.equal(override.status, 200, JSON.stringify(override.body));
    } finally {
      await server.close();
    }
  });

  test('poll mode: a config.json broken after load keeps the loaded model serving', async () => {
    const repo = tempDir('berth-broken-poll-');
    await writeAffine(repo, 'affine', 1, { max_batch_size: 8 });
    const server = await startServer({ paths: [repo], http: { port: 0 }, modelControl: { mode: 'poll', pollSecs: 3600 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    try {
      writeFileSync(join(repo, 'affine', 'config.json'), '{ "max_batch_size": ');
      await server.control.pollOnce();
      assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, request)).status, 200);
      assert.equal((await getJson(`${server.url}/v2/models/affine/ready`)).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe('berth serve REPO with a broken model (the CLI, as a separate process)', () => {
  test('starts, serves the good model, reports the broken one not ready', async () => {
    const repo = tempDir('berth-broken-cli-');
    await writeAffine(repo, 'affine', 1);
    await writeAffine(repo, 'badjson', 1);
    writeFileSync(join(repo, 'badjson', 'config.json'), 'this is not JSON');
    const child = await startCliServer([repo, '--no-dashboard']);
    try {
      assert.equal((await postJson(`${child.url}/v2/models/affine/infer`, request)).status, 200);
      const ready = await getJson(`${child.url}/v2/models/badjson/ready`);
      assert.notEqual(ready.status, 200);
      assert.match(child.log(), /badjson.*config\.json: not valid JSON/);
    } finally {
      assert.equal(await child.stop(), 0);
    }
  });
});

describe('the held model file is closed when the version unloads', () => {
  test('after downloads and an unload, the descriptor is released', async () => {
    const repo = tempDir('berth-download-fd-');
    const path = await writeAffine(repo, 'affine', 1);
    const server = await startServer({ paths: [repo], http: { port: 0 }, modelControl: { mode: 'explicit', startupModels: ['*'] }, grpc: { enabled: false }, monitoring: { enabled: false } });
    const openOnIt = () => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === path;
      } catch {
        return false;
      }
    }).length;
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${server.url}/api/v1/serving/models/affine/versions/1/model.onnx`);
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      assert.equal(openOnIt(), 1, 'one descriptor, held since load');
      assert.equal((await postJson(`${server.url}/v2/repository/models/affine/unload`, {})).status, 200);
      await waitFor(() => openOnIt() === 0, 5000, 'the descriptor closed');
    } finally {
      await server.close();
    }
  });
});

describe('an instance restarted after a crash loads the bytes its version loaded', () => {
  test('after the file is replaced on disk, the replacement still answers as the loaded model', async () => {
    const repo = tempDir('berth-restart-');
    const path = await writeAffine(repo, 'affine', 1);
    const server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
    try {
      const before = await postJson(`${server.url}/v2/models/affine/infer`, request);
      assert.equal(before.status, 200);
      // another model under the same path: doubled weights would double the answer
      const other = tempDir('berth-restart-other-');
      await writeModel(other, 'x', 1, doubledAffine());
      renameSync(join(other, 'x', '1', 'model.onnx'), path);
      const mv = server.service.resolve('affine');
      mv.workerInstances[0]!.crashOnNextRun();
      assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, request)).status, 500);
      await waitFor(() => mv.slots === 1 || mv.state !== 'READY', 30000, 'the instance replaced');
      assert.equal(mv.state, 'READY', mv.reason);
      const after = await postJson(`${server.url}/v2/models/affine/infer`, request);
      assert.equal(after.status, 200, JSON.stringify(after.body));
      assert.deepEqual(after.body.outputs, before.body.outputs);
    } finally {
      await server.close();
    }
  });
});

/** The affine model with every weight and bias doubled. */
function doubledAffine(): ReturnType<typeof makeModel> {
  const w = new Float32Array(AFFINE.inputs * AFFINE.outputs);
  for (let i = 0; i < AFFINE.inputs; i++) for (let j = 0; j < AFFINE.outputs; j++) w[i * AFFINE.outputs + j] = 2 * AFFINE.weight(i, j);
  const b = Float32Array.from({ length: AFFINE.outputs }, (_, j) => 2 * AFFINE.bias(j));
  return makeModel({
    graph: makeGraph({
      name: 'affine',
      nodes: [makeNode('MatMul', ['input', 'W'], ['mm']), makeNode('Add', ['mm', 'B'], ['output'])],
      inputs: [makeValueInfo('input', 'float32', ['batch', AFFINE.inputs])],
      outputs: [makeValueInfo('output', 'float32', ['batch', AFFINE.outputs])],
      initializers: [makeTensor('W', 'float32', [AFFINE.inputs, AFFINE.outputs], w), makeTensor('B', 'float32', [AFFINE.outputs], b)],
    }),
  });
}
