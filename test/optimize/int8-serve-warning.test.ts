/**
 * `berth serve` warns once at load when a model feeds full-range int8 weights to u8s8 kernels on
 * a CPU without VNNI (BERTH_CPU_FEATURES=avx2 pretends to be one), and names the fix.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { saveModel, type ModelProto } from '../../src/onnx/index.js';
import { quantize, type QuantizeOptions } from '../../src/optimize/quantize/index.js';
import { fullRangeU8S8Weights } from '../../src/runtime/int8-saturation.js';
import { hostCpuFeatures, u8s8Saturates } from '../../src/runtime/cpu-features.js';
import { startServer } from '../../src/server.js';
import { mlpModel, randomArray } from './models-quantize.js';
import { dataset } from './quantize-helpers.js';

const mlp = mlpModel({ dims: [16, 32, 4] });
const calib = dataset('input', randomArray(32 * 16, 3), [32, 16]);

async function q(options: Partial<QuantizeOptions>): Promise<ModelProto> {
  return (await quantize(mlp, { mode: 'dynamic', targetCpu: 'vnni', ...options } as QuantizeOptions)).model;
}

describe('detecting full-range int8 weights read by u8s8 kernels', () => {
  it('dynamic (fused and standard) and static 8-bit QDQ with full-range weights', async () => {
    for (const o of [{}, { dynamicForm: 'standard' }, { perChannel: true }, { mode: 'static', calibration: calib }, { mode: 'static', calibration: calib, activationType: 'int8' }] as Partial<QuantizeOptions>[]) {
      const risk = fullRangeU8S8Weights(await q(o));
      assert.ok(risk, JSON.stringify(o));
      assert.equal(risk.count, 2, JSON.stringify(o));
      assert.equal(risk.maxAbs, 127);
    }
  });

  it('not: 7-bit weights, weight-only int8, static int16 activations, float', async () => {
    for (const o of [{ targetCpu: 'avx2' }, { reduceRange: true }, { mode: 'weight-only' }, { mode: 'static', calibration: calib, activationType: 'int16' }, { mode: 'static', calibration: calib, targetCpu: 'any' }] as Partial<QuantizeOptions>[]) {
      assert.equal(fullRangeU8S8Weights(await q(o)), undefined, JSON.stringify(o));
    }
    assert.equal(fullRangeU8S8Weights(mlp), undefined);
  });
});

describe('berth serve: the warning at load', () => {
  let dir: string;
  const saved = process.env.BERTH_CPU_FEATURES;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-int8-warn-'));
    await saveModel(await q({}), join(dir, 'full.onnx'));
    await saveModel(await q({ targetCpu: 'avx2' }), join(dir, 'seven.onnx'));
  });
  after(() => {
    if (saved === undefined) delete process.env.BERTH_CPU_FEATURES;
    else process.env.BERTH_CPU_FEATURES = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  async function loadLogs(features: string | undefined): Promise<Record<string, unknown>[]> {
    if (features === undefined) delete process.env.BERTH_CPU_FEATURES;
    else process.env.BERTH_CPU_FEATURES = features;
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
    const server = await startServer({ paths: [join(dir, 'full.onnx'), join(dir, 'seven.onnx')], http: { port: 0 }, logger: pino({ level: 'info' }, sink), grpc: { enabled: false }, monitoring: { enabled: false } });
    await server.close();
    return lines.filter((l) => /full-range int8 weights/.test(String(l.msg)));
  }

  it('no VNNI (BERTH_CPU_FEATURES=avx2): one warning, for the full-range model only, naming the fix', { skip: process.arch !== 'x64' ? 'x86-64 only' : false }, async () => {
    const warnings = await loadLogs('avx2');
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    const w = warnings[0];
    assert.equal(w.model, 'full');
    assert.equal(w.level, 40);
    assert.match(String(w.msg), /model 'full' version 1 has full-range int8 weights \(\|w\| up to 127, in fc0_quant, fc1_quant\) and this CPU has no VNNI/);
    assert.match(String(w.msg), /berth quantize MODEL --mode dynamic --target-cpu avx2 \(or --reduce-range on\)/);
  });

  it('with VNNI (BERTH_CPU_FEATURES=avx2,avx512_vnni): no warning', { skip: process.arch !== 'x64' ? 'x86-64 only' : false }, async () => {
    assert.deepEqual(await loadLogs('avx2,avx512_vnni'), []);
  });

  const host = hostCpuFeatures();
  it(`this machine as it is (${host.target}): ${u8s8Saturates(host.target) ? 'the warning' : 'no warning'}`, async () => {
    assert.equal((await loadLogs(undefined)).length, u8s8Saturates(host.target) ? 1 : 0);
  });
});
