/**
 * int8 quantization and the CPU it targets (issue 14): on x86-64 without VNNI onnxruntime's u8s8
 * kernels saturate pair sums in int16, so berth quantizes int8 weights to 7 bits there.
 *
 * - CPU feature parsing and the BERTH_CPU_FEATURES override;
 * - every --target-cpu choice: the weights' range and the accuracy against the float model on
 *   the same inputs, run in onnxruntime here;
 * - an independent emulation of the AVX2 u8s8 kernel (test/optimize/u8s8-kernel.ts), checked
 *   against onnxruntime on this CPU, showing that full-range weights saturate and lose accuracy
 *   on AVX2 where 7-bit weights do not: the reason `auto` picks reduce range for avx2.
 *
 * Tolerances are the ones of quantize.test.ts: int8 dynamic rel <= 0.05, static <= 0.08.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { saveModel, tensorToArray, type ModelProto } from '../../src/onnx/index.js';
import { DataType } from '../../src/onnx/types.js';
import { decideRange, quantize, type QuantizeOptions } from '../../src/optimize/quantize/index.js';
import { cpuTarget, detectCpuFeatures, featuresFromOverride, hostCpuFeatures, parseCpuinfo, u8s8Saturates, type CpuTarget } from '../../src/runtime/cpu-features.js';
import { mlpModel, randomArray, rng } from './models-quantize.js';
import { dataset, relativeError, run, runCli, session } from './quantize-helpers.js';
import { integerLayer, runIntegerLayer, type U8S8Kernel } from './u8s8-kernel.js';

const HOST = hostCpuFeatures();
/** onnxruntime on this machine saturates full-range u8s8 products */
const HOST_SATURATES = u8s8Saturates(HOST.target);

/** Largest |q| over the int8 weight initializers that integer kernels read. */
function maxAbsInt8Weight(model: ModelProto): number {
  let m = 0;
  for (const t of model.graph!.initializer) {
    if (t.dataType !== DataType.INT8 || !t.name!.endsWith('_quantized')) continue;
    for (const v of tensorToArray(t) as Int8Array) m = Math.max(m, Math.abs(v));
  }
  return m;
}

function withEnv<T>(value: string | undefined, f: () => T): T {
  const saved = process.env.BERTH_CPU_FEATURES;
  if (value === undefined) delete process.env.BERTH_CPU_FEATURES;
  else process.env.BERTH_CPU_FEATURES = value;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.BERTH_CPU_FEATURES;
    else process.env.BERTH_CPU_FEATURES = saved;
  }
}

describe('CPU features', () => {
  const x86 = (flags: string) => `processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu vme sse sse2 ${flags}\n\nprocessor\t: 1\n`;

  it('reads /proc/cpuinfo flags: VNNI of either kind makes vnni, AVX2 alone avx2', () => {
    const vnni = parseCpuinfo(x86('avx avx2 fma avx512f avx512bw avx512_vnni'));
    assert.deepEqual(vnni.flags, ['avx2', 'avx512f', 'avx512bw', 'avx512_vnni']);
    assert.equal(vnni.model, 'AMD EPYC 7B12');
    assert.equal(cpuTarget('x64', vnni.flags, true), 'vnni');
    assert.equal(cpuTarget('x64', parseCpuinfo(x86('avx2 avx_vnni')).flags, true), 'vnni');
    const avx2 = parseCpuinfo(x86('avx avx2 fma'));
    assert.deepEqual(avx2.flags, ['avx2']);
    assert.equal(cpuTarget('x64', avx2.flags, true), 'avx2');
    // AVX-512 without VNNI still uses vpmaddubsw: avx2 class
    assert.equal(cpuTarget('x64', parseCpuinfo(x86('avx2 avx512f avx512bw')).flags, true), 'avx2');
    assert.equal(cpuTarget('x64', [], false), 'any', 'flags not read: any');
    const arm = parseCpuinfo('processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp i8mm\nCPU part\t: 0xd0c\n');
    assert.deepEqual(arm.flags, ['asimddp', 'i8mm']);
    assert.equal(cpuTarget('arm64', arm.flags, true), 'arm64');
    assert.equal(cpuTarget('riscv64', [], true), 'any');
  });

  it('BERTH_CPU_FEATURES overrides what is read (macOS spellings too)', () => {
    assert.equal(featuresFromOverride('avx2', 'x64').target, 'avx2');
    assert.equal(featuresFromOverride('AVX2 AVX512VNNI', 'x64').target, 'vnni');
    assert.deepEqual(featuresFromOverride('avx2,avx512_vnni,sse4_2', 'x64').flags, ['avx2', 'avx512_vnni']);
    const pretend = withEnv('avx2', () => detectCpuFeatures());
    assert.equal(pretend.source, 'env');
    assert.equal(pretend.target, process.arch === 'arm64' ? 'arm64' : 'avx2');
    const real = withEnv(undefined, () => detectCpuFeatures());
    assert.notEqual(real.source, 'env');
    assert.deepEqual(real, HOST);
  });

  it('decides reduce range per mode and target', () => {
    const cpu = featuresFromOverride('avx2', 'x64');
    const cases: [QuantizeOptions, CpuTarget | undefined, boolean][] = [
      [{ mode: 'dynamic' }, undefined, true],
      [{ mode: 'dynamic' }, 'vnni', false],
      [{ mode: 'dynamic' }, 'arm64', false],
      [{ mode: 'dynamic' }, 'any', true],
      [{ mode: 'static' }, 'avx2', true],
      [{ mode: 'static', activationType: 'int16' }, 'avx2', false],
      [{ mode: 'weight-only' }, 'avx2', false],
      [{ mode: 'dynamic', reduceRange: false }, 'avx2', false],
      [{ mode: 'dynamic', reduceRange: true }, 'vnni', true],
    ];
    for (const [o, targetCpu, expected] of cases) {
      const d = decideRange({ ...o, targetCpu }, cpu);
      assert.equal(d.reduceRange, expected, `${JSON.stringify(o)} for ${targetCpu ?? 'this machine (avx2)'}: ${d.reason}`);
    }
    assert.match(decideRange({ mode: 'dynamic', reduceRange: false, targetCpu: 'avx2' }, cpu).warnings[0], /can saturate/);
    assert.match(decideRange({ mode: 'weight-only', reduceRange: true }, cpu).warnings[0], /only lose accuracy/);
  });
});

describe('--target-cpu: each choice, accuracy against the float model (onnxruntime on this CPU)', () => {
  const N = 256;
  const mlp = mlpModel({ dims: [64, 128, 128, 10] });
  const x = randomArray(N * 64, 99);
  const calib = dataset('input', randomArray(128 * 64, 5), [128, 64]);
  let ref: Float32Array;
  before(async () => {
    ref = (await run(await session(mlp), x, [N, 64])).logits;
  });

  for (const target of ['vnni', 'avx2', 'arm64', 'any'] as const) {
    for (const [mode, extra, tol] of [
      ['dynamic', { perChannel: true }, 0.05],
      ['static', { calibration: calib, perChannel: true }, 0.08],
    ] as [string, Partial<QuantizeOptions>, number][]) {
      const sevenBit = u8s8Saturates(target);
      // A full-range model is for a CPU whose kernels do not saturate; onnxruntime on a CPU
      // without VNNI would saturate it, so there its accuracy is not checked here.
      const runHere = sevenBit || !HOST_SATURATES;
      const name = `${mode} --target-cpu ${target}: ${sevenBit ? '7-bit' : 'full-range'} weights; ${runHere ? `rel error <= ${tol} on this CPU (${HOST.target})` : `accuracy not run: this CPU (${HOST.target}) lacks VNNI`}`;
      it(name, async () => {
        const { model, report } = await quantize(mlp, { mode: mode as QuantizeOptions['mode'], ...extra, targetCpu: target });
        assert.equal(report.targetCpu, target);
        assert.equal(report.targetCpuFrom, 'option');
        assert.equal(report.reduceRange, sevenBit, report.reduceRangeReason);
        assert.equal(maxAbsInt8Weight(model), sevenBit ? 64 : 127);
        assert.deepEqual(JSON.parse(model.metadataProps!.find((p) => p.key === 'berth.quantize')!.value!).reduceRange, sevenBit);
        if (!runHere) return;
        const rel = relativeError((await run(await session(model), x, [N, 64])).logits, ref);
        assert.ok(rel <= tol, `relative error ${rel}`);
      });
    }
  }

  it('weight-only int8 keeps full-range weights for every target (no integer kernel)', async () => {
    const { model, report } = await quantize(mlp, { mode: 'weight-only', targetCpu: 'avx2' });
    assert.equal(report.reduceRange, false);
    assert.equal(maxAbsInt8Weight(model), 127);
  });

  const auto = detectCpuFeatures();
  it(`default target is this machine (${auto.target}${auto.source === 'env' ? ', from BERTH_CPU_FEATURES' : ''}): reduce range ${u8s8Saturates(auto.target) ? 'on' : 'off'}`, async () => {
    const { model, report } = await quantize(mlp, { mode: 'dynamic' });
    assert.equal(report.targetCpuFrom, 'this machine');
    assert.equal(report.targetCpu, auto.target);
    assert.equal(report.reduceRange, u8s8Saturates(auto.target));
    assert.equal(maxAbsInt8Weight(model), report.reduceRange ? 64 : 127);
  });
});

describe('emulated AVX2 u8s8 kernel: why avx2 gets 7-bit weights', () => {
  // One linear layer (MatMulInteger), per-channel weights, inputs in [0, 1) like normalized pixels.
  const K = 64;
  const M = 64;
  const layerModel = mlpModel({ dims: [K, 32], seed: 7 });
  const r = rng(21);
  const x = Float32Array.from({ length: M * K }, () => r.uniform());
  let ref: Float32Array;
  let full: ModelProto;
  let reduced: ModelProto;
  before(async () => {
    ref = (await run(await session(layerModel), x, [M, K])).logits;
    const base: QuantizeOptions = { mode: 'dynamic', dynamicForm: 'standard', perChannel: true };
    full = (await quantize(layerModel, { ...base, targetCpu: 'vnni' })).model;
    reduced = (await quantize(layerModel, { ...base, targetCpu: 'avx2' })).model;
  });

  const hostKernel: U8S8Kernel | undefined = HOST.target === 'avx2' ? 'avx2' : HOST.target === 'vnni' || HOST.target === 'arm64' ? 'exact' : undefined;
  it(`the emulation reproduces onnxruntime on this CPU (${HOST.target}: ${hostKernel ?? 'unknown kernel'})`, { skip: hostKernel ? false : 'this CPU\'s int8 kernel is unknown' }, async () => {
    for (const model of [full, reduced]) {
      const ort = (await run(await session(model), x, [M, K])).logits;
      const emulated = runIntegerLayer(integerLayer(model), x, M, hostKernel!).y;
      assert.ok(relativeError(emulated, ort) < 1e-6, `emulated vs onnxruntime: ${relativeError(emulated, ort)}`);
    }
  });

  it('full-range weights: exact kernels stay within 0.05, the AVX2 kernel saturates and does not', () => {
    const layer = integerLayer(full);
    const exact = runIntegerLayer(layer, x, M, 'exact');
    const avx2 = runIntegerLayer(layer, x, M, 'avx2');
    assert.equal(exact.saturated, 0);
    assert.ok(avx2.saturated > 0, 'some pair sums exceed int16');
    assert.ok(relativeError(exact.y, ref) <= 0.05, `exact: ${relativeError(exact.y, ref)}`);
    assert.ok(relativeError(avx2.y, ref) > 0.05, `avx2: ${relativeError(avx2.y, ref)} (${avx2.saturated} of ${avx2.pairs} pairs saturated)`);
  });

  it('7-bit weights (--target-cpu avx2): no pair can saturate, AVX2 computes exactly, within 0.05', () => {
    const layer = integerLayer(reduced);
    // the bound, from the weights alone: 255 * (|w0| + |w1|) fits int16 for every adjacent pair
    for (let n = 0; n < layer.N; n++) {
      for (let k = 0; k + 1 < layer.K; k += 2) {
        const bound = 255 * (Math.abs(layer.w[k * layer.N + n]) + Math.abs(layer.w[(k + 1) * layer.N + n]));
        assert.ok(bound <= 32767, `column ${n}, k ${k}: ${bound}`);
      }
    }
    const exact = runIntegerLayer(layer, x, M, 'exact');
    const avx2 = runIntegerLayer(layer, x, M, 'avx2');
    assert.equal(avx2.saturated, 0);
    assert.deepEqual(avx2.y, exact.y);
    assert.ok(relativeError(avx2.y, ref) <= 0.05, `avx2: ${relativeError(avx2.y, ref)}`);
  });
});

describe('berth quantize --target-cpu / --reduce-range (CLI)', () => {
  let dir: string;
  let mlpPath: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-q-cpu-'));
    mlpPath = join(dir, 'mlp.onnx');
    await saveModel(mlpModel({ dims: [16, 32, 4] }), mlpPath);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('BERTH_CPU_FEATURES=avx2: auto picks 7-bit weights and says why (text and --json)', () => {
    const text = withEnv('avx2', () => runCli([mlpPath, '-o', join(dir, 'a.onnx'), '--mode', 'dynamic']));
    assert.equal(text.status, 0, text.stderr);
    if (process.arch === 'x64') {
      assert.match(text.stdout, /target cpu: avx2 \(this machine: x64 avx2 \(avx2, from BERTH_CPU_FEATURES\)\)/);
      assert.match(text.stdout, /reduce range: on, int8 weights in \[-64, 64\] \(auto: .*saturating 16-bit lanes\)/);
    }
    const json = withEnv('avx2,avx512_vnni', () => runCli([mlpPath, '-o', join(dir, 'b.onnx'), '--mode', 'dynamic', '--json']));
    assert.equal(json.status, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.cpu.source, 'env');
    if (process.arch === 'x64') assert.deepEqual([report.targetCpu, report.reduceRange], ['vnni', false]);
  });

  it('--target-cpu and --reduce-range on|off|auto (bare --reduce-range = on)', () => {
    const cases: [string[], boolean, RegExp | undefined][] = [
      [['--target-cpu', 'avx2'], true, undefined],
      [['--target-cpu', 'vnni'], false, undefined],
      [['--target-cpu', 'any', '--reduce-range', 'auto'], true, undefined],
      [['--target-cpu', 'arm64', '--reduce-range'], true, undefined],
      [['--target-cpu', 'avx2', '--reduce-range', 'off'], false, /full-range int8 weights can saturate/],
    ];
    for (const [args, expected, warning] of cases) {
      const r = runCli([mlpPath, '-o', join(dir, 'c.onnx'), '--mode', 'dynamic', ...args, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.reduceRange, expected, args.join(' '));
      if (warning) assert.ok(report.warnings.some((w: string) => warning.test(w)), JSON.stringify(report.warnings));
    }
    const bad = runCli([mlpPath, '-o', join(dir, 'd.onnx'), '--mode', 'dynamic', '--reduce-range', 'maybe']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--reduce-range must be on, off or auto/);
    const badCpu = runCli([mlpPath, '-o', join(dir, 'd.onnx'), '--mode', 'dynamic', '--target-cpu', 'sparc']);
    assert.equal(badCpu.status, 1);
    assert.match(badCpu.stderr, /argument 'sparc' is invalid/);
  });
});
