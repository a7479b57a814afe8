// The layer writer's rules on their own: entry normalization, the gzip frame, pruning, ELF checks.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { normalizeEntries } from '../../src/package/layers/entries.js';
import { checkElfArch, pruned } from '../../src/package/layers/node-modules.js';
import { isDynamicElf } from '../../src/package/layers/runtime.js';
import { writeTarLayer } from '../../src/package/layers/tar-layer.js';
import { OciLayout } from '../../src/package/oci/layout.js';
import { tempDir } from './helpers.js';

describe('layer entries', () => {
  it('are sorted by byte order with every parent directory added', () => {
    const out = normalizeEntries([
      { type: 'file', path: '/b/Z', mode: 0o644, source: { bytes: Buffer.from('z') } },
      { type: 'file', path: '/a/x/y', mode: 0o644, source: { bytes: Buffer.from('y') } },
      { type: 'file', path: '/b/a', mode: 0o644, source: { bytes: Buffer.from('a') } },
    ]);
    assert.deepEqual(out.map((e) => `${e.type} ${e.path}`), ['dir a', 'dir a/x', 'file a/x/y', 'dir b', 'file b/Z', 'file b/a']);
  });

  it('refuse duplicates, a file used as a directory, and paths that climb out', () => {
    const f = (path: string) => ({ type: 'file' as const, path, mode: 0o644, source: { bytes: Buffer.alloc(0) } });
    assert.throws(() => normalizeEntries([f('/a'), f('/a')]), /two entries/);
    assert.throws(() => normalizeEntries([f('/a'), f('/a/b')]), /both a file and a directory/);
    assert.throws(() => normalizeEntries([f('/a/../etc/passwd')]), /not a usable path/);
    assert.throws(() => normalizeEntries([f('/')]), /not a usable path/);
  });
});

describe('the gzip frame', () => {
  it('has a fixed header (no name, mtime 0, OS unknown) and gunzips to the tar its diff_id names', async () => {
    const dir = await tempDir('gzip');
    try {
      const layout = new OciLayout(dir);
      await layout.init();
      const layer = await writeTarLayer(layout, [{ type: 'file', path: '/hello.txt', mode: 0o644, source: { bytes: Buffer.from('hello\n') } }], { mtime: 1 });
      const blob = await readFile(layout.blobPath(layer.descriptor.digest));
      assert.deepEqual([...blob.subarray(0, 10)], [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);
      const tar = execFileSync('gzip', ['-dc'], { input: blob });
      assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, layer.diffId);
      assert.equal(tar.length, layer.tarSize);
      assert.equal(execFileSync('tar', ['-xOf', '-', 'hello.txt'], { input: tar, encoding: 'utf8' }), 'hello\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pruning node_modules', () => {
  it('keeps only the target platform\'s native binaries and drops build leftovers, tests and docs', () => {
    assert.equal(pruned('onnxruntime-node', 'bin/napi-v6/darwin', true, 'amd64'), true);
    assert.equal(pruned('onnxruntime-node', 'bin/napi-v6/win32', true, 'amd64'), true);
    assert.equal(pruned('onnxruntime-node', 'bin/napi-v6/linux/arm64', true, 'amd64'), true);
    assert.equal(pruned('onnxruntime-node', 'bin/napi-v6/linux/x64', true, 'amd64'), false);
    assert.equal(pruned('onnxruntime-node', 'bin/napi-v6/linux/x64', true, 'arm64'), true);
    assert.equal(pruned('onnxruntime-node', 'bin/napi-v6/linux/arm64', true, 'arm64'), false);
    assert.equal(pruned('some-addon', 'prebuilds/darwin-x64', true, 'amd64'), true);
    assert.equal(pruned('some-addon', 'prebuilds/linux-x64', true, 'amd64'), false);
    assert.equal(pruned('better-sqlite3', 'deps', true, 'amd64'), true);
    assert.equal(pruned('better-sqlite3', 'src', true, 'amd64'), true);
    assert.equal(pruned('better-sqlite3', 'build/Release/obj', true, 'amd64'), true);
    assert.equal(pruned('better-sqlite3', 'build/Release/test_extension.node', false, 'amd64'), true);
    assert.equal(pruned('better-sqlite3', 'build/Release/better_sqlite3.node', false, 'amd64'), false);
    assert.equal(pruned('better-sqlite3', 'lib/index.js', false, 'amd64'), false);
    assert.equal(pruned('x', 'test', true, 'amd64'), true);
    assert.equal(pruned('x', 'README.md', false, 'amd64'), true);
    assert.equal(pruned('x', 'index.d.ts', false, 'amd64'), true);
    assert.equal(pruned('x', 'LICENSE.md', false, 'amd64'), false);
    assert.equal(pruned('x', 'lib/index.js', false, 'amd64'), false);
  });

  it('checks native binaries by their ELF header', async () => {
    await checkElfArch(process.execPath, process.arch === 'arm64' ? 'arm64' : 'amd64', 'node');
    await assert.rejects(checkElfArch(process.execPath, process.arch === 'arm64' ? 'amd64' : 'arm64', 'node'), /is built for/);
    await assert.rejects(checkElfArch(join(import.meta.dirname, 'layers.test.ts'), 'amd64', 'a script'), /not a Linux ELF binary/);
    assert.equal(await isDynamicElf(process.execPath), true);
  });
});
