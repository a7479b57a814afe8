/**
 * The Distribution API client against a real registry (CNCF distribution 2.8, `docker-registry`)
 * on 127.0.0.1 with htpasswd basic auth, and against the same registry in token mode with a token
 * service this test runs (JWTs signed by a throwaway certificate the registry trusts). skopeo and
 * podman, independent readers, check what was pushed. Skips when the binaries are missing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { OciLayout } from '../../src/package/oci/layout.js';
import { MEDIA_TYPES, type Descriptor, type Digest, type ImageConfig, type ImageManifest } from '../../src/oci/types.js';
import { parseReference, formatReference } from '../../src/oci/reference.js';
import { credentialsFromFile, parseChallenge, resolveCredentials } from '../../src/oci/auth.js';
import { RegistryClient } from '../../src/oci/client.js';
import { pushLayout } from '../../src/package/distribution/push.js';
import { pullToLayout, choosePlatform } from '../../src/package/distribution/pull.js';
import { connect } from '../../src/oci/connect.js';
import { registryProgress } from '../../src/cli/registry-progress.js';
import { freePort, startDockerRegistry, which, type RunningRegistry } from '../helpers/docker-registry.js';

const USER = 'berth';
const PASS = 'correct horse battery';
const haveRegistry = which('docker-registry') && which('htpasswd');
const skipReason = haveRegistry ? false : 'docker-registry or htpasswd (apache2-utils) is not installed';
const tmp = mkdtempSync(join(tmpdir(), 'berth-distribution-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// ---- building small, real images (gzip tar layers, config with diff_ids) ----

async function tarOf(files: Record<string, Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, data] of Object.entries(files)) pack.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Uint8Array): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface BuiltImage {
  manifest: Descriptor;
  layers: Descriptor[];
}

/** Writes an image of `layerFiles` (one tar.gz layer each) into `layout`, tagged `tag`. */
async function buildImage(layout: OciLayout, layerFiles: Record<string, Buffer>[], opts: { tag?: string; docker?: boolean; arch?: string } = {}): Promise<BuiltImage> {
  await layout.init();
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (const files of layerFiles) {
    const t = await tarOf(files);
    diffIds.push(sha(t));
    layers.push(await layout.writeBlobBytes(gzipSync(t), opts.docker ? MEDIA_TYPES.dockerLayerGzip : MEDIA_TYPES.layerGzip));
  }
  const config: ImageConfig = { architecture: opts.arch ?? 'amd64', os: 'linux', config: { Entrypoint: ['/bin/true'] }, rootfs: { type: 'layers', diff_ids: diffIds } };
  const configDesc = await layout.writeBlobBytes(Buffer.from(JSON.stringify(config)), opts.docker ? MEDIA_TYPES.dockerConfig : MEDIA_TYPES.config);
  const mediaType = opts.docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.manifest;
  const manifest: ImageManifest = { schemaVersion: 2, mediaType, config: configDesc, layers };
  const desc = await layout.writeBlobBytes(Buffer.from(JSON.stringify(manifest)), mediaType);
  if (opts.tag) await layout.tag(desc, opts.tag);
  return { manifest: desc, layers };
}

const random = (n: number): Buffer => randomBytes(n);

function skopeoDigest(host: string, image: string, creds: string): { digest?: string; stderr: string } {
  const r = spawnSync('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${host}/${image}`], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return { stderr: r.stderr };
  return { digest: (JSON.parse(r.stdout) as { Digest: string }).Digest, stderr: r.stderr };
}

/** A fetch that records method and path of every request, and can answer some itself (injected faults). */
function recordingFetch(inject?: (method: string, url: URL, n: number) => Response | undefined): { fetch: typeof fetch; calls: { method: string; path: string; status: number }[] } {
  const calls: { method: string; path: string; status: number }[] = [];
  let n = 0;
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? 'GET';
    const fake = inject?.(method, url, n++);
    if (fake) {
      const body = init?.body as unknown as { destroy?: () => void } | undefined;
      body?.destroy?.();
      calls.push({ method, path: url.pathname, status: fake.status });
      return fake;
    }
    const res = await fetch(input, init);
    calls.push({ method, path: url.pathname, status: res.status });
    return res;
  }) as typeof fetch;
  return { fetch: f, calls };
}

// ---- pure parts ----

describe('references, credentials and challenges', () => {
  test('references default to Docker Hub and library/, and keep host:port, tag and digest', () => {
    assert.deepEqual(parseReference('busybox'), { registry: 'docker.io', repository: 'library/busybox' });
    assert.deepEqual(parseReference('me/app:1.0'), { registry: 'docker.io', repository: 'me/app', tag: '1.0' });
    assert.deepEqual(parseReference('127.0.0.1:5000/team/model:v2'), { registry: '127.0.0.1:5000', repository: 'team/model', tag: 'v2' });
    assert.deepEqual(parseReference('localhost/x'), { registry: 'localhost', repository: 'x' });
    const d = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseReference(`ghcr.io/o/r@${d}`), { registry: 'ghcr.io', repository: 'o/r', digest: d });
    assert.deepEqual(parseReference(`docker://ghcr.io/o/r:t@${d}`), { registry: 'ghcr.io', repository: 'o/r', tag: 't', digest: d });
    assert.equal(formatReference(parseReference('index.docker.io/library/node:20')), 'docker.io/library/node:20');
    for (const bad of ['', 'UPPER/case', 'host:5000/repo:bad tag', 'repo@sha256:123', 'https://host/repo', 'a//b', `r:${'x'.repeat(129)}`]) {
      assert.throws(() => parseReference(bad), /reference|empty/, bad);
    }
  });

  test('WWW-Authenticate challenges are parsed, quoted commas and escapes included', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
      scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
    });
    assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', params: { realm: 'Registry Realm' } });
    assert.deepEqual(parseChallenge('Bearer realm=plain, error="insufficient_scope", x="a\\"b"'), { scheme: 'bearer', params: { realm: 'plain', error: 'insufficient_scope', x: 'a"b' } });
  });

  test('credentials come from the flag, then --authfile, $REGISTRY_AUTH_FILE, podman\'s and docker\'s files', () => {
    const dir = join(tmp, 'auth');
    mkdirSync(join(dir, 'docker'), { recursive: true });
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    writeFileSync(join(dir, 'docker', 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:h') }, 'reg.example:5000': { auth: b64('u:p:with:colons') } } }));
    writeFileSync(join(dir, 'podman.json'), JSON.stringify({ auths: { 'reg.example:5000/team': { auth: b64('team:t') } } }));
    const env = { DOCKER_CONFIG: join(dir, 'docker'), HOME: dir };
    assert.deepEqual(resolveCredentials('reg.example:5000', 'other/x', { env }), { username: 'u', password: 'p:with:colons' });
    assert.deepEqual(resolveCredentials('docker.io', 'library/node', { env }), { username: 'hub', password: 'h' });
    assert.deepEqual(resolveCredentials('reg.example:5000', 'team/model', { env: { ...env, REGISTRY_AUTH_FILE: join(dir, 'podman.json') } }), { username: 'team', password: 't' });
    assert.deepEqual(resolveCredentials('reg.example:5000', 'x', { creds: 'a:b', env }), { username: 'a', password: 'b' });
    assert.equal(resolveCredentials('elsewhere.example', 'x', { env }), undefined);
    assert.throws(() => resolveCredentials('r.example', 'x', { authfile: join(dir, 'missing.json') }), /does not exist/);
    writeFileSync(join(dir, 'bad.json'), '{"auths": ');
    assert.throws(() => credentialsFromFile(join(dir, 'bad.json'), 'r.example'), /bad\.json/);
  });

  test('an index resolves to the asked platform, arm64 matching v8 with or without the variant', () => {
    const d = (n: number): Digest => `sha256:${String(n).repeat(64)}`;
    const entries: Descriptor[] = [
      { mediaType: MEDIA_TYPES.manifest, digest: d(1), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MEDIA_TYPES.manifest, digest: d(2), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: MEDIA_TYPES.manifest, digest: d(3), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
    ];
    assert.equal(choosePlatform(entries, { os: 'linux', architecture: 'arm64' })?.digest, d(2));
    assert.equal(choosePlatform(entries, { os: 'linux', architecture: 'amd64' })?.digest, d(1));
    assert.equal(choosePlatform(entries, { os: 'linux', architecture: 's390x' }), undefined);
  });
});

describe('progress display', () => {
  test('--json writes one line per change of a blob\'s state, not per byte; a terminal gets a bar per blob', () => {
    const out: string[] = [];
    const stream = { isTTY: false, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream;
    const d = `sha256:${'b'.repeat(64)}` as Digest;
    const json = registryProgress({ json: true, stream });
    for (const [state, sent] of [['checking', 0], ['uploading', 0], ['uploading', 10], ['uploading', 20], ['done', 20]] as const) json.onProgress({ digest: d, size: 20, sent, state });
    assert.deepEqual(out.join('').trim().split('\n').map((l) => (JSON.parse(l) as { state: string }).state), ['checking', 'uploading', 'done']);

    out.length = 0;
    const tty = registryProgress({ stream: { ...stream, isTTY: true, columns: 100 } as unknown as NodeJS.WriteStream });
    tty.onProgress({ digest: d, size: 2048, sent: 2048, state: 'done' });
    tty.onProgress({ digest: `sha256:${'c'.repeat(64)}` as Digest, size: 10, sent: 10, state: 'skipped' });
    tty.finish();
    const screen = out.join('');
    assert.match(screen, /bbbbbbbbbbbb \[#{24}\] 2\.0 KiB\/2\.0 KiB pushed/);
    assert.match(screen, /cccccccccccc \[#{24}\] 10 B\/10 B exists/);
    assert.ok(screen.includes('\x1b[2A'), 'redrawn in place');
  });
});

// ---- against a real registry with basic auth ----

describe('push and pull against docker-registry with htpasswd', { skip: skipReason }, () => {
  let reg: RunningRegistry;
  const opts = (): { credentials: { username: string; password: string } } => ({ credentials: { username: USER, password: PASS } });
  const ref = (s: string): ReturnType<typeof parseReference> => parseReference(`${reg.host}/${s}`);

  before(async () => {
    reg = await startDockerRegistry({ htpasswd: { user: USER, pass: PASS } });
  });
  after(async () => {
    await reg?.stop();
  });

  test('a wrong password is a one-line error and leaves nothing under the tag', async () => {
    const layout = new OciLayout(join(tmp, 'wrong'));
    await buildImage(layout, [{ a: random(2000) }], { tag: 'v1' });
    const err = await pushLayout(layout, 'v1', ref('wrong/app:v1'), { credentials: { username: USER, password: 'nope' } }).then(() => undefined, (e: Error) => e);
    assert.ok(err, 'the push must fail');
    assert.match(err.message, /refused the credentials.*wrong user name or password/);
    assert.doesNotMatch(err.message, /\n/);
    const noCreds = await pushLayout(layout, 'v1', ref('wrong/app:v1')).then(() => undefined, (e: Error) => e);
    assert.match(noCreds!.message, /requires authentication.*--creds/);
    assert.deepEqual(await new RegistryClient(reg.host, opts()).listTags('wrong/app'), []);
    assert.equal(reg.blobCount(), 0);
    if (which('skopeo')) assert.equal(skopeoDigest(reg.host, 'wrong/app:v1', `${USER}:${PASS}`).digest, undefined);
  });

  test('a push that fails part way (a layer missing from the layout) publishes no tag', async () => {
    const layout = new OciLayout(join(tmp, 'partial'));
    const img = await buildImage(layout, [{ a: random(3000) }, { b: random(3000) }], { tag: 'v1' });
    unlinkSync(layout.blobPath(img.layers[1]!.digest));
    await assert.rejects(pushLayout(layout, 'v1', ref('partial/app:v1'), { ...opts(), concurrency: 1 }), /missing from/);
    assert.deepEqual(await new RegistryClient(reg.host, opts()).listTags('partial/app'), []);
  });

  let first: BuiltImage;
  const mainLayout = (): OciLayout => new OciLayout(join(tmp, 'main'));

  test('push with basic auth: skopeo sees the same manifest digest; a second push uploads nothing', async () => {
    const layout = mainLayout();
    first = await buildImage(layout, [{ 'base.bin': random(40_000) }, { 'runtime.bin': random(30_000) }, { 'models/m.onnx': random(20_000) }], { tag: 'v1' });
    const before = reg.blobCount();
    const events: string[] = [];
    const res = await pushLayout(layout, 'v1', ref('team/model:v1'), { ...opts(), onProgress: (p) => events.push(`${p.digest}:${p.state}`) });
    assert.equal(res.digest, first.manifest.digest);
    assert.equal(res.uploaded, 4, 'three layers and the config');
    assert.equal(res.skipped, 0);
    assert.equal(reg.blobCount() - before, 5, 'three layers, the config and the manifest');
    for (const l of first.layers) assert.ok(events.includes(`${l.digest}:done`), 'a done event per layer');
    assert.equal(res.reference, `${reg.host}/team/model:v1@${first.manifest.digest}`);
    if (which('skopeo')) {
      const seen = skopeoDigest(reg.host, 'team/model:v1', `${USER}:${PASS}`);
      assert.equal(seen.digest, first.manifest.digest, seen.stderr);
    }

    const again = await pushLayout(layout, 'v1', ref('team/model:v1'), opts());
    assert.equal(again.uploaded, 0);
    assert.equal(again.skipped, 4);
    assert.equal(again.digest, first.manifest.digest);
  });

  test('a push to another repository mounts the blobs it can name instead of sending them', async () => {
    const before = reg.blobCount();
    const { client } = connect(`${reg.host}/other/model:v1`, { creds: `${USER}:${PASS}` });
    const res = await pushLayout(mainLayout(), 'v1', ref('other/model:v1'), { client, mountFrom: 'team/model' });
    assert.equal(res.mounted, 4);
    assert.equal(res.uploaded, 0);
    assert.equal(reg.blobCount(), before, 'nothing new is stored');
    if (which('skopeo')) assert.equal(skopeoDigest(reg.host, 'other/model:v1', `${USER}:${PASS}`).digest, first.manifest.digest);
  });

  test('a new model layer uploads exactly that layer and a config, and one manifest', async () => {
    const layout = new OciLayout(join(tmp, 'v2'));
    // same base and runtime bytes (copied from the first layout), a new model layer
    await layout.init();
    const src = mainLayout();
    const firstManifest = await src.readJsonBlob<ImageManifest>(first.manifest);
    const firstConfig = await src.readJsonBlob<ImageConfig>(firstManifest.config);
    const layers = firstManifest.layers.slice(0, 2);
    for (const l of layers) await layout.writeBlobStream(src.openBlob(l.digest), l.mediaType, l);
    const modelTar = await tarOf({ 'models/m.onnx': random(20_000) });
    const model = await layout.writeBlobBytes(gzipSync(modelTar), MEDIA_TYPES.layerGzip);
    const config = await layout.writeBlobBytes(Buffer.from(JSON.stringify({ ...firstConfig, rootfs: { type: 'layers', diff_ids: [...firstConfig.rootfs.diff_ids.slice(0, 2), sha(modelTar)] } })), MEDIA_TYPES.config);
    const manifest = await layout.writeBlobBytes(Buffer.from(JSON.stringify({ ...firstManifest, config, layers: [...layers, model] })), MEDIA_TYPES.manifest);
    await layout.tag(manifest, 'v2');

    const before = reg.blobCount();
    const res = await pushLayout(layout, 'v2', ref('team/model:v2'), opts());
    assert.equal(res.uploaded, 2, 'the model layer and the config');
    assert.equal(res.skipped, 2);
    assert.equal(reg.blobCount() - before, 3, 'the model layer, the config and the manifest');
    assert.deepEqual((await new RegistryClient(reg.host, opts()).listTags('team/model')).sort(), ['v1', 'v2']);
  });

  test('a blob over the chunk size goes up in PATCH chunks, and comes back intact', async () => {
    const layout = new OciLayout(join(tmp, 'chunked'));
    const big = random(300 * 1024 + 17);
    const img = await buildImage(layout, [{ 'big.bin': big }], { tag: 'big' });
    const rec = recordingFetch();
    const chunkSize = 64 * 1024;
    const res = await pushLayout(layout, 'big', ref('team/chunked:big'), { ...opts(), chunkSize, fetch: rec.fetch });
    assert.equal(res.digest, img.manifest.digest);
    const patches = rec.calls.filter((c) => c.method === 'PATCH');
    assert.equal(patches.length, Math.ceil(img.layers[0]!.size / chunkSize), 'one PATCH per chunk of the layer');
    assert.ok(patches.every((c) => c.status === 202));
    if (which('skopeo')) assert.equal(skopeoDigest(reg.host, 'team/chunked:big', `${USER}:${PASS}`).digest, img.manifest.digest);

    const back = new OciLayout(join(tmp, 'chunked-back'));
    const pulled = await pullToLayout(ref('team/chunked:big'), back, { ...opts(), tag: 'big' });
    assert.equal(pulled.manifest.digest, img.manifest.digest);
    assert.deepEqual(readFileSync(back.blobPath(img.layers[0]!.digest)), readFileSync(layout.blobPath(img.layers[0]!.digest)));
  });

  test('a chunk that fails part way resumes where the registry says the upload stands', async () => {
    const layout = new OciLayout(join(tmp, 'resume'));
    const img = await buildImage(layout, [{ 'big.bin': random(200 * 1024) }], { tag: 'r' });
    let patches = 0;
    const flaky = recordingFetch((method) => (method === 'PATCH' && ++patches === 2 ? new Response('{"errors":[{"code":"UNKNOWN"}]}', { status: 502 }) : undefined));
    const chunkSize = 32 * 1024;
    const progress: number[] = [];
    const res = await pushLayout(layout, 'r', ref('team/resume:r'), { ...opts(), chunkSize, fetch: flaky.fetch, retryDelayMs: 10, concurrency: 1, onProgress: (p) => p.digest === img.layers[0]!.digest && progress.push(p.sent) });
    assert.equal(res.digest, img.manifest.digest);
    const chunks = Math.ceil(img.layers[0]!.size / chunkSize);
    assert.equal(flaky.calls.filter((c) => c.method === 'PATCH').length, chunks + 1, 'one chunk sent twice');
    assert.equal(flaky.calls.filter((c) => c.method === 'POST').length, res.uploaded, 'one upload session per blob: the layer\'s was resumed, not restarted');
    assert.ok(flaky.calls.some((c) => c.method === 'GET' && c.path.includes('/blobs/uploads/') && c.status === 204), 'the upload status was asked');
    assert.equal(progress.at(-1), img.layers[0]!.size);
    const back = await pullToLayout(ref('team/resume:r'), new OciLayout(join(tmp, 'resume-back')), opts());
    assert.equal(back.manifest.digest, img.manifest.digest);
  });

  test('pull round trip: a fresh layout gets the same manifest, config and layers, digests checked', async () => {
    const back = new OciLayout(join(tmp, 'pulled'));
    const pulled = await pullToLayout(ref('team/model:v1'), back, { ...opts(), tag: 'base', platform: 'linux/amd64' });
    assert.equal(pulled.manifest.digest, first.manifest.digest);
    assert.equal(pulled.pinned, `${reg.host}/team/model@${first.manifest.digest}`);
    assert.equal(pulled.downloaded, 4);
    assert.equal((await back.resolve('base')).digest, first.manifest.digest);
    for (const l of first.layers) assert.equal(sha(readFileSync(back.blobPath(l.digest))), l.digest);
    // by digest, and a second pull finds everything present
    const again = await pullToLayout(parseReference(`${reg.host}/team/model@${first.manifest.digest}`), back, opts());
    assert.equal(again.present, 4);
    assert.equal(again.downloaded, 0);
    // a single-platform image is refused for another platform asked for explicitly
    await assert.rejects(pullToLayout(ref('team/model:v1'), back, { ...opts(), platform: 'linux/arm64' }), /is linux\/amd64, not linux\/arm64/);
  });

  test('an index and Docker schema 2 manifests go up and come back by platform', async () => {
    const layout = new OciLayout(join(tmp, 'multi'));
    const amd = await buildImage(layout, [{ arch: Buffer.from('amd64') }], { docker: true, arch: 'amd64' });
    const arm = await buildImage(layout, [{ arch: Buffer.from('arm64') }], { docker: true, arch: 'arm64' });
    const list = { schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifestList, manifests: [
      { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
      { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ] };
    const listDesc = await layout.writeBlobBytes(Buffer.from(JSON.stringify(list)), MEDIA_TYPES.dockerManifestList);
    await layout.tag(listDesc, 'multi');
    const pushed = await pushLayout(layout, 'multi', ref('team/multi:1'), opts());
    assert.equal(pushed.digest, listDesc.digest);
    if (which('skopeo')) {
      const raw = spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `${USER}:${PASS}`, `docker://${reg.host}/team/multi:1`], { encoding: 'utf8' });
      assert.equal(sha(Buffer.from(raw.stdout)), listDesc.digest, raw.stderr);
    }
    const back = new OciLayout(join(tmp, 'multi-back'));
    const got = await pullToLayout(ref('team/multi:1'), back, { ...opts(), platform: 'linux/arm64' });
    assert.equal(got.manifest.digest, arm.manifest.digest);
    assert.equal(got.index?.digest, listDesc.digest);
    assert.equal(got.config.architecture, 'arm64');
    assert.equal(got.manifest.mediaType, MEDIA_TYPES.dockerManifest);
    await assert.rejects(pullToLayout(ref('team/multi:1'), back, { ...opts(), platform: 'linux/s390x' }), /no image for linux\/s390x \(it offers linux\/amd64, linux\/arm64\/v8\)/);
  });

  test('an unknown tag or repository is a one-line 404 error', async () => {
    const back = new OciLayout(join(tmp, 'unknown'));
    const err = await pullToLayout(ref('team/model:nope'), back, opts()).then(() => undefined, (e: Error) => e);
    assert.match(err!.message, /team\/model:nope not found on registry 127\.0\.0\.1:\d+/);
    const err2 = await pullToLayout(ref('no/such:1'), back, opts()).then(() => undefined, (e: Error) => e);
    assert.match(err2!.message, /not found on registry/);
  });

  test('5xx answers are retried with backoff; 4xx answers are not', async () => {
    const layout = new OciLayout(join(tmp, 'retry'));
    await buildImage(layout, [{ r: random(5000) }], { tag: 't' });
    let failedPuts = 0;
    const flaky = recordingFetch((method, url) => {
      if (method === 'PUT' && url.pathname.includes('/blobs/uploads/') && failedPuts < 2) {
        failedPuts++;
        return new Response('{"errors":[{"code":"UNKNOWN","message":"try later"}]}', { status: 503 });
      }
      return undefined;
    });
    const res = await pushLayout(layout, 't', ref('team/retry:t'), { ...opts(), fetch: flaky.fetch, retryDelayMs: 10, concurrency: 1 });
    assert.equal(res.uploaded, 2);
    assert.equal(failedPuts, 2);

    const denied = recordingFetch((method, url) => (method === 'HEAD' && url.pathname.includes('/blobs/') ? new Response(null, { status: 403 }) : undefined));
    await assert.rejects(pushLayout(layout, 't', ref('team/retry:t2'), { ...opts(), fetch: denied.fetch, retryDelayMs: 10, concurrency: 1 }), /denied.*403/);
    assert.equal(denied.calls.filter((c) => c.method === 'HEAD').length, 1, 'a 403 is not retried');
  });

  test('podman pulls the pushed image by tag with the same digest', { skip: !which('podman') && 'podman is not installed' }, () => {
    const root = join(tmp, 'podman');
    mkdirSync(root, { recursive: true });
    const conf = join(root, 'containers.conf');
    writeFileSync(conf, '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n');
    const podman = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync('podman', ['--root', join(root, 'storage'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', ...args], {
      encoding: 'utf8', timeout: 120_000, env: { ...process.env, CONTAINERS_CONF: conf },
    });
    const image = `${reg.host}/team/model:v1`;
    const pull = podman('pull', '--tls-verify=false', '--creds', `${USER}:${PASS}`, image);
    assert.equal(pull.status, 0, String(pull.stderr));
    const inspect = podman('image', 'inspect', '--format', '{{.Digest}}', image);
    assert.equal(String(inspect.stdout).trim(), first.manifest.digest);
    podman('rmi', '-a', '-f');
  });
});

describe('an unreachable registry', () => {
  test('fails fast with a one-line error', async () => {
    const port = await freePort();
    const layout = new OciLayout(join(tmp, 'unreachable'));
    await buildImage(layout, [{ x: random(100) }], { tag: 't' });
    const t0 = Date.now();
    const err = await pushLayout(layout, 't', parseReference(`127.0.0.1:${port}/a/b:t`), { retryDelayMs: 50 }).then(() => undefined, (e: Error) => e);
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    assert.match(err!.message, new RegExp(`registry 127\\.0\\.0\\.1:${port} is unreachable \\(http://127\\.0\\.0\\.1:${port}\\): connection refused$`));
  });

  test('a remote registry gets https unless --insecure', () => {
    assert.equal(new RegistryClient('registry.example:5000').base, 'https://registry.example:5000');
    assert.equal(new RegistryClient('registry.example:5000', { insecure: true }).base, 'http://registry.example:5000');
    assert.equal(new RegistryClient('docker.io').base, 'https://registry-1.docker.io');
    assert.equal(new RegistryClient('localhost:5000').base, 'http://localhost:5000');
  });
});

// ---- a registry that misbehaves: a fake on node:http (the real one never sends these answers) ----

describe('a hostile or broken registry (a fake)', () => {
  let server: Server;
  let host = '';
  let handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void = (_q, r) => r.end();
  before(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const layoutDir = (name: string): OciLayout => new OciLayout(join(tmp, `hostile-${name}`));

  test('a manifest over 4 MiB is refused without reading it all', async () => {
    handler = (req, res) => {
      if (req.url === '/v2/') return void res.end('{}');
      res.writeHead(200, { 'content-type': MEDIA_TYPES.manifest });
      res.end(Buffer.alloc(5 * 1024 * 1024, 0x20));
    };
    await assert.rejects(pullToLayout(parseReference(`${host}/a/b:1`), layoutDir('big'), { retries: 0 }), /over the limit of 4194304/);
  });

  test('a blob whose bytes are not its digest is refused and nothing is left in the layout', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config: { mediaType: MEDIA_TYPES.config, digest: sha(config), size: config.length }, layers: [] }));
    handler = (req, res) => {
      if (req.url?.includes('/manifests/')) return void res.writeHead(200, { 'content-type': MEDIA_TYPES.manifest }).end(manifest);
      if (req.url?.includes('/blobs/')) return void res.end(Buffer.alloc(config.length, 0x7b)); // same size, other bytes
      res.end('{}');
    };
    const layout = layoutDir('mismatch');
    await assert.rejects(pullToLayout(parseReference(`${host}/a/b:1`), layout, { retries: 0 }), /does not match its descriptor/);
    const { readdirSync } = await import('node:fs');
    assert.deepEqual(readdirSync(join(layout.dir, 'blobs', 'sha256')), [], 'no blob and no temporary file');
    // by digest, a manifest that hashes to something else is refused
    await assert.rejects(pullToLayout(parseReference(`${host}/a/b@sha256:${'0'.repeat(64)}`), layout, { retries: 0 }), /hashes to sha256:/);
  });

  test('the timeout bounds waiting for an answer, not the transfer of a slow blob', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config: { mediaType: MEDIA_TYPES.config, digest: sha(config), size: config.length }, layers: [] }));
    handler = (req, res) => {
      if (req.url?.includes('/manifests/')) return void res.writeHead(200, { 'content-type': MEDIA_TYPES.manifest }).end(manifest);
      if (req.url?.includes('/blobs/')) {
        // headers at once, then the bytes trickle in over ~4 timeouts
        res.writeHead(200, { 'content-length': String(config.length) });
        let i = 0;
        const step = Math.ceil(config.length / 8);
        const timer = setInterval(() => {
          res.write(config.subarray(i, i + step));
          i += step;
          if (i >= config.length) {
            clearInterval(timer);
            res.end();
          }
        }, 100);
        return;
      }
      res.end('{}');
    };
    const got = await pullToLayout(parseReference(`${host}/a/b:1`), layoutDir('slow'), { retries: 0, timeoutMs: 200 });
    assert.equal(got.config.os, 'linux');
  });

  test('credentials are not sent to another origin a Location names', async () => {
    const port = (server.address() as { port: number }).port;
    const seen: { url: string; authz?: string }[] = [];
    handler = (req, res) => {
      seen.push({ url: `${req.headers.host}${req.url}`, authz: req.headers.authorization });
      if (!req.headers.authorization && req.headers.host?.startsWith('127.')) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
      if (req.method === 'GET') return void res.writeHead(200).end('{}');
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      if (req.method === 'POST') return void res.writeHead(202, { location: `http://localhost:${port}/elsewhere/upload` }).end();
      if (req.method === 'PUT' && req.url?.startsWith('/elsewhere/')) return void res.writeHead(201).end();
      res.writeHead(201).end();
    };
    const layout = layoutDir('origin');
    await buildImage(layout, [{ x: random(100) }], { tag: 't' });
    await pushLayout(layout, 't', parseReference(`${host}/a/b:t`), { credentials: { username: 'u', password: 'p' }, retries: 0, concurrency: 1 });
    const elsewhere = seen.filter((r) => r.url.startsWith('localhost'));
    assert.ok(elsewhere.length >= 2, 'the uploads went to the Location');
    assert.ok(elsewhere.every((r) => r.authz === undefined), 'no Authorization header to another origin');
    assert.ok(seen.some((r) => r.url.startsWith('127.') && r.authz?.startsWith('Basic ')), 'the registry itself got the credentials');
  });

  test('a server that is not a registry, and one that never answers, are one-line errors', async () => {
    handler = (_req, res) => void res.writeHead(404).end('not here');
    await assert.rejects(new RegistryClient(host, { retries: 0 }).ping(), /http:\/\/127\.0\.0\.1:\d+ is not a Distribution API v2 registry/);
    handler = () => undefined; // accepts the connection, never answers
    const t0 = Date.now();
    await assert.rejects(new RegistryClient(host, { retries: 1, retryDelayMs: 10, timeoutMs: 200 }).ping(), /is unreachable \(http:\/\/127\.0\.0\.1:\d+\): timed out$/);
    assert.ok(Date.now() - t0 < 3000);
  });
});

// ---- bearer tokens: the same registry in token mode, with a token service run here ----

const haveOpenssl = which('openssl');

describe('bearer-token auth against docker-registry in token mode', { skip: skipReason || (!haveOpenssl && 'openssl is not installed') }, () => {
  let reg: RunningRegistry;
  let tokenServer: Server;
  const tokenRequests: { scopes: string[]; user?: string }[] = [];
  const service = 'berth-test-registry';
  const issuer = 'berth-test-issuer';

  before(async () => {
    const dir = join(tmp, 'token');
    mkdirSync(dir, { recursive: true });
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=berth-test-token'], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const key = createPrivateKey(readFileSync(join(dir, 'key.pem')));
    const certDer = Buffer.from(readFileSync(join(dir, 'cert.pem'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

    const port = await freePort();
    // The token service (docker's token spec): Basic credentials in, a JWT for the granted scopes out.
    tokenServer = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const scopes = url.searchParams.getAll('scope');
      const authz = req.headers.authorization ?? '';
      const [user, pass] = authz.startsWith('Basic ') ? Buffer.from(authz.slice(6), 'base64').toString().split(/:(.*)/s) : [];
      tokenRequests.push({ scopes, user });
      if (user !== USER || pass !== PASS) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"wrong credentials"}');
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const access = scopes.map((s) => {
        const [type, name, actions] = s.split(':');
        return { type, name, actions: (actions ?? '').split(',') };
      });
      const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
      const claims = { iss: issuer, sub: user, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
      const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
      const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${input}.${b64url(sig)}`, expires_in: 300 }));
    });
    await new Promise<void>((r) => tokenServer.listen(port, '127.0.0.1', r));
    reg = await startDockerRegistry({ token: { realm: `http://127.0.0.1:${port}/token`, service, issuer, rootCertBundle: join(dir, 'cert.pem') } });
  });
  after(async () => {
    await reg?.stop();
    await new Promise((r) => (tokenServer ? tokenServer.close(r) : r(undefined)));
  });

  test('push and pull with tokens fetched once per scope', async () => {
    const layout = new OciLayout(join(tmp, 'bearer'));
    const img = await buildImage(layout, [{ a: random(10_000) }, { b: random(10_000) }], { tag: 'v1' });
    const credentials = { username: USER, password: PASS };
    const res = await pushLayout(layout, 'v1', parseReference(`${reg.host}/tok/app:v1`), { credentials });
    assert.equal(res.digest, img.manifest.digest);
    assert.equal(res.uploaded, 3);
    const pushTokens = tokenRequests.filter((r) => r.scopes.includes('repository:tok/app:pull,push'));
    assert.equal(pushTokens.length, 1, 'one token for the push scope, reused for every blob and the manifest');
    const pulled = await pullToLayout(parseReference(`${reg.host}/tok/app:v1`), new OciLayout(join(tmp, 'bearer-back')), { credentials });
    assert.equal(pulled.manifest.digest, img.manifest.digest);
    assert.ok(tokenRequests.some((r) => r.scopes.includes('repository:tok/app:pull')));
  });

  test('wrong credentials at the token service are a one-line error', async () => {
    const layout = new OciLayout(join(tmp, 'bearer'));
    const err = await pushLayout(layout, 'v1', parseReference(`${reg.host}/tok/other:v1`), { credentials: { username: USER, password: 'bad' } }).then(() => undefined, (e: Error) => e);
    assert.match(err!.message, /token service http:\/\/127\.0\.0\.1:\d+ rejected the credentials \(401\): wrong user name or password/);
  });
});
