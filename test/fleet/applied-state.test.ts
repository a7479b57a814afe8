/**
 * The saved serving state (serving/applied-state.ts) and RegistrySync's start from it, without
 * a database: a registry whose every call fails UNAVAILABLE stands for a catalog that is down.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InferenceService } from '../../src/core/inference-service.js';
import { BackendRegistry } from '../../src/core/backends.js';
import { onnxruntimeBackend } from '../../src/runtime/onnx-backend.js';
import { BerthError } from '../../src/core/errors.js';
import { appliedStatePath, readAppliedState, verifyCachedVersion, writeAppliedState, type AppliedState } from '../../src/serving/applied-state.js';
import { RegistrySync } from '../../src/serving/registry-sync.js';
import { DeferredRegistry } from '../../src/serving/deferred-registry.js';
import type { RegistryApi } from '../../src/serving/registry-api.js';
import { tempDir } from '../helpers/models.js';
import { writeScaledAffine } from '../rollout/helpers.js';

const sha = (path: string) => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;

/** Every call fails as a PostgreSQL outage does. */
const downRegistry = new Proxy({}, {
  get: (_t, prop) => (prop === 'then' ? undefined : () => Promise.reject(new BerthError('UNAVAILABLE', 'cannot reach the catalog postgres://***@db:5432/berth: connect ECONNREFUSED'))),
}) as RegistryApi;

async function cachedModel(root: string, name: string, version: number, scale: number) {
  const path = await writeScaledAffine(root, name, version, scale);
  return { modelPath: path, files: [{ path: basename(path), digest: sha(path), size: readFileSync(path).length }] };
}

describe('the saved serving state', () => {
  test('is replaced atomically (no temporary file left) and read back; a damaged file is an error, not a crash', async () => {
    const home = tempDir('berth-state-');
    const path = appliedStatePath(home, 'postgres://***@db/berth');
    assert.notEqual(path, appliedStatePath(home, 'postgres://***@other/berth'), 'one file per catalog');
    assert.equal(await readAppliedState(path), undefined);
    const state: AppliedState = { format: 1, catalog: 'x', changeSeq: 7, savedAt: new Date().toISOString(), models: {} };
    await writeAppliedState(path, state);
    await writeAppliedState(path, { ...state, changeSeq: 8 });
    assert.equal((await readAppliedState(path))?.changeSeq, 8);
    assert.deepEqual(readdirSync(dirname(path)), [basename(path)]);
    writeFileSync(path, '{"format":1,"catalog":"x"');
    await assert.rejects(readAppliedState(path));
    writeFileSync(path, JSON.stringify({ ...state, format: 2 }));
    await assert.rejects(readAppliedState(path), /not a saved serving state/);
  });

  test('a cached version verifies only with every file present and unchanged, under its directory', async () => {
    const v = await cachedModel(tempDir('berth-cache-'), 'm', 1, 1);
    assert.equal(await verifyCachedVersion(v), v.modelPath);
    await assert.rejects(verifyCachedVersion({ ...v, files: [{ ...v.files[0]!, path: '../../etc/passwd' }] }), /refusing file path/);
    await assert.rejects(verifyCachedVersion({ ...v, files: [...v.files, { path: 'weights.bin', digest: v.files[0]!.digest, size: 1 }] }), /weights\.bin is not in the local cache \(ENOENT\)/);
    appendFileSync(v.modelPath, Buffer.from([0]));
    await assert.rejects(verifyCachedVersion(v), /hashes to sha256:[0-9a-f]{64}, expected/);
  });
});

describe('RegistrySync with the catalog down at start', () => {
  test('serves the saved state for what verifies, reports the rest, and is ready only when it knows what to serve', async () => {
    const home = tempDir('berth-sync-offline-');
    const cache = join(home, 'materialized');
    const m1 = await cachedModel(cache, 'm', 1, 1);
    const m2 = await cachedModel(cache, 'm', 2, 2);
    const n1 = { ...(await cachedModel(cache, 'n', 1, 3)) };
    appendFileSync(n1.modelPath, Buffer.from([1])); // n's cached file no longer matches its digest
    const statePath = appliedStatePath(home, 'pg');
    await writeAppliedState(statePath, {
      format: 1, catalog: 'pg', changeSeq: 12, savedAt: new Date().toISOString(),
      models: {
        m: { policy: { production: '1', canary: { version: '2', percent: 25 } }, versions: { 1: m1, 2: m2 } },
        n: { policy: { production: '1' }, versions: { 1: n1 } },
      },
    });
    const service = new InferenceService({ backends: new BackendRegistry([onnxruntimeBackend]) });
    const sync = new RegistrySync(service, downRegistry, { pollSecs: 60, statePath, catalog: 'pg' });
    service.addReadinessGate(() => sync.knowsDesiredState());
    try {
      await sync.start();
      assert.deepEqual(service.getTraffic('m'), { production: '1', canary: { version: '2', percent: 25 } });
      assert.equal(service.isLoaded('n'), false);
      assert.equal(service.isReady(), true);
      const r = sync.report();
      assert.equal(r.catalog, 'unreachable');
      assert.equal(r.source, 'cache');
      assert.equal(r.converged, false);
      assert.match(r.error ?? '', /ECONNREFUSED/);
      assert.ok(r.next_retry_at !== null);
      const byName = Object.fromEntries(r.models.map((m) => [m.name, m]));
      assert.equal(byName.m?.state, 'converged');
      assert.equal(byName.n?.state, 'failed');
      assert.equal(byName.n?.applied, null);
      assert.match(byName.n?.error ?? '', /the catalog is unreachable and version 1: model\.onnx in the local cache hashes to/);
    } finally {
      await sync.stop();
      await service.close();
    }

    // Nothing saved: nothing to serve, and not ready.
    const empty = new InferenceService({ backends: new BackendRegistry([onnxruntimeBackend]) });
    const cold = new RegistrySync(empty, downRegistry, { pollSecs: 60, statePath: appliedStatePath(tempDir('berth-cold-'), 'pg') });
    empty.addReadinessGate(() => cold.knowsDesiredState());
    try {
      await cold.start();
      assert.equal(empty.isReady(), false);
      assert.equal(cold.report().source, 'none');
    } finally {
      await cold.stop();
      await empty.close();
    }

    // Without a state file (an embedder's registry instance), a start without the catalog fails as before.
    const plain = new RegistrySync(new InferenceService(), downRegistry, { pollSecs: 60 });
    await assert.rejects(plain.start(), /cannot reach the catalog/);
  });
});

describe('DeferredRegistry (the catalog could not be opened at start)', () => {
  test('concurrent calls share one attempt, calls just after a failure fail at once, and the catalog is used once it opens', async () => {
    let attempts = 0;
    let up = false;
    const real = { changeSeq: async () => 42, close: () => undefined } as unknown as RegistryApi;
    const deferred = new DeferredRegistry(async () => {
      attempts++;
      await new Promise((r) => setTimeout(r, 20));
      if (!up) throw new BerthError('UNAVAILABLE', 'cannot reach the catalog');
      return real;
    }, 200);
    const results = await Promise.allSettled([deferred.changeSeq(), deferred.listModels(), deferred.verifyKey('k')]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    assert.equal(attempts, 1);
    await assert.rejects(deferred.changeSeq(), /cannot reach the catalog/);
    assert.equal(attempts, 1, 'no new attempt within the retry interval');
    up = true;
    await new Promise((r) => setTimeout(r, 220));
    assert.equal(await deferred.changeSeq(), 42);
    assert.equal(await deferred.changeSeq(), 42);
    assert.equal(attempts, 2);
    await deferred.close();
  });
});
