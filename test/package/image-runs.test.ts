/**
 * The packaged image runs under podman (runc, the sandbox's ulimits, ports on 127.0.0.1): the
 * digits model on the offline base, ready within a stated time, answering v2 JSON, the binary
 * tensor extension and gRPC exactly as the bare server (`berth serve` of the same model
 * repository) answers the same requests, as uid 65532, and draining to exit 0 on SIGTERM.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FEATURES } from '../../src/examples/digits/dataset.js';
import { ensureDigitsModel, testSplit } from '../../src/examples/digits/index.js';
import { baseSkipReason, ensureBaseImage, type BaseImage } from '../helpers/base-image.js';
import { CLI, startCliServer, type ChildServer } from '../helpers/cli-server.js';
import { connect, type Msg } from '../grpc/helpers.js';
import { postBinary, postJson } from '../helpers/http.js';
import { Podman, containerSkipReason, freePort, type Container } from '../helpers/podman.js';
import { buildServerImage } from './image-build.js';

/** Container start → /v2/health/ready answers 200, on a shared 2-core machine (measured ~2-3 s). */
const READY_WITHIN_MS = 30000;

const skip = containerSkipReason(['podman', 'skopeo', 'runc']) ?? baseSkipReason() ?? (existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)');

/** A few held-out digits rows: the same inputs for the container and the bare server. */
function sampleRows(n: number): number[][] {
  const split = testSplit();
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(Array.from(split.x.subarray(i * FEATURES, (i + 1) * FEATURES)));
  return rows;
}

describe('the packaged image runs under podman', { skip, timeout: 20 * 60 * 1000 }, () => {
  let base: BaseImage;
  let podman: Podman;
  let work: string;
  let image: string;
  let container: Container;
  let bare: ChildServer;
  let readyMs: number;
  let bareGrpcPort: number;
  const rows = sampleRows(5);
  const features = rows[0]!.length;

  before(async () => {
    base = await ensureBaseImage();
    podman = await Podman.create();
    work = await mkdtemp(join(tmpdir(), 'berth-image-runs-'));
    const models = join(work, 'models');
    await ensureDigitsModel(models);
    const built = await buildServerImage({ podman, baseDir: base.dir, models, work });
    image = built.image;
    console.log(`# image built by ${built.how} in ${built.seconds.toFixed(1)} s`);
    // startCliServer passes --grpc-port 0 (gRPC off); a later flag wins
    bareGrpcPort = await freePort();
    bare = await startCliServer([models, '--grpc-port', String(bareGrpcPort)]);
    container = await podman.run(image, { publish: { http: 8000, grpc: 8001 } });
    readyMs = await container.waitReady(READY_WITHIN_MS * 2);
    console.log(`# container ready in ${readyMs} ms (podman run returned → /v2/health/ready 200)`);
  });

  after(async () => {
    await bare?.stop();
    await podman?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
    await base?.dispose();
  });

  test(`ready within ${READY_WITHIN_MS / 1000} s`, () => {
    assert.ok(readyMs < READY_WITHIN_MS, `ready after ${readyMs} ms`);
  });

  test('the server process runs as uid 65532', async () => {
    const r = await container.execIn(['/usr/local/bin/node', '-e', "process.stdout.write(require('fs').readFileSync('/proc/1/status','utf8'))"]);
    assert.equal(r.code, 0, r.stderr);
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(r.stdout);
    assert.ok(uids, r.stdout);
    assert.deepEqual(uids.slice(1), ['65532', '65532', '65532', '65532']);
    const cmdline = await container.execIn(['/usr/local/bin/node', '-e', "process.stdout.write(require('fs').readFileSync('/proc/1/cmdline','utf8').split('\\0').join(' '))"]);
    assert.match(cmdline.stdout, /serve/, 'pid 1 is berth serve');
  });

  test('v2 JSON inference answers as the bare server does', async () => {
    const request = { id: 'r1', inputs: [{ name: 'pixels', datatype: 'FP32', shape: [rows.length, features], data: rows.flat() }] };
    const [inImage, onHost] = await Promise.all([
      postJson(`${container.url}/v2/models/digits/infer`, request),
      postJson(`${bare.url}/v2/models/digits/infer`, request),
    ]);
    assert.equal(inImage.status, 200, JSON.stringify(inImage.body));
    assert.equal(onHost.status, 200, JSON.stringify(onHost.body));
    assert.deepEqual(inImage.body, onHost.body);
    const outputs = inImage.body.outputs as { name: string; shape: number[] }[];
    assert.ok(outputs.some((o) => o.name === 'probabilities' && o.shape[0] === rows.length), JSON.stringify(outputs));
    // and the metadata the clients read first
    const [metaImage, metaHost] = await Promise.all([fetch(`${container.url}/v2/models/digits`), fetch(`${bare.url}/v2/models/digits`)]);
    assert.deepEqual(await metaImage.json(), await metaHost.json());
  });

  test('binary tensor extension answers byte for byte as the bare server does', async () => {
    const input = Buffer.from(new Float32Array(rows.flat()).buffer);
    const header = {
      inputs: [{ name: 'pixels', datatype: 'FP32', shape: [rows.length, features], parameters: { binary_data_size: input.length } }],
      outputs: [{ name: 'probabilities', parameters: { binary_data: true } }, { name: 'label', parameters: { binary_data: true } }],
    };
    const [inImage, onHost] = await Promise.all([
      postBinary(`${container.url}/v2/models/digits/infer`, header, [input]),
      postBinary(`${bare.url}/v2/models/digits/infer`, header, [input]),
    ]);
    assert.equal(inImage.status, 200, JSON.stringify(inImage.header));
    assert.equal(onHost.status, 200, JSON.stringify(onHost.header));
    assert.deepEqual(inImage.header, onHost.header);
    assert.ok(inImage.blobs.length > 0);
    assert.ok(inImage.blobs.equals(onHost.blobs), 'binary outputs differ');
  });

  test('gRPC ModelInfer answers as the bare server does', async () => {
    const inImage = connect(container.ports.grpc!);
    const onHost = connect(bareGrpcPort);
    try {
      const request: Msg = {
        model_name: 'digits',
        id: 'g1',
        inputs: [{ name: 'pixels', datatype: 'FP32', shape: [rows.length, features] }],
        raw_input_contents: [Buffer.from(new Float32Array(rows.flat()).buffer)],
      };
      const [a, b] = await Promise.all([inImage.call('ModelInfer', request), onHost.call('ModelInfer', request)]);
      assert.deepEqual(a, b);
      assert.equal(a.outputs.length, b.outputs.length);
      assert.ok((a.raw_output_contents as Buffer[]).length > 0);
      const ready = await inImage.call('ServerReady', {});
      assert.equal(ready.ready, true);
    } finally {
      inImage.close();
      onHost.close();
    }
  });

  test('SIGTERM drains and the container exits 0', async () => {
    const started = Date.now();
    await container.signal('TERM');
    const code = await container.wait(60000);
    const logs = await container.logs();
    assert.equal(code, 0, logs);
    assert.match(logs, /draining/);
    assert.match(logs, /"stopped"|stopped/);
    console.log(`# SIGTERM → exit 0 in ${Date.now() - started} ms`);
  });
});
