/**
 * `podman kube play` of what `berth manifests` writes, with an image from `berth package` on the
 * offline base. The Deployment: the pod runs (uid 65532, read-only root, the memory limit, the
 * scratch emptyDirs) and serves v2 inference. The KServe runtime's container (command, args,
 * ports, security context), put in a Pod with a model directory mounted at /mnt/models as KServe's
 * storage initializer would: it serves that model and not the one baked into the image.
 *
 * podman 4.3 ignores readiness probes and the pre-stop hook (docs/kubernetes.md): this checks
 * that the generated objects run and serve, not probe semantics; the probe paths and the drain
 * are checked against the bare server in manifests.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { baseSkipReason, ensureBaseImage, type BaseImage } from '../helpers/base-image.js';
import { CLI } from '../helpers/cli-server.js';
import { Podman, containerSkipReason, freePort, uniqueName } from '../helpers/podman.js';
import { affineExpected, writeAffine } from '../helpers/models.js';
import { buildServerImage } from './image-build.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function hasCatatonit(): boolean {
  return spawnSync('sh', ['-c', 'command -v catatonit || test -x /usr/libexec/podman/catatonit'], { stdio: 'ignore' }).status === 0;
}

const skip =
  (existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ??
  containerSkipReason(['podman', 'skopeo', 'runc']) ??
  (hasCatatonit() ? undefined : 'catatonit not installed: podman kube play builds its pod infra container from it (Debian: apt-get install catatonit)') ??
  baseSkipReason();

function manifests(args: string[]): Obj[] {
  const r = spawnSync(process.execPath, [CLI, 'manifests', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout).map((d) => (d as { toJS(): Obj }).toJS());
}

/** The one change for this sandbox: container ports published on loopback only (podman publishes on every interface otherwise). */
function loopbackOnly(container: Obj): void {
  for (const p of container.ports as Obj[]) Object.assign(p, { hostPort: p.containerPort, hostIP: '127.0.0.1' });
}

async function waitReady(url: string, logs: () => Promise<string>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let status: number | string = 0;
  while (Date.now() < deadline) {
    status = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, (e: Error) => e.message);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`not ready within ${timeoutMs} ms (${status}):\n${await logs()}`);
}

async function infer(url: string, model: string, row: number[]): Promise<{ status: number; body: Obj }> {
  const res = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, row.length], datatype: 'FP32', data: row }] }),
  });
  return { status: res.status, body: (await res.json()) as Obj };
}

describe('podman kube play of the generated manifests', { skip, timeout: 20 * 60 * 1000 }, () => {
  let base: BaseImage;
  let podman: Podman;
  let work: string;
  let image: string;
  const played: string[] = [];

  before(async () => {
    base = await ensureBaseImage();
    podman = await Podman.create();
    work = await mkdtemp(join(tmpdir(), 'berth-kube-play-'));
    const models = join(work, 'models');
    await writeAffine(models, 'baked');
    const built = await buildServerImage({ podman, baseDir: base.dir, models, work });
    image = built.image;
    console.log(`# image built by berth package in ${built.seconds.toFixed(1)} s`);
  });

  after(async () => {
    for (const file of played) await podman?.exec(['kube', 'down', file]);
    await podman?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
    await base?.dispose();
  });

  async function play(name: string, doc: Obj): Promise<{ logs: () => Promise<string>; container: string }> {
    const file = join(work, `${name}.yaml`);
    await writeFile(file, stringify(doc));
    played.push(file);
    await podman.check(['kube', 'play', file], 300_000);
    const container = doc.kind === 'Deployment' ? `${name}-pod-0-${doc.spec.template.spec.containers[0].name}` : `${name}-${doc.spec.containers[0].name}`;
    return { container, logs: async () => { const r = await podman.exec(['logs', container]); return r.stdout + r.stderr; } };
  }

  test('the Deployment runs as uid 65532 on a read-only root with its limits and serves v2 inference', async () => {
    const [http, grpc] = [await freePort(), await freePort()];
    const name = uniqueName('kp');
    const objs = manifests(['kubernetes', name, '--image', image, '--replicas', '1', '--cpu', '500m', '--memory', '512Mi', '--port', String(http), '--grpc-port', String(grpc)]);
    const deployment = objs.find((o) => o.kind === 'Deployment')!;
    loopbackOnly(deployment.spec.template.spec.containers[0]);
    const { container, logs } = await play(name, deployment);
    const url = `http://127.0.0.1:${http}`;
    await waitReady(url, logs);
    assert.equal((await fetch(`${url}/v2/health/live`)).status, 200);
    const row = [1, 2, 3, 4];
    const answer = await infer(url, 'baked', row);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.outputs[0].data, affineExpected(row));
    const inspect = (JSON.parse(await podman.check(['inspect', container])) as Obj[])[0]!;
    assert.equal(inspect.Config.User, '65532:65532');
    assert.equal(inspect.HostConfig.ReadonlyRootfs, true);
    assert.equal(inspect.HostConfig.Memory, 512 * 2 ** 20);
    // podman's own descriptors (no ps in the image): the process's user, and the args it was given
    const top = await podman.check(['top', container, 'user', 'args']);
    assert.match(top, /^(nonroot|65532)\s+.*--exit-timeout-secs 30/m, top);
  });

  test('the KServe runtime container serves the model mounted at /mnt/models, not the baked one', async () => {
    const [http, grpc] = [await freePort(), await freePort()];
    const name = uniqueName('ks');
    const mounted = join(work, 'kserve-models');
    await writeAffine(mounted, 'mounted');
    // the container runs as uid 65532: it must be able to read the mounted model (mkdtemp makes 0700)
    spawnSync('chmod', ['-R', 'a+rX', mounted]);
    await chmod(work, 0o755);
    const [runtime] = manifests(['kserve', name, '--image', image, '--storage-uri', 's3://models/mounted', '--port', String(http), '--grpc-port', String(grpc)]);
    const c = runtime!.spec.containers[0] as Obj;
    loopbackOnly(c);
    c.volumeMounts.push({ name: 'kserve-model', mountPath: '/mnt/models', readOnly: true });
    // the Pod KServe would make of the runtime: its container and volumes, the model where the storage initializer puts it
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { containers: [c], volumes: [...(runtime!.spec.volumes as Obj[]), { name: 'kserve-model', hostPath: { path: mounted, type: 'Directory' } }] },
    };
    const { logs } = await play(name, pod);
    const url = `http://127.0.0.1:${http}`;
    await waitReady(url, logs);
    const row = [4, 3, 2, 1];
    const answer = await infer(url, 'mounted', row);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.outputs[0].data, affineExpected(row));
    assert.equal((await fetch(`${url}/v2/models/baked/ready`)).status, 404, 'the image\'s own /models must not be served under KServe');
  });
});
