/**
 * The blob-store conformance suite: what every artifact store behind the registry must do, run
 * against the filesystem store and the OCI artifact store (a real docker-registry on loopback,
 * with basic auth read from a docker-style auth file; skipped when docker-registry or htpasswd is
 * missing). A "writer" and a "reader" are two Registry instances on one catalog: the same home
 * for the filesystem store, two homes (two machines) for the OCI store.
 *
 *   round trip           a pushed version reads back byte for byte (materialize and pull)
 *   digest checks        a damaged blob is refused, locally and (OCI) as served by the registry
 *   crash-safe writes    a push SIGKILLed at random moments leaves no catalog row and no manifest
 *                        pointing at missing blobs; the retried push completes
 *   concurrent writers   processes pushing the same and different contents at once all succeed
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Registry, type OpenOptions } from '../../src/registry/registry.js';
import { ARTIFACT_TYPE, versionTag } from '../../src/registry/oci-store.js';
import { startDockerRegistry, which, type RunningRegistry } from '../helpers/docker-registry.js';
import { spawnPushChild, tempDir, writeExternalModel } from './helpers.js';

const REPO = 'berth/models';
const USER = 'berth';
const PASS = 'conformance-secret';

interface StoreUnderTest {
  name: string;
  skip: false | string;
  /** starts what the store needs; returns the options a registry opens it with, per home */
  setup(dir: string): Promise<{ options: OpenOptions; env: NodeJS.ProcessEnv; remote?: RunningRegistry }>;
  /** whether the reader has a home of its own (a store readers on other machines share) */
  shared: boolean;
}

const ociSkip = !which('docker-registry') ? 'docker-registry is not installed (Debian: apt-get install docker-registry)'
  : !which('htpasswd') ? 'htpasswd is not installed (Debian: apt-get install apache2-utils)' : false;

const STORES: StoreUnderTest[] = [
  { name: 'filesystem', skip: false, shared: false, async setup() { return { options: {}, env: {} }; } },
  {
    name: 'oci',
    skip: ociSkip,
    shared: true,
    async setup(dir) {
      const remote = await startDockerRegistry({ htpasswd: { user: USER, pass: PASS } });
      const authfile = join(dir, 'auth.json');
      writeFileSync(authfile, JSON.stringify({ auths: { [remote.host]: { auth: Buffer.from(`${USER}:${PASS}`).toString('base64') } } }));
      const url = `oci://${remote.host}/${REPO}`;
      return { options: { artifactStore: url, authfile }, env: { BERTH_ARTIFACT_STORE: url, REGISTRY_AUTH_FILE: authfile }, remote };
    },
  },
];

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Every manifest revision the registry stores for REPO, and the blob digests each names. */
function storedManifests(remote: RunningRegistry): { digest: string; blobs: string[] }[] {
  const revs = join(remote.storage, 'docker/registry/v2/repositories', REPO, '_manifests/revisions/sha256');
  if (!existsSync(revs)) return [];
  return readdirSync(revs).map((hex) => {
    const data = join(remote.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const doc = JSON.parse(readFileSync(data, 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
    return { digest: `sha256:${hex}`, blobs: [doc.config.digest, ...doc.layers.map((l) => l.digest)] };
  });
}

function remoteBlobPath(remote: RunningRegistry, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(remote.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

for (const store of STORES) {
  describe(`blob-store conformance (${store.name})`, { skip: store.skip }, () => {
    let dir: string;
    let options: OpenOptions;
    let env: NodeJS.ProcessEnv;
    let remote: RunningRegistry | undefined;
    let catalogUrl: string;
    let n = 0;
    /** a writer and a reader registry on one catalog (their own homes when the store is shared) */
    const pair = async (): Promise<{ writer: Registry; reader: Registry; writerHome: string; close(): Promise<void> }> => {
      const id = ++n;
      const writerHome = join(dir, `w${id}`);
      const writer = await Registry.open({ ...options, home: writerHome, catalogUrl });
      const reader = store.shared ? await Registry.open({ ...options, home: join(dir, `r${id}`), catalogUrl }) : writer;
      return { writer, reader, writerHome, close: async () => { await writer.close(); if (reader !== writer) await reader.close(); } };
    };

    before(async () => {
      dir = tempDir(`berth-bsc-${store.name}-`);
      catalogUrl = `sqlite:${join(dir, 'catalog.db')}`;
      ({ options, env, remote } = await store.setup(dir));
    });
    after(async () => {
      await remote?.stop();
    });

    test('round trip: a pushed version reads back byte for byte', { timeout: 60_000 }, async () => {
      const file = await writeExternalModel(join(dir, 'rt'), 128, 64);
      const { writer, reader, close } = await pair();
      try {
        const v = await writer.push(file, { name: 'roundtrip' });
        assert.equal(v.files.length, 2);
        if (store.shared) assert.equal((await reader.blobs.list()).length, 0, 'nothing cached before it is needed');
        const modelPath = await reader.materialize('roundtrip', v.version);
        assert.deepEqual(readFileSync(modelPath), readFileSync(file));
        assert.deepEqual(readFileSync(join(modelPath, '..', 'weights.bin')), readFileSync(join(dir, 'rt', 'weights.bin')));
        const out = join(dir, 'rt-out', 'model.onnx');
        await reader.pull('roundtrip:1', out);
        assert.equal(sha256(readFileSync(out)), v.digest);
        assert.equal(sha256(readFileSync(join(dir, 'rt-out', 'weights.bin'))), v.files[1]!.digest);
        if (remote) {
          // the version's OCI artifact manifest, tagged NAME.vN, as any OCI tool would read it
          const res = await fetch(`http://${remote.host}/v2/${REPO}/manifests/${versionTag('roundtrip', 1)}`, {
            headers: { accept: 'application/vnd.oci.image.manifest.v1+json', authorization: `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}` },
          });
          assert.equal(res.status, 200);
          const m = await res.json() as { artifactType: string; layers: { digest: string; size: number; annotations: Record<string, string> }[]; annotations: Record<string, string> };
          assert.equal(m.artifactType, ARTIFACT_TYPE);
          assert.deepEqual(m.layers.map((l) => [l.annotations['org.opencontainers.image.title'], l.digest, l.size]), v.files.map((f) => [f.path, f.digest, f.size]));
          assert.deepEqual([m.annotations['dev.berth.model.name'], m.annotations['dev.berth.model.version'], m.annotations['dev.berth.model.digest']], ['roundtrip', '1', v.digest]);
          // a second materialization reads the cache: nothing is fetched again
          const cached = (await reader.blobs.list()).map((b) => b.digest).sort();
          assert.deepEqual(cached, v.files.map((f) => f.digest).sort());
        }
      } finally {
        await close();
      }
    });

    test('digest checks: a damaged blob is refused, not served', { timeout: 60_000 }, async () => {
      const file = await writeExternalModel(join(dir, 'dg'), 96, 48, 3);
      const { writer, reader, close } = await pair();
      try {
        const v = await writer.push(file, { name: 'digests' });
        const weights = v.files[1]!;
        // 1. a damaged copy in the reader's local store
        await reader.materialize('digests', v.version);
        await reader.clearMaterialized();
        const local = reader.blobs.path(weights.digest);
        chmodSync(local, 0o644);
        const bytes = readFileSync(local);
        bytes[100] ^= 0xff;
        writeFileSync(local, bytes);
        if (!remote) {
          await assert.rejects(reader.materialize('digests', v.version), /failed verification/);
          await assert.rejects(reader.pull('digests:1', join(dir, 'dg-out', 'model.onnx')), /failed verification/);
          const report = await reader.fsck({ graceSeconds: 0 });
          assert.deepEqual(report.corrupt.map((c) => c.digest), [weights.digest]);
        } else {
          // the cache's damaged copy is reported by fsck, and --repair removes it...
          const report = await reader.fsck({ graceSeconds: 0 });
          assert.deepEqual(report.corrupt.map((c) => c.digest), [weights.digest]);
          await reader.fsck({ repair: true, graceSeconds: 0 });
          assert.equal((await reader.blobs.verify(weights.digest)).present, false);
          await reader.materialize('digests', v.version);
          assert.equal((await reader.blobs.verify(weights.digest, weights.size)).ok, true, 'fetched again, verified');
          // ...and materialize itself drops a damaged copy and fetches it again
          await reader.clearMaterialized();
          chmodSync(local, 0o644);
          const again = readFileSync(local);
          again[200] ^= 0xff;
          writeFileSync(local, again);
          const healed = await reader.materialize('digests', v.version);
          assert.equal(sha256(readFileSync(join(healed, '..', 'weights.bin'))), weights.digest);

          // 2. the registry serves wrong bytes (its storage damaged): a fresh replica refuses them
          const stored = remoteBlobPath(remote, weights.digest);
          const good = readFileSync(stored);
          const bad = Buffer.from(good);
          bad[7] ^= 0x01;
          writeFileSync(stored, bad);
          try {
            const fresh = await Registry.open({ ...options, home: join(dir, 'dg-fresh'), catalogUrl });
            try {
              await assert.rejects(fresh.materialize('digests', v.version), (err: Error) => {
                assert.match(err.message, /refused, not cached/);
                assert.match(err.message, new RegExp(weights.digest));
                return true;
              });
              assert.equal((await fresh.blobs.list()).some((b) => b.digest === weights.digest), false, 'the wrong bytes were not cached');
              assert.equal((await fresh.blobs.temps()).length, 0, 'nor left in tmp/');
              // and a shorter or longer body is refused as well
              writeFileSync(stored, Buffer.concat([good, Buffer.from('tail')]));
              await assert.rejects(fresh.materialize('digests', v.version), /refused/);
            } finally {
              await fresh.close();
            }
          } finally {
            writeFileSync(stored, good);
          }
        }
      } finally {
        await close();
      }
    });

    test('crash-safe writes: SIGKILLed pushes leave no catalog row or manifest pointing at missing blobs; a retry completes', { timeout: 180_000 }, async () => {
      const file = await writeExternalModel(join(dir, 'crash'), 1024, 2048, 5); // 8 MiB of weights
      const home = join(dir, 'crash-home');
      const phases: string[] = [];
      let killed = 0;
      for (const delayMs of [0, 40, 120, 250, 400, 700]) {
        const child = spawnPushChild({ home, catalogUrl, file, name: 'crashy', env });
        await child.ready;
        child.go();
        // kill once the push is under way (copying, linking, publishing, committing...)
        let out = '';
        child.proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        const deadline = Date.now() + 30_000;
        while (!out.includes('phase copying') && child.proc.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
        await new Promise((r) => setTimeout(r, delayMs));
        child.proc.kill('SIGKILL');
        const r = await child.done;
        phases.push([...r.stdout.matchAll(/^phase (\w+)$/gm)].pop()?.[1] ?? 'opening');
        if (r.signal === 'SIGKILL') killed++;
        const reg = await Registry.open({ ...options, home: store.shared ? join(dir, 'crash-check') : home, catalogUrl });
        try {
          const versions = await reg.listVersions('crashy').catch(() => []);
          // every version in the catalog is whole: its blobs are where readers get them
          for (const v of versions) await reg.materialize('crashy', v.version);
          await reg.clearMaterialized();
        } finally {
          await reg.close();
        }
        if (remote) {
          for (const m of storedManifests(remote)) {
            for (const b of m.blobs) assert.ok(existsSync(remoteBlobPath(remote, b)), `manifest ${m.digest} names ${b}, which the registry lacks`);
          }
        }
      }
      assert.ok(killed > 0, `no push was killed mid-way (phases: ${phases.join(', ')})`);
      // a retry completes, and the version reads back elsewhere
      const retry = spawnPushChild({ home, catalogUrl, file, name: 'crashy', env });
      await retry.ready;
      retry.go();
      const r = await retry.done;
      assert.equal(r.code, 0, r.stderr);
      const version = Number(/pushed crashy:(\d+)/.exec(r.stdout)![1]);
      const reg = await Registry.open({ ...options, home: store.shared ? join(dir, 'crash-read') : home, catalogUrl });
      try {
        const path = await reg.materialize('crashy', version);
        assert.deepEqual(readFileSync(path), readFileSync(file));
        assert.deepEqual((await reg.listVersions('crashy')).map((v) => v.version), Array.from({ length: version }, (_, i) => i + 1), 'versions are consecutive');
      } finally {
        await reg.close();
      }
      console.log(`# ${store.name}: ${killed} pushes killed mid-way, in phases ${phases.join(', ')}`);
    });

    test('concurrent writers: processes pushing the same and different contents all succeed', { timeout: 120_000 }, async () => {
      const same = await writeExternalModel(join(dir, 'cw-same'), 256, 256, 7);
      const other = await writeExternalModel(join(dir, 'cw-other'), 256, 256, 8);
      // four writers (each its own home when the store is shared): two push the same bytes
      const catalogUrl = `sqlite:${join(dir, 'cw-catalog.db')}`; // its own, so fsck sees only these pushes
      const plan = [{ file: same, name: 'cw-a' }, { file: same, name: 'cw-b' }, { file: other, name: 'cw-a' }, { file: other, name: 'cw-c' }];
      const children = plan.map((p, i) => spawnPushChild({ home: store.shared ? join(dir, `cw-home${i}`) : join(dir, 'cw-home'), catalogUrl, file: p.file, name: p.name, env }));
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.go();
      const results = await Promise.all(children.map((c) => c.done));
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const reg = await Registry.open({ ...options, home: join(dir, store.shared ? 'cw-read' : 'cw-home'), catalogUrl });
      try {
        assert.deepEqual((await reg.listVersions('cw-a')).map((v) => v.version), [1, 2]);
        for (const [name, n] of [['cw-a', 2], ['cw-b', 1], ['cw-c', 1]] as const) {
          for (let v = 1; v <= n; v++) await reg.materialize(name, v);
        }
        const fsck = await reg.fsck({ graceSeconds: 0 });
        assert.deepEqual([fsck.missing, fsck.corrupt], [[], []]);
      } finally {
        await reg.close();
      }
      if (remote) {
        for (const m of storedManifests(remote)) {
          for (const b of m.blobs) assert.ok(existsSync(remoteBlobPath(remote, b)), `manifest ${m.digest} names ${b}, which the registry lacks`);
        }
      }
    });
  });
}
