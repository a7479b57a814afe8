// `berth package` on the command line: bad input gives one line on stderr and exit 1, and leaves
// no output and no staging directory behind; --json gives one line; --dockerfile writes the same
// config as a Dockerfile.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_HOME, digitsRepo, hasTool, makeBase, runCli, tempDir } from './helpers.js';

describe('berth package (CLI)', { timeout: 600_000 }, () => {
  let dir: string;
  let models: string;
  let base: string;

  before(async () => {
    dir = await tempDir('cli');
    models = await digitsRepo(join(dir, 'models'));
    base = await makeBase(join(dir, 'base'), { nodeVersion: '20.20.2' });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    await rm(CLI_HOME, { recursive: true, force: true });
  });

  /** Exit 1, exactly one line on stderr matching `re`, and nothing new in `dir` but what `keep` names. */
  async function refused(args: string[], re: RegExp, env: NodeJS.ProcessEnv = {}): Promise<void> {
    const before = new Set(await readdir(dir));
    const r = runCli(['package', ...args], env);
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^error: /);
    assert.match(lines[0]!, re);
    assert.equal(r.stdout, '');
    const added = (await readdir(dir)).filter((n) => !before.has(n));
    assert.deepEqual(added, [], 'no output or staging directory is left behind');
  }

  it('a missing model', async () => {
    await refused([join(dir, 'nope.onnx'), '--base', base, '--oci', join(dir, 'out')], /nope\.onnx: no such file or directory/);
  });

  it('an unknown registry reference', async () => {
    const home = join(dir, 'home');
    await mkdir(home);
    await refused(['ghost:3', '--base', base, '--oci', join(dir, 'out'), '--home', home], /ghost/);
  });

  it('no output named', async () => {
    await refused([models, '--base', base], /--oci DIR, --archive FILE, --dockerfile DIR or --push REGISTRY\/REPO:TAG/);
  });

  it('a base whose Node is too old', async () => {
    const old = await makeBase(join(dir, 'base-node18'), { nodeVersion: '18.20.4' });
    await refused([models, '--base', old, '--oci', join(dir, 'out')], /has Node 18\.20\.4; berth needs Node >= 20\.19/);
  });

  it('a base without Node for another platform, and a base of the wrong platform', async () => {
    const arm = await makeBase(join(dir, 'base-arm'), { architecture: 'arm64' });
    const host = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    if (host === 'linux/arm64') await refused([models, '--base', arm, '--platform', 'linux/arm64', '--oci', join(dir, 'out')], /has no Node .*give --node PATH/);
    await refused([models, '--base', base, '--platform', 'linux/arm64', '--oci', join(dir, 'out')], /is linux\/amd64, not linux\/arm64/);
  });

  it('node_modules with a native addon for another architecture', { skip: process.arch !== 'x64' && 'needs an x64 host' }, async () => {
    const arm = await makeBase(join(dir, 'base-arm-node'), { architecture: 'arm64', nodeVersion: '20.20.2' });
    await refused([models, '--base', arm, '--platform', 'linux/arm64', '--oci', join(dir, 'out')], /better_sqlite3\.node .* is built for amd64, not linux\/arm64/);
  });

  it('a server image without a base', async () => {
    await refused([models, '--oci', join(dir, 'out')], /needs --base/);
  });

  it('an output whose directory does not exist, or that is not ours to replace', async () => {
    await refused([models, '--model-only', '--oci', join(dir, 'missing', 'out')], /parent directory does not exist/);
    await writeFile(join(dir, 'precious.txt'), 'keep');
    const precious = join(dir, 'precious');
    await mkdir(precious);
    await writeFile(join(precious, 'file'), 'keep me');
    await refused([models, '--model-only', '--oci', precious], /not an OCI image layout; refusing/);
    assert.equal(await readFile(join(precious, 'file'), 'utf8'), 'keep me');
  });

  it('a failure after the image is built leaves neither output behind', async () => {
    const blocker = join(dir, 'blocker.tar');
    await mkdir(blocker); // the archive cannot be renamed over a directory
    await refused([models, '--model-only', '--oci', join(dir, 'out'), '--archive', blocker], /blocker\.tar/);
  });

  it('--json prints one line with the digests and the size of each layer', async () => {
    const r = runCli(['package', models, '--model-only', '--tag', 'digits-models:7', '--oci', join(dir, 'json'), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const result = JSON.parse(lines[0]!) as { tag: string; manifestDigest: string; layers: { name: string; digest: string; size: number; diffId: string }[] };
    assert.equal(result.tag, 'digits-models:7');
    assert.match(result.manifestDigest, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(result.layers.map((l) => l.name), ['busybox', 'models']);
    for (const l of result.layers) assert.equal((await stat(join(dir, 'json/blobs/sha256', l.digest.slice(7)))).size, l.size);
  });

  it('--dockerfile writes a Dockerfile with one COPY per layer and the image config', async () => {
    const out = join(dir, 'ctx');
    const r = runCli(['package', models, '--base', base, '--tag', 'digits-server:2', '--dockerfile', out]);
    assert.equal(r.status, 0, r.stderr);
    const text = await readFile(join(out, 'Dockerfile'), 'utf8');
    assert.match(text, new RegExp(`^FROM oci:${join(dir, 'base')}:base$`, 'm'));
    assert.deepEqual(text.match(/^COPY .*$/gm), ['COPY layers/01-node_modules/ /', 'COPY layers/02-app/ /', 'COPY layers/03-models/ /']);
    assert.match(text, /^ENTRYPOINT \["\/usr\/local\/bin\/node","\/app\/dist\/cli\/main.js","serve","\/models","--host","0.0.0.0"\]$/m);
    assert.match(text, /^USER 65532:65532$/m);
    assert.match(text, /^EXPOSE 8000\/tcp 8001\/tcp$/m);
    assert.match(text, /^ENV ORT_DISABLE_TELEMETRY="1"$/m);
    assert.deepEqual(await readFile(join(out, 'layers/03-models/models/digits/1/model.onnx')), await readFile(join(models, 'digits/1/model.onnx')));
    assert.equal((await stat(join(out, 'layers/02-app/tmp'))).mode & 0o7777, 0o1777);
  });
});

describe('berth package --dockerfile under buildah', { timeout: 600_000 }, () => {
  const conf = join(tmpdir(), `berth-pkg-containers-${process.pid}.conf`);
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const name = `localhost/berth-pkg-test-${process.pid}:1`;
  let dir: string;
  const missing = !hasTool('buildah') ? 'buildah is not installed' : !hasTool('podman') ? 'podman is not installed' : false;

  after(async () => {
    // the image, and the base buildah stored under a name made from the layout's path
    if (!missing && dir) spawnSync('podman', ['rmi', '-f', name, `localhost${join(dir, 'base')}`], { env });
    if (dir) await rm(dir, { recursive: true, force: true });
    await rm(conf, { force: true });
  });

  it('builds FROM a local OCI layout base, with the image\'s user, entrypoint and one layer per COPY', { skip: missing }, async () => {
    await writeFile(conf, '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n');
    // buildah 1.28 names the image it reads from an oci: path after the path, and refuses capitals (mkdtemp's suffix has some)
    dir = join(tmpdir(), `berth-pkg-buildah-${process.pid}`);
    await mkdir(dir);
    const models = await digitsRepo(join(dir, 'models'));
    const base = await makeBase(join(dir, 'base'), { nodeVersion: '20.20.2' });
    const r = runCli(['package', models, '--base', base, '--tag', name.replace('localhost/', ''), '--dockerfile', join(dir, 'ctx')]);
    assert.equal(r.status, 0, r.stderr);
    const built = spawnSync('buildah', ['bud', '--layers', '--force-rm', '-q', '-t', name, join(dir, 'ctx')], { env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(built.status, 0, built.stderr);
    const info = JSON.parse(spawnSync('podman', ['image', 'inspect', name], { env, encoding: 'utf8' }).stdout) as { Config: { User: string; Entrypoint: string[]; Labels: Record<string, string> }; RootFS: { Layers: string[] } }[];
    assert.equal(info[0]!.Config.User, '65532:65532');
    assert.deepEqual(info[0]!.Config.Entrypoint, ['/usr/local/bin/node', '/app/dist/cli/main.js', 'serve', '/models', '--host', '0.0.0.0']);
    assert.match(info[0]!.Config.Labels['io.berth.models']!, /^digits:1@sha256:/);
    assert.equal(info[0]!.RootFS.Layers.length, 4, 'the base layer and three COPY layers');
  });
});
