// The registry round trip with the real server image: `berth package --push` on the
// offline base to a docker-registry with htpasswd auth, then podman pulls it BY TAG from the
// registry (not from a local layout) and runs it; it gets ready and answers v2 inference.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureDigitsModel } from '../../src/examples/digits/index.js';
import { CLI } from '../helpers/cli-server.js';
import { baseSkipReason, ensureBaseImage, type BaseImage } from '../helpers/base-image.js';
import { containerSkipReason, Podman, type Container } from '../helpers/podman.js';
import { startDockerRegistry, which, type RunningRegistry } from '../helpers/docker-registry.js';
import { packageSkipReason } from './image-build.js';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const USER = 'berth';
const PASS = 'pushed-and-pulled';
const skip = containerSkipReason() ?? baseSkipReason() ?? packageSkipReason()
  ?? (which('docker-registry') && which('htpasswd') ? undefined : 'docker-registry or htpasswd (apache2-utils) is not installed');

describe('an image pushed with berth package --push runs after podman pulls it by tag', { skip, timeout: 20 * 60 * 1000 }, () => {
  let base: BaseImage;
  let podman: Podman;
  let reg: RunningRegistry;
  let work: string;
  let container: Container;
  let result: { manifestDigest: string; push: { digest: string; uploaded: number } };
  let image: string;

  before(async () => {
    base = await ensureBaseImage();
    podman = await Podman.create();
    reg = await startDockerRegistry({ htpasswd: { user: USER, pass: PASS } });
    work = await mkdtemp(join(tmpdir(), 'berth-push-runs-'));
    const models = join(work, 'models');
    await ensureDigitsModel(models);
    image = `${reg.host}/team/digits-server:1`;
    const { stdout } = await run(process.execPath, [
      CLI, 'package', models, '--tag', 'digits-server:1', '--base', `oci:${base.dir}:latest`, '--push', image, '--creds', `${USER}:${PASS}`, '--json',
    ], { cwd: ROOT, env: { ...process.env, SOURCE_DATE_EPOCH: '0' }, maxBuffer: 16 * 1024 * 1024 });
    result = JSON.parse(stdout.trim().split('\n').pop()!) as typeof result;
    podman.track(image);
    await podman.check(['pull', '--quiet', '--tls-verify=false', '--creds', `${USER}:${PASS}`, image], 300_000);
    container = await podman.run(image, { publish: { http: 8000 } });
  });
  after(async () => {
    await podman?.cleanup();
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    await base?.dispose();
  });

  test('podman pulled the digest berth pushed', async () => {
    assert.equal(result.push.digest, result.manifestDigest);
    const digest = (await podman.check(['image', 'inspect', '--format', '{{.Digest}}', image])).trim();
    assert.equal(digest, result.manifestDigest);
  });

  test('the pulled image gets ready and answers v2 inference', async () => {
    await container.waitReady(120_000);
    const meta = await fetch(`${container.url}/v2/models/digits`, { headers: { host: 'localhost' } });
    assert.equal(meta.status, 200, await meta.clone().text());
    const m = (await meta.json()) as { inputs: { name: string; shape: number[]; datatype: string }[] };
    const input = m.inputs[0]!;
    const features = input.shape[input.shape.length - 1]!;
    const res = await fetch(`${container.url}/v2/models/digits/infer`, {
      method: 'POST', headers: { host: 'localhost', 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: input.name, shape: [1, features], datatype: input.datatype, data: new Array(features).fill(0) }] }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { outputs: unknown[] };
    assert.ok(body.outputs.length > 0);
  });
});
