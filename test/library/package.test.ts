// berth used as a library, the way a user gets it: `npm pack` makes the tarball, a separate
// directory gets it as node_modules/berth, and a plain ESM script there imports 'berth' by name,
// starts a server from a config object, infers over HTTP, quantizes a model and stops; a
// TypeScript file there type-checks against the package's declarations.
//
// The tarball is unpacked into node_modules/berth as `npm install` would put it, but its
// dependencies are not installed again: the directory sits under the project's .scratch/, so
// Node's resolution finds them in the project's node_modules (an offline machine cannot fetch
// them, and better-sqlite3 would have to be compiled again).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../../src/onnx/codec.js';
import { mlp, randomArray } from '../convert/models.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir = '';
let tarball = '';

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/index.js is missing: run npm run build first');
  await mkdir(join(ROOT, '.scratch'), { recursive: true });
  dir = await mkdtemp(join(ROOT, '.scratch', 'library-'));
  // the build already ran (npm test builds first); --ignore-scripts keeps pack from building again
  const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, packed[0]!.filename);
  const target = join(dir, 'app', 'node_modules', 'berth');
  await mkdir(target, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
  await writeFile(join(dir, 'app', 'package.json'), JSON.stringify({ name: 'berth-user', private: true, type: 'module' }));
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the tarball holds the built library and not the sources or tests', () => {
  const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
  for (const f of ['package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/cli/main.js', 'package/dist/grpc/inference.proto', 'package/package.json']) {
    assert.ok(list.includes(f), `${f} missing from the tarball`);
  }
  assert.deepEqual(list.filter((f) => f.startsWith('package/test/') || (f.startsWith('package/src/') && f.endsWith('.ts'))), []);
});

test('a script imports berth by name: serves a model from a config object, infers, quantizes, stops', async () => {
  const app = join(dir, 'app');
  const repo = join(app, 'models');
  await mkdir(join(repo, 'mlp', '1'), { recursive: true });
  const bytes = encodeModel(mlp([16, 32, 4], { seed: 3 }));
  await writeFile(join(repo, 'mlp', '1', 'model.onnx'), bytes);
  const input = randomArray(16, 1, 11);
  await writeFile(join(app, 'input.json'), JSON.stringify(Array.from(input)));
  await writeFile(join(app, 'main.mjs'), `
import { readFile } from 'node:fs/promises';
import { startServer, loadModel, saveModel, quantize, inspectModel } from 'berth';

const input = JSON.parse(await readFile('input.json', 'utf8'));
const server = await startServer({
  paths: ['models'],
  home: 'home',
  http: { host: '127.0.0.1', port: 0 },
  grpc: { enabled: false },
  monitoring: { enabled: false },
});
let output;
try {
  const name = (await (await fetch(server.url + '/v2/models/mlp')).json()).inputs[0].name;
  const res = await fetch(server.url + '/v2/models/mlp/infer', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name, shape: [1, 16], datatype: 'FP32', data: input }] }),
  });
  output = (await res.json()).outputs[0];
} finally {
  await server.close();
}
const model = await loadModel('models/mlp/1/model.onnx');
const { model: quantized } = await quantize(model, { mode: 'dynamic' });
await saveModel(quantized, 'quantized.onnx');
const ops = inspectModel(quantized).opCounts.map((o) => o.opType);
console.log(JSON.stringify({ output, ops }));
`);
  const out = execFileSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as { output: { shape: number[]; data: number[] }; ops: string[] };
  assert.ok(result.ops.includes('MatMulInteger') || result.ops.includes('DynamicQuantizeMatMul'), `no integer MatMul in ${result.ops.join(', ')}`);

  // the answer, against onnxruntime run directly (not through berth)
  const session = await ort.InferenceSession.create(bytes);
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 16]) };
  const expected = (await session.run(feeds))[session.outputNames[0]!]!.data as Float32Array;
  assert.deepEqual(result.output.shape, [1, 4]);
  assert.deepEqual(result.output.data.map(Math.fround), Array.from(expected));
  await session.release();

  // the quantized model the script wrote runs in onnxruntime and stays close to the float one
  const q = await ort.InferenceSession.create(await readFile(join(app, 'quantized.onnx')));
  const got = (await q.run(feeds))[q.outputNames[0]!]!.data as Float32Array;
  assert.equal(got.length, 4);
  const scale = Math.max(...Array.from(expected, Math.abs));
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(got[i]! - expected[i]!) <= 0.1 * scale, `output ${i}: ${got[i]} vs ${expected[i]}`);
  await q.release();
});

test('a TypeScript user type-checks against the package declarations; deep imports are closed', async () => {
  const app = join(dir, 'app');
  await writeFile(join(app, 'user.ts'), `
import { startServer, quantize, Registry, type BerthConfigInput, type RunningServer, type QuantizeOptions, type Backend } from 'berth';
const config: BerthConfigInput = { http: { port: 0 }, grpc: { enabled: false } };
const options: QuantizeOptions = { mode: 'dynamic' };
export async function run(): Promise<RunningServer> {
  void quantize; void options; void Registry;
  const backends: Backend[] = [];
  return startServer({ ...config, backends });
}
`);
  await writeFile(join(app, 'bad.ts'), `
import { startServer } from 'berth';
// a key the schema does not have
export const s = startServer({ http: { prot: 1 } });
`);
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const common = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types')];
  execFileSync(process.execPath, [tsc, ...common, 'user.ts'], { cwd: app, encoding: 'utf8' });
  assert.throws(() => execFileSync(process.execPath, [tsc, ...common, 'bad.ts'], { cwd: app, encoding: 'utf8', stdio: 'pipe' }), (err: { stdout?: string }) => /bad\.ts.*'prot'/s.test(err.stdout ?? ''));
  // the exports map admits only the entry point
  assert.throws(() => execFileSync(process.execPath, ['--input-type=module', '-e', "await import('berth/dist/server.js')"], { cwd: app, encoding: 'utf8', stdio: 'pipe' }), /ERR_PACKAGE_PATH_NOT_EXPORTED/);
});
