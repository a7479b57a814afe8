// berth package --base REGISTRY/REPO:TAG --push REGISTRY/REPO:TAG through the command line,
// against a real docker-registry with htpasswd auth: the base is pulled and recorded by digest,
// the image lands under the tag with the digest the build printed (skopeo agrees), a new model
// version uploads only the model layer and a config, and a refused push publishes nothing.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayout } from '../../src/package/oci/layout.js';
import { pushLayout } from '../../src/package/distribution/push.js';
import { parseReference } from '../../src/oci/reference.js';
import { RegistryClient } from '../../src/oci/client.js';
import { startDockerRegistry, which, freePort, type RunningRegistry } from '../helpers/docker-registry.js';
import { digitsRepo, makeBase, runCli, tempDir } from './helpers.js';

const USER = 'berth';
const PASS = 's3cret:with colon';
const skip = which('docker-registry') && which('htpasswd') ? false : 'docker-registry or htpasswd (apache2-utils) is not installed';

interface Result {
  manifestDigest: string;
  layers: { name: string; digest: string }[];
  base: { ref: string; digest?: string };
  push: { digest: string; uploaded: number; skipped: number; reference: string };
}

describe('berth package --base and --push against docker-registry', { skip, timeout: 900_000 }, () => {
  let reg: RunningRegistry;
  let dir: string;
  let models: string;
  let baseDigest: string;
  let first: Result;
  const creds = `${USER}:${PASS}`;
  const home = (): string => join(dir, 'home');

  before(async () => {
    reg = await startDockerRegistry({ htpasswd: { user: USER, pass: PASS } });
    dir = await tempDir('push');
    const baseRef = await makeBase(join(dir, 'base'), { nodeVersion: '20.20.2' });
    const baseLayout = new OciLayout(join(dir, 'base'));
    const pushed = await pushLayout(baseLayout, 'base', parseReference(`${reg.host}/base/node:20`), { credentials: { username: USER, password: PASS } });
    baseDigest = pushed.digest;
    assert.ok(baseRef.startsWith('oci:'));
    models = await digitsRepo(join(dir, 'models'));
  });
  after(async () => {
    await reg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pulls the base by tag, records it by digest, and pushes the image under the tag skopeo then reads', () => {
    const r = runCli(['package', models, '--tag', 'digits-server:1', '--platform', 'linux/amd64', '--home', home(),
      '--base', `${reg.host}/base/node:20`, '--push', `${reg.host}/team/digits`, '--creds', creds, '--json']);
    assert.equal(r.status, 0, r.stderr);
    first = JSON.parse(r.stdout) as Result;
    assert.equal(first.base.ref, `${reg.host}/base/node@${baseDigest}`);
    assert.equal(first.base.digest, baseDigest);
    assert.equal(first.push.digest, first.manifestDigest);
    assert.equal(first.push.reference, `${reg.host}/team/digits:1@${first.manifestDigest}`, 'the tag comes from --tag');
    assert.equal(first.push.uploaded, first.layers.length + 1, 'every layer and the config (the base is in another repository)');
    // --json: progress as JSON lines on stderr, one per change of state
    const events = r.stderr.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; state: string });
    assert.ok(events.filter((e) => e.state === 'done').length >= first.layers.length);
    if (which('skopeo')) {
      const s = spawnSync('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${reg.host}/team/digits:1`], { encoding: 'utf8' });
      assert.equal(s.status, 0, s.stderr);
      assert.equal((JSON.parse(s.stdout) as { Digest: string }).Digest, first.manifestDigest);
    }
  });

  it('podman pulls the pushed image by tag, with the digest the build printed', { skip: !which('podman') && 'podman is not installed' }, async () => {
    const root = join(dir, 'podman');
    await mkdir(root, { recursive: true });
    const conf = join(root, 'containers.conf');
    await writeFile(conf, '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n');
    const podman = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync('podman', ['--root', join(root, 'storage'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', ...args], {
      encoding: 'utf8', timeout: 300_000, env: { ...process.env, CONTAINERS_CONF: conf },
    });
    try {
      const image = `${reg.host}/team/digits:1`;
      const pull = podman('pull', '--tls-verify=false', '--creds', creds, image);
      assert.equal(pull.status, 0, String(pull.stderr));
      const inspect = podman('image', 'inspect', '--format', '{{.Digest}} {{.Config.User}}', image);
      assert.equal(String(inspect.stdout).trim(), `${first.manifestDigest} 65532:65532`);
    } finally {
      podman('rmi', '-a', '-f');
    }
  });

  it('a new model version uploads only the model layer and a config', async () => {
    const changed = join(dir, 'models-v2');
    await cp(models, changed, { recursive: true });
    await mkdir(join(changed, 'digits/2'));
    await cp(join(models, 'digits/1/model.onnx'), join(changed, 'digits/2/model.onnx'));
    const before = reg.blobCount();
    const r = runCli(['package', changed, '--tag', 'digits-server:2', '--platform', 'linux/amd64', '--home', home(),
      '--base', `${reg.host}/base/node:20`, '--push', `${reg.host}/team/digits:2`, '--creds', creds, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const second = JSON.parse(r.stdout) as Result;
    const changedLayers = second.layers.filter((l, i) => l.digest !== first.layers[i]!.digest).map((l) => l.name);
    assert.deepEqual(changedLayers, ['models']);
    assert.equal(second.push.uploaded, 2, 'the model layer and the config');
    assert.equal(second.push.skipped, second.layers.length - 1);
    assert.equal(reg.blobCount() - before, 3, 'the registry stores the model layer, the config and the manifest');
    const tags = await new RegistryClient(reg.host, { credentials: { username: USER, password: PASS } }).listTags('team/digits');
    assert.deepEqual(tags.sort(), ['1', '2']);
  });

  it('a wrong password fails in one line, with nothing under the tag and no --oci output', async () => {
    const out = join(dir, 'refused-oci');
    const r = runCli(['package', models, '--tag', 'digits-server:3', '--platform', 'linux/amd64', '--home', home(),
      '--base', `oci:${join(dir, 'base')}:base`, '--push', `${reg.host}/team/digits:3`, '--creds', `${USER}:wrong`, '--oci', out]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /^error: registry 127\.0\.0\.1:\d+ refused the credentials .*wrong user name or password\n$/);
    const tags = await new RegistryClient(reg.host, { credentials: { username: USER, password: PASS } }).listTags('team/digits');
    assert.ok(!tags.includes('3'));
    await assert.rejects(stat(out), /ENOENT/);
  });

  it('an unreachable registry, for --push or --base, fails in one line', async () => {
    const port = await freePort();
    const push = runCli(['package', models, '--tag', 'd:1', '--base', `oci:${join(dir, 'base')}:base`, '--push', `127.0.0.1:${port}/x/y:1`, '--home', home()]);
    assert.notEqual(push.status, 0);
    assert.match(push.stderr, new RegExp(`^error: registry 127\\.0\\.0\\.1:${port} is unreachable .*connection refused\\n$`));
    const base = runCli(['package', models, '--tag', 'd:1', '--base', `127.0.0.1:${port}/base/node:20`, '--oci', join(dir, 'never'), '--home', home()]);
    assert.notEqual(base.status, 0);
    assert.match(base.stderr, new RegExp(`^error: --base 127\\.0\\.0\\.1:${port}/base/node:20: registry 127\\.0\\.0\\.1:${port} is unreachable .*\\n$`));
    const bad = runCli(['package', models, '--base', `oci:${join(dir, 'base')}:base`, '--push', 'Bad Ref', '--home', home()]);
    assert.match(bad.stderr, /^error: image reference "Bad Ref".*\n$/);
  });
});
