/**
 * 8 processes push the same name at the same moment: they get versions 1..8, each once, and
 * every version is complete. Run against SQLite, and PostgreSQL when configured.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Registry } from '../../src/registry/registry.js';
import { BACKENDS, dropPgSchema, pgUrlWithFreshSchema, spawnPushChild, tempDir, writeExternalModel } from './helpers.js';

const PROCESSES = 8;

for (const backend of BACKENDS) {
  describe(`concurrent pushes (${backend.name})`, { skip: backend.skip }, () => {
    test(`${PROCESSES} processes pushing one name get ${PROCESSES} distinct, consecutive versions`, { timeout: 120_000 }, async () => {
      const dir = tempDir('berth-conc-');
      const home = join(dir, 'home');
      // Nothing exists yet: the children also race to create the catalog (SQLite file, or the
      // PostgreSQL schema).
      const fresh = backend.name === 'sqlite'
        ? { url: undefined, cleanup: async () => undefined }
        : (() => { const url = pgUrlWithFreshSchema(); return { url, cleanup: () => dropPgSchema(url) }; })();
      // Different content per process, so each push also writes its own blobs.
      const files = await Promise.all(Array.from({ length: PROCESSES }, (_, i) => writeExternalModel(join(dir, `m${i}`), 256, 256, i + 1)));
      const children = files.map((file) => spawnPushChild({ home, catalogUrl: fresh.url, file, name: 'shared' }));
      try {
        await Promise.all(children.map((c) => c.ready));
        for (const c of children) c.go(); // as close to simultaneous as the event loop allows
        const results = await Promise.all(children.map((c) => c.done));
        for (const r of results) assert.equal(r.code, 0, r.stderr);
        const claimed = results.map((r) => Number(/pushed shared:(\d+)/.exec(r.stdout)![1])).sort((a, b) => a - b);
        assert.deepEqual(claimed, Array.from({ length: PROCESSES }, (_, i) => i + 1));
        const reg = await Registry.open({ home, catalogUrl: fresh.url });
        try {
          const versions = await reg.listVersions('shared');
          assert.deepEqual(versions.map((v) => v.version), claimed);
          assert.equal(new Set(versions.map((v) => v.files[1].digest)).size, PROCESSES, 'each version has its own data');
          for (const v of versions) await reg.materialize('shared', v.version);
          assert.equal((await reg.audit({ model: 'shared' })).filter((e) => e.action === 'version.create').length, PROCESSES);
          const fsck = await reg.fsck({ graceSeconds: 0 });
          assert.deepEqual([fsck.missing, fsck.corrupt, fsck.orphans], [[], [], []]);
        } finally {
          await reg.close();
        }
      } finally {
        for (const c of children) c.proc.kill('SIGKILL');
        await fresh.cleanup();
      }
    });
  });
}
