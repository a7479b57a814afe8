/** The OCI artifact store's URL and tag rules (no registry needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OciBlobStore, parseArtifactStoreUrl, versionTag } from '../../src/registry/oci-store.js';
import { tempDir } from './helpers.js';

test('oci://HOST[:PORT]/REPO is parsed; anything else is refused with the reason', () => {
  assert.deepEqual(parseArtifactStoreUrl('oci://127.0.0.1:5000/berth/models'), { registry: '127.0.0.1:5000', repository: 'berth/models' });
  assert.deepEqual(parseArtifactStoreUrl('oci://registry.example.com/models'), { registry: 'registry.example.com', repository: 'models' });
  assert.throws(() => parseArtifactStoreUrl('https://registry.example.com/models'), /write oci:\/\/HOST\[:PORT\]\/REPOSITORY/);
  assert.throws(() => parseArtifactStoreUrl('oci://registry.example.com'), /write oci:\/\//);
  assert.throws(() => parseArtifactStoreUrl('oci://registry.example.com/models:latest'), /no tag or digest/);
  // a password in the URL is refused without being repeated in the message
  assert.throws(() => parseArtifactStoreUrl('oci://user:s3cret@registry.example.com/models'), (err: Error) => {
    assert.match(err.message, /credentials do not go in the URL/);
    assert.doesNotMatch(err.message, /s3cret/);
    return true;
  });
  // the repository must be a valid OCI repository name
  assert.throws(() => new OciBlobStore(tempDir('berth-url-'), { url: 'oci://127.0.0.1:5000/Models' }), /not a valid repository name/);
  assert.equal(new OciBlobStore(tempDir('berth-url-'), { url: 'oci://127.0.0.1:5000/berth/models' }).location, 'oci://127.0.0.1:5000/berth/models');
});

test('a version is tagged NAME.vN, within the 128 characters of a tag', () => {
  assert.equal(versionTag('digits', 3), 'digits.v3');
  const long = 'm'.repeat(128);
  const tag = versionTag(long, 12);
  assert.ok(tag.length <= 128);
  assert.match(tag, /^m-[0-9a-f]{40}\.v12$/);
  assert.notEqual(versionTag('x'.repeat(128), 12), tag, 'different names, different tags');
  for (const t of [versionTag('a', 1), tag, versionTag('A_b-c.d', 99)]) assert.match(t, /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
});
