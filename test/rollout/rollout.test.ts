/**
 * Rollouts through a running server (loopback HTTP, 32 concurrent clients): canary share,
 * sticky routing, promote and rollback without a failed request, shadow traffic that never
 * changes a response, and `serve --registry` following the catalog without restart.
 *
 * Versions of model `m` differ in output: v1 = affine, v2 = 2 × affine, v3 = 3 × affine (same
 * top-1 as v1), v4 = affine with a shifted bias (a different top-1 on some rows). So every
 * response says, by its values as well as its model_version, which version answered it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { tempDir, writeModel } from '../helpers/models.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/onnx/index.js';
import { waitFor } from '../helpers/wait.js';
import { Registry } from '../../src/registry/registry.js';
import { rowFor, runLoad, scaledExpected, writeScaledAffine } from './helpers.js';

const SCALE: Record<string, number> = { '1': 1, '2': 2, '3': 3, '4': 1 };
const SHIFT: Record<string, number[]> = { '4': [0, 0, 40] };

function expectedFor(version: string, i: number): number[] {
  return scaledExpected(rowFor(i), SCALE[version], SHIFT[version]);
}

describe('rollouts under load', () => {
  let registry: Registry;
  let server: RunningServer;

  before(async () => {
    const dir = tempDir('berth-rollout-');
    registry = await Registry.open({ home: join(dir, 'home') });
    for (const v of [1, 2, 3, 4]) {
      const path = await writeScaledAffine(join(dir, 'src'), 'm', v, SCALE[String(v)], SHIFT[String(v)]);
      await registry.push(path, { name: 'm' });
    }
    await registry.setAlias('m', 'production', 1);
    // A shadow queue large enough that no copy is skipped under the test's load (the bound
    // itself is unit-tested in traffic.test.ts).
    server = await startServer({ paths: [], http: { port: 0 }, registry: { instance: registry, pollSecs: 0.05 }, maxShadowInFlight: 10000, grpc: { enabled: false }, monitoring: { enabled: false } });
  });

  after(async () => {
    await server.close();
    await registry.close();
  });

  const policy = () => server.service.getTraffic('m');
  const loaded = () => server.service.loadedVersions('m').join(',');

  test('serve --registry serves the production alias', async () => {
    assert.deepEqual(policy(), { production: '1' });
    assert.equal(loaded(), '1');
    const [r] = await runLoad(server.url, { clients: 1, total: 1 });
    assert.equal(r!.status, 200);
    assert.equal(r!.version, '1');
    assert.deepEqual(r!.output, expectedFor('1', 0));
  });

  test('canary 10%: 10 ± 3% of 2000 responses come from the canary', async () => {
    await registry.startRollout('m', { canary: { version: 2, percent: 10 } });
    await waitFor(() => policy()?.canary?.version === '2', 10000, 'canary applied');
    const results = await runLoad(server.url, { clients: 32, total: 2000 });
    assert.equal(results.length, 2000);
    const failed = results.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3)));
    for (const r of results) assert.deepEqual(r.output, expectedFor(r.version!, r.i), `request ${r.i} answered by v${r.version}`);
    const share = results.filter((r) => r.version === '2').length / results.length;
    console.log(`canary share over ${results.length} requests: ${(share * 100).toFixed(2)}%`);
    assert.ok(share >= 0.07 && share <= 0.13, `canary share ${share}`);
    const stats = server.service.rolloutStats('m')!;
    assert.equal(stats.requests['1']!.success + stats.requests['2']!.success, 2000);
    assert.equal(stats.requests['2']!.success, results.filter((r) => r.version === '2').length);
    assert.ok(Math.abs(stats.canaryShare! - share) < 1e-9);
  });

  test('sticky routing: a route key always sees one version', async () => {
    await registry.startRollout('m', { canary: { version: 2, percent: 50 } });
    await waitFor(() => policy()?.canary?.percent === 50, 10000, 'canary at 50%');
    const keys = 64;
    const results = await runLoad(server.url, { clients: 32, total: keys * 12, headers: (i) => ({ 'x-berth-route-key': `caller-${i % keys}` }) });
    const seen = new Map<number, Set<string>>();
    for (const r of results) {
      assert.equal(r.status, 200);
      const key = r.i % keys;
      if (!seen.has(key)) seen.set(key, new Set());
      seen.get(key)!.add(r.version!);
    }
    for (const [key, versions] of seen) assert.equal(versions.size, 1, `caller-${key} saw versions ${[...versions].join(', ')}`);
    const onCanary = [...seen.values()].filter((s) => s.has('2')).length;
    assert.ok(onCanary > 10 && onCanary < 54, `${onCanary} of ${keys} callers on the canary`);
    // Explicit-version requests ignore the policy.
    const res = await fetch(`${server.url}/v2/models/m/versions/1/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: rowFor(1) }] }), headers: { 'x-berth-route-key': 'caller-1' } });
    assert.equal(((await res.json()) as { model_version: string }).model_version, '1');
  });

  test('promote, then rollback, under steady load: zero failed requests', async () => {
    await registry.startRollout('m', { canary: { version: 2, percent: 10 } });
    await waitFor(() => policy()?.canary?.percent === 10, 10000, 'canary at 10%');
    let done = false;
    const load = runLoad(server.url, { clients: 32, total: 1000, until: () => done, maxMs: 60000 });
    await new Promise((r) => setTimeout(r, 300));
    await registry.promote('m');
    await waitFor(() => policy()?.production === '2' && !policy()?.canary && loaded() === '2', 20000, 'promoted to v2 and v1 unloaded');
    await new Promise((r) => setTimeout(r, 300));
    await registry.rollback('m');
    await waitFor(() => policy()?.production === '1' && loaded() === '1', 20000, 'rolled back to v1 and v2 unloaded');
    await new Promise((r) => setTimeout(r, 300));
    done = true;
    const results = await load;
    const failed = results.filter((r) => r.status !== 200);
    console.log(`promote + rollback under load: ${results.length} requests, ${failed.length} failed`);
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3)));
    for (const r of results) assert.deepEqual(r.output, expectedFor(r.version!, r.i));
    const versions = new Set(results.map((r) => r.version));
    assert.ok(versions.has('1') && versions.has('2'), `versions seen: ${[...versions].join(', ')}`);
    // After the rollback everything is v1 again.
    const tail = await runLoad(server.url, { clients: 8, total: 100 });
    assert.ok(tail.every((r) => r.status === 200 && r.version === '1'));
  });

  test('shadow: every mirrored request is compared, and no response changes', async () => {
    const total = 2000;
    const baseline = await runLoad(server.url, { clients: 32, total });
    assert.ok(baseline.every((r) => r.status === 200 && r.version === '1'));
    await registry.startRollout('m', { shadow: { version: 3 } });
    await waitFor(() => policy()?.shadow === '3' && loaded() === '1,3', 20000, 'shadow v3 loaded');
    const results = await runLoad(server.url, { clients: 32, total });
    const byI = new Map(baseline.map((r) => [r.i, r.output]));
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.version, '1');
      assert.deepEqual(r.output, byI.get(r.i), `request ${r.i} changed with the shadow on`);
    }
    await waitFor(() => {
      const s = server.service.rolloutStats('m')!.shadow!;
      return s.mirrored + s.skipped + s.failed === total;
    }, 20000, 'every mirrored request compared');
    const s = server.service.rolloutStats('m')!.shadow!;
    console.log(`shadow: ${s.mirrored} mirrored, agreement ${s.agreement}, max |diff| ${s.maxAbsDiff}, latency p50/p99 ${s.latencyMs.primary.p50}/${s.latencyMs.primary.p99} ms vs ${s.latencyMs.shadow.p50}/${s.latencyMs.shadow.p99} ms`);
    assert.equal(s.failed, 0);
    assert.equal(s.skipped, 0);
    assert.equal(s.mirrored, total);
    assert.equal(s.agreed, total, 'v3 = 3 × v1 keeps every top-1');
    const maxOut = Math.max(...results.map((r) => Math.max(...r.output!.map(Math.abs))));
    assert.ok(Math.abs(s.maxAbsDiff - 2 * maxOut) < 1e-3, `max |diff| ${s.maxAbsDiff}, expected ${2 * maxOut}`);
    assert.ok(s.latencyMs.primary.p50! > 0 && s.latencyMs.shadow.p99! > 0);
    assert.equal(s.latencyMs.shadow.samples, total);
  });

  test('a shadow that changes top-1 shows disagreement', async () => {
    await registry.startRollout('m', { shadow: { version: 4 } });
    await waitFor(() => policy()?.shadow === '4' && loaded() === '1,4', 20000, 'shadow v4 loaded');
    const results = await runLoad(server.url, { clients: 16, total: 400 });
    const disagree = results.filter((r) => {
      const a = expectedFor('1', r.i);
      const b = expectedFor('4', r.i);
      return a.indexOf(Math.max(...a)) !== b.indexOf(Math.max(...b));
    }).length;
    await waitFor(() => server.service.rolloutStats('m')!.shadow!.mirrored === 400, 20000, 'all compared');
    const s = server.service.rolloutStats('m')!.shadow!;
    assert.equal(s.mirrored - s.agreed, disagree);
    assert.ok(disagree > 0);
    assert.equal(s.maxAbsDiff, 40);
    await registry.abortRollout('m');
    await waitFor(() => !policy()?.shadow && loaded() === '1', 20000, 'shadow ended and unloaded');
  });

  test('the catalog is followed without restart: new production alias, new model, alias removed', async () => {
    await registry.setAlias('m', 'production', 3);
    await waitFor(() => policy()?.production === '3' && loaded() === '3', 20000, 'production moved to v3');
    const [r] = await runLoad(server.url, { clients: 1, total: 1 });
    assert.equal(r!.version, '3');
    const dir = tempDir('berth-rollout-new-');
    await registry.push(await writeScaledAffine(dir, 'other', 1, 2), { name: 'other' });
    await registry.setAlias('other', 'production', 1);
    await waitFor(() => server.service.isLoaded('other'), 20000, 'new model served');
    await registry.deleteAlias('other', 'production');
    await waitFor(() => !server.service.isLoaded('other'), 20000, 'model without production unloaded');
    const gone = await fetch(`${server.url}/v2/models/other/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: rowFor(0) }] }) });
    assert.equal(gone.status, 404);
  });

  test('a production version that fails to load is not switched to; the old one keeps serving', async () => {
    const dir = tempDir('berth-rollout-bad-');
    const graph = makeGraph({
      name: 'broken',
      nodes: [makeNode('NoSuchOperator', ['input'], ['output'])],
      inputs: [makeValueInfo('input', 'float32', ['batch', 4])],
      outputs: [makeValueInfo('output', 'float32', ['batch', 3])],
    });
    const broken = await registry.push(await writeModel(dir, 'm', 9, makeModel({ graph })), { name: 'm' });
    const before = policy();
    await registry.setAlias('m', 'production', broken.version);
    await waitFor(() => server.sync!.models().some((m) => m.name === 'm' && m.error !== undefined), 20000, 'the failure is reported');
    assert.deepEqual(policy(), before);
    const results = await runLoad(server.url, { clients: 8, total: 50 });
    assert.ok(results.every((r) => r.status === 200 && r.version === before!.production));
    await registry.setAlias('m', 'production', Number(before!.production));
    await waitFor(() => server.sync!.models().some((m) => m.name === 'm' && m.error === undefined), 20000, 'recovered');
    assert.deepEqual(server.service.loadedVersions('m'), [before!.production]);
  });
});
