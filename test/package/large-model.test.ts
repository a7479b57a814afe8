/**
 * A model over 2 GiB with external data (the protobuf limit that forces external data) packages
 * and runs: generated here, streaming (test/helpers/large-onnx.ts), `berth package --oci` onto the
 * offline base with the packager's peak RSS measured (VmHWM) and bounded, then run under podman,
 * whose answer must match onnxruntime-node's in this process on the same file. Deleted afterwards.
 *
 * It moves about 7 GB through the disk and gzips 2 GiB of incompressible weights (~25 MB/s on
 * one core), so it takes several minutes: it runs only with BERTH_TEST_LARGE=1, and skips with
 * the reason when podman or the base's tools are missing or the disk has less than 3× the model
 * size free.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { baseSkipReason, ensureBaseImage, type BaseImage } from '../helpers/base-image.js';
import { CLI } from '../helpers/cli-server.js';
import { postJson } from '../helpers/http.js';
import { largeModelBytes, writeLargeModel, type LargeModel, type LargeModelSpec } from '../helpers/large-onnx.js';
import { runPackage, type PackageRun } from '../helpers/package-run.js';
import { Podman, containerSkipReason } from '../helpers/podman.js';

/** 2 × 16384² float32 + 16384 × 16: 2 GiB + 1 MiB of weights in one external data file. */
const SPEC: LargeModelSpec = { width: 16384, layers: 2, outputs: 16, seed: 5 };
const MODEL_BYTES = largeModelBytes(SPEC);
/** The packager streams every file: its peak RSS stays near its fixed cost (~200 MB), whatever the model's size. */
const RSS_BOUND = 0.2;

async function diskSkipReason(): Promise<string | undefined> {
  const s = await statfs(tmpdir());
  const free = s.bavail * s.bsize;
  return free < 3 * MODEL_BYTES ? `${tmpdir()} has ${(free / 1e9).toFixed(1)} GB free; a ${(MODEL_BYTES / 1e9).toFixed(1)} GB model needs 3× that` : undefined;
}

const skip = process.env.BERTH_TEST_LARGE !== '1'
  ? 'set BERTH_TEST_LARGE=1 to run it (several minutes: a 2 GiB model is generated, packaged and run)'
  : containerSkipReason(['podman', 'skopeo', 'runc']) ?? baseSkipReason() ?? (existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ?? (await diskSkipReason());

describe('a model over 2 GiB with external data packages and runs', { skip, timeout: 60 * 60 * 1000 }, () => {
  let base: BaseImage;
  let podman: Podman;
  let work: string;
  let model: LargeModel;
  let packaged: PackageRun;
  const started = performance.now();

  before(async () => {
    base = await ensureBaseImage();
    podman = await Podman.create();
    work = await mkdtemp(join(tmpdir(), 'berth-large-model-'));
    const t = performance.now();
    model = await writeLargeModel(join(work, 'models'), 'large', SPEC);
    console.log(`# generated ${model.dataBytes} bytes of weights in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    packaged = await runPackage([join(work, 'models'), '--tag', 'berth-test/large:1', '--base', `oci:${base.dir}:latest`, '--oci', join(work, 'oci'), '--no-cache']);
    console.log(`# berth package: ${packaged.seconds.toFixed(1)} s, peak RSS ${(packaged.peakRss / 1e6).toFixed(0)} MB = ${(packaged.peakRss / model.dataBytes).toFixed(3)} × the model`);
  });

  after(async () => {
    await podman?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
    await base?.dispose();
    console.log(`# wall time ${((performance.now() - started) / 1000).toFixed(0)} s`);
  });

  test('the model is over 2 GiB and its layer holds all of it', () => {
    assert.ok(model.dataBytes > 2 ** 31, String(model.dataBytes));
    const layer = packaged.result.layers.find((l) => l.name === 'models');
    assert.ok(layer && (layer.tarSize ?? 0) > model.dataBytes, JSON.stringify(layer));
  });

  test(`the packager's peak RSS stays under ${RSS_BOUND} × the model size`, () => {
    assert.ok(packaged.peakRss < RSS_BOUND * model.dataBytes, `peak RSS ${packaged.peakRss} bytes for a ${model.dataBytes}-byte model`);
  });

  test('the image serves it under podman with the answer onnxruntime gives in process', async () => {
    const input = Array.from({ length: SPEC.width }, (_, i) => Math.sin(i * 0.37));
    const session = await ort.InferenceSession.create(model.modelPath);
    let expected: number[];
    try {
      const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(input), [1, SPEC.width]) });
      expected = Array.from(out.output!.data as Float32Array);
    } finally {
      await session.release();
    }

    const image = await podman.loadOci(join(work, 'oci'));
    await rm(join(work, 'oci'), { recursive: true }); // in podman's storage now: free the disk
    const t = performance.now();
    const container = await podman.run(image, { publish: { http: 8000 } });
    await container.waitReady(15 * 60 * 1000);
    console.log(`# container ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const res = await postJson(`${container.url}/v2/models/large/infer`, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, SPEC.width], data: input }],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const outputs = res.body.outputs as { name: string; shape: number[]; data: number[] }[];
    assert.deepEqual(outputs[0]!.shape, [1, SPEC.outputs]);
    const got = outputs[0]!.data;
    assert.equal(got.length, expected.length);
    for (const [i, v] of got.entries()) {
      assert.ok(Math.abs(v - expected[i]!) <= 1e-4 * Math.max(1, Math.abs(expected[i]!)), `output[${i}] = ${v}, onnxruntime in process gives ${expected[i]}`);
    }
  });
});
