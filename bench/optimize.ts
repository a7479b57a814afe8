// Model-preparation benchmark (issue #4): `npm run bench:optimize` [-- --quick] [-- --only digits|wide]
//
// For the example digits model (64→32→10, trained here) and the wide 512→2048→2048→1000 MLP
// (bench/models.ts, random weights), measures in one run, before and after each of
//   int8 dynamic · int8 static (QDQ, MinMax calibration) · int4 weight-only (MatMulNBits, block 32)
//   · fp16 (float32 I/O kept) · 50% structured pruning
// the size ratio, top-1 on the held-out split (digits) or top-1 agreement with fp32 (wide MLP),
// and latency p50 / throughput at batch 1 and 32 with onnxruntime-node in-process.
//
// int8 and the CPU (issue #14): beside each int8 row the note says the CPU features it was
// measured on and whether reduce range (7-bit weights) was used. 'int8 dynamic' is what berth
// picks for this machine; 'int8 dynamic 7-bit' and 'int8 static 7-bit' are what it picks for a
// CPU without VNNI (--target-cpu avx2); 'int8 dynamic u8u8' is the alternative for such CPUs
// (full-range weights shifted to uint8 with zero point 128, which u8u8 kernels widen to 16 bits
// and cannot saturate; what onnxruntime's session.x64quantprecision option does).
//
// Latency: every model's sessions stay open and are measured in interleaved rounds (round r
// measures fp32, then each variant), so a slow phase of the machine hits all of them alike; the
// figures are medians over rounds, and a speedup is the median of the per-round ratios. With
// --wait-idle S (shared machines), each round first waits for other processes to quieten, and
// only the quiet rounds are used when there are at least 3. Prints a table, PASS/FAIL targets
// and a markdown table, and writes bench/results/optimize-latest.json and optimize-latest.md.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { convertFp16 } from '../src/convert/fp16.js';
import { ensureDigitsModel, testSplit, trainSplit, INPUT_NAME } from '../src/examples/digits/index.js';
import { loadModel, saveModel, type ModelProto } from '../src/onnx/index.js';
import type { Dataset } from '../src/datasets/index.js';
import { EvalModel, accuracyOf, compare, medianStats, modelBytesOnDisk, top1, type LatencyStats, type Predictions } from '../src/optimize/eval.js';
import { median } from '../src/util/stats.js';
import { prune } from '../src/optimize/prune.js';
import { quantize, type QuantizeOptions, type QuantizeReport } from '../src/optimize/quantize/index.js';
import { describeCpu, detectCpuFeatures } from '../src/runtime/cpu-features.js';
import { makeTensor, tensorToArray } from '../src/onnx/index.js';
import { mulberry32, uniform, writeMlp } from './models.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_JSON = join(ROOT, 'bench', 'results', 'optimize-latest.json');
const RESULTS_MD = join(ROOT, 'bench', 'results', 'optimize-latest.md');
const BATCH = 32;
const BUSY_WARN = 0.15;

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    'wait-idle': { type: 'string', default: '0' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (argv.help) {
  console.log(`usage: node --import tsx bench/optimize.ts [--quick] [--only digits|wide] [--rounds N]
  --quick    fewer rounds and shorter measurements (a smoke run, not for the docs)
  --only     one model
  --rounds   interleaved latency rounds (default 7, quick 3)
  --wait-idle S  shared machine: before each round wait up to S seconds while other processes keep
             the CPU busy; only rounds measured on a quiet machine are used when there are ≥ 3`);
  process.exit(0);
}
const ROUNDS = Number(argv.rounds ?? (argv.quick ? 3 : 7));
/** target time of one latency measurement (one model, one batch size, one round) */
const MEASURE_MS = argv.quick ? 150 : 400;
const WAIT_IDLE_SEC = Number(argv['wait-idle']);
if (!Number.isFinite(WAIT_IDLE_SEC) || WAIT_IDLE_SEC < 0) {
  console.error('--wait-idle takes a number of seconds');
  process.exit(2);
}

type VariantName = 'fp32' | 'int8 dynamic' | 'int8 dynamic 7-bit' | 'int8 dynamic u8u8' | 'int8 static' | 'int8 static 7-bit' | 'int4 weight-only' | 'fp16' | 'prune 50% structured';

/** int8 rows: the CPU the figures come from, and whether the weights are 7-bit */
interface Int8Info {
  cpu: string;
  targetCpu: string;
  reduceRange: boolean;
  weights: 'int8' | 'uint8 (s8 + 128)';
}

interface Variant {
  name: VariantName;
  build: (model: ModelProto, calibration: Dataset) => Promise<ModelProto | { model: ModelProto; int8: Int8Info }>;
}

async function int8(model: ModelProto, options: QuantizeOptions, post?: (m: ModelProto) => ModelProto): Promise<{ model: ModelProto; int8: Int8Info }> {
  const { model: q, report } = await quantize(model, options);
  return { model: post ? post(q) : q, int8: int8Info(report, post ? 'uint8 (s8 + 128)' : 'int8') };
}

function int8Info(r: QuantizeReport, weights: Int8Info['weights']): Int8Info {
  return { cpu: describeCpu(r.cpu), targetCpu: r.targetCpu, reduceRange: r.reduceRange, weights };
}

/**
 * Full-range int8 DynamicQuantizeMatMul weights as uint8 (v + 128, zero point 128): the same
 * values for a u8u8 kernel, which widens both operands to 16 bits and so cannot saturate.
 */
function toU8U8(model: ModelProto): ModelProto {
  const graph = model.graph!;
  const byName = new Map(graph.initializer.map((t) => [t.name!, t]));
  const replaced = new Map<string, ReturnType<typeof makeTensor>>();
  const added: ReturnType<typeof makeTensor>[] = [];
  const node = graph.node.map((n) => {
    if (n.opType !== 'DynamicQuantizeMatMul') return n;
    const b = byName.get(n.input[1])!;
    const scale = byName.get(n.input[2])!;
    if (!replaced.has(b.name!)) {
      const values = tensorToArray(b) as Int8Array;
      replaced.set(b.name!, makeTensor(b.name!, 'uint8', (b.dims ?? []).map(Number), Uint8Array.from(values, (v) => v + 128)));
    }
    const zpName = `${b.name}_zero_point_u8`;
    if (!added.some((t) => t.name === zpName)) {
      const dims = (scale.dims ?? []).map(Number);
      const count = dims.reduce((a, c) => a * c, 1);
      added.push(makeTensor(zpName, 'uint8', dims, new Uint8Array(count).fill(128)));
    }
    const input = [...n.input];
    while (input.length < 4) input.push('');
    input[3] = zpName;
    return { ...n, input };
  });
  const initializer = [...graph.initializer.map((t) => replaced.get(t.name!) ?? t), ...added];
  return { ...model, graph: { ...graph, node, initializer } };
}

const VARIANTS: Variant[] = [
  { name: 'int8 dynamic', build: (m) => int8(m, { mode: 'dynamic' }) },
  { name: 'int8 dynamic 7-bit', build: (m) => int8(m, { mode: 'dynamic', targetCpu: 'avx2' }) },
  { name: 'int8 dynamic u8u8', build: (m) => int8(m, { mode: 'dynamic', reduceRange: false }, toU8U8) },
  { name: 'int8 static', build: (m, calibration) => int8(m, { mode: 'static', calibration, calibrationMethod: 'minmax' }) },
  { name: 'int8 static 7-bit', build: (m, calibration) => int8(m, { mode: 'static', calibration, calibrationMethod: 'minmax', targetCpu: 'avx2' }) },
  { name: 'int4 weight-only', build: async (m) => (await quantize(m, { mode: 'weight-only', bits: 4, blockSize: 32 })).model },
  { name: 'fp16', build: async (m) => convertFp16(m, { keepIoTypes: true }).model },
  { name: 'prune 50% structured', build: async (m) => prune(m, { sparsity: 0.5, structured: true }).model },
];

interface Row {
  model: 'digits' | 'wide';
  variant: VariantName;
  /** bytes on disk (model + external data) */
  bytes: number;
  sizeRatio: number;
  /** digits: top-1 on the held-out split */
  top1?: number;
  /** top-1 − fp32's top-1 (fraction) */
  top1Delta?: number;
  /** same top-1 as fp32 */
  agreement: number;
  maxAbsError: number | null;
  b1: LatencyStats;
  b32: LatencyStats;
  /** fp32 p50 / this p50: the median over rounds of each round's ratio */
  speedupB1: number;
  speedupB32: number;
  /** rounds the latency figures come from (the quiet ones, when there were enough) */
  roundsUsed: number;
  buildSec: number;
  int8?: Int8Info;
  error?: string;
}

interface Check {
  name: string;
  value: number | null;
  target: string;
  pass: boolean;
}

// --- machine noise ----------------------------------------------------------------------------

function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU share (0..1) other processes use over `ms` while this process sleeps. */
async function backgroundCpu(ms = 500): Promise<number | undefined> {
  const start = { cpu: cpuTimes(), own: ownTicks() };
  await sleep(ms);
  return otherCpu(start);
}

/** With --wait-idle, waits (up to S seconds) for the other processes to quieten. */
async function waitIdle(): Promise<void> {
  if (WAIT_IDLE_SEC <= 0) return;
  const deadline = Date.now() + WAIT_IDLE_SEC * 1000;
  let bg = await backgroundCpu();
  while (bg !== undefined && bg > BUSY_WARN && Date.now() < deadline) {
    await sleep(2000);
    bg = await backgroundCpu();
  }
}

function ownTicks(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return f[11]! + f[12]!;
  } catch {
    return undefined;
  }
}

/** CPU share (0..1) used by processes other than this one since `start`. */
function otherCpu(start: { cpu?: { busy: number; total: number }; own?: number }): number | undefined {
  const end = cpuTimes();
  const own = ownTicks();
  if (!start.cpu || !end || start.own === undefined || own === undefined || end.total <= start.cpu.total) return undefined;
  return Math.max(0, (end.busy - start.cpu.busy - (own - start.own)) / (end.total - start.cpu.total));
}

// --- data ---------------------------------------------------------------------------------------

function digitsData(): { eval: Dataset; labels: Int32Array; calibration: Dataset } {
  const test = testSplit();
  const train = trainSplit();
  const calRows = Math.min(train.n, 256);
  return {
    eval: { samples: test.n, inputs: { [INPUT_NAME]: { datatype: 'FP32', shape: [test.n, 64], data: test.x } } },
    labels: test.y,
    calibration: { samples: calRows, inputs: { [INPUT_NAME]: { datatype: 'FP32', shape: [calRows, 64], data: train.x.subarray(0, calRows * 64) } } },
  };
}

function randomData(rows: number, dim: number, seed: number): Dataset {
  // Inputs like standardized features: uniform in [-√3, √3] (unit variance).
  return { samples: rows, inputs: { input: { datatype: 'FP32', shape: [rows, dim], data: uniform(mulberry32(seed), rows * dim, -Math.sqrt(3), Math.sqrt(3)) } } };
}

// --- measurement --------------------------------------------------------------------------------

interface Candidate {
  name: VariantName;
  int8?: Int8Info;
  path: string;
  bytes: number;
  buildSec: number;
  model: EvalModel;
  data: Dataset;
  predictions: Predictions;
  iterations: { b1: number; b32: number };
  b1: LatencyStats[];
  b32: LatencyStats[];
}

/** Rounds whose background CPU stayed low, when there are at least 3 of them; else all rounds. */
function usableRounds(background: (number | undefined)[]): number[] {
  const quiet = background.map((b, i) => (b !== undefined && b <= BUSY_WARN ? i : -1)).filter((i) => i >= 0);
  return quiet.length >= 3 ? quiet : background.map((_, i) => i);
}

async function iterationsFor(m: EvalModel, data: Dataset, batch: number): Promise<number> {
  const probe = await m.latency(data, batch, { warmup: 3, iterations: 5, rounds: 1 });
  return Math.max(5, Math.min(2000, Math.ceil(MEASURE_MS / Math.max(probe.meanMs, 1e-3))));
}

async function benchModel(
  which: 'digits' | 'wide',
  dir: string,
  fp32Path: string,
  data: Dataset,
  calibration: Dataset,
  labels: Int32Array | undefined,
): Promise<{ rows: Row[]; backgroundCpu?: number }> {
  const fp32 = await loadModel(fp32Path);
  const candidates: Candidate[] = [];
  const failures: Row[] = [];
  const open = async (name: VariantName, path: string, buildSec: number, int8?: Int8Info): Promise<void> => {
    const model = await EvalModel.open(path, { graphOptimizationLevel: 'all' });
    const fitted = model.fit(data);
    const predictions = await model.predict(fitted, model.outputs[0]!.name, BATCH);
    const iterations = { b1: await iterationsFor(model, fitted, 1), b32: await iterationsFor(model, fitted, BATCH) };
    candidates.push({ name, int8, path, bytes: await modelBytesOnDisk(path), buildSec, model, data: fitted, predictions, iterations, b1: [], b32: [] });
  };
  await open('fp32', fp32Path, 0);
  for (const v of VARIANTS) {
    process.stdout.write(`  ${which}: building ${v.name} … `);
    const t0 = performance.now();
    try {
      const built = await v.build(fp32, calibration);
      const buildSec = (performance.now() - t0) / 1000;
      const out = 'int8' in built ? built.model : built;
      const path = join(dir, `${which}-${v.name.replace(/[^a-z0-9]+/gi, '-')}.onnx`);
      await saveModel(out, path);
      await open(v.name, path, buildSec, 'int8' in built ? built.int8 : undefined);
      console.log(`${buildSec.toFixed(2)} s`);
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
      console.log(`FAILED: ${message}`);
      const nan: LatencyStats = { batch: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, meanMs: Number.NaN, throughput: Number.NaN, runs: 0, rounds: 0 };
      failures.push({ model: which, variant: v.name, bytes: 0, sizeRatio: Number.NaN, agreement: Number.NaN, maxAbsError: null, b1: nan, b32: nan, speedupB1: Number.NaN, speedupB32: Number.NaN, roundsUsed: 0, buildSec: 0, error: message });
    }
  }

  process.stdout.write(`  ${which}: latency, ${ROUNDS} interleaved rounds `);
  const roundBackground: (number | undefined)[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await waitIdle();
    const start = { cpu: cpuTimes(), own: ownTicks() };
    // Alternate the order so no model always runs right after the same neighbour.
    const order = r % 2 === 0 ? candidates : [...candidates].reverse();
    for (const c of order) {
      c.b1.push(await c.model.latency(c.data, 1, { warmup: 2, iterations: c.iterations.b1, rounds: 1 }));
      c.b32.push(await c.model.latency(c.data, BATCH, { warmup: 2, iterations: c.iterations.b32, rounds: 1 }));
    }
    const bg = otherCpu(start);
    roundBackground.push(bg);
    process.stdout.write(bg === undefined || bg <= BUSY_WARN ? '.' : '~');
  }
  const used = usableRounds(roundBackground);
  const known = used.map((i) => roundBackground[i]).filter((b): b is number => b !== undefined);
  const bg = known.length ? median(known) : undefined;
  console.log(` ${used.length}/${ROUNDS} rounds used${bg === undefined ? '' : `; other processes used ${(bg * 100).toFixed(0)}% of the CPU in them (median)`}`);

  const base = candidates[0]!;
  const baseTop1 = labels ? accuracyOf(top1(base.predictions), labels).top1 : undefined;
  const pick = (list: LatencyStats[]): LatencyStats[] => used.map((i) => list[i]!);
  const ratio = (c: Candidate, key: 'b1' | 'b32'): number => median(used.map((i) => base[key][i]!.p50Ms / c[key][i]!.p50Ms));
  const rows: Row[] = candidates.map((c) => {
    const b1 = medianStats(pick(c.b1));
    const b32 = medianStats(pick(c.b32));
    const cmp = compare(c.predictions, base.predictions);
    const acc = labels ? accuracyOf(top1(c.predictions), labels).top1 : undefined;
    return {
      model: which,
      variant: c.name,
      bytes: c.bytes,
      sizeRatio: c.bytes / base.bytes,
      top1: acc,
      top1Delta: acc === undefined ? undefined : acc - baseTop1!,
      agreement: cmp.agreement,
      maxAbsError: cmp.maxAbsError,
      b1,
      b32,
      speedupB1: ratio(c, 'b1'),
      speedupB32: ratio(c, 'b32'),
      roundsUsed: used.length,
      buildSec: +c.buildSec.toFixed(3),
      ...(c.int8 ? { int8: c.int8 } : {}),
    };
  });
  for (const c of candidates) await c.model.close();
  return { rows: [...rows, ...failures], backgroundCpu: bg };
}

// --- reporting ----------------------------------------------------------------------------------

const fmtBytes = (n: number): string => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
const fmtMs = (x: number): string => (Number.isNaN(x) ? 'n/a' : x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);
const fmtX = (x: number): string => (Number.isNaN(x) ? 'n/a' : `${x.toFixed(2)}×`);
const fmtPct = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(2)}%`);
const fmtDelta = (x: number | undefined): string => (x === undefined ? '' : ` (${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)})`);

function cells(r: Row): string[] {
  if (r.error) return [r.model, r.variant, 'FAILED', '', '', '', '', '', '', '', r.error];
  return [
    r.model,
    r.variant,
    fmtBytes(r.bytes),
    r.sizeRatio.toFixed(3),
    r.top1 === undefined ? '' : `${fmtPct(r.top1)}${r.variant === 'fp32' ? '' : fmtDelta(r.top1Delta)}`,
    fmtPct(r.agreement),
    `${fmtMs(r.b1.p50Ms)}`,
    r.variant === 'fp32' ? '' : fmtX(r.speedupB1),
    `${fmtMs(r.b32.p50Ms)} · ${Math.round(r.b32.throughput)}/s`,
    r.variant === 'fp32' ? '' : fmtX(r.speedupB32),
    r.int8 ? `${r.int8.cpu}; reduce range ${r.int8.reduceRange ? 'on (7-bit)' : 'off'}${r.int8.weights === 'int8' ? '' : `; weights ${r.int8.weights}`}` : '',
  ];
}

const HEADER = ['model', 'variant', 'size', 'size ratio', 'top-1 (Δ pts)', 'agreement', 'p50 b1', 'speedup b1', 'p50 b32 · throughput', 'speedup b32', 'note'];

function textTable(rows: Row[]): string {
  const all = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function markdown(rows: Row[], checks: Check[]): string {
  const out = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`];
  for (const r of rows) out.push(`| ${cells(r).join(' | ')} |`);
  out.push('', '| target | measured | required | result |', '|---|---|---|---|');
  for (const c of checks) out.push(`| ${c.name} | ${c.value === null ? 'n/a' : c.value.toFixed(3)} | ${c.target} | ${c.pass ? 'PASS' : 'FAIL'} |`);
  return out.join('\n');
}

function checksOf(rows: Row[]): Check[] {
  const get = (model: Row['model'], v: VariantName): Row | undefined => rows.find((r) => r.model === model && r.variant === v && !r.error);
  const checks: Check[] = [];
  if (rows.some((r) => r.model === 'wide')) {
    const dyn = get('wide', 'int8 dynamic');
    checks.push({ name: 'wide MLP int8 dynamic: speedup at batch 32', value: dyn?.speedupB32 ?? null, target: '≥ 1.5×', pass: (dyn?.speedupB32 ?? 0) >= 1.5 });
    checks.push({ name: 'wide MLP int8 dynamic: size ratio', value: dyn?.sizeRatio ?? null, target: '≤ 0.27', pass: dyn !== undefined && dyn.sizeRatio <= 0.27 });
  }
  if (rows.some((r) => r.model === 'digits')) {
    for (const v of ['int8 dynamic', 'int8 static', 'fp16'] as const) {
      const row = get('digits', v);
      const drop = row?.top1Delta === undefined ? null : -row.top1Delta * 100;
      checks.push({ name: `digits ${v}: top-1 drop (points)`, value: drop, target: '≤ 0.5', pass: drop !== null && drop <= 0.5 + 1e-9 });
    }
  }
  return checks;
}

function gitCommit(): string | null {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const dir = await mkdtemp(join(os.tmpdir(), 'berth-bench-optimize-'));
  const rows: Row[] = [];
  const background: number[] = [];
  try {
    if (!argv.only || argv.only === 'digits') {
      console.log('digits (example model, held-out split):');
      const { modelPath } = await ensureDigitsModel(join(dir, 'repo'));
      const d = digitsData();
      const res = await benchModel('digits', dir, modelPath, d.eval, d.calibration, d.labels);
      rows.push(...res.rows);
      if (res.backgroundCpu !== undefined) background.push(res.backgroundCpu);
    }
    if (!argv.only || argv.only === 'wide') {
      console.log('wide MLP 512→2048→2048→1000 (random weights; agreement with fp32 on random inputs):');
      const info = await writeMlp(join(dir, 'repo'), 'wide', [512, 2048, 2048, 1000], 2);
      const res = await benchModel('wide', dir, info.path, randomData(argv.quick ? 128 : 512, 512, 11), randomData(128, 512, 12), undefined);
      rows.push(...res.rows);
      if (res.backgroundCpu !== undefined) background.push(res.backgroundCpu);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const checks = checksOf(rows);
  const md = markdown(rows, checks);
  console.log(`\nint8 figures measured on: ${describeCpu(detectCpuFeatures())}`);
  console.log(`\n${textTable(rows)}\n`);
  for (const c of checks) console.log(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.value === null ? 'n/a' : c.value.toFixed(3)} (target ${c.target})`);
  const maxBg = background.length ? Math.max(...background) : undefined;
  if (maxBg !== undefined && maxBg > BUSY_WARN) {
    console.warn(`WARNING: other processes used up to ${(maxBg * 100).toFixed(0)}% of the CPU during the latency rounds: the figures are noisy; rerun on an idle machine.`);
  }
  console.log(`\nmarkdown for docs/benchmarks.md:\n\n${md}\n`);

  const ortVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
  const record = {
    bench: 'optimize',
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model.trim() ?? null, cpuFeatures: detectCpuFeatures(), memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), platform: `${os.platform()} ${os.release()}`, node: process.version, onnxruntimeNode: ortVersion },
    options: { quick: argv.quick, only: argv.only ?? null, rounds: ROUNDS, waitIdleSec: WAIT_IDLE_SEC, measureMs: MEASURE_MS, batch: BATCH, threads: 'onnxruntime default', graphOptimizationLevel: 'all' },
    rows,
    checks,
    pass: checks.every((c) => c.pass),
    maxBackgroundCpu: maxBg ?? null,
    noisy: maxBg !== undefined && maxBg > BUSY_WARN,
    medianBackgroundCpu: background.length ? median(background) : null,
    elapsedSec: +((performance.now() - t0) / 1000).toFixed(1),
    markdown: md,
  };
  await mkdir(dirname(RESULTS_JSON), { recursive: true });
  await writeFile(RESULTS_JSON, `${JSON.stringify(record, null, 2)}\n`);
  await writeFile(RESULTS_MD, `${md}\n`);
  console.log(`results → ${RESULTS_JSON}, ${RESULTS_MD} (${record.elapsedSec}s)`);
  if (!record.pass) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
