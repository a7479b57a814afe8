/**
 * The failover scenario of haproxy.test.ts with the replicas as containers of the packaged image
 * (issue #18) under podman: SIGKILL and SIGTERM go to the server as the container's PID 1 (podman
 * kill), restarts are `podman start` of the same container, HAProxy reaches them through ports
 * published on 127.0.0.1.
 *
 * It takes ~1.5 minutes (an image build and ~70 s of load), so it runs outside the README's test
 * command: `.ci/run` runs it once with BERTH_TEST_FLEET_CONTAINERS=1, as it runs the large-model
 * packaging test; haproxy.test.ts runs the same scenario on processes in every `npm test`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AFFINE, tempDir, writeAffine } from '../helpers/models.js';
import { baseSkipReason, ensureBaseImage } from '../helpers/base-image.js';
import type { BaseImage } from '../helpers/base-image.js';
import { CLI } from '../helpers/cli-server.js';
import { Podman, containerSkipReason } from '../helpers/podman.js';
import { buildServerImage, packageSkipReason } from '../package/image-build.js';
import { ContainerReplica } from './helpers/containers.js';
import { failoverScenario } from './helpers/failover.js';
import { Haproxy, freePort, haproxyMissing } from './helpers/fleet.js';
import type { Workload } from './helpers/load.js';

const skip = (process.env.BERTH_TEST_FLEET_CONTAINERS !== '1' ? 'set BERTH_TEST_FLEET_CONTAINERS=1 to run it (~1.5 minutes; .ci/run does): haproxy.test.ts runs the same scenario on processes' : false) || haproxyMissing() || containerSkipReason(['podman', 'skopeo', 'runc']) || baseSkipReason() || (existsSync(CLI) ? packageSkipReason() : 'dist/ is not built (npm run build)');

const affine: Workload = {
  model: 'affine',
  input: 'input',
  output: 'output',
  width: AFFINE.inputs,
  rows: 1,
  expected: (row) => Float32Array.from({ length: AFFINE.outputs }, (_, j) => row.reduce((s, x, i) => s + x * AFFINE.weight(i, j), AFFINE.bias(j))),
};

describe('three containers behind HAProxy: failover under load', { skip, timeout: 10 * 60 * 1000 }, () => {
  let base: BaseImage | undefined;
  let podman: Podman | undefined;
  let haproxy: Haproxy | undefined;
  const replicas: ContainerReplica[] = [];

  before(async () => {
    base = await ensureBaseImage();
    podman = await Podman.create();
    const work = tempDir('berth-fleet-podman-');
    const models = join(work, 'models');
    await writeAffine(models);
    const built = await buildServerImage({ podman, baseDir: base.dir, models, work });
    for (let i = 1; i <= 3; i++) {
      const c = await podman.run(built.image, { publish: { http: 8000, grpc: 8001 }, args: ['--drain-delay', '1', '--drain-timeout', '10', '--no-access-log'] });
      replicas.push(new ContainerReplica(`replica${i}`, c, podman));
    }
    for (const r of replicas) await r.container.waitReady(60_000);
    haproxy = new Haproxy(tempDir('berth-fleet-haproxy-'), await freePort(), { replica: replicas.map((r) => `127.0.0.1:${r.port}`) });
    await haproxy.start();
    for (const r of replicas) await haproxy.waitStatus(r.name, 'UP');
  });
  after(async () => {
    await haproxy?.stop();
    await podman?.cleanup();
    await base?.dispose();
  });

  test('SIGKILL, SIGTERM, restart, then a rolling restart of all three containers: 0 failed requests', { timeout: 5 * 60 * 1000 }, async () => {
    const { report, line, downs } = await failoverScenario(haproxy!, replicas, affine);
    console.log(`fleet failover (podman): ${line}`);
    assert.deepEqual(report.failures(), {}, line);
    assert.ok(report.total >= 1000, `too little traffic to mean anything: ${line}`);
    assert.ok(downs >= 3, `HAProxy saw fewer UP→DOWN transitions than replicas stopped: ${line}`);
  });
});
