/**
 * Measures which ai.onnx operators run in float16 on onnxruntime-node's CPU provider: every ONNX
 * node test model with float32 inputs/outputs is converted with convertFp16 and no block list
 * (float32 kept at the graph boundary), then loaded and run on its reference data.
 *
 *   node --import tsx test/convert/fp16-kernels.ts [--json]
 *
 * The operators that fail are berth's ORT_CPU_NO_FP16 list (src/convert/fp16.ts); the output is
 * summarised in docs/conversion.md.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../../src/onnx/index.js';
import { convertFp16 } from '../../src/convert/fp16.js';
import { NO_TESTDATA, dataSets, loadDataSet, testCases, violation } from './testdata.js';
import { makeGraph, makeModel, makeNode, makeValueInfo, tensorToArray, type ModelProto } from '../../src/onnx/index.js';

export interface KernelSurvey {
  onnxruntime: string;
  models: number;
  /** operator → models where the float16 model failed to load ("Could not find an implementation") */
  noKernel: Record<string, string[]>;
  /** operator → models that loaded but failed at run time */
  runError: Record<string, string[]>;
  /** models whose float16 outputs are far from the reference (beyond rtol 0.05, atol 0.05) */
  inaccurate: string[];
  ok: number;
  /** operators onnxruntime ran on float16 data (a native float16 CPU kernel) */
  native: string[];
  /** operators onnxruntime wrapped in its own Casts to run them in float32 (InsertCastTransformer) */
  castByRuntime: string[];
}

/** Operators of a model onnxruntime computed in float32 behind its own inserted Casts. */
function castedOps(optimized: ModelProto, keptFp32: Set<string>): { casted: Set<string>; native: Set<string> } {
  const casted = new Set<string>();
  const native = new Set<string>();
  for (const n of optimized.graph!.node) {
    if (n.opType === 'Cast' || keptFp32.has(n.opType ?? '')) continue;
    const touched = [...n.input, ...n.output].some((x) => x.startsWith('InsertedPrecisionFreeCast_'));
    (touched ? casted : native).add(n.opType ?? '');
  }
  return { casted, native };
}

/**
 * Operators whose float output type comes from an attribute (no float input for onnxruntime to
 * cast around): not covered by float models in the node tests, so probed with one-node models.
 */
function generatedProbes(): { name: string; model: ModelProto }[] {
  const one = (op: string, inputs: { name: string; type: 'float32' | 'int64' | 'int32'; shape: number[] }[], attrs: Parameters<typeof makeNode>[3]) =>
    makeModel({
      graph: makeGraph({
        name: op,
        nodes: [makeNode(op, inputs.map((i) => i.name), ['y'], attrs)],
        inputs: inputs.map((i) => makeValueInfo(i.name, i.type, i.shape)),
        outputs: [makeValueInfo('y', 'float32', [])],
      }),
      opsetImports: [{ domain: '', version: 17 }],
    });
  const shape = { ints: [2, 3] };
  return [
    { name: 'probe_RandomNormal', model: one('RandomNormal', [], { shape }) },
    { name: 'probe_RandomUniform', model: one('RandomUniform', [], { shape }) },
    { name: 'probe_RandomNormalLike', model: one('RandomNormalLike', [{ name: 'x', type: 'int64', shape: [2, 3] }], { dtype: { int: 1 } }) },
    { name: 'probe_RandomUniformLike', model: one('RandomUniformLike', [{ name: 'x', type: 'int64', shape: [2, 3] }], { dtype: { int: 1 } }) },
    { name: 'probe_Bernoulli', model: one('Bernoulli', [{ name: 'x', type: 'float32', shape: [2, 3] }], {}) },
    { name: 'probe_EyeLike', model: one('EyeLike', [{ name: 'x', type: 'int32', shape: [3, 3] }], { dtype: { int: 1 } }) },
    { name: 'probe_HannWindow', model: one('HannWindow', [{ name: 'x', type: 'int64', shape: [] }], {}) },
  ];
}

export async function surveyFp16Kernels(): Promise<KernelSurvey> {
  const survey: KernelSurvey = { onnxruntime: ort.env.versions.common ?? '', models: 0, noKernel: {}, runError: {}, inaccurate: [], ok: 0, native: [], castByRuntime: [] };
  const native = new Set<string>();
  const casted = new Set<string>();
  const tmp = mkdtempSync(join(tmpdir(), 'berth-fp16-survey-'));
  for (const c of testCases('node')) {
    const model = decodeModel(readFileSync(c.modelPath));
    if (model.opsetImport.some((o) => o.domain && o.domain !== 'ai.onnx')) continue;
    const io = [...model.graph!.input, ...model.graph!.output];
    if (!io.some((v) => v.type?.tensorType?.elemType === 1)) continue;
    if (io.some((v) => !v.type?.tensorType)) continue;
    let fp16: ModelProto;
    let keptFp32: Set<string>;
    try {
      const r = convertFp16(model, { keepIoTypes: true, blockOps: [] });
      fp16 = r.model;
      keptFp32 = new Set(r.report.nodesFp32.map((x) => x.opType));
    } catch {
      continue;
    }
    // The original must run, or the test says nothing about float16.
    try {
      const s = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 4 });
      await s.run(loadDataSet(model, dataSets(c)[0]).feeds);
      await s.release();
    } catch {
      continue;
    }
    survey.models++;
    let session: ort.InferenceSession;
    const optimizedPath = join(tmp, `${c.name}.onnx`);
    try {
      session = await ort.InferenceSession.create(encodeModel(fp16), { logSeverityLevel: 4, graphOptimizationLevel: 'basic', optimizedModelFilePath: optimizedPath });
    } catch (err) {
      const m = /implementation for (\w+)\(/.exec((err as Error).message);
      const op = m ? m[1] : [...new Set(fp16.graph!.node.map((n) => n.opType ?? ''))].filter((o) => o !== 'Cast').join('+');
      (survey.noKernel[op] ??= []).push(`${c.name}: ${(err as Error).message.split('\n')[0].slice(0, 100)}`);
      continue;
    }
    const ops = castedOps(decodeModel(readFileSync(optimizedPath)), keptFp32);
    ops.casted.forEach((o) => casted.add(o));
    ops.native.forEach((o) => native.add(o));
    try {
      const { feeds, expected } = loadDataSet(fp16, dataSets(c)[0]);
      const out = await session.run(feeds);
      let bad = false;
      expected.forEach((e, k) => {
        const want = tensorToArray(e);
        const got = out[fp16.graph!.output[k].name!].data as ArrayLike<unknown>;
        if (!Array.isArray(want) && violation(got, want as ArrayLike<unknown>, 0.05, 0.05) > 0) bad = true;
      });
      if (bad) survey.inaccurate.push(c.name);
      else survey.ok++;
    } catch (err) {
      const ops = [...new Set(fp16.graph!.node.map((n) => n.opType))].filter((o) => o !== 'Cast').join('+');
      (survey.runError[ops] ??= []).push(`${c.name}: ${(err as Error).message.split('\n')[0].slice(0, 100)}`);
    } finally {
      await session.release();
    }
  }
  for (const probe of generatedProbes()) {
    survey.models++;
    const fp16 = convertFp16(probe.model, { keepIoTypes: true, blockOps: [] }).model;
    try {
      const session = await ort.InferenceSession.create(encodeModel(fp16), { logSeverityLevel: 4 });
      const feeds: Record<string, ort.Tensor> = {};
      for (const i of probe.model.graph!.input) {
        const dims = (i.type!.tensorType!.shape!.dim ?? []).map((d) => Number(d.dimValue));
        const n = dims.reduce((a, b) => a * b, 1);
        const t = i.type!.tensorType!.elemType;
        feeds[i.name!] = t === 7 ? new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => 8n), dims) : t === 6 ? new ort.Tensor('int32', new Int32Array(n), dims) : new ort.Tensor('float32', new Float32Array(n).fill(0.5), dims);
      }
      await session.run(feeds);
      await session.release();
      survey.ok++;
    } catch (err) {
      const op = probe.name.replace('probe_', '');
      (survey.noKernel[op] ??= []).push(`${probe.name}: ${(err as Error).message.split('\n')[0].slice(0, 100)}`);
    }
  }
  rmSync(tmp, { recursive: true, force: true });
  survey.castByRuntime = [...casted].sort();
  survey.native = [...native].filter((o) => !casted.has(o)).sort();
  return survey;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (NO_TESTDATA) {
    console.error(NO_TESTDATA);
    process.exit(1);
  }
  const survey = await surveyFp16Kernels();
  if (process.argv.includes('--json')) console.log(JSON.stringify(survey, null, 2));
  else {
    console.log(`onnxruntime ${survey.onnxruntime}: ${survey.models} float models, ${survey.ok} ok in float16`);
    console.log(`fail to load in float16: ${Object.entries(survey.noKernel).map(([op, l]) => `${op} (${l.length})`).sort().join(', ')}`);
    console.log(`native float16 CPU kernels: ${survey.native.join(', ')}`);
    console.log(`computed in float32 behind onnxruntime's own Casts: ${survey.castByRuntime.join(', ')}`);
    for (const [op, list] of Object.entries(survey.runError)) console.log(`run error [${op}]: ${list.join('; ')}`);
    console.log(`inaccurate (beyond 5%): ${survey.inaccurate.join(', ')}`);
  }
}
