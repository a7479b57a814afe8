// berth package, end to end through the library: reproducible digests, the layers and config
// as independent readers (GNU tar, gzip, skopeo, umoci) see them, and what changes when a model
// changes. The tiny base (helpers.ts) carries an io.berth.node.version label, so no Node layer
// is added and each build takes seconds.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, lstat, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageImage, type PackageResult } from '../../src/package/package-image.js';
import { Registry } from '../../src/registry/registry.js';
import { digitsRepo, hasTool, makeBase, tempDir } from './helpers.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const noRegistry = (): Promise<Registry> => Promise.reject(new Error('no registry in this test'));

describe('berth package: the image', { timeout: 600_000 }, () => {
  let dir: string;
  let base: string;
  let models: string;
  let first: PackageResult;
  let second: PackageResult;

  before(async () => {
    dir = await tempDir('image');
    base = await makeBase(join(dir, 'base'), { nodeVersion: '20.20.2' });
    models = await digitsRepo(join(dir, 'models'));
    const env = { ...process.env, SOURCE_DATE_EPOCH: '' };
    first = await packageImage({ models: [models], tag: 'digits-server:1', base, oci: join(dir, 'a'), archive: join(dir, 'a.tar'), platform: 'linux/amd64', openRegistry: noRegistry, env });
    second = await packageImage({ models: [models], tag: 'digits-server:1', base, oci: join(dir, 'b'), platform: 'linux/amd64', openRegistry: noRegistry, env });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('two builds of the same inputs give the same manifest digest, and the layers are ordered base | node_modules | app | models', () => {
    assert.match(first.manifestDigest!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(second.manifestDigest, first.manifestDigest);
    assert.deepEqual(first.layers.map((l) => l.name), ['base', 'node_modules', 'app', 'models']);
  });

  it('every layer blob is valid gzip whose content hashes to its diff_id, with sorted entries, uid/gid 0 and the fixed mtime (GNU tar, gzip)', async () => {
    const layout = join(dir, 'a');
    const manifestHex = first.manifestDigest!.slice(7);
    const manifest = JSON.parse(await readFile(join(layout, 'blobs/sha256', manifestHex), 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
    const config = JSON.parse(await readFile(join(layout, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
    for (const [i, l] of manifest.layers.entries()) {
      const blob = join(layout, 'blobs/sha256', l.digest.slice(7));
      assert.equal(sha256(await readFile(blob)), l.digest);
      const tarBytes = execFileSync('gzip', ['-dc', blob], { maxBuffer: 1 << 30 });
      assert.equal(sha256(tarBytes), config.rootfs.diff_ids[i], `layer ${i} diff_id`);
      if (i === 0) continue; // the base's layer is the base's
      const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', blob], { maxBuffer: 1 << 28, encoding: 'utf8' }).trim().split('\n');
      const names = listing.map((line) => line.split(/\s+/).slice(5).join(' ').replace(/ -> .*$/, '').replace(/\/$/, ''));
      assert.deepEqual(names, [...names].sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : Buffer.from(a) > Buffer.from(b) ? 1 : 0)), `layer ${i} entries sorted`);
      for (const line of listing) {
        const [mode, owner, , date, time] = line.split(/\s+/);
        assert.equal(owner, '0/0', line);
        assert.equal(`${date} ${time}`, '1970-01-01 00:00:01', line);
        assert.match(mode!, /^(-rw-r--r--|-rwxr-xr-x|drwxr-xr-x|drwxrwxrwt|lrwxrwxrwx)$/, line);
      }
    }
  });

  it('skopeo reads the layout: layers, user, entrypoint, ports, environment and labels', { skip: !hasTool('skopeo') && 'skopeo is not installed' }, () => {
    const ref = `oci:${join(dir, 'a')}:digits-server:1`;
    const info = JSON.parse(execFileSync('skopeo', ['inspect', ref], { encoding: 'utf8' })) as { Digest: string; Layers: string[]; Labels: Record<string, string> };
    assert.equal(info.Digest, first.manifestDigest);
    assert.deepEqual(info.Layers, first.layers.map((l) => l.digest));
    assert.equal(info.Labels['io.berth.models'], `digits:1@${sha256(execFileSync('cat', [join(models, 'digits/1/model.onnx')]))}`);
    assert.match(info.Labels['org.opencontainers.image.base.digest']!, /^sha256:/);
    assert.equal(info.Labels['org.opencontainers.image.base.name'], undefined, 'a local base\'s path stays out of the digest');
    const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--config', ref], { encoding: 'utf8' })) as { config: { User: string; Entrypoint: string[]; Cmd?: string[]; ExposedPorts: object; Env: string[] } };
    assert.equal(cfg.config.User, '65532:65532');
    assert.deepEqual(cfg.config.Entrypoint, ['/usr/local/bin/node', '/app/dist/cli/main.js', 'serve', '/models', '--host', '0.0.0.0']);
    assert.equal(cfg.config.Cmd, undefined, 'the base\'s Cmd must not be appended to the entrypoint');
    assert.deepEqual(Object.keys(cfg.config.ExposedPorts).sort(), ['8000/tcp', '8001/tcp']);
    assert.ok(cfg.config.Env.includes('ORT_DISABLE_TELEMETRY=1'));
    assert.ok(cfg.config.Env.includes('BERTH_HOME=/tmp/berth'));
  });

  it('the archive is read as an OCI archive and as a docker archive (skopeo)', { skip: !hasTool('skopeo') && 'skopeo is not installed' }, () => {
    const oci = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${join(dir, 'a.tar')}:digits-server:1`], { encoding: 'utf8' })) as { Digest: string };
    assert.equal(oci.Digest, first.manifestDigest);
    const docker = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${join(dir, 'a.tar')}`], { encoding: 'utf8' })) as { Layers: string[]; RepoTags: string[] };
    assert.equal(docker.Layers.length, 4);
  });

  it('umoci unpacks it: the model, the app, node_modules pruned to linux/x64 without build leftovers', { skip: !hasTool('umoci') && 'umoci is not installed' }, async () => {
    const out = join(dir, 'unpacked');
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${join(dir, 'a')}:digits-server:1`, out]);
    const root = join(out, 'rootfs');
    assert.deepEqual(await readFile(join(root, 'models/digits/1/model.onnx')), await readFile(join(models, 'digits/1/model.onnx')));
    assert.ok((await lstat(join(root, 'models/digits/config.json'))).isFile());
    assert.ok((await lstat(join(root, 'app/dist/cli/main.js'))).isFile());
    assert.deepEqual(await readdir(join(root, 'app/node_modules/onnxruntime-node/bin/napi-v6')), ['linux']);
    assert.deepEqual(await readdir(join(root, 'app/node_modules/onnxruntime-node/bin/napi-v6/linux')), ['x64']);
    assert.deepEqual((await readdir(join(root, 'app/node_modules/better-sqlite3'))).filter((n) => ['deps', 'src', 'build'].includes(n)), ['build']);
    assert.deepEqual(await readdir(join(root, 'app/node_modules/better-sqlite3/build/Release')), ['better_sqlite3.node']);
    await assert.rejects(lstat(join(root, 'app/node_modules/typescript')), 'devDependencies stay out');
    assert.equal((await lstat(join(root, 'tmp'))).mode & 0o7777, 0o1777);
  });

  it('a new model version changes only the model layer', async () => {
    const changed = join(dir, 'models-v2');
    await cp(models, changed, { recursive: true });
    await mkdir(join(changed, 'digits/2'));
    await cp(join(models, 'digits/1/model.onnx'), join(changed, 'digits/2/model.onnx'));
    const third = await packageImage({ models: [changed], tag: 'digits-server:1', base, oci: join(dir, 'c'), platform: 'linux/amd64', openRegistry: noRegistry, env: { ...process.env, SOURCE_DATE_EPOCH: '' } });
    assert.notEqual(third.manifestDigest, first.manifestDigest);
    const differs = third.layers.map((l, i) => l.digest !== first.layers[i]!.digest);
    assert.deepEqual(differs, [false, false, false, true]);
  });

  it('SOURCE_DATE_EPOCH sets the mtimes and the created time', async () => {
    const epoch = await packageImage({ models: [models], tag: 'digits-server:1', base, oci: join(dir, 'd'), platform: 'linux/amd64', modelOnly: false, openRegistry: noRegistry, env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });
    assert.notEqual(epoch.manifestDigest, first.manifestDigest);
    const listing = execFileSync('tar', ['--full-time', '-tvzf', join(dir, 'd/blobs/sha256', epoch.layers[3]!.digest.slice(7))], { encoding: 'utf8' });
    assert.match(listing, /2023-11-14 22:13:20/);
  });
});

describe('berth package --model-only', { timeout: 300_000 }, () => {
  let dir: string;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds /models and a static busybox as /bin/sh, on an empty base', { skip: (!hasTool('umoci') && 'umoci is not installed') || (spawnSync('test', ['-f', '/bin/busybox']).status !== 0 && 'busybox-static is not installed') }, async () => {
    dir = await tempDir('model-only');
    const models = await digitsRepo(join(dir, 'models'));
    const r = await packageImage({ models: [models], tag: 'digits-models:1', modelOnly: true, oci: join(dir, 'oci'), platform: 'linux/amd64', openRegistry: noRegistry });
    assert.deepEqual(r.layers.map((l) => l.name), ['busybox', 'models']);
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${join(dir, 'oci')}:digits-models:1`, join(dir, 'un')]);
    const root = join(dir, 'un', 'rootfs');
    assert.deepEqual((await readdir(root)).sort(), ['bin', 'models']);
    assert.equal(await readlink(join(root, 'bin/sh')), 'busybox');
    assert.equal(execFileSync(join(root, 'bin/busybox'), ['sh', '-c', 'echo modelcar'], { encoding: 'utf8' }).trim(), 'modelcar');
    assert.ok((await lstat(join(root, 'models/digits/1/model.onnx'))).isFile());
  });
});

describe('berth package: a registry reference', { timeout: 300_000 }, () => {
  let dir: string;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('puts the version under /models/NAME/VERSION with registry.json (name, version, digest, lineage)', async () => {
    dir = await tempDir('registry');
    const models = await digitsRepo(join(dir, 'models'));
    const home = join(dir, 'home');
    const reg = await Registry.open({ home });
    const pushed = await reg.push(join(models, 'digits/1/model.onnx'), { name: 'digits', actor: 'test' });
    await reg.setAlias('digits', 'production', pushed.version, 'test');
    await reg.close();
    const r = await packageImage({ models: ['digits@production'], tag: 'digits-models:1', modelOnly: true, oci: join(dir, 'oci'), platform: 'linux/amd64', openRegistry: () => Registry.open({ home }) });
    assert.deepEqual(r.models, [{ name: 'digits', version: pushed.version, digest: pushed.digest }]);
    const layer = join(dir, 'oci/blobs/sha256', r.layers.at(-1)!.digest.slice(7));
    const meta = JSON.parse(execFileSync('tar', ['-xzOf', layer, `models/digits/${pushed.version}/registry.json`], { encoding: 'utf8' })) as { name: string; version: number; digest: string };
    assert.deepEqual([meta.name, meta.version, meta.digest], ['digits', pushed.version, pushed.digest]);
    await assert.rejects(
      packageImage({ models: ['digits:9'], tag: 'x:1', modelOnly: true, oci: join(dir, 'oci2'), platform: 'linux/amd64', openRegistry: () => Registry.open({ home }) }),
      /no version 9/,
    );
  });
});

describe('berth package: a base without Node', { timeout: 600_000 }, () => {
  let dir: string;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gets this machine\'s Node binary at /usr/local/bin/node, in its own layer below node_modules', { skip: process.platform !== 'linux' || process.arch !== 'x64' ? 'needs a linux/amd64 host' : false }, async () => {
    dir = await tempDir('node');
    const models = await digitsRepo(join(dir, 'models'));
    const base = await makeBase(join(dir, 'base'));
    const r = await packageImage({ models: [models], tag: 'digits-server:1', base, oci: join(dir, 'oci'), platform: 'linux/amd64', openRegistry: noRegistry });
    assert.deepEqual(r.layers.map((l) => l.name), ['base', 'node', 'node_modules', 'app', 'models']);
    const layer = join(dir, 'oci/blobs/sha256', r.layers[1]!.digest.slice(7));
    const listing = execFileSync('tar', ['-tvzf', layer], { encoding: 'utf8' });
    assert.match(listing, /^-rwxr-xr-x 0\/0 .* usr\/local\/bin\/node$/m);
    const node = execFileSync('tar', ['-xzOf', layer, 'usr/local/bin/node'], { maxBuffer: 1 << 30 });
    assert.equal(sha256(node), sha256(await readFile(process.execPath)));
    const manifest = JSON.parse(await readFile(join(dir, 'oci/blobs/sha256', r.manifestDigest!.slice(7)), 'utf8')) as { config: { digest: string } };
    const config = JSON.parse(await readFile(join(dir, 'oci/blobs/sha256', manifest.config.digest.slice(7)), 'utf8')) as { config: { Env: string[]; Labels: Record<string, string> } };
    assert.ok(config.config.Env.includes(`NODE_VERSION=${process.versions.node}`));
    assert.equal(config.config.Labels['io.berth.node.version'], process.versions.node);
  });
});

describe('berth package: the layer cache', { timeout: 600_000 }, () => {
  let dir: string;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a rebuild reuses unchanged layers, gives the same digest, rewrites only a changed model, and survives a damaged cache', async () => {
    dir = await tempDir('cache');
    const models = await digitsRepo(join(dir, 'models'));
    const base = await makeBase(join(dir, 'base'), { nodeVersion: '20.20.2' });
    const cacheDir = join(dir, 'cache');
    const build = (out: string, from = models): Promise<PackageResult> =>
      packageImage({ models: [from], tag: 'digits-server:1', base, oci: join(dir, out), platform: 'linux/amd64', openRegistry: noRegistry, cacheDir, env: { ...process.env, SOURCE_DATE_EPOCH: '' } });
    const cold = await build('cold');
    assert.deepEqual(cold.layers.map((l) => l.cached ?? null), [null, false, false, false]);
    const started = performance.now();
    const warm = await build('warm');
    const warmMs = performance.now() - started;
    assert.equal(warm.manifestDigest, cold.manifestDigest);
    assert.deepEqual(warm.layers.map((l) => l.cached ?? null), [null, true, true, true]);
    process.stdout.write(`# warm rebuild of the digits server image: ${Math.round(warmMs)} ms\n`);

    const changed = join(dir, 'models-v2');
    await cp(models, changed, { recursive: true });
    await mkdir(join(changed, 'digits/2'));
    await cp(join(models, 'digits/1/model.onnx'), join(changed, 'digits/2/model.onnx'));
    const next = await build('next', changed);
    assert.deepEqual(next.layers.map((l) => l.cached ?? null), [null, true, true, false]);

    // a damaged cached blob is detected by its digest and the layer is written again
    const blobs = join(cacheDir, 'blobs');
    for (const b of await readdir(blobs)) await writeFile(join(blobs, b), 'damaged');
    const again = await build('again');
    assert.equal(again.manifestDigest, cold.manifestDigest);
    assert.deepEqual(again.layers.map((l) => l.cached ?? null), [null, false, false, false]);
  });
});
