/**
 * Crash safety: a process pushing a 32 MiB model (external data) is SIGKILLed at random moments
 * spanning the whole push. Afterwards every listed version is complete (materializes and
 * verifies against its digests), versions are consecutive (a killed push allocates no number),
 * and fsck finds nothing to repair but orphan blobs and temporary files, which --repair removes.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { openSync, closeSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { hashFile } from '../../src/registry/blob-store.js';
import { Registry } from '../../src/registry/registry.js';
import { BACKENDS, spawnPushChild, tempDir, writeExternalModel, type PushChild } from './helpers.js';

const KILLS: Record<string, number> = { sqlite: Number(process.env.BERTH_CRASH_KILLS ?? 50), postgres: 20 };
const ROWS = 2048;
const COLS = 4096; // 2048 × 4096 float32 = 32 MiB of external data

for (const backend of BACKENDS) {
  describe(`crash safety (${backend.name})`, { skip: backend.skip }, () => {
    test(`SIGKILL at ${KILLS[backend.name]} random moments of a push leaves whole versions or nothing`, { timeout: 180_000 }, async () => {
      const dir = tempDir('berth-crash-');
      const fresh = await backend.fresh(dir);
      await fresh.catalog.close();
      const home = join(dir, 'home');
      const file = await writeExternalModel(join(dir, 'model'), ROWS, COLS);
      const weights = join(dir, 'model', 'weights.bin');
      const weightBytes = statSync(weights).size;
      const spawnChild = (): PushChild => spawnPushChild({ home, catalogUrl: fresh.url, file, name: 'big' });
      const pushedDigests = new Set<string>();
      /** A new external-data content for the next push: 8 random bytes at a random offset. */
      const mutate = async () => {
        const fd = openSync(weights, 'r+');
        try {
          writeSync(fd, randomBytes(8), 0, 8, randomInt(0, weightBytes - 8));
        } finally {
          closeSync(fd);
        }
        pushedDigests.add((await hashFile(weights)).digest);
      };

      // Children start (import everything) ahead of time, so what is timed and killed is the push.
      const spares: PushChild[] = Array.from({ length: 3 }, spawnChild);
      const next = async (): Promise<PushChild> => {
        const c = spares.shift()!;
        spares.push(spawnChild());
        await c.ready;
        return c;
      };
      try {
        await Promise.all(spares.map((c) => c.ready));
        // Three undisturbed pushes measure how long a push takes here (median), under the same
        // conditions as the killed ones (a spare child starting up beside it).
        const samples: number[] = [];
        for (let i = 0; i < 3; i++) {
          await mutate();
          const child = await next();
          const t0 = performance.now();
          child.go();
          const r = await child.done;
          samples.push(performance.now() - t0);
          assert.equal(r.code, 0, r.stderr);
        }
        const pushMs = samples.sort((a, b) => a - b)[1];

        let killed = 0;
        let completed = 3;
        let leftovers = 0;
        /** the last phase a killed child reported: where the kill landed */
        const phases: Record<string, number> = {};
        const delays: number[] = [];
        for (let i = 0; i < KILLS[backend.name]; i++) {
          await mutate();
          const child = await next();
          const delay = Math.random() * pushMs * 1.5;
          delays.push(delay);
          child.go();
          await new Promise((resolve) => setTimeout(resolve, delay));
          child.proc.kill('SIGKILL');
          const r = await child.done;
          if (r.signal === 'SIGKILL') {
            killed++;
            const phase = [...r.stdout.matchAll(/^phase (\w+)$/gm)].pop()?.[1] ?? 'opening';
            phases[phase] = (phases[phase] ?? 0) + 1;
          } else {
            assert.equal(r.code, 0, r.stderr);
            completed++;
          }
          if ((i + 1) % 10 === 0) {
            // fsck between kills too (no push is running now): never anything but leftovers.
            const reg = await Registry.open({ home, catalogUrl: fresh.url });
            try {
              const check = await reg.fsck({ repair: true, graceSeconds: 0 });
              assert.deepEqual([check.missing, check.corrupt], [[], []]);
              leftovers += check.orphans.length + check.stale.length;
            } finally {
              await reg.close();
            }
          }
        }
        for (const c of spares) c.proc.kill('SIGKILL');
        await Promise.all(spares.map((c) => c.done));

        const reg = await Registry.open({ home, catalogUrl: fresh.url });
        try {
          const versions = await reg.listVersions('big').catch(() => []);
          const numbers = versions.map((v) => v.version);
          assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, i) => i + 1), 'versions are consecutive');
          assert.ok(numbers.length >= completed, `${numbers.length} versions, ${completed} pushes completed`);
          for (const v of versions) {
            await reg.materialize('big', v.version); // hashes every file against the catalog
            assert.equal(v.files.length, 2);
            assert.ok(pushedDigests.has(v.files[1].digest), 'the data is one of the contents pushed');
          }
          if (backend.name === 'sqlite') {
            const db = new Database(fresh.url.slice('sqlite:'.length));
            assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
            db.close();
          }
          const check = await reg.fsck({ graceSeconds: 0 });
          assert.deepEqual(check.missing, [], 'no version lost a blob');
          assert.deepEqual(check.corrupt, [], 'no blob is damaged');
          const repaired = await reg.fsck({ repair: true, graceSeconds: 0 });
          const after = await reg.fsck({ graceSeconds: 0 });
          assert.deepEqual([after.missing, after.corrupt, after.orphans, after.stale], [[], [], [], []]);
          for (const v of versions) await reg.materialize('big', v.version);
          const figures = {
            backend: backend.name, pushMs: Math.round(pushMs), kills: KILLS[backend.name], killedMidPush: killed, completedBeforeKill: completed - 3,
            killedIn: phases, versions: numbers.length, leftoversRemovedByRepair: leftovers + repaired.orphans.length + repaired.stale.length,
            delayMs: { min: Math.round(Math.min(...delays)), max: Math.round(Math.max(...delays)) },
          };
          process.stdout.write(`# crash figures ${JSON.stringify(figures)}\n`);
          // Sanity of the timing (pushes run slower or faster on a loaded machine): many kills
          // must have landed while the push was running.
          assert.ok(killed >= KILLS[backend.name] * 0.3, `too few kills landed mid-push (${killed})`);
        } finally {
          await reg.close();
        }
      } finally {
        for (const c of spares) c.proc.kill('SIGKILL');
        await fresh.cleanup();
      }
    });
  });
}
