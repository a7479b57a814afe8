/**
 * One registry across machines: two replicas (`berth serve --registry`, each with its own
 * BERTH_HOME, as on two machines) follow one PostgreSQL catalog and one OCI artifact store (a real
 * docker-registry on loopback, basic auth from a docker-style auth file).
 *
 *  1. push v1 (`berth push --artifact-store`) + production, push v2, canary 20 %, promote,
 *     rollback: after each step both replicas serve the catalog's state (GET /api/v1/serving and
 *     the answers of /v2/models/M/infer) within BOUND_MS; the time each step took is printed.
 *  2. A replica restarted while docker-registry is down serves the model it has cached and reports
 *     the one it has not as not ready, with the reason; once docker-registry is back it loads it.
 *
 * Needs BERTH_TEST_PG_URL, docker-registry + htpasswd, and the built CLI (dist/); skips otherwise.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Registry } from '../../src/registry/registry.js';
import { desiredPolicy } from '../../src/serving/registry-sync.js';
import { CLI, startCliServer, type ChildServer } from '../helpers/cli-server.js';
import { startDockerRegistry, which, type RunningRegistry } from '../helpers/docker-registry.js';
import { PG_SKIP, dropPgSchema, pgUrlWithFreshSchema, tempDir, writeExternalModel } from '../registry/helpers.js';

const ROWS = 64;
const COLS = 32;
/** how long a replica may take to serve a catalog change (polling every 0.5 s) */
const BOUND_MS = 10_000;
/** a replica retries a model it could not load with backoff (2 s, 4 s, ... 1 min) */
const RECOVERY_BOUND_MS = 75_000;
const REPO = 'fleet/models';

const skip = PG_SKIP
  || (!which('docker-registry') ? 'docker-registry is not installed (Debian: apt-get install docker-registry)' : false)
  || (!which('htpasswd') ? 'htpasswd is not installed (Debian: apt-get install apache2-utils)' : false)
  || (!existsSync(CLI) ? 'dist/cli/main.js is missing: npm run build' : false);

/** y = x · W + 0.5 with W[i][j] = ((i·COLS + j) % 97 − 48) · 0.01 · fill (writeExternalModel): the first output for x = ones. */
function firstOutput(fill: number): number {
  let s = 0;
  for (let i = 0; i < ROWS; i++) s += Math.fround(((i * COLS) % 97 - 48) * 0.01 * fill);
  return s + 0.5;
}

describe('two replicas, one PostgreSQL catalog, one OCI artifact store', { skip }, () => {
  let dir: string;
  let remote: RunningRegistry;
  let catalogUrl: string;
  let store: string;
  let admin: Registry;
  let key: string;
  const replicas: ChildServer[] = [];
  const USER = 'fleet';
  const PASS = 'fleet-secret';
  const previousAuthFile = process.env.REGISTRY_AUTH_FILE;

  const serve = (home: string) => startCliServer(['--registry', '--home', home, '--catalog', catalogUrl, '--artifact-store', store, '--registry-poll-secs', '0.5']);

  async function serving(r: ChildServer): Promise<{ name: string; policy: unknown; error?: string }[]> {
    const res = await fetch(`${r.url}/api/v1/serving`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { models: { name: string; policy: unknown; error?: string }[] }).models;
  }

  async function infer(r: ChildServer, model: string): Promise<number> {
    const res = await fetch(`${r.url}/v2/models/${model}/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, ROWS], datatype: 'FP32', data: new Array(ROWS).fill(1) }] }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data[0]!;
  }

  /** Waits until every replica's applied policy for `model` is the catalog's; returns the ms it took. */
  async function converge(model: string, what: string, bound = BOUND_MS): Promise<number> {
    const m = await admin.getModel(model);
    const want = desiredPolicy(m, await admin.getRollout(model));
    const t0 = performance.now();
    for (const r of replicas) {
      for (;;) {
        const got = (await serving(r)).find((s) => s.name === model);
        if (got && !got.error && JSON.stringify(got.policy) === JSON.stringify(want)) break;
        if (performance.now() - t0 > bound) assert.fail(`${what}: replica ${r.url} still serves ${JSON.stringify(got)} after ${bound} ms, the catalog says ${JSON.stringify(want)}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    const ms = performance.now() - t0;
    console.log(`# ${what}: both replicas serve ${JSON.stringify(want)} after ${ms.toFixed(0)} ms`);
    return ms;
  }

  before(async () => {
    dir = tempDir('berth-fleet-');
    remote = await startDockerRegistry({ htpasswd: { user: USER, pass: PASS } });
    const authfile = join(dir, 'auth.json');
    writeFileSync(authfile, JSON.stringify({ auths: { [remote.host]: { auth: Buffer.from(`${USER}:${PASS}`).toString('base64') } } }));
    // the replicas (child processes) and this process read the credentials the way podman does
    process.env.REGISTRY_AUTH_FILE = authfile;
    store = `oci://${remote.host}/${REPO}`;
    catalogUrl = pgUrlWithFreshSchema();
    admin = await Registry.open({ home: join(dir, 'admin'), catalogUrl, artifactStore: store });
    key = (await admin.createKey('admin', { name: 'fleet-test' })).key;
  });

  after(async () => {
    for (const r of replicas) await r.stop().catch(() => undefined);
    await admin?.close();
    await remote?.stop();
    if (catalogUrl) await dropPgSchema(catalogUrl).catch(() => undefined);
    if (previousAuthFile === undefined) delete process.env.REGISTRY_AUTH_FILE;
    else process.env.REGISTRY_AUTH_FILE = previousAuthFile;
  });

  test('push, canary, promote, rollback: both replicas serve each state within the bound', { timeout: 240_000 }, async () => {
    const v1 = await writeExternalModel(join(dir, 'v1'), ROWS, COLS, 1);
    const v2 = await writeExternalModel(join(dir, 'v2'), ROWS, COLS, 2);
    // push v1 with the CLI, from a third "machine"
    const pushed = spawnSync(process.execPath, [CLI, 'push', v1, '--name', 'fleet', '--home', join(dir, 'ci'), '--catalog', catalogUrl, '--artifact-store', store], { encoding: 'utf8' });
    assert.equal(pushed.status, 0, pushed.stderr);
    assert.match(pushed.stdout, /fleet:1/);
    await admin.setAlias('fleet', 'production', 1);

    replicas.push(await serve(join(dir, 'replica-a')), await serve(join(dir, 'replica-b')));
    const times: Record<string, number> = {};
    times.start = await converge('fleet', 'start (production 1)');
    for (const r of replicas) assert.ok(Math.abs((await infer(r, 'fleet')) - firstOutput(1)) < 1e-3);

    await admin.push(v2, { name: 'fleet' });
    times.canary = await (async () => {
      await admin.startRollout('fleet', { canary: { version: 2, percent: 20 } });
      return converge('fleet', 'canary 2 at 20 %');
    })();
    // the canary answers some requests on each replica, production the rest
    for (const r of replicas) {
      const answers = await Promise.all(Array.from({ length: 60 }, () => infer(r, 'fleet')));
      const fromV2 = answers.filter((a) => Math.abs(a - firstOutput(2)) < 1e-3).length;
      const fromV1 = answers.filter((a) => Math.abs(a - firstOutput(1)) < 1e-3).length;
      assert.equal(fromV1 + fromV2, answers.length, 'every answer comes from v1 or v2');
      assert.ok(fromV2 > 0 && fromV2 < 30, `${fromV2}/60 answers from the 20 % canary`);
    }

    await admin.promote('fleet');
    times.promote = await converge('fleet', 'promote (production 2)');
    for (const r of replicas) assert.ok(Math.abs((await infer(r, 'fleet')) - firstOutput(2)) < 1e-3);

    await admin.rollback('fleet');
    times.rollback = await converge('fleet', 'rollback (production 1)');
    for (const r of replicas) assert.ok(Math.abs((await infer(r, 'fleet')) - firstOutput(1)) < 1e-3);
    console.log(`# convergence (ms, bound ${BOUND_MS}): ${JSON.stringify(Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(v)])))}`);
  });

  test('a replica started while the artifact registry is down serves its cache, and the rest once it is back', { timeout: 240_000 }, async () => {
    assert.equal(replicas.length, 2, 'the first test started the replicas');
    // replica A stops; meanwhile a second model goes live (replica B caches it, A does not)
    const a = replicas.shift()!;
    await a.stop();
    const late = await writeExternalModel(join(dir, 'late'), ROWS, COLS, 3);
    await admin.push(late, { name: 'late' });
    await admin.setAlias('late', 'production', 1);
    await converge('late', 'late model on the remaining replica');

    await remote.halt();
    const down = performance.now();
    const restarted = await serve(join(dir, 'replica-a'));
    replicas.push(restarted);
    // what A has cached it serves at once, from its cache
    assert.ok(Math.abs((await infer(restarted, 'fleet')) - firstOutput(1)) < 1e-3);
    const ready = await fetch(`${restarted.url}/v2/models/fleet/ready`);
    assert.equal(ready.status, 200);
    // what it has not is reported not ready, with the reason
    const lateState = (await serving(restarted)).find((s) => s.name === 'late');
    assert.ok(lateState?.error, `late: ${JSON.stringify(lateState)}`);
    assert.match(lateState.error, /artifact store oci:\/\/.*unreachable/);
    assert.notEqual((await fetch(`${restarted.url}/v2/models/late/ready`)).status, 200);
    // ...and only that: the replica as a whole stays ready (a balancer keeps sending it traffic)
    assert.equal((await fetch(`${restarted.url}/v2/health/ready`)).status, 200);
    console.log(`# registry down: replica A serves fleet from its cache; late is not ready: ${lateState.error}`);

    // the registry returns (same storage, same port): A loads the model with its retry backoff
    await new Promise((res) => setTimeout(res, 3000));
    remote = await startDockerRegistry({ htpasswd: { user: USER, pass: PASS } }, { dir: remote.dir, port: remote.port });
    const back = performance.now();
    const t0 = performance.now();
    for (;;) {
      const res = await fetch(`${restarted.url}/v2/models/late/ready`);
      await res.body?.cancel();
      if (res.status === 200) break;
      if (performance.now() - t0 > RECOVERY_BOUND_MS) assert.fail(`late is still not ready ${RECOVERY_BOUND_MS} ms after the registry returned`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(Math.abs((await infer(restarted, 'late')) - firstOutput(3)) < 1e-3);
    console.log(`# registry back: late ready on replica A ${(performance.now() - back).toFixed(0)} ms after the registry returned (down ${(back - down).toFixed(0)} ms)`);
  });
});
