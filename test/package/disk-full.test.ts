// `berth package --oci DIR` onto a file system that fills up: exit 1, one line naming the output
// and the full disk, and nothing left in the file system (no partial layout, no staging
// directory, no temporary blob). A 4 MiB tmpfs fills during the node_modules layer (~26 MB
// gzipped). Needs root to mount it; skips with the reason otherwise.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digitsRepo, makeBase, runCli, tempDir } from './helpers.js';

function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting a small tmpfs needs root';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`;
}

describe('berth package onto a full disk', { timeout: 600_000 }, () => {
  let dir: string;
  let small: string;
  let models: string;
  let base: string;
  let skip: string | undefined;
  let mounted = false;

  before(async () => {
    dir = await tempDir('full');
    models = await digitsRepo(join(dir, 'models'));
    base = await makeBase(join(dir, 'base'), { nodeVersion: '20.20.2' });
    small = join(dir, 'small');
    await mkdir(small);
    skip = mountTmpfs(small, '4m');
    mounted = skip === undefined;
  });
  after(async () => {
    if (mounted) spawnSync('umount', [small]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const kind of ['--oci', '--archive'] as const) {
    it(`${kind} into a 4 MiB file system: exit 1, one line naming the problem, nothing left behind`, (t) => {
      if (skip) return t.skip(skip);
      const out = join(small, kind === '--oci' ? 'image-oci' : 'image.tar');
      const r = runCli(['package', models, '--base', base, '--tag', 'digits-server:1', kind, out, '--no-cache']);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, new RegExp(`^error: ${kind} ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no space left on the device \\(ENOSPC\\)`));
      assert.equal(r.stdout, '');
      return readdir(small).then((left) => assert.deepEqual(left, [], 'no partial layout, staging directory or temporary file'));
    });
  }
});
