/**
 * One conformance suite for the catalog interface and for the Registry on top of it, run
 * against SQLite always and against PostgreSQL when BERTH_TEST_PG_URL is set.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BerthError } from '../../src/core/errors.js';
import { loadModel } from '../../src/onnx/codec.js';
import type { Catalog } from '../../src/registry/catalog.js';
import { Registry } from '../../src/registry/registry.js';
import type { VersionRecord } from '../../src/registry/types.js';
import { BACKENDS, tempDir, writeAffine, writeExternalModel } from './helpers.js';

async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BerthError, `expected a BerthError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

function versionRow(name: string, version: number, extra: Partial<VersionRecord> = {}): VersionRecord {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  return {
    name, version, digest: d('a'),
    files: [{ path: 'model.onnx', digest: d('a'), size: 10 }, { path: 'data/w.bin', digest: d('b'), size: 5_000_000_000 }],
    size: 5_000_000_010,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }], outputs: [{ name: 'y', datatype: 'INT64', shape: [-1] }],
    metrics: { accuracy: 0.975, loss: 1e-9 }, tags: { 'ünïcode': 'värde ✓', empty: '' },
    createdAt: '2026-01-02T03:04:05.678Z', createdBy: 'alice', ...extra,
  };
}

for (const backend of BACKENDS) {
  describe(`catalog conformance (${backend.name})`, { skip: backend.skip }, () => {
    let catalog: Catalog;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ catalog, cleanup } = await backend.fresh(tempDir('berth-cat-')));
    });
    after(async () => {
      await catalog.close();
      await cleanup();
    });

    test('starts empty', async () => {
      assert.deepEqual(await catalog.listModels(), []);
      assert.equal(await catalog.getModel('m'), undefined);
      assert.equal(await catalog.getVersion('m', 1), undefined);
      assert.deepEqual(await catalog.audit(), []);
      assert.deepEqual(await catalog.listKeys(), []);
      assert.equal(typeof (await catalog.changeSeq()), 'number');
    });

    test('models and versions round-trip exactly (unicode tags, 5 GB sizes, file order)', async () => {
      const seq0 = await catalog.changeSeq();
      await catalog.write(async (tx) => {
        await tx.insertModel({ name: 'm', description: 'd', tags: { team: 'ml' }, createdAt: '2026-01-01T00:00:00.000Z' });
        await tx.insertVersion(versionRow('m', 1));
        await tx.insertVersion(versionRow('m', 2, { parent: { name: 'm', version: 1 }, derivedBy: 'quantize dynamic int8 of m:1' }));
      });
      assert.equal(await catalog.changeSeq(), seq0 + 1);
      const m = await catalog.getModel('m');
      assert.deepEqual(m, { name: 'm', description: 'd', tags: { team: 'ml' }, createdAt: '2026-01-01T00:00:00.000Z', latestVersion: 2, aliases: {} });
      assert.deepEqual(await catalog.getVersion('m', 1), versionRow('m', 1));
      assert.deepEqual(await catalog.getVersion('m', 2), versionRow('m', 2, { parent: { name: 'm', version: 1 }, derivedBy: 'quantize dynamic int8 of m:1' }));
      assert.deepEqual((await catalog.listVersions('m')).map((v) => v.version), [1, 2]);
      assert.equal((await catalog.allFiles()).length, 4);
    });

    test('a failed write leaves nothing behind and does not bump the change sequence', async () => {
      const seq0 = await catalog.changeSeq();
      await assert.rejects(
        catalog.write(async (tx) => {
          await tx.insertModel({ name: 'ghost', description: '', tags: {}, createdAt: '2026-01-01T00:00:00.000Z' });
          await tx.appendAudit({ at: '2026-01-01T00:00:00.000Z', actor: 'a', action: 'model.create', model: 'ghost' });
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await catalog.getModel('ghost'), undefined);
      assert.equal((await catalog.audit({ model: 'ghost' })).length, 0);
      assert.equal(await catalog.changeSeq(), seq0);
    });

    test('a duplicate (name, version) is refused', async () => {
      await assert.rejects(catalog.write((tx) => tx.insertVersion(versionRow('m', 1))));
      assert.equal((await catalog.getModel('m'))!.latestVersion, 2);
    });

    test('concurrent writers in one process are serialized: latest + 1 never collides', async () => {
      await catalog.write((tx) => tx.insertModel({ name: 'race', description: '', tags: {}, createdAt: '2026-01-01T00:00:00.000Z' }));
      const got = await Promise.all(
        Array.from({ length: 20 }, () =>
          catalog.write(async (tx) => {
            const v = (await tx.getModel('race'))!.latestVersion + 1;
            await tx.insertVersion(versionRow('race', v));
            return v;
          }),
        ),
      );
      assert.deepEqual([...got].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    });

    test('aliases: set, move, delete; an alias must point at an existing version', async () => {
      await catalog.write((tx) => tx.setAlias('m', 'production', 1));
      await catalog.write((tx) => tx.setAlias('m', 'staging', 2));
      await catalog.write((tx) => tx.setAlias('m', 'production', 2));
      assert.deepEqual((await catalog.getModel('m'))!.aliases, { production: 2, staging: 2 });
      await catalog.write((tx) => tx.deleteAlias('m', 'staging'));
      assert.deepEqual((await catalog.getModel('m'))!.aliases, { production: 2 });
      await assert.rejects(catalog.write((tx) => tx.setAlias('m', 'x', 99)));
      assert.deepEqual((await catalog.getModel('m'))!.aliases, { production: 2 });
    });

    test('rollouts: put, replace, list, delete', async () => {
      await catalog.write((tx) => tx.putRollout({ model: 'm', canary: { version: 1, percent: 12.5 }, updatedAt: '2026-01-01T00:00:00.000Z' }));
      assert.deepEqual(await catalog.getRollout('m'), { model: 'm', canary: { version: 1, percent: 12.5 }, updatedAt: '2026-01-01T00:00:00.000Z' });
      await catalog.write((tx) => tx.putRollout({ model: 'm', shadow: { version: 1 }, updatedAt: '2026-01-01T00:00:01.000Z' }));
      assert.deepEqual(await catalog.listRollouts(), [{ model: 'm', shadow: { version: 1 }, updatedAt: '2026-01-01T00:00:01.000Z' }]);
      await catalog.write((tx) => tx.deleteRollout('m'));
      assert.equal(await catalog.getRollout('m'), undefined);
    });

    test('audit: ids increase, newest first, filters by model, action and limit; before/after kept as JSON', async () => {
      const ids: number[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push(await catalog.write((tx) => tx.appendAudit({ at: `2026-01-01T00:00:0${i}.000Z`, actor: 'bob', action: i === 1 ? 'alias.set' : 'model.update', model: 'm', before: { i, nested: [1, { a: null }] }, after: { i: i + 1 } })));
      }
      ids.push(await catalog.write((tx) => tx.appendAudit({ at: '2026-01-01T00:00:09.000Z', actor: 'carol', action: 'key.create', after: { id: 'k' } })));
      assert.ok(ids[0] < ids[1] && ids[1] < ids[2] && ids[2] < ids[3]);
      const all = await catalog.audit();
      assert.deepEqual(all.slice(0, 4).map((e) => e.id), [...ids].reverse());
      assert.deepEqual(all[0], { id: ids[3], at: '2026-01-01T00:00:09.000Z', actor: 'carol', action: 'key.create', after: { id: 'k' } });
      assert.deepEqual(all[3].before, { i: 0, nested: [1, { a: null }] });
      assert.deepEqual((await catalog.audit({ model: 'm' })).map((e) => e.id), [ids[2], ids[1], ids[0]]);
      assert.deepEqual((await catalog.audit({ model: 'm', actions: ['alias.set'] })).map((e) => e.id), [ids[1]]);
      assert.equal((await catalog.audit({ limit: 2 })).length, 2);
    });

    test('keys: insert, get, list, revoke', async () => {
      await catalog.write((tx) => tx.insertKey({ id: 'aaaaaaaaaaaa', hash: 'ab'.repeat(32), scope: 'admin', name: 'ci', createdAt: '2026-01-01T00:00:00.000Z' }));
      await catalog.write((tx) => tx.insertKey({ id: 'bbbbbbbbbbbb', hash: 'cd'.repeat(32), scope: 'read', createdAt: '2026-01-01T00:00:01.000Z' }));
      assert.deepEqual(await catalog.getKey('aaaaaaaaaaaa'), { id: 'aaaaaaaaaaaa', hash: 'ab'.repeat(32), scope: 'admin', name: 'ci', createdAt: '2026-01-01T00:00:00.000Z' });
      await catalog.write((tx) => tx.revokeKey('aaaaaaaaaaaa', '2026-01-02T00:00:00.000Z'));
      assert.equal((await catalog.getKey('aaaaaaaaaaaa'))!.revokedAt, '2026-01-02T00:00:00.000Z');
      assert.deepEqual(await catalog.listKeys(), [
        { id: 'aaaaaaaaaaaa', scope: 'admin', name: 'ci', createdAt: '2026-01-01T00:00:00.000Z', revoked: true },
        { id: 'bbbbbbbbbbbb', scope: 'read', createdAt: '2026-01-01T00:00:01.000Z', revoked: false },
      ]);
    });

    test('the change sequence increases with every write', async () => {
      const a = await catalog.changeSeq();
      await catalog.write(async () => undefined);
      await catalog.write((tx) => tx.updateModel('m', { description: 'changed' }));
      assert.equal(await catalog.changeSeq(), a + 2);
      assert.equal((await catalog.getModel('m'))!.description, 'changed');
    });
  });

  describe(`registry conformance (${backend.name})`, { skip: backend.skip }, () => {
    let dir: string;
    let reg: Registry;
    let cleanup: () => Promise<void>;
    let affine: string;
    let external: string;
    before(async () => {
      dir = tempDir('berth-reg-');
      const fresh = await backend.fresh(dir);
      cleanup = fresh.cleanup;
      reg = await Registry.open({ home: join(dir, 'home'), catalog: fresh.catalog });
      affine = await writeAffine(join(dir, 'src'));
      external = await writeExternalModel(join(dir, 'ext'));
    });
    after(async () => {
      await reg.close();
      await cleanup();
    });

    test('push reads the signature from the model and records everything', async () => {
      const v = await reg.push(affine, { name: 'affine', description: 'y = xW + b', tags: { stage: 'dev' }, metrics: { accuracy: 0.97 }, actor: 'alice' });
      assert.equal(v.version, 1);
      assert.deepEqual(v.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }]);
      assert.deepEqual(v.outputs, [{ name: 'output', datatype: 'FP32', shape: [-1, 3] }]);
      const bytes = readFileSync(affine);
      assert.equal(v.digest, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
      assert.deepEqual(v.files, [{ path: 'model.onnx', digest: v.digest, size: bytes.length }]);
      assert.equal(v.createdBy, 'alice');
      assert.deepEqual(v.tags, { stage: 'dev' });
      assert.deepEqual(v.metrics, { accuracy: 0.97 });
      assert.deepEqual(await reg.getVersion('affine', 1), v);
      const m = await reg.getModel('affine');
      assert.equal(m.description, 'y = xW + b');
      assert.equal(m.latestVersion, 1);
      assert.ok(existsSync(join(reg.home, 'blobs', 'sha256', v.digest.slice(7))));
    });

    test('identical content is stored once', async () => {
      const v2 = await reg.push(affine, { name: 'affine', parent: { name: 'affine', version: 1 }, derivedBy: 'same bytes', actor: 'alice' });
      assert.equal(v2.version, 2);
      assert.deepEqual(v2.parent, { name: 'affine', version: 1 });
      assert.equal(v2.derivedBy, 'same bytes');
      assert.equal(readdirSync(join(reg.home, 'blobs', 'sha256')).length, 1);
    });

    test('external data files are stored as blobs; materialize and pull give loadable, byte-identical files', async () => {
      const v = await reg.push(external, { name: 'ext', actor: 'alice' });
      assert.deepEqual(v.files.map((f) => f.path), ['model.onnx', 'weights.bin']);
      assert.equal(v.size, v.files[0].size + v.files[1].size);
      const path = await reg.materialize('ext', 1);
      assert.ok(path.startsWith(join(reg.home, 'materialized')));
      const model = await loadModel(path);
      assert.ok(model.graph!.initializer!.some((t) => t.name === 'W' && t.rawData!.length === 64 * 32 * 4));
      assert.equal(await reg.materialize('ext', 1), path, 'a second call reuses the verified copy');
      const out = join(dir, 'pulled', 'sub', 'copy.onnx');
      const pulled = await reg.pull('ext@latest', out);
      assert.equal(pulled.version, 1);
      assert.ok(readFileSync(out).equals(readFileSync(external)));
      assert.ok(readFileSync(join(dir, 'pulled', 'sub', 'weights.bin')).equals(readFileSync(join(dir, 'ext', 'weights.bin'))));
      assert.deepEqual(readdirSync(join(dir, 'pulled', 'sub')).sort(), ['copy.onnx', 'weights.bin'], 'no temporary files left');
      const again = await loadModel(out);
      assert.equal(again.graph!.initializer!.length, 2);
    });

    test('resolve: N:V, N@alias, N, N@latest; NOT_FOUND and INVALID_ARGUMENT otherwise', async () => {
      assert.equal((await reg.resolve('affine')).version, 2);
      assert.equal((await reg.resolve('affine:1')).version, 1);
      assert.equal((await reg.resolve('affine@latest')).version, 2);
      await reg.setAlias('affine', 'champion', 1, 'alice');
      assert.equal((await reg.resolve('affine@champion')).version, 1);
      await rejectsWith(reg.resolve('affine:9'), 'NOT_FOUND');
      await rejectsWith(reg.resolve('affine@nope'), 'NOT_FOUND');
      await rejectsWith(reg.resolve('nope'), 'NOT_FOUND');
      await rejectsWith(reg.resolve('affine:0'), 'INVALID_ARGUMENT');
      await rejectsWith(reg.resolve('affine:x'), 'INVALID_ARGUMENT');
      await rejectsWith(reg.getModel('nope'), 'NOT_FOUND');
      await rejectsWith(reg.getVersion('affine', 3), 'NOT_FOUND');
      await rejectsWith(reg.listVersions('nope'), 'NOT_FOUND');
    });

    test('push refuses what is not a model, a missing parent, bad metadata', async () => {
      const junk = join(dir, 'junk.onnx');
      writeFileSync(junk, 'not a model at all');
      await rejectsWith(reg.push(junk, { name: 'junk' }), 'INVALID_ARGUMENT', /not a valid ONNX model/);
      await rejectsWith(reg.push(join(dir, 'missing.onnx'), { name: 'junk' }), 'INVALID_ARGUMENT', /no such model file/);
      await rejectsWith(reg.push(affine, { name: 'affine', parent: { name: 'affine', version: 42 } }), 'NOT_FOUND');
      await rejectsWith(reg.push(affine, { name: 'affine', metrics: { acc: Number.NaN } }), 'INVALID_ARGUMENT');
      await rejectsWith(reg.push(affine, { name: 'affine', tags: { k: 5 as unknown as string } }), 'INVALID_ARGUMENT');
      await rejectsWith(reg.getModel('junk'), 'NOT_FOUND');
      assert.equal((await reg.getModel('affine')).latestVersion, 2, 'refused pushes allocate no version');
    });

    test('a parent can be given as a reference', async () => {
      const v = await reg.push(affine, { name: 'affine', parent: 'affine@champion', derivedBy: 'copy of the champion' });
      assert.deepEqual(v.parent, { name: 'affine', version: 1 });
    });

    test('aliases: set, move, delete, audited with before → after; bad targets refused', async () => {
      await reg.setAlias('affine', 'production', 1, 'alice');
      await reg.setAlias('affine', 'production', 2, 'bob');
      await reg.setAlias('affine', 'production', 2, 'bob'); // no change, no entry
      const entries = (await reg.audit({ model: 'affine' })).filter((e) => e.action === 'alias.set' && (e.after as { alias: string }).alias === 'production');
      assert.equal(entries.length, 2);
      assert.deepEqual([entries[0].actor, entries[0].before, entries[0].after], ['bob', { alias: 'production', version: 1 }, { alias: 'production', version: 2 }]);
      assert.deepEqual(entries[1].before, { alias: 'production' });
      await rejectsWith(reg.setAlias('affine', 'production', 99), 'NOT_FOUND');
      await rejectsWith(reg.setAlias('nope', 'production', 1), 'NOT_FOUND');
      await rejectsWith(reg.setAlias('affine', 'latest', 1), 'INVALID_ARGUMENT');
      await rejectsWith(reg.setAlias('affine', '../prod', 1), 'INVALID_ARGUMENT');
      await reg.deleteAlias('affine', 'champion', 'alice');
      assert.equal((await reg.getModel('affine')).aliases.champion, undefined);
      await rejectsWith(reg.deleteAlias('affine', 'champion'), 'NOT_FOUND');
      const del = (await reg.audit({ model: 'affine', limit: 1 }))[0];
      assert.deepEqual([del.action, del.before, del.after], ['alias.delete', { alias: 'champion', version: 1 }, { alias: 'champion' }]);
    });

    test('rollouts: canary needs production, promote moves production and ends the rollout', async () => {
      await reg.push(affine, { name: 'ro' });
      await reg.push(affine, { name: 'ro' });
      await reg.push(affine, { name: 'ro' });
      await rejectsWith(reg.startRollout('ro', { canary: { version: 2, percent: 10 } }), 'INVALID_ARGUMENT', /production/);
      await reg.setAlias('ro', 'production', 1);
      await rejectsWith(reg.startRollout('ro', { canary: { version: 1, percent: 10 } }), 'INVALID_ARGUMENT', /already production/);
      await rejectsWith(reg.startRollout('ro', { canary: { version: 9, percent: 10 } }), 'NOT_FOUND');
      await rejectsWith(reg.startRollout('ro', { canary: { version: 2, percent: 101 } }), 'INVALID_ARGUMENT');
      await rejectsWith(reg.startRollout('ro', {}), 'INVALID_ARGUMENT');
      await rejectsWith(reg.promote('ro'), 'INVALID_ARGUMENT', /no rollout/);
      const r = await reg.startRollout('ro', { canary: { version: 2, percent: 10 }, shadow: { version: 3 } }, 'alice');
      assert.deepEqual([r.canary, r.shadow], [{ version: 2, percent: 10 }, { version: 3 }]);
      assert.deepEqual(await reg.getRollout('ro'), r);
      const stepped = await reg.startRollout('ro', { canary: { version: 2, percent: 50 } }, 'alice');
      assert.deepEqual([stepped.canary, stepped.shadow], [{ version: 2, percent: 50 }, undefined]);
      assert.equal(await reg.promote('ro', 'alice'), 2);
      assert.equal((await reg.getModel('ro')).aliases.production, 2);
      assert.equal(await reg.getRollout('ro'), undefined);
      await reg.startRollout('ro', { shadow: { version: 3 } });
      await reg.abortRollout('ro', 'bob');
      assert.equal(await reg.getRollout('ro'), undefined);
      assert.equal((await reg.getModel('ro')).aliases.production, 2, 'abort leaves production alone');
      await rejectsWith(reg.abortRollout('ro'), 'INVALID_ARGUMENT');
      await reg.startRollout('ro', { shadow: { version: 3 } });
      assert.equal(await reg.promote('ro'), 3, 'a shadow-only rollout promotes its shadow');
      const actions = (await reg.audit({ model: 'ro' })).map((e) => e.action);
      assert.deepEqual(actions.slice(0, 6), ['rollout.promote', 'rollout.start', 'rollout.abort', 'rollout.start', 'rollout.promote', 'rollout.start']);
    });

    test('rollback returns production to the version before its last change, from the audit log', async () => {
      // ro: production 1 → 2 (promote) → 3 (promote)
      assert.equal(await reg.rollback('ro', 'carol'), 2);
      assert.equal((await reg.getModel('ro')).aliases.production, 2);
      const e = (await reg.audit({ model: 'ro', limit: 1 }))[0];
      assert.deepEqual([e.action, e.actor, e.before, e.after], ['rollout.rollback', 'carol', { production: 3 }, { production: 2 }]);
      assert.equal(await reg.rollback('ro'), 3, 'a second rollback undoes the first');
      await reg.setAlias('ro', 'production', 1);
      await reg.startRollout('ro', { canary: { version: 2, percent: 5 } });
      assert.equal(await reg.rollback('ro'), 3, 'after a manual alias move, rollback returns to the previous target');
      assert.equal(await reg.getRollout('ro'), undefined, 'rollback ends a rollout in progress');
      await reg.push(affine, { name: 'fresh' });
      await rejectsWith(reg.rollback('fresh'), 'INVALID_ARGUMENT');
      await reg.setAlias('fresh', 'production', 1);
      await rejectsWith(reg.rollback('fresh'), 'INVALID_ARGUMENT', /nothing to roll back to/);
    });

    test('API keys: stored hashed, verified in constant time, revocable, audited without key material', async () => {
      const { id, key } = await reg.createKey('infer', { name: 'frontend', actor: 'alice' });
      assert.match(key, /^berth_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      const stored = await reg.catalog.getKey(id);
      assert.equal(stored!.hash, createHash('sha256').update(key).digest('hex'));
      assert.ok(!JSON.stringify(stored).includes(key.slice(key.indexOf('_', 6) + 1)));
      assert.deepEqual(await reg.verifyKey(key), { id, scope: 'infer', name: 'frontend' });
      const flipped = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
      assert.equal(await reg.verifyKey(flipped), undefined);
      assert.equal(await reg.verifyKey(''), undefined);
      assert.equal(await reg.verifyKey('Bearer ' + key), undefined);
      assert.equal(await reg.verifyKey(`berth_ffffffffffff_${key.slice(key.indexOf('_', 6) + 1)}`), undefined);
      await rejectsWith(reg.createKey('root' as never), 'INVALID_ARGUMENT');
      await reg.revokeKey(id, 'bob');
      assert.equal(await reg.verifyKey(key), undefined);
      assert.deepEqual((await reg.listKeys()).find((k) => k.id === id)?.revoked, true);
      await rejectsWith(reg.revokeKey('000000000000'), 'NOT_FOUND');
      const log = JSON.stringify(await reg.audit());
      assert.ok(!log.includes(key.slice(key.indexOf('_', 6) + 1)), 'the key never reaches the audit log');
      const [revoke, create] = (await reg.audit({ limit: 2 }));
      assert.deepEqual([revoke.action, revoke.actor, create.action, create.after], ['key.revoke', 'bob', 'key.create', { id, scope: 'infer', name: 'frontend' }]);
    });

    test('every change has an audit entry and bumps the change sequence', async () => {
      const before = (await reg.audit()).length;
      const seq = await reg.changeSeq();
      await reg.push(affine, { name: 'audited', description: 'first' }); // model.create + version.create
      await reg.push(affine, { name: 'audited', description: 'second' }); // model.update + version.create
      await reg.setAlias('audited', 'production', 1); // alias.set
      await reg.startRollout('audited', { canary: { version: 2, percent: 20 } }); // rollout.start
      await reg.promote('audited'); // rollout.promote
      await reg.rollback('audited'); // rollout.rollback
      await reg.deleteAlias('audited', 'production'); // alias.delete
      await reg.updateModel('audited', { tags: { owner: 'ml' } }); // model.update
      const entries = (await reg.audit({ model: 'audited' })).reverse();
      assert.deepEqual(entries.map((e) => e.action), [
        'model.create', 'version.create', 'model.update', 'version.create', 'alias.set', 'rollout.start', 'rollout.promote', 'rollout.rollback', 'alias.delete', 'model.update',
      ]);
      assert.equal((await reg.audit()).length, before + 10);
      assert.ok((await reg.changeSeq()) >= seq + 8);
      for (const e of entries) assert.ok(e.at && e.actor, 'who and when are always recorded');
    });

    test('createModel and updateModel', async () => {
      const m = await reg.createModel('empty', { description: 'no versions yet', tags: { a: 'b' }, actor: 'alice' });
      assert.deepEqual([m.latestVersion, m.tags], [0, { a: 'b' }]);
      await rejectsWith(reg.createModel('empty'), 'ALREADY_EXISTS');
      await rejectsWith(reg.resolve('empty'), 'NOT_FOUND', /no versions/);
      const u = await reg.updateModel('empty', { description: 'changed' }, 'bob');
      assert.equal(u.description, 'changed');
      await rejectsWith(reg.updateModel('nope', { description: 'x' }), 'NOT_FOUND');
    });

    test('materialize and pull verify digests; fsck reports missing and corrupt blobs and removes orphans', async () => {
      const v = await reg.push(await writeExternalModel(join(dir, 'ext2'), 64, 32, 2), { name: 'damaged' });
      const data = v.files.find((f) => f.path === 'weights.bin')!;
      const blob = join(reg.home, 'blobs', 'sha256', data.digest.slice(7));
      chmodSync(blob, 0o644);
      const bytes = readFileSync(blob);
      bytes[100] ^= 0xff;
      writeFileSync(blob, bytes);
      await rejectsWith(reg.materialize('damaged', 1), 'INTERNAL', /verification/);
      await rejectsWith(reg.pull('damaged:1', join(dir, 'bad', 'm.onnx')), 'INTERNAL', /verification/);
      assert.ok(!existsSync(join(dir, 'bad', 'm.onnx')), 'nothing is written when verification fails');
      assert.deepEqual(readdirSync(join(dir, 'bad')), [], 'no temporary files are left');
      const orphan = Buffer.from('an orphan blob');
      const orphanDigest = `sha256:${createHash('sha256').update(orphan).digest('hex')}`;
      writeFileSync(join(reg.home, 'blobs', 'sha256', orphanDigest.slice(7)), orphan);
      writeFileSync(join(reg.home, 'tmp', 'otherhost.1.abcdef.blob'), 'partial');
      let report = await reg.fsck({ graceSeconds: 0 });
      assert.deepEqual(report.corrupt.map((c) => [c.digest, c.refs]), [[data.digest, ['damaged:1/weights.bin']]]);
      assert.deepEqual(report.missing, []);
      assert.deepEqual(report.orphans, [orphanDigest]);
      assert.deepEqual(report.stale, [join('tmp', 'otherhost.1.abcdef.blob')]);
      assert.equal(report.repaired, false);
      assert.ok(existsSync(join(reg.home, 'blobs', 'sha256', orphanDigest.slice(7))), 'fsck without --repair changes nothing');
      report = await reg.fsck({ graceSeconds: 3600 });
      assert.deepEqual(report.orphans, [], 'young orphans are left alone: a push may be in flight');
      assert.ok(report.recent.includes(orphanDigest));
      report = await reg.fsck({ repair: true, graceSeconds: 0 });
      assert.equal(report.repaired, true);
      assert.ok(!existsSync(join(reg.home, 'blobs', 'sha256', orphanDigest.slice(7))));
      assert.ok(!existsSync(join(reg.home, 'tmp', 'otherhost.1.abcdef.blob')));
      chmodSync(blob, 0o644);
      writeFileSync(blob, ''); // now wrong size too
      const { rmSync } = await import('node:fs');
      rmSync(blob);
      report = await reg.fsck({ repair: true, graceSeconds: 0 });
      assert.deepEqual(report.missing.map((m) => m.digest), [data.digest]);
      assert.deepEqual(report.corrupt, []);
      await rejectsWith(reg.pull('damaged:1', join(dir, 'bad', 'm.onnx')), 'INTERNAL', /missing/);
    });
  });
}
