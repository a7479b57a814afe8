/**
 * Moving a registry kept on the filesystem to an OCI artifact store: `berth publish` uploads the
 * versions the catalog has (what the store has already is not sent again), after which a replica
 * with an empty home serves them from the registry. Needs docker-registry and htpasswd.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Registry } from '../../src/registry/registry.js';
import { startDockerRegistry, which, type RunningRegistry } from '../helpers/docker-registry.js';
import { ROOT, tempDir, writeExternalModel } from './helpers.js';

const ENTRY = fileURLToPath(new URL('./cli-entry.ts', import.meta.url));
const skip = !which('docker-registry') ? 'docker-registry is not installed (Debian: apt-get install docker-registry)'
  : !which('htpasswd') ? 'htpasswd is not installed (Debian: apt-get install apache2-utils)' : false;

describe('berth publish: a filesystem registry moves to an OCI artifact store', { skip }, () => {
  let remote: RunningRegistry;
  let dir: string;
  let authfile: string;
  before(async () => {
    dir = tempDir('berth-publish-');
    remote = await startDockerRegistry({ htpasswd: { user: 'u', pass: 'p' } });
    authfile = join(dir, 'auth.json');
    writeFileSync(authfile, JSON.stringify({ auths: { [remote.host]: { auth: Buffer.from('u:p').toString('base64') } } }));
  });
  after(async () => {
    await remote?.stop();
  });

  test('publish uploads every version once; a fresh home then materializes them from the registry', { timeout: 120_000 }, async () => {
    const home = join(dir, 'home');
    const catalogUrl = `sqlite:${join(dir, 'catalog.db')}`;
    const store = `oci://${remote.host}/berth/models`;
    const reg = await Registry.open({ home, catalogUrl, artifactStore: 'filesystem' });
    const a = await writeExternalModel(join(dir, 'a'), 64, 32, 1);
    const b = await writeExternalModel(join(dir, 'b'), 64, 32, 2);
    await reg.push(a, { name: 'alpha' });
    await reg.push(b, { name: 'alpha' });
    await reg.push(a, { name: 'beta' }); // the same bytes as alpha:1
    await reg.close();

    const berth = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', ENTRY, ...args, '--home', home, '--catalog', catalogUrl], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, REGISTRY_AUTH_FILE: authfile, BERTH_ARTIFACT_STORE: '' },
    });
    const refused = berth('publish');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /needs an artifact store other than the filesystem/);

    const before = remote.blobCount();
    const r = berth('publish', '--artifact-store', store, '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { store, versions: ['alpha:1', 'alpha:2', 'beta:1'] });
    // 3 distinct files (one model.onnx, whose weights live outside it, and two weights.bin), the
    // empty config, and per version two manifests (one by digest, one tagged NAME.vN)
    const added = remote.blobCount() - before;
    assert.equal(added, 3 + 1 + 3 * 2);
    const again = berth('publish', 'alpha:2', '--artifact-store', store);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /alpha:2 → oci:\/\//);
    assert.equal(remote.blobCount(), before + added, 'publishing again sends nothing new');

    const replica = await Registry.open({ home: join(dir, 'replica'), catalogUrl, artifactStore: store, authfile });
    try {
      for (const [name, version, src] of [['alpha', 1, a], ['alpha', 2, b], ['beta', 1, a]] as const) {
        const path = await replica.materialize(name, version);
        assert.deepEqual(readFileSync(path), readFileSync(src));
      }
    } finally {
      await replica.close();
    }
  });
});
