/**
 * Opset conversion against ONNX's own test models and onnxruntime-node 1.30.
 *
 * The requirement: ONNX's pytorch-converted models are opset 6 and 23 of them fail in
 * onnxruntime 1.30; `convertOpset(model, 13)` must make every one of them load, pass the ONNX
 * checker and match its reference outputs within rtol 1e-3, atol 1e-4. Each case is labelled with
 * why it needed upgrading (the kernel onnxruntime lacks) and what the conversion rewrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, saveModel } from '../../src/onnx/index.js';
import type { ModelProto } from '../../src/onnx/index.js';
import { convertOpset, upgradeForRuntime, type OpsetReport } from '../../src/convert/opset.js';
import { NO_PYTHON, NO_TESTDATA, onnxCheckAll, runAndCompare, testCases, type TestCase } from './testdata.js';

ort.env.logLevel = 'fatal';
const RTOL = 1e-3;
const ATOL = 1e-4;

async function originalFailure(c: TestCase, model: ModelProto): Promise<string | undefined> {
  const r = await runAndCompare(model, c, RTOL, ATOL);
  if (r.ok) return undefined;
  const m = /implementation for (\w+)\((\d+)\)/.exec(r.error ?? '');
  return m ? `no onnxruntime kernel for ${m[1]}-${m[2]}` : (r.error ?? 'fails');
}

function describe(report: OpsetReport): string {
  const versions = report.operators.filter((o) => o.from !== o.to).map((o) => `${o.op}-${o.from}→${o.to}`).join(', ');
  if (report.summary.length === 0) return `${versions || 'nothing'} (restamped; no rewrite needed)`;
  return `${versions}; rewrites: ${report.summary.map((s) => `${s.from}→${s.to}: ${s.change}`).join('; ')}`;
}

const pytorchResults: { name: string; needed: string | undefined; ok: boolean }[] = [];

for (const group of ['pytorch-converted', 'pytorch-operator']) {
  test(`convert --opset 13 makes every ${group} model run and match (rtol ${RTOL}, atol ${ATOL})`, { skip: NO_TESTDATA }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-opset-'));
    const written: { c: TestCase; path: string }[] = [];
    try {
      for (const c of testCases(group)) {
        const original = decodeModel(readFileSync(c.modelPath));
        const needed = await originalFailure(c, original);
        const { model, report } = convertOpset(original, 13);
        const label = `${c.name} — ${needed ? `needed upgrading: ${needed}` : 'ran already'}; conversion: ${describe(report)}`;
        await t.test(label, async () => {
          assert.equal(report.fromOpset, original.opsetImport[0].version);
          assert.equal(model.opsetImport.find((o) => !o.domain)?.version, 13);
          assert.ok((model.irVersion ?? 0) >= 7, 'IR version raised for opset 13');
          const r = await runAndCompare(model, c, RTOL, ATOL);
          assert.ok(r.ok, r.error);
        });
        const ok = (await runAndCompare(model, c, RTOL, ATOL)).ok;
        if (group === 'pytorch-converted') pytorchResults.push({ name: c.name, needed, ok });
        const path = join(dir, `${c.name}.onnx`);
        await saveModel(model, path);
        written.push({ c, path });
      }
      if (!NO_PYTHON) {
        const failures = onnxCheckAll(written.map((w) => w.path));
        assert.deepEqual([...failures].map(([p, e]) => `${p}: ${e}`), [], 'every converted model passes onnx.checker.check_model(full_check=True)');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (group === 'pytorch-converted') {
      const needed = pytorchResults.filter((r) => r.needed);
      t.diagnostic(`pytorch-converted: ${pytorchResults.filter((r) => r.ok).length}/${pytorchResults.length} pass after convert --opset 13; ${needed.filter((r) => r.ok).length}/${needed.length} of those that failed before now pass`);
      assert.equal(needed.length, 23, 'ONNX 1.12 test data: 23 pytorch-converted models fail in onnxruntime 1.30 as shipped');
      assert.ok(pytorchResults.every((r) => r.ok));
    }
  });
}

test('round trip: pytorch-converted 6 → 13 → 9 still matches (or is refused by name)', { skip: NO_TESTDATA }, async (t) => {
  let count = 0;
  const refused: string[] = [];
  for (const c of testCases('pytorch-converted')) {
    const up = convertOpset(decodeModel(readFileSync(c.modelPath)), 13).model;
    let down;
    try {
      down = convertOpset(up, 9);
    } catch (err) {
      refused.push(`${c.name}: ${(err as Error).message}`);
      continue;
    }
    assert.equal(down.report.toOpset, 9);
    const r = await runAndCompare(down.model, c, RTOL, ATOL);
    assert.ok(r.ok, `${c.name}: ${r.error}`);
    count++;
  }
  t.diagnostic(`${count} round-tripped; refused: ${refused.join(' | ')}`);
  // the two MaxPool models stamped opset 12 use dilations, which MaxPool-8 cannot express
  assert.ok(refused.every((r) => /MaxPool.*dilations/.test(r)), refused.join('\n'));
  assert.ok(count >= 80);
});

/**
 * ONNX node test models (opsets 1–17): every model that runs as shipped must, after conversion,
 * either run and match, or be refused with an error naming the operator — never run with
 * different results.
 */
async function sweep(targetOf: (opset: number) => number | undefined): Promise<{ ok: number; refused: string[]; wrong: string[] }> {
  const out = { ok: 0, refused: [] as string[], wrong: [] as string[] };
  for (const c of testCases('node')) {
    const original = decodeModel(readFileSync(c.modelPath));
    if (original.opsetImport.some((o) => o.domain && o.domain !== 'ai.onnx')) continue;
    const source = original.opsetImport[0].version ?? 0;
    const target = targetOf(source);
    if (target === undefined || target === source) continue;
    if (!(await runAndCompare(original, c, RTOL, ATOL)).ok) continue;
    let converted: ModelProto;
    try {
      converted = convertOpset(original, target).model;
    } catch (err) {
      assert.match((err as Error).message, /[A-Z]\w+/, 'a refusal names the operator');
      out.refused.push(`${c.name}: ${(err as Error).message}`);
      continue;
    }
    const r = await runAndCompare(converted, c, RTOL, ATOL);
    if (r.ok) out.ok++;
    else out.wrong.push(`${c.name} (${source}→${target}): ${r.error}`);
  }
  return out;
}

test('node test models upgraded (to 13, or 17 when already ≥ 13) run and match', { skip: NO_TESTDATA }, async (t) => {
  const r = await sweep((v) => (v < 13 ? 13 : 17));
  t.diagnostic(`upgrade: ${r.ok} match, ${r.refused.length} refused (${r.refused.join(' | ')})`);
  assert.deepEqual(r.wrong, []);
  assert.ok(r.ok > 800, `${r.ok} models converted`);
});

test('node test models upgraded to opset 21 run and match', { skip: NO_TESTDATA }, async (t) => {
  const r = await sweep(() => 21);
  t.diagnostic(`to 21: ${r.ok} match, ${r.refused.length} refused`);
  assert.deepEqual(r.wrong, []);
  assert.ok(r.ok > 800);
});

test('node test models downgraded to opset 11 run and match, or are refused by name', { skip: NO_TESTDATA }, async (t) => {
  const r = await sweep((v) => (v > 11 ? 11 : undefined));
  t.diagnostic(`downgrade to 11: ${r.ok} match, ${r.refused.length} refused`);
  assert.deepEqual(r.wrong, []);
  assert.ok(r.ok > 300, `${r.ok} models converted`);
});

// --- generated models: semantics checked against plain arithmetic ---------------------------

async function run(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(encodeModel(model));
  const out = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `element ${i}: ${got[i]} vs ${want[i]}`);
}

const X = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 3);

function softmaxModel(opset: number, axis: number): ModelProto {
  return makeModel({
    graph: makeGraph({
      name: 'softmax',
      nodes: [makeNode('Softmax', ['x'], ['y'], { axis: { int: axis } })],
      inputs: [makeValueInfo('x', 'float32', [2, 3, 4])],
      outputs: [makeValueInfo('y', 'float32', [2, 3, 4])],
    }),
    opsetImports: [{ domain: '', version: opset }],
    irVersion: 7,
  });
}

/** softmax over contiguous groups of `group` elements */
function groupedSoftmax(x: Float32Array, group: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let g = 0; g < x.length; g += group) {
    const max = Math.max(...x.subarray(g, g + group));
    let sum = 0;
    for (let i = g; i < g + group; i++) sum += Math.exp(x[i] - max);
    for (let i = g; i < g + group; i++) out[i] = Math.exp(x[i] - max) / sum;
  }
  return out;
}

test('Softmax-11 axis=1 on rank 3 keeps its 2-D coercion semantics at 13 (Flatten → Softmax → Reshape)', async () => {
  const { model, report } = convertOpset(softmaxModel(11, 1), 13);
  assert.deepEqual(model.graph!.node.map((n) => n.opType), ['Flatten', 'Shape', 'Softmax', 'Reshape']);
  assert.match(report.changes[0].change, /Flatten/);
  const feeds = { x: new ort.Tensor('float32', X, [2, 3, 4]) };
  close((await run(model, feeds)).y, groupedSoftmax(X, 12));
  close((await run(softmaxModel(11, 1), feeds)).y, groupedSoftmax(X, 12));
});

test('Softmax-13 axis=1 on rank 3 keeps single-axis semantics at 11 (Transpose sandwich)', async () => {
  const { model } = convertOpset(softmaxModel(13, 1), 11);
  assert.deepEqual(model.graph!.node.map((n) => n.opType), ['Transpose', 'Softmax', 'Transpose']);
  const feeds = { x: new ort.Tensor('float32', X, [2, 3, 4]) };
  const want = (await run(softmaxModel(13, 1), feeds)).y;
  close((await run(model, feeds)).y, want);
  // and it really differs from the 2-D reading of the same attribute
  assert.ok(Math.abs(want[0] - groupedSoftmax(X, 12)[0]) > 1e-3);
});

test('Softmax on the last axis needs no rewrite either way', () => {
  const up = convertOpset(softmaxModel(11, 2), 13);
  assert.deepEqual(up.model.graph!.node.map((n) => n.opType), ['Softmax']);
  const down = convertOpset(softmaxModel(13, -1), 11);
  assert.deepEqual(down.model.graph!.node.map((n) => n.opType), ['Softmax']);
});

test('legacy broadcast with an explicit axis becomes numpy broadcasting (opset 6 → 13)', async () => {
  // A [2,3,4], B [3] with axis=1: B runs along dimension 1.
  const b = [10, 20, 30];
  const legacy = makeModel({
    graph: makeGraph({
      name: 'legacy',
      nodes: [makeNode('Add', ['a', 'b'], ['y'], { broadcast: { int: 1 }, axis: { int: 1 } }), makeNode('Mul', ['y', 'b_in'], ['z'], { broadcast: { int: 1 }, axis: { int: 1 } })],
      inputs: [makeValueInfo('a', 'float32', [2, 3, 4]), makeValueInfo('b_in', 'float32', [3]), makeValueInfo('b', 'float32', [3])],
      outputs: [makeValueInfo('z', 'float32', [2, 3, 4])],
      initializers: [makeTensor('b', 'float32', [3], b)],
    }),
    opsetImports: [{ domain: '', version: 6 }],
    irVersion: 3,
  });
  const { model, report } = convertOpset(legacy, 13);
  assert.deepEqual(report.summary.map((s) => s.from), ['Add-6', 'Mul-6']);
  const bIn = Float32Array.from([2, 3, 4]);
  const out = await run(model, { a: new ort.Tensor('float32', X, [2, 3, 4]), b_in: new ort.Tensor('float32', bIn, [3]) });
  const want = X.map((v, i) => (v + b[Math.floor(i / 4) % 3]) * bIn[Math.floor(i / 4) % 3]);
  close(out.z, want);
});

test('upgradeForRuntime upgrades opset < 7 to 13 and leaves newer models alone', () => {
  const old = softmaxModel(6, 1);
  const r = upgradeForRuntime(old);
  assert.equal(r.upgraded, true);
  assert.equal(r.from, 6);
  assert.equal(r.to, 13);
  assert.ok(r.changes.some((c) => /Softmax-1/.test(c)), r.changes.join('\n'));
  const recent = softmaxModel(11, 1);
  const same = upgradeForRuntime(recent);
  assert.equal(same.upgraded, false);
  assert.equal(same.model, recent);
  assert.equal(old.opsetImport[0].version, 6, 'input not modified');
});

test('clear errors for what cannot be converted', () => {
  assert.throws(() => convertOpset(softmaxModel(13, 1), 5), /target opset 5 is out of range.*7–21/);
  assert.throws(() => convertOpset(softmaxModel(13, 1), 22), /out of range/);
  const gelu = makeModel({
    graph: makeGraph({ name: 'g', nodes: [makeNode('Gelu', ['x'], ['y'])], inputs: [makeValueInfo('x', 'float32', [2])], outputs: [makeValueInfo('y', 'float32', [2])] }),
    opsetImports: [{ domain: '', version: 20 }],
  });
  assert.throws(() => convertOpset(gelu, 17), /Gelu does not exist before opset 20/);
  const dynamicAxes = makeModel({
    graph: makeGraph({
      name: 'u',
      nodes: [makeNode('Unsqueeze', ['x', 'axes'], ['y'], undefined, { name: 'unsq' })],
      inputs: [makeValueInfo('x', 'float32', [2]), makeValueInfo('axes', 'int64', [1])],
      outputs: [makeValueInfo('y', 'float32', [null, null])],
    }),
    opsetImports: [{ domain: '', version: 13 }],
  });
  assert.throws(() => convertOpset(dynamicAxes, 11), /Unsqueeze node 'unsq' from Unsqueeze-13 to Unsqueeze-11.*computed at run time/);
  const unknown = makeModel({
    graph: makeGraph({ name: 'x', nodes: [makeNode('Frobnicate', ['x'], ['y'])], inputs: [makeValueInfo('x', 'float32', [2])], outputs: [makeValueInfo('y', 'float32', [2])] }),
    opsetImports: [{ domain: '', version: 13 }],
  });
  assert.throws(() => convertOpset(unknown, 11), /Frobnicate is not an ai.onnx operator/);
});
