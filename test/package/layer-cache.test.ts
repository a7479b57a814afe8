// The layer cache (src/package/layers/layer-cache.ts): a rebuild after a model change reuses the
// unchanged layers and gives the very image an uncached build gives; a file rewritten with the
// same size and bytes still misses (its ctime moved); a damaged cache entry is rebuilt, not used.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { LayerCache } from '../../src/package/layers/layer-cache.js';
import { packageImage, type PackageResult } from '../../src/package/package-image.js';
import type { Registry } from '../../src/registry/registry.js';
import { digitsRepo, makeBase, tempDir } from './helpers.js';

const noRegistry = (): Promise<Registry> => Promise.reject(new Error('no registry in this test'));

describe('berth package: the layer cache', { timeout: 600_000 }, () => {
  let dir: string;
  let base: string;
  let models: string;
  let changed: string;
  let cacheDir: string;
  let cold: PackageResult;

  const build = (m: string, out: string, cache?: string): Promise<PackageResult> =>
    packageImage({ models: [m], tag: 'digits-server:1', base, oci: join(dir, out), platform: 'linux/amd64', openRegistry: noRegistry, env: { ...process.env, SOURCE_DATE_EPOCH: '0' }, cacheDir: cache });

  before(async () => {
    dir = await tempDir('cache');
    base = await makeBase(join(dir, 'base'), { nodeVersion: '20.20.2' });
    models = await digitsRepo(join(dir, 'models'));
    changed = join(dir, 'models-v2');
    await cp(models, changed, { recursive: true });
    const model = await loadModel(join(changed, 'digits/1/model.onnx'));
    model.docString = 'a new version';
    await saveModel(model, join(changed, 'digits/1/model.onnx'));
    cacheDir = join(dir, 'cache');
    cold = await build(models, 'cold', cacheDir);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a cold build writes every layer and fills the cache with all but the models layer', async () => {
    assert.deepEqual(cold.layers.map((l) => [l.name, !!l.cached]), [['base', false], ['node_modules', false], ['app', false], ['models', false]]);
    assert.equal((await readdir(join(cacheDir, 'layers'))).length, 2);
  });

  it('after a model change, node_modules and app come from the cache and the image equals an uncached build', async () => {
    const warm = await build(changed, 'warm', cacheDir);
    assert.deepEqual(warm.layers.map((l) => [l.name, !!l.cached]), [['base', false], ['node_modules', true], ['app', true], ['models', false]]);
    const uncached = await build(changed, 'uncached');
    assert.equal(warm.manifestDigest, uncached.manifestDigest);
    assert.notEqual(warm.manifestDigest, cold.manifestDigest);
    // the reused blobs in the output are whole and hash to their names
    for (const l of warm.layers.filter((x) => x.cached)) {
      const bytes = await readFile(join(dir, 'warm', 'blobs', 'sha256', l.digest.slice(7)));
      assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, l.digest);
    }
  });

  it('a damaged cached blob is rebuilt, not used', async () => {
    const nm = cold.layers.find((l) => l.name === 'node_modules')!;
    await truncate(join(cacheDir, 'blobs', 'sha256', nm.digest.slice(7)), 10);
    const again = await build(changed, 'again', cacheDir);
    const rebuilt = again.layers.find((l) => l.name === 'node_modules')!;
    assert.equal(rebuilt.cached, false);
    assert.equal(rebuilt.digest, nm.digest);
  });

  it('the key follows a file rewritten with the same size and bytes (ctime), and in-memory bytes by content', async () => {
    const cache = new LayerCache(join(dir, 'keys'));
    const file = join(dir, 'f.txt');
    await writeFile(file, 'same');
    const entries = [{ type: 'file' as const, path: '/a/f.txt', mode: 0o644, source: { file, size: 4 } }];
    const k1 = await cache.key(entries, 0);
    assert.equal(await cache.key(entries, 0), k1, 'stable while nothing changes');
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(file, 'same');
    assert.notEqual(await cache.key(entries, 0), k1);
    assert.notEqual(await cache.key(entries, 1), await cache.key(entries, 0), 'the mtime written into the tar is part of the key');
    const bytes = (s: string) => [{ type: 'file' as const, path: '/b', mode: 0o644, source: { bytes: Buffer.from(s) } }];
    assert.equal(await cache.key(bytes('x'), 0), await cache.key(bytes('x'), 0));
    assert.notEqual(await cache.key(bytes('x'), 0), await cache.key(bytes('y'), 0));
  });
});
