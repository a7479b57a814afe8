/**
 * The offline base image recipe (scripts/build-base.sh): independent readers (skopeo, umoci)
 * accept the layout, the root holds what `mmdebstrap --variant=extract` leaves out (users, CA
 * bundle, dpkg status, /tmp), and podman runs the official Node binary in it as uid 65532.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { baseSkipReason, ensureBaseImage, type BaseImage } from '../helpers/base-image.js';
import { Podman, containerSkipReason } from '../helpers/podman.js';

const skip = baseSkipReason() ?? containerSkipReason(['podman', 'skopeo', 'runc', 'umoci']);

describe('offline base image (scripts/build-base.sh)', { skip }, () => {
  let base: BaseImage;
  let podman: Podman;
  let image: string;
  let unpacked: string;
  let rootfs: string;

  before(async () => {
    base = await ensureBaseImage();
    if (base.summary) console.log('# base image built:', JSON.stringify(base.summary));
    podman = await Podman.create();
    image = await podman.loadOci(base.dir, 'latest');
    unpacked = await mkdtemp(join(tmpdir(), 'berth-umoci-'));
    const r = spawnSync('umoci', ['unpack', '--image', `${base.dir}:latest`, join(unpacked, 'bundle')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `umoci unpack: ${r.stderr}`);
    rootfs = join(unpacked, 'bundle', 'rootfs');
  });

  after(async () => {
    await podman?.cleanup();
    if (unpacked) await rm(unpacked, { recursive: true, force: true });
    await base?.dispose();
  });

  test('skopeo reads the config: Node version label, PATH, user, two layers', () => {
    const r = spawnSync('skopeo', ['inspect', '--config', `oci:${base.dir}:latest`], { encoding: 'utf8', env: podman.env });
    assert.equal(r.status, 0, r.stderr);
    const config = JSON.parse(r.stdout) as { architecture: string; os: string; config: { Labels: Record<string, string>; Env: string[]; User: string }; rootfs: { diff_ids: string[] } };
    assert.equal(config.os, 'linux');
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.config.Labels['io.berth.node.version'], process.versions.node);
    assert.ok(config.config.Env.some((e) => /^PATH=.*\/usr\/local\/bin/.test(e)), config.config.Env.join(' '));
    assert.equal(config.config.User, '65532:65532');
    assert.equal(config.rootfs.diff_ids.length, 2);
  });

  test('umoci unpacks the root: users, CA bundle, dpkg status, /tmp, node', async () => {
    const passwd = await readFile(join(rootfs, 'etc/passwd'), 'utf8');
    assert.match(passwd, /^root:x:0:0:/m);
    assert.match(passwd, /^nonroot:x:65532:65532:[^:]*:\/home\/nonroot:/m);
    assert.match(await readFile(join(rootfs, 'etc/group'), 'utf8'), /^nonroot:x:65532:/m);
    const home = await stat(join(rootfs, 'home/nonroot'));
    assert.equal(home.uid, 65532);

    // the bundle update-ca-certificates would write: one PEM block per certificate shipped
    const shipped = (await readdir(join(rootfs, 'usr/share/ca-certificates/mozilla'))).filter((f) => f.endsWith('.crt'));
    const bundle = await readFile(join(rootfs, 'etc/ssl/certs/ca-certificates.crt'), 'utf8');
    assert.ok(shipped.length > 100, `${shipped.length} certificates shipped`);
    assert.equal(bundle.match(/-----BEGIN CERTIFICATE-----/g)?.length, shipped.length);

    // dpkg's own reader agrees that the packages are installed (what scanners read)
    const q = spawnSync('dpkg-query', ['--admindir', join(rootfs, 'var/lib/dpkg'), '-W', '-f', '${Package} ${Status}\\n'], { encoding: 'utf8' });
    assert.equal(q.status, 0, q.stderr);
    const installed = new Map(q.stdout.trim().split('\n').map((l) => [l.split(' ')[0]!, l.slice(l.indexOf(' ') + 1)]));
    for (const pkg of ['libc6', 'libgcc-s1', 'libstdc++6', 'ca-certificates', 'tzdata', 'netbase']) {
      assert.equal(installed.get(pkg), 'install ok installed', `${pkg} in dpkg status`);
    }
    const libcFiles = await readFile(join(rootfs, 'var/lib/dpkg/info/libc6:amd64.list'), 'utf8');
    assert.match(libcFiles, /^\/lib\/x86_64-linux-gnu\/libc\.so\.6$/m);

    const tmp = await stat(join(rootfs, 'tmp'));
    assert.equal(tmp.mode & 0o7777, 0o1777);
    const node = await stat(join(rootfs, 'usr/local/bin/node'));
    assert.equal(node.mode & 0o777, 0o755);
    // nothing of the build host or apt leaks in
    for (const leak of ['etc/resolv.conf', 'etc/hostname', 'var/lib/apt', 'var/cache/apt', 'etc/apt']) {
      await assert.rejects(stat(join(rootfs, leak)), `${leak} should not be in the image`);
    }
  });

  test('podman runs the official Node binary, as nonroot by default', async () => {
    const version = await podman.runOnce(image, ['/usr/local/bin/node', '-e', 'console.log(process.version)']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), process.version);

    const who = await podman.runOnce(image, ['node', '-e', "const os=require('node:os'); console.log(process.getuid(), process.getgid(), os.userInfo().username, os.userInfo().homedir)"]);
    assert.equal(who.code, 0, who.stderr);
    assert.equal(who.stdout.trim(), '65532 65532 nonroot /home/nonroot');

    const explicit = await podman.runOnce(image, ['node', '-e', "require('node:fs').writeFileSync('/tmp/probe', 'x'); console.log(process.getuid())"], { user: '65532' });
    assert.equal(explicit.code, 0, explicit.stderr);
    assert.equal(explicit.stdout.trim(), '65532');
  });
});
