import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyWindow, chooseVersion, cloneTensors, compareOutputs, policyVersions, routeFraction, validatePolicy } from '../../src/core/traffic.js';
import type { Tensor } from '../../src/core/tensor.js';

const fp32 = (name: string, shape: number[], data: number[]): Tensor => ({ name, datatype: 'FP32', shape, data: Float32Array.from(data) });

describe('traffic policy', () => {
  test('route keys hash stably and evenly', () => {
    assert.equal(routeFraction('user-42'), routeFraction('user-42'));
    const n = 20000;
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < n; i++) {
      const f = routeFraction(`user-${i}`);
      assert.ok(f >= 0 && f < 1);
      buckets[Math.floor(f * 10)]!++;
    }
    for (const b of buckets) assert.ok(Math.abs(b - n / 10) < n / 10 * 0.08, `bucket ${b} of ${n}`);
  });

  test('sticky choice: same key, same version; raising the share only moves keys to the canary', () => {
    const p10 = { production: '1', canary: { version: '2', percent: 10 } };
    const p30 = { production: '1', canary: { version: '2', percent: 30 } };
    let canary10 = 0;
    for (let i = 0; i < 5000; i++) {
      const key = `k${i}`;
      const a = chooseVersion('m', p10, key, () => 0);
      assert.equal(chooseVersion('m', p10, key, () => 0.99), a, 'the random draw is ignored with a key');
      if (a === 'canary') {
        canary10++;
        assert.equal(chooseVersion('m', p30, key), 'canary');
      }
    }
    assert.ok(canary10 > 400 && canary10 < 600, `${canary10} of 5000 keys on a 10% canary`);
  });

  test('without a key the draw decides; 0% and 100% are exact', () => {
    const p = { production: '1', canary: { version: '2', percent: 25 } };
    assert.equal(chooseVersion('m', p, undefined, () => 0.24), 'canary');
    assert.equal(chooseVersion('m', p, undefined, () => 0.25), 'production');
    assert.equal(chooseVersion('m', { production: '1', canary: { version: '2', percent: 0 } }, undefined, () => 0), 'production');
    assert.equal(chooseVersion('m', { production: '1', canary: { version: '2', percent: 100 } }, 'any', () => 0.999), 'canary');
    assert.equal(chooseVersion('m', { production: '1' }), 'production');
  });

  test('policies are validated and list the versions they need', () => {
    assert.throws(() => validatePolicy({ production: '0' }), /production version/);
    assert.throws(() => validatePolicy({ production: '1', canary: { version: '2', percent: 101 } }), /percent/);
    assert.throws(() => validatePolicy({ production: '1', shadow: '../x' }), /shadow version/);
    assert.deepEqual(policyVersions({ production: '1', canary: { version: '2', percent: 5 }, shadow: '3' }), ['1', '2', '3']);
    assert.deepEqual(policyVersions({ production: '1', shadow: '1' }), ['1']);
  });
});

describe('shadow comparison', () => {
  test('class outputs agree on top-1 per row; max |diff| is reported', () => {
    const a = [fp32('p', [2, 3], [0.1, 0.7, 0.2, 0.5, 0.3, 0.2])];
    const b = [fp32('p', [2, 3], [0.2, 0.6, 0.2, 0.4, 0.35, 0.25])];
    const c = compareOutputs(a, b);
    assert.equal(c.method, 'top1');
    assert.equal(c.agree, true);
    assert.ok(Math.abs(c.maxAbsDiff - 0.1) < 1e-6);
    const flipped = [fp32('p', [2, 3], [0.1, 0.7, 0.2, 0.3, 0.5, 0.2])];
    assert.equal(compareOutputs(a, flipped).agree, false);
  });

  test('without a class axis: all-close', () => {
    const a = [fp32('y', [2, 1], [1, 2])];
    assert.deepEqual(compareOutputs(a, [fp32('y', [2, 1], [1, 2])]), { agree: true, maxAbsDiff: 0, method: 'allclose' });
    const off = compareOutputs(a, [fp32('y', [2, 1], [1, 2.5])]);
    assert.equal(off.agree, false);
    assert.equal(off.maxAbsDiff, 0.5);
    assert.equal(compareOutputs(a, [fp32('y', [1, 2], [1, 2])]).agree, false, 'shape differs');
    const ints: Tensor[] = [{ name: 'label', datatype: 'INT64', shape: [2], data: BigInt64Array.from([3n, 4n]) }];
    assert.equal(compareOutputs(ints, [{ name: 'label', datatype: 'INT64', shape: [2], data: BigInt64Array.from([3n, 5n]) }]).agree, false);
  });

  test('inputs are deep-copied (the runtime detaches what it is given)', () => {
    const t = fp32('x', [1, 2], [1, 2]);
    const [copy] = cloneTensors([t]);
    (t.data as Float32Array)[0] = 9;
    assert.deepEqual(Array.from(copy!.data as Float32Array), [1, 2]);
  });

  test('latency window quantiles', () => {
    const w = new LatencyWindow(100);
    assert.equal(w.quantile(0.5), undefined);
    for (let i = 1; i <= 200; i++) w.add(i);
    assert.equal(w.count, 100);
    assert.equal(w.quantile(0.5), 150);
    assert.equal(w.quantile(0.99), 199);
  });
});

describe('shadow queue bound and gRPC route key', () => {
  test('a full shadow queue skips (and counts) instead of queueing', async () => {
    const { ModelTraffic } = await import('../../src/core/traffic.js');
    const t = new ModelTraffic('m', { production: '1', shadow: '2' }, 2);
    assert.equal(t.reserveShadow(), true);
    assert.equal(t.reserveShadow(), true);
    assert.equal(t.reserveShadow(), false);
    assert.equal(t.stats().shadow!.skipped, 1);
    t.releaseShadow();
    assert.equal(t.reserveShadow(), true);
  });

  test('gRPC: the route_key request parameter becomes the route key', async () => {
    const { decodeInferRequest } = await import('../../src/grpc/codec.js');
    const req = decodeInferRequest({ model_name: 'm', inputs: [], parameters: { route_key: { string_param: 'caller-7', parameter_choice: 'string_param' } } });
    assert.equal(req.routeKey, 'caller-7');
    assert.equal(decodeInferRequest({ model_name: 'm', inputs: [] }).routeKey, undefined);
  });
});

describe('applyTraffic', () => {
  test('load and warm, switch, drain; a version that fails to load is never switched to', async () => {
    const { InferenceService } = await import('../../src/core/inference-service.js');
    const { applyTraffic } = await import('../../src/core/traffic.js');
    const { tempDir, writeCorrupt } = await import('../helpers/models.js');
    const { writeScaledAffine, rowFor } = await import('./helpers.js');
    const repo = tempDir('berth-apply-');
    const v1 = await writeScaledAffine(repo, 'm', 1, 1);
    const v2 = await writeScaledAffine(repo, 'm', 2, 2);
    const bad = writeCorrupt(repo, 'bad');
    const { BackendRegistry } = await import('../../src/core/backends.js');
    const { onnxruntimeBackend } = await import('../../src/runtime/onnx-backend.js');
    const service = new InferenceService({ backends: new BackendRegistry([onnxruntimeBackend]) });
    const input = () => [{ name: 'input', datatype: 'FP32' as const, shape: [1, 4], data: Float32Array.from(rowFor(2)) }];
    try {
      await applyTraffic(service, { name: 'm', versions: new Map([[1, v1], [2, v2]]) }, { production: '1' });
      assert.deepEqual(service.loadedVersions('m'), ['1']);
      assert.equal((await service.infer({ modelName: 'm', inputs: input() })).modelVersion, '1');
      await applyTraffic(service, { name: 'm', versions: new Map([[1, v1], [2, v2]]) }, { production: '1', canary: { version: '2', percent: 100 } });
      assert.deepEqual(service.loadedVersions('m'), ['1', '2']);
      assert.equal((await service.infer({ modelName: 'm', inputs: input() })).modelVersion, '2');
      assert.equal((await service.infer({ modelName: 'm', modelVersion: '1', inputs: input() })).modelVersion, '1', 'explicit versions ignore the policy');
      const before = service.getTraffic('m');
      await assert.rejects(
        applyTraffic(service, { name: 'm', versions: new Map([[1, v1], [3, bad]]) }, { production: '1', canary: { version: '3', percent: 50 } }),
        /cannot switch traffic, version 3/,
      );
      assert.deepEqual(service.getTraffic('m'), before);
      assert.equal((await service.infer({ modelName: 'm', inputs: input() })).modelVersion, '2', 'still serving the old policy');
      await applyTraffic(service, { name: 'm', versions: new Map([[1, v1], [2, v2]]) }, { production: '2' });
      assert.deepEqual(service.loadedVersions('m'), ['2']);
      assert.equal(service.rolloutStats('m')!.canaryShare, null);
    } finally {
      await service.close();
    }
  });
});
