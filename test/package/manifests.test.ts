import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KUBERNETES_KINDS, QUEUE_DEPTH_METRIC, kubernetesManifests } from '../../src/package/manifests/kubernetes.js';
import { kserveManifests, validateKServe } from '../../src/package/manifests/kserve.js';
import { kserveOptions, manifestOptions } from '../../src/package/manifests/options.js';
import type { ManifestFlags } from '../../src/package/manifests/options.js';
import { yamlStream } from '../../src/package/manifests/render.js';
import { validateStrict } from '../../src/package/manifests/strict.js';
import { quantityValue } from '../../src/package/manifests/quantity.js';
import { tempDir, writeAffine, writeSlow } from '../helpers/models.js';
import { postJson } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const IMAGE = 'registry.example.com/berth/digits:1.0';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The YAML text → its documents, as `kubectl apply -f` would read them (parse errors fail the test). */
function documents(text: string): Obj[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error('empty YAML');
  for (const d of docs) assert.deepEqual(d.errors, [], 'YAML parse errors');
  return docs.map((d) => d.toJS() as Obj);
}

function kubernetesYaml(flags: ManifestFlags = {}): Obj[] {
  return documents(yamlStream(kubernetesManifests(manifestOptions('digits', { image: IMAGE, ...flags })), 'test'));
}

function kserveYaml(flags: ManifestFlags = {}): Obj[] {
  return documents(yamlStream(kserveManifests(kserveOptions('digits', { image: IMAGE, storageUri: 's3://models/digits', ...flags })), 'test'));
}

function validateKube(obj: Obj): void {
  validateStrict(KUBERNETES_KINDS[obj.kind as string]!, obj);
}

function byKind(objs: Obj[], kind: string): Obj {
  const found = objs.find((o) => o.kind === kind);
  assert.ok(found, `no ${kind}`);
  return found;
}

function argValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

describe('berth manifests kubernetes', () => {
  test('the YAML stream parses into a Deployment, Service, HPA v2 and PDB, each valid', () => {
    const objs = kubernetesYaml();
    assert.deepEqual(objs.map((o) => `${o.apiVersion} ${o.kind}`), ['apps/v1 Deployment', 'v1 Service', 'autoscaling/v2 HorizontalPodAutoscaler', 'policy/v1 PodDisruptionBudget']);
    for (const o of objs) validateKube(o);
  });

  test('the pod runs non-root, read-only, without capabilities, with writable scratch for BERTH_HOME and /tmp', () => {
    const pod = byKind(kubernetesYaml(), 'Deployment').spec.template.spec;
    const c = pod.containers[0];
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.runAsUser, 65532);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.equal(c.securityContext.seccompProfile.type, 'RuntimeDefault');
    const home = c.env.find((e: Obj) => e.name === 'BERTH_HOME').value;
    const mounts = new Map<string, string>(c.volumeMounts.map((m: Obj) => [m.mountPath, m.name]));
    for (const dir of [home, '/tmp']) {
      const volume = pod.volumes.find((v: Obj) => v.name === mounts.get(dir));
      assert.ok(volume?.emptyDir, `${dir} is not on an emptyDir`);
    }
    assert.ok(!c.volumeMounts.some((m: Obj) => m.readOnly), 'scratch mounts must be writable');
    assert.deepEqual(c.ports.map((p: Obj) => [p.name, p.containerPort]), [['http', 8000], ['grpc', 8001]]);
    assert.deepEqual(c.resources, { requests: { cpu: '1', memory: '2Gi' }, limits: { cpu: '1', memory: '2Gi' } });
  });

  test('grace period covers the pre-stop pause plus berth\'s drain deadline, passed to berth itself', () => {
    for (const [preStop, exit] of [['10', '30'], ['0', '120'], ['25', '5']] as const) {
      const d = byKind(kubernetesYaml({ preStop, exitTimeout: exit }), 'Deployment');
      const pod = d.spec.template.spec;
      const c = pod.containers[0];
      const preStopSecs = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
      assert.equal(preStopSecs, Number(preStop));
      // berth drains for at most --exit-timeout-secs after SIGTERM: the container gets the value
      assert.equal(argValue(c.args, '--exit-timeout-secs'), exit);
      assert.ok(pod.terminationGracePeriodSeconds > preStopSecs + Number(exit), `grace ${pod.terminationGracePeriodSeconds} ≤ ${preStopSecs} + ${exit}`);
    }
  });

  test('--drain-delay: berth keeps serving after SIGTERM itself (no preStop.sleep before Kubernetes 1.30); the grace period covers delay and drain', () => {
    const pod = byKind(kubernetesYaml({ preStop: '0', drainDelay: '12', exitTimeout: '30' }), 'Deployment').spec.template.spec;
    const c = pod.containers[0];
    assert.equal(c.lifecycle, undefined);
    assert.equal(argValue(c.args, '--drain-delay'), '12');
    assert.ok(pod.terminationGracePeriodSeconds > 12 + 30, `grace ${pod.terminationGracePeriodSeconds} ≤ 12 + 30`);
    // both: the pause, then berth's own delay, then the drain
    const both = byKind(kubernetesYaml({ preStop: '5', drainDelay: '3', exitTimeout: '20' }), 'Deployment').spec.template.spec;
    assert.ok(both.terminationGracePeriodSeconds > 5 + 3 + 20);
    assert.equal(argValue(byKind(kubernetesYaml(), 'Deployment').spec.template.spec.containers[0].args, '--drain-delay'), undefined, 'no delay unless asked');
    assert.throws(() => kubernetesYaml({ drainDelay: '-1' }), /--drain-delay must be between 0 and 3600/);
  });

  test('probes: startup gates liveness for the whole --startup-timeout window; readiness and liveness on the v2 health routes', () => {
    const c = byKind(kubernetesYaml({ startupTimeout: '1800' }), 'Deployment').spec.template.spec.containers[0];
    assert.equal(c.startupProbe.httpGet.path, '/v2/health/ready');
    assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 1800);
    assert.equal(c.readinessProbe.httpGet.path, '/v2/health/ready');
    assert.equal(c.livenessProbe.httpGet.path, '/v2/health/live');
    for (const p of [c.startupProbe, c.readinessProbe, c.livenessProbe]) assert.equal(p.httpGet.port, 'http');
  });

  test('Service: HTTP and gRPC (h2c); HPA on CPU and berth_queue_depth; PDB; Prometheus annotations', () => {
    const objs = kubernetesYaml({ port: '9000', grpcPort: '9001', minReplicas: '3', maxReplicas: '7' });
    const svc = byKind(objs, 'Service');
    assert.deepEqual(svc.spec.ports.map((p: Obj) => [p.name, p.port, p.targetPort, p.appProtocol]), [['http', 9000, 'http', 'http'], ['grpc', 9001, 'grpc', 'kubernetes.io/h2c']]);
    const d = byKind(objs, 'Deployment');
    assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
    const hpa = byKind(objs, 'HorizontalPodAutoscaler');
    assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [3, 7]);
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'digits' });
    assert.equal(hpa.spec.metrics[0].resource.name, 'cpu');
    assert.equal(hpa.spec.metrics[1].pods.metric.name, QUEUE_DEPTH_METRIC);
    assert.equal(byKind(kubernetesYaml({ queueMetric: false }), 'HorizontalPodAutoscaler').spec.metrics.length, 1);
    const pdb = byKind(objs, 'PodDisruptionBudget');
    assert.deepEqual(pdb.spec.selector.matchLabels, d.spec.selector.matchLabels);
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(d.spec.template.metadata.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9000', 'prometheus.io/path': '/metrics' });
    assert.equal(argValue(d.spec.template.spec.containers[0].args, '--port'), '9000');
    assert.equal(argValue(d.spec.template.spec.containers[0].args, '--grpc-port'), '9001');
  });

  test('broken objects are rejected: bad quantity, misspelled field, wrong type, unknown field in a Service', () => {
    const objs = kubernetesYaml();
    const text = yamlStream([byKind(objs, 'Deployment')]);
    const cases: [string, (d: Obj) => void, RegExp][] = [
      ['memory "2 GB"', (d) => (d.spec.template.spec.containers[0].resources.limits.memory = '2 GB'), /resources\/limits\/memory/],
      ['cpu "lots"', (d) => (d.spec.template.spec.containers[0].resources.requests.cpu = 'lots'), /requests\/cpu/],
      ['replica: 2', (d) => (d.spec.replica = 2), /unknown field \/spec\/replica\b/],
      ['readinessprobe', (d) => (d.spec.template.spec.containers[0].readinessprobe = d.spec.template.spec.containers[0].readinessProbe), /unknown field \/spec\/template\/spec\/containers\/0\/readinessprobe/],
      ['runAsuser', (d) => (d.spec.template.spec.securityContext.runAsuser = 0), /runAsuser/],
      ['replicas: "two"', (d) => (d.spec.replicas = 'two'), /\/spec\/replicas/],
      ['no selector', (d) => delete d.spec.selector, /selector/],
    ];
    for (const [what, breakIt, message] of cases) {
      // from YAML text, as a user's edited file would arrive
      const d = documents(text)[0]!;
      breakIt(d);
      assert.throws(() => validateKube(documents(yamlStream([d]))[0]!), message, what);
    }
    const svc = structuredClone(byKind(objs, 'Service'));
    svc.spec.ports[1].appprotocol = 'kubernetes.io/h2c';
    assert.throws(() => validateKube(svc), /unknown field \/spec\/ports\/1\/appprotocol/);
    // map keys are data, not fields: extra labels and annotations stay valid
    const d = structuredClone(byKind(objs, 'Deployment'));
    d.spec.template.metadata.annotations['example.com/anything'] = 'x';
    validateKube(d);
  });

  test('flags are checked: one line, nothing generated', () => {
    const bad: [ManifestFlags, RegExp][] = [
      [{ replicas: '-1' }, /--replicas must be between 1/],
      [{ replicas: '1.5' }, /--replicas must be a whole number/],
      [{ memory: '2 GB' }, /--memory must be a Kubernetes memory quantity/],
      [{ memory: '2GB' }, /--memory must be a Kubernetes memory quantity/],
      [{ memory: '500m' }, /at least 16Mi/],
      [{ cpu: '0' }, /--cpu must be at least 1m/],
      [{ cpu: '2', cpuLimit: '1' }, /--cpu-limit \(1\) must be at least --cpu/],
      [{ minReplicas: '4', maxReplicas: '2' }, /--max-replicas \(2\) must be at least --min-replicas/],
      [{ port: '70000' }, /--port must be between 1 and 65535/],
      [{ port: '9000', grpcPort: '9000' }, /must differ/],
      [{ image: 'docker://x/y' }, /--image must be an image reference/],
      [{ namespace: 'Prod_1' }, /--namespace must be a DNS label/],
    ];
    for (const [flags, message] of bad) assert.throws(() => manifestOptions('digits', { image: IMAGE, ...flags }), message, JSON.stringify(flags));
    assert.throws(() => manifestOptions('Digits', { image: IMAGE }), /NAME must be a DNS label/);
    // the quantity reader agrees with Kubernetes' units
    assert.equal(quantityValue('2Gi'), 2 * 2 ** 30);
    assert.equal(quantityValue('1500m'), 1.5);
    assert.equal(quantityValue('1e3'), 1000);
    assert.equal(quantityValue('2 GB'), undefined);
  });
});

describe('berth manifests kserve', () => {
  test('ClusterServingRuntime and InferenceService parse and validate', () => {
    const [runtime, isvc] = kserveYaml({ namespace: 'models', minReplicas: '1', maxReplicas: '4' });
    validateKServe(runtime);
    validateKServe(isvc);
    assert.equal(runtime!.apiVersion, 'serving.kserve.io/v1alpha1');
    assert.deepEqual(runtime!.spec.supportedModelFormats, [{ name: 'onnx', version: '1', autoSelect: true, priority: 1 }]);
    assert.deepEqual(runtime!.spec.protocolVersions, ['v2', 'grpc-v2']);
    const c = runtime!.spec.containers[0];
    assert.equal(c.name, 'kserve-container');
    assert.deepEqual(c.command, ['node', '/app/dist/cli/main.js', 'serve']);
    assert.equal(c.args[0], '/mnt/models');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.equal(runtime!.spec.annotations['prometheus.kserve.io/port'], '8000');
    assert.equal(runtime!.spec.annotations['prometheus.kserve.io/path'], '/metrics');
    assert.equal(isvc!.apiVersion, 'serving.kserve.io/v1beta1');
    assert.equal(isvc!.metadata.namespace, 'models');
    assert.deepEqual(isvc!.spec.predictor.model, { modelFormat: { name: 'onnx', version: '1' }, runtime: 'berth', protocolVersion: 'v2', storageUri: 's3://models/digits' });
    assert.deepEqual([isvc!.spec.predictor.minReplicas, isvc!.spec.predictor.maxReplicas], [1, 4]);
    const preStop = c.lifecycle.preStop.sleep.seconds as number;
    assert.ok(isvc!.spec.predictor.terminationGracePeriodSeconds > preStop + Number(argValue(c.args, '--exit-timeout-secs')));
  });

  test('--storage-uri: s3, gs, pvc, https and oci (modelcar) accepted; anything else refused', () => {
    for (const uri of ['s3://b/m', 'gs://b/m', 'pvc://claim/m', 'https://example.com/m.tar.gz', 'oci://registry.example.com/models/digits:1']) {
      const [, isvc] = kserveYaml({ storageUri: uri });
      assert.equal(isvc!.spec.predictor.model.storageUri, uri);
    }
    for (const uri of ['ftp://x/y', 'oci://', '/local/path', 'S3://b/m']) {
      assert.throws(() => kserveOptions('digits', { image: IMAGE, storageUri: uri }), /--storage-uri must start with/, uri);
    }
    assert.throws(() => kserveOptions('digits', { image: IMAGE }), /--storage-uri is required/);
  });

  test('broken KServe objects are rejected: storageURI, unknown protocol, wrong container name, bad quantity, unknown container field', () => {
    const [runtime, isvc] = kserveYaml();
    const brokenIsvc: [string, (o: Obj) => void, RegExp][] = [
      ['storageURI', (o) => { o.spec.predictor.model.storageURI = o.spec.predictor.model.storageUri; delete o.spec.predictor.model.storageUri; }, /additional properties 'storageURI'/],
      ['protocolVersion V2', (o) => (o.spec.predictor.model.protocolVersion = 'V2'), /protocolVersion/],
      ['minReplicas -1', (o) => (o.spec.predictor.minReplicas = -1), /minReplicas/],
      ['modelFormat missing', (o) => delete o.spec.predictor.model.modelFormat, /modelFormat/],
      ['bad resources', (o) => (o.spec.predictor.model.resources = { limits: { memory: '2 GB' } }), /resources\/limits\/memory/],
      ['ftp storage', (o) => (o.spec.predictor.model.storageUri = 'ftp://x/y'), /storageUri/],
      ['apiVersion v1alpha1', (o) => (o.apiVersion = 'serving.kserve.io/v1alpha1'), /apiVersion/],
      ['pod security typo', (o) => (o.spec.predictor.securityContext.runAsNonroot = true), /runAsNonroot/],
    ];
    for (const [what, breakIt, message] of brokenIsvc) {
      const o = structuredClone(isvc!);
      breakIt(o);
      assert.throws(() => validateKServe(o), message, what);
    }
    const brokenRuntime: [string, (o: Obj) => void, RegExp][] = [
      ['container name', (o) => (o.spec.containers[0].name = 'berth'), /containers/],
      ['supportedModelFormat', (o) => (o.spec.supportedModelFormat = o.spec.supportedModelFormats), /supportedModelFormat'/],
      ['autoSelect "yes"', (o) => (o.spec.supportedModelFormats[0].autoSelect = 'yes'), /autoSelect/],
      ['protocol', (o) => o.spec.protocolVersions.push('grpc-v3'), /protocolVersions/],
      ['container typo', (o) => (o.spec.containers[0].imagePullPolicyy = 'Always'), /unknown field \/imagePullPolicyy/],
      ['container quantity', (o) => (o.spec.containers[0].resources.limits.cpu = 'two'), /resources\/limits\/cpu/],
    ];
    for (const [what, breakIt, message] of brokenRuntime) {
      const o = structuredClone(runtime!);
      breakIt(o);
      assert.throws(() => validateKServe(o), message, what);
    }
    assert.throws(() => validateKServe({ kind: 'Deployment' }), /not a KServe object/);
  });
});


const built = existsSync(CLI) ? false : 'dist/ not built: run npm run build';

describe('the generated container against the real server', { skip: built }, () => {
  test('berth serve with the manifest\'s args answers every probe path, exports the HPA metric, and stays live while draining', async () => {
    const [http, grpc] = [await freePort(), await freePort()];
    const c = byKind(kubernetesYaml({ port: String(http), grpcPort: String(grpc), exitTimeout: '20', drainDelay: '1' }), 'Deployment').spec.template.spec.containers[0];
    const repo = tempDir();
    await writeAffine(repo);
    await writeSlow(repo, 'slow', 48, { max_batch_size: 8192 });
    const home = tempDir();
    const env = { ...process.env, ...Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value])), BERTH_HOME: home, TMPDIR: home };
    // the image's entrypoint is `berth serve /models`; here the models are in REPO
    const child = spawn(process.execPath, [CLI, 'serve', repo, ...(c.args as string[])], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const exited = once(child, 'exit');
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    after(() => child.kill('SIGKILL'));
    const base = `http://127.0.0.1:${http}`;
    const deadline = Date.now() + 60_000;
    let startup = 0;
    while (startup !== 200 && Date.now() < deadline) {
      startup = await fetch(`${base}${c.startupProbe.httpGet.path}`).then((r) => r.status, () => 0);
      if (startup !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(startup, 200, log);
    assert.equal((await fetch(`${base}${c.readinessProbe.httpGet.path}`)).status, 200);
    assert.equal((await fetch(`${base}${c.livenessProbe.httpGet.path}`)).status, 200);
    // the Prometheus annotations' path serves the metric the HPA scales on
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, new RegExp(`^# TYPE ${QUEUE_DEPTH_METRIC} gauge$`, 'm'));
    assert.match(metrics, new RegExp(`^${QUEUE_DEPTH_METRIC}\\{model="affine",version="1"\\} 0$`, 'm'));
    // SIGTERM with a request in flight: ready turns 503 (endpoints drop the pod), live stays 200
    // (the kubelet does not restart a draining pod), the request finishes, exit 0
    const rows = 4096;
    const inflight = postJson(`${base}/v2/models/slow/infer`, { inputs: [{ name: 'input', shape: [rows, 512], datatype: 'FP32', data: new Array(rows * 512).fill(1) }] });
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const until = Date.now() + 10_000;
    while (!/draining/.test(log) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    const [ready, live] = await Promise.all([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path].map((p: string) => fetch(`${base}${p}`).then((r) => r.status, () => 'closed')));
    const answer = await inflight;
    const [code] = (await exited) as [number | null];
    assert.equal(answer.status, 200, log);
    assert.equal(ready, 503);
    assert.equal(live, 200);
    assert.equal(code, 0, log);
  });

  test('the CLI: YAML on stdout or --out; a bad flag is one line on stderr, exit ≠ 0, no file', () => {
    const dir = tempDir();
    const out = join(dir, 'k.yaml');
    const ok = spawnSync(process.execPath, [CLI, 'manifests', 'kubernetes', 'digits', '--image', IMAGE, '--out', out], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(documents(readFileSync(out, 'utf8')).length, 4);
    const ks = spawnSync(process.execPath, [CLI, 'manifests', 'kserve', 'digits', '--image', IMAGE, '--storage-uri', 'oci://registry.example.com/models/digits:1'], { encoding: 'utf8' });
    assert.equal(ks.status, 0, ks.stderr);
    assert.deepEqual(documents(ks.stdout).map((o) => o.kind), ['ClusterServingRuntime', 'InferenceService']);
    for (const args of [['kubernetes', 'digits', '--image', IMAGE, '--replicas', '-1'], ['kubernetes', 'digits', '--image', IMAGE, '--memory', '2 GB'], ['kserve', 'digits', '--image', IMAGE, '--storage-uri', 'ftp://x/y'], ['kubernetes', 'digits']]) {
      const bad = join(dir, 'bad.yaml');
      const r = spawnSync(process.execPath, [CLI, 'manifests', ...args, '--out', bad], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^error: /);
      assert.equal(existsSync(bad), false);
    }
  });
});
