// Serving benchmark (issue #2): `npm run bench` [-- --quick] [-- --only small|heavy|monitoring]
//
// For two generated MLPs — small 64→256→256→10 and heavy 512→2048→2048→1000 — measures, in one
// run on one machine:
//   (a) onnxruntime-node in-process, `session.run` in a loop, batch 1 and batch 32 (the ceiling);
//   (b) the naive server (bench/naive-server.ts: fastify, one `run` per request, JSON);
//   (c) berth (`node dist/cli/main.js serve`), Open Inference Protocol v2, JSON and binary tensors
//       over REST, and raw contents over gRPC (issue #3), and beside it the lean batching server
//       (bench/lean-server.ts: the least a fastify + worker-thread server can do and still batch);
//   (d) monitoring overhead (issue #6, bench/monitoring-overhead.ts): berth with metrics, access
//       log and prediction capture on versus everything off, and metrics alone, small model.
// HTTP targets are loaded with wrk at 32 connections, gRPC with h2load at 32 calls (8 connections
// × 4, as tritonclient shares channels, and 32 × 1); one sample (batch 1) per request. The
// in-process batch-32 ceiling, the naive server, berth binary, berth json (issue #16), the lean
// server and gRPC are measured in alternating rounds, so that their ratios are not comparisons
// of two different moments of a shared machine. The JSON answer's size is compared with the same
// answer printed with float64 text (what berth wrote before issue #16).
// Prints a table, the ratios against the baselines with PASS/FAIL targets, a markdown table for
// docs/benchmarks.md, and writes bench/results/serving-latest.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { mulberry32, uniform, writeMlp, type MlpInfo } from './models.js';
import { findWrk, runWrk, writeWrkScript, type WrkResult } from './wrk.js';
import { findH2load, grpcInferOnce, runGrpcH2load, type GrpcLoadResult } from './grpc-load.js';
import { freePort, median, sleep } from './common.js';
import { measureMonitoringOverhead, monitoringMarkdown, profileLine, type MonitoringOverhead } from './monitoring-overhead.js';
import { quantileNearestRank } from '../src/util/stats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BERTH_CLI = join(ROOT, 'dist', 'cli', 'main.js');
const RESULTS = join(ROOT, 'bench', 'results', 'serving-latest.json');

const CONNECTIONS = 32;
const WRK_THREADS = 2;

interface ModelSpec {
  name: 'small' | 'heavy';
  layers: number[];
  seed: number;
  /** Targets this model must meet; `undefined` = not checked. */
  targets: { berthOverNaive: number; berthOverCeiling?: number; grpcOverBinary?: number; jsonOverNaive?: number; jsonOverBinary?: number; jsonAnswerShare?: number };
}

const MODELS: ModelSpec[] = [
  // issue #16: "small JSON ≥ 0.9× berth binary"
  { name: 'small', layers: [64, 256, 256, 10], seed: 1, targets: { berthOverNaive: 1.3, jsonOverBinary: 0.9 } },
  // issue #3: "target gRPC ≥ REST binary on the heavy model"; issue #16: "heavy JSON ≥ 5× naive and
  // ≥ 0.7× berth binary; the JSON answer of the wide MLP ≤ 0.6× its current size"
  { name: 'heavy', layers: [512, 2048, 2048, 1000], seed: 2, targets: { berthOverNaive: 5, berthOverCeiling: 0.6, grpcOverBinary: 1, jsonOverNaive: 5, jsonOverBinary: 0.7, jsonAnswerShare: 0.6 } },
];

type TargetName = 'in-process b1' | 'in-process b32' | 'naive' | 'lean batching' | 'berth json' | 'berth binary' | 'berth grpc 8×4' | 'berth grpc 32×1' | 'base json' | 'base binary';

/** One measurement window of a target measured in alternating rounds. */
interface RoundResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  backgroundCpu?: number;
}

interface TargetResult {
  model: string;
  target: TargetName;
  /** Requests (HTTP) or `run` calls (in-process) per second. */
  reqPerSec: number;
  samplesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  durationSec: number;
  /** Non-2xx responses and socket errors (HTTP targets). */
  errors?: WrkResult['errors'];
  /** Result of the one-request correctness check against in-process onnxruntime. */
  check?: string;
  /** CPU share (0..1) other processes used while this target was measured; see OtherCpu. */
  backgroundCpu?: number;
  /** Targets measured in alternating rounds: every window (the figures above are the medians). */
  rounds?: RoundResult[];
}

interface Ratio {
  model: string;
  name: string;
  value: number | null;
  target?: number;
  pass?: boolean;
}

// ---------------------------------------------------------------------------------------------
// command line

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'skip-berth': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'wait-idle': { type: 'string', default: '0' },
    'skip-monitoring': { type: 'boolean', default: false },
    base: { type: 'string' },
    out: { type: 'string', default: RESULTS },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (argv.help) {
  console.log(`usage: npm run bench -- [--quick] [--only small|heavy|monitoring] [--skip-berth] [--skip-monitoring] [--wait-idle S] [--keep] [--out FILE]

  --quick        shorter warm-up and measurement windows (smoke run, noisier)
  --only NAME    bench one model: small (64→256→256→10) or heavy (512→2048→2048→1000);
                 monitoring: only the monitoring overhead section
  --skip-berth   baselines only (in-process + naive), e.g. before berth is built
  --skip-monitoring  leave out the monitoring overhead section (small model, ~7 minutes)
  --keep         keep the generated model repository and wrk scripts
  --wait-idle S  shared machine: before each target wait up to S seconds while other processes
                 keep the CPU busy, and re-measure (twice at most) a target they disturbed
  --base DIR     also serve the berth built in checkout DIR (its dist/) beside this one, in the same
                 rounds, and print this berth / that berth per round (a change against the previous
                 commit, built side by side: git worktree add DIR <commit> && (cd DIR && npm run build))
  --out FILE     results JSON (default bench/results/serving-latest.json)`);
  process.exit(0);
}
if (argv.only !== undefined && argv.only !== 'monitoring' && !MODELS.some((m) => m.name === argv.only)) {
  console.error(`--only must be one of: ${[...MODELS.map((m) => m.name), 'monitoring'].join(', ')}`);
  process.exit(2);
}

const WAIT_IDLE_SEC = Number(argv['wait-idle']);
if (!Number.isFinite(WAIT_IDLE_SEC) || WAIT_IDLE_SEC < 0) {
  console.error('--wait-idle takes a number of seconds');
  process.exit(2);
}

const FOUND_WRK = findWrk();
if (!FOUND_WRK) {
  console.error('wrk is not installed: the serving bench needs it as its load generator.\n' + 'Install it (Debian/Ubuntu: apt-get install wrk) or set WRK=/path/to/wrk.');
  process.exit(1);
}
const WRK: string = FOUND_WRK;
const withBerth = !argv['skip-berth'];
const BASE_CLI = argv.base === undefined ? undefined : join(resolve(argv.base), 'dist', 'cli', 'main.js');
if (BASE_CLI !== undefined && !existsSync(BASE_CLI)) {
  console.error(`--base: ${BASE_CLI} is missing: build that checkout first (npm run build there)`);
  process.exit(2);
}
// The gRPC row needs h2load (Debian: nghttp2-client); without it the row is skipped, not failed.
const H2LOAD = findH2load();
if (withBerth && !existsSync(BERTH_CLI)) {
  console.error(`${BERTH_CLI} is missing: run npm run build first (or pass --skip-berth for the baselines only).`);
  process.exit(1);
}

// REST binary and gRPC run in `pairedRounds` alternating windows of `pairedSec` each. The
// monitoring section judges a 3% difference on a machine where one second differs from the next
// by ±10%: 6 rounds of fresh server processes, each warmed up for 8 s, then 6 cycles of 1-s
// windows per configuration (a median of 36 paired ratios; monitoring-overhead.ts).
const TIMING = argv.quick
  ? { warmSec: 1, measureSec: 3, inprocWarmSec: 0.5, inprocSec: 2, pairedRounds: 2, pairedSec: 3, monitoring: { rounds: 2, cycles: 3, seconds: 1, warmSec: 3 } }
  : { warmSec: 2, measureSec: 10, inprocWarmSec: 1, inprocSec: 5, pairedRounds: 5, pairedSec: 5, monitoring: { rounds: 6, cycles: 6, seconds: 1, warmSec: 8 } };

// ---------------------------------------------------------------------------------------------
// helpers


/** Nearest-rank percentile (p from 0 to 100) of ascending values; NaN for none. */
function percentile(sorted: number[], p: number): number {
  return quantileNearestRank(sorted, p / 100);
}

/** Busy and total jiffies of all CPUs, from /proc/stat (Linux); undefined elsewhere. */
function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * Fraction of the machine's CPU busy over `ms` while this bench runs nothing: what other
 * processes are using. The bench needs an idle machine; a high figure means noisy results.
 */
async function backgroundCpu(ms = 500): Promise<number | undefined> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  if (!a || !b || b.total <= a.total) return undefined;
  return (b.busy - a.busy) / (b.total - a.total);
}

/** utime+stime (+ reaped children's, for `self`) of a process in clock ticks, from /proc. */
function procTicks(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "pid (comm) ": index 0 is field 3 (state); utime = field 14 … cstime = field 17.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return f[11]! + f[12]! + (pid === 'self' ? f[13]! + f[14]! : 0);
  } catch {
    return undefined;
  }
}

/**
 * Measures the CPU share that processes other than this bench, its server child and its wrk
 * (reaped, so counted in our cstime/cutime) used during a measurement window.
 */
class OtherCpu {
  private readonly start = cpuTimes();
  private readonly ownStart: number | undefined;

  constructor(private readonly pid?: number) {
    this.ownStart = this.own();
  }

  private own(): number | undefined {
    const self = procTicks('self');
    const child = this.pid === undefined ? 0 : procTicks(this.pid);
    return self === undefined || child === undefined ? undefined : self + child;
  }

  /** Fraction of all CPU time (0..1) used by others since construction. */
  stop(): number | undefined {
    const end = cpuTimes();
    const ownEnd = this.own();
    if (!this.start || !end || this.ownStart === undefined || ownEnd === undefined || end.total <= this.start.total) return undefined;
    const other = end.busy - this.start.busy - (ownEnd - this.ownStart);
    return Math.max(0, other / (end.total - this.start.total));
  }
}

/**
 * A child server process. Its stdout/stderr go to a log file, not a pipe, so a chatty server
 * costs the bench process no CPU while wrk is measuring; the tail is read back for errors.
 */
class Child {
  readonly proc: ChildProcess;
  exited: number | string | null = null;
  private readonly exitPromise: Promise<void>;

  constructor(
    readonly label: string,
    readonly logFile: string,
    cmd: string,
    args: string[],
  ) {
    const fd = openSync(logFile, 'w');
    try {
      this.proc = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', fd, fd], env: { ...process.env, NODE_ENV: 'production' } });
    } finally {
      closeSync(fd);
    }
    this.exitPromise = new Promise((res) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = code ?? signal ?? 'unknown';
        res();
      });
      this.proc.on('error', (e) => {
        appendFileSync(logFile, `\nspawn error: ${e.message}\n`);
        this.exited = 'spawn-error';
        res();
      });
    });
    children.add(this);
  }

  /** The last few KB the process printed. */
  output(): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-4000).trim();
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    if (this.exited === null) {
      this.proc.kill('SIGTERM');
      const killer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await this.exitPromise;
      clearTimeout(killer);
    }
    children.delete(this);
  }

  /** Wait up to `ms` for the process to exit on its own; true if it did. */
  async exitedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exitPromise, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    return this.exited !== null;
  }
}

const children = new Set<Child>();
const killChildren = (): void => {
  for (const c of children) if (c.exited === null) c.proc.kill('SIGKILL');
};
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killChildren();
    process.exit(130);
  });
}

async function waitReady(child: Child, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exited !== null) throw new Error(`${child.label} exited (${child.exited}) before it was ready:\n${child.output()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${child.label} not ready at ${url} after ${timeoutMs} ms:\n${child.output()}`);
}

// ---------------------------------------------------------------------------------------------
// request bodies and the correctness check

interface Bodies {
  input: Float32Array;
  json: Buffer;
  binary: Buffer;
  binaryHeaderLength: number;
}

function makeBodies(info: MlpInfo, seed: number): Bodies {
  const input = uniform(mulberry32(seed), info.inputDim, 0, 1);
  const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, info.inputDim], datatype: 'FP32', data: Array.from(input) }] }));
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape: [1, info.inputDim], datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
    }),
  );
  const raw = Buffer.alloc(input.byteLength);
  for (let i = 0; i < input.length; i++) raw.writeFloatLE(input[i]!, i * 4);
  return { input, json, binary: Buffer.concat([header, raw]), binaryHeaderLength: header.length };
}

interface OutJson {
  outputs?: Array<{ name: string; shape?: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }>;
}

function flatten(data: unknown): number[] {
  return Array.isArray(data) ? data.flatMap((d: unknown) => flatten(d)) : [data as number];
}

/** Per model: bytes of berth's JSON answer over the same answer with float64 text (JSON.stringify). */
const jsonAnswerShare = new Map<string, number>();

async function answerShare(url: string, body: Buffer, headers: Record<string, string>): Promise<number> {
  const r = await fetch(url, { method: 'POST', body: new Uint8Array(body), headers, signal: AbortSignal.timeout(30_000) });
  const text = await r.text();
  const answer = JSON.parse(text) as { outputs: { data: number[] }[] };
  // berth before issue #16 printed each float32 with JSON.stringify's float64 text
  const before = JSON.stringify({ ...answer, outputs: answer.outputs.map((o) => ({ ...o, data: Array.from(Float32Array.from(o.data)) })) });
  return Buffer.byteLength(text) / Buffer.byteLength(before);
}

/** Send one request and compare the output with in-process onnxruntime's. */
async function checkOne(url: string, body: Buffer, headers: Record<string, string>, expected: Float32Array, outDim: number): Promise<string> {
  // A server may report ready before every model is loaded: retry 503/404 for a while.
  const deadline = Date.now() + 30_000;
  let r: Response;
  let buf: Buffer;
  for (;;) {
    r = await fetch(url, { method: 'POST', body: new Uint8Array(body), headers, signal: AbortSignal.timeout(30_000) });
    buf = Buffer.from(await r.arrayBuffer());
    if (r.status === 200) break;
    if ((r.status !== 503 && r.status !== 404) || Date.now() > deadline) {
      throw new Error(`${url}: HTTP ${r.status}: ${buf.toString('utf8').slice(0, 500)}`);
    }
    await sleep(200);
  }
  const hl = r.headers.get('inference-header-content-length');
  const headerLen = hl === null ? buf.length : Number(hl);
  const meta = JSON.parse(buf.subarray(0, headerLen).toString('utf8')) as OutJson;
  const out = meta.outputs?.find((o) => o.name === 'output');
  if (!out) return `no "output" in response: ${buf.subarray(0, 300).toString('utf8')}`;
  let got: ArrayLike<number>;
  if (out.data !== undefined) {
    got = flatten(out.data);
  } else {
    const size = out.parameters?.binary_data_size;
    if (hl === null || size === undefined) return 'binary output without Inference-Header-Content-Length / binary_data_size';
    const blob = buf.subarray(headerLen, headerLen + size);
    const f = new Float32Array(size / 4);
    for (let i = 0; i < f.length; i++) f[i] = blob.readFloatLE(i * 4);
    got = f;
  }
  return compareOutput(got, out.shape, expected, outDim);
}

/** 'ok' when an answer of shape [1, outDim] matches onnxruntime's within 1e-3, else what is wrong. */
function compareOutput(got: ArrayLike<number>, shape: number[] | undefined, expected: Float32Array, outDim: number): string {
  if (shape && (shape.length !== 2 || shape[0] !== 1 || shape[1] !== outDim)) return `output shape ${JSON.stringify(shape)}`;
  if (got.length !== expected.length) return `output has ${got.length} values, expected ${expected.length}`;
  let maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(Number(got[i]) - expected[i]!) / (1 + Math.abs(expected[i]!));
    maxErr = Number.isNaN(e) ? Infinity : Math.max(maxErr, e);
  }
  return maxErr <= 1e-3 ? 'ok' : `mismatch: max relative error ${maxErr.toExponential(2)}`;
}

/** The gRPC counterpart of checkOne: one ModelInfer with raw contents, its raw output decoded. */
async function checkGrpc(address: string, info: MlpInfo, input: Float32Array, expected: Float32Array): Promise<string> {
  const answer = await grpcInferOnce({ address, model: info.name, inputName: 'input', datatype: 'FP32', shape: [1, info.inputDim], data: input });
  const i = answer.outputs.findIndex((o) => o.name === 'output');
  if (i < 0 || answer.raw[i] === undefined) return `no "output" in the answer: ${JSON.stringify(answer.outputs)}`;
  const blob = answer.raw[i]!;
  const got = new Float32Array(blob.length / 4);
  for (let k = 0; k < got.length; k++) got[k] = blob.readFloatLE(k * 4);
  return compareOutput(got, answer.outputs[i]!.shape, expected, info.outputDim);
}

// ---------------------------------------------------------------------------------------------
// (a) in-process

const BUSY_WARN = 0.15;

/** Sample the machine before a target; with --wait-idle, wait for the others to quieten. */
async function waitIdle(label: string): Promise<number | undefined> {
  let bg = await backgroundCpu();
  // --wait-idle S: on a shared machine, wait (up to S seconds per target) for the others to finish.
  const deadline = Date.now() + WAIT_IDLE_SEC * 1000;
  if (bg !== undefined && bg > BUSY_WARN && WAIT_IDLE_SEC > 0) {
    console.log(`  … waiting up to ${WAIT_IDLE_SEC}s for an idle machine (${(bg * 100).toFixed(0)}% busy)`);
    while (bg !== undefined && bg > BUSY_WARN && Date.now() < deadline) {
      await sleep(1000);
      bg = await backgroundCpu(1000);
    }
  }
  if (bg !== undefined && bg > BUSY_WARN) console.warn(`  ! machine busy before ${label}: ${(bg * 100).toFixed(0)}% CPU used by other processes`);
  return bg;
}

/** `session.run` in a loop: `warmSec` of warm-up, then `measureSec` timed; latencies sorted, ms. */
async function timeRuns(session: ort.InferenceSession, info: MlpInfo, batch: number, warmSec: number, measureSec: number): Promise<{ lat: number[]; elapsed: number; backgroundCpu?: number }> {
  const feeds = { input: new ort.Tensor('float32', uniform(mulberry32(1000 + batch), batch * info.inputDim, 0, 1), [batch, info.inputDim]) };
  const warmEnd = performance.now() + warmSec * 1000;
  while (performance.now() < warmEnd) await session.run(feeds);
  const lat: number[] = [];
  const others = new OtherCpu();
  const start = performance.now();
  const end = start + measureSec * 1000;
  let now = start;
  while (now < end) {
    const t0 = now;
    await session.run(feeds);
    now = performance.now();
    lat.push(now - t0);
  }
  const elapsed = (now - start) / 1000;
  const backgroundCpu = others.stop();
  lat.sort((x, y) => x - y);
  return { lat, elapsed, backgroundCpu };
}

async function benchInProcess(info: MlpInfo, batch: number): Promise<TargetResult> {
  await waitIdle(`${info.name} in-process b${batch}`);
  const session = await ort.InferenceSession.create(info.path);
  const { lat, elapsed, backgroundCpu: bg } = await timeRuns(session, info, batch, TIMING.inprocWarmSec, TIMING.inprocSec);
  if (bg !== undefined && bg > BUSY_WARN) console.warn(`  ! ${info.name} in-process b${batch}: other processes used ${(bg * 100).toFixed(0)}% of the CPU while it was measured`);
  await session.release();
  return {
    model: info.name,
    target: batch === 1 ? 'in-process b1' : 'in-process b32',
    reqPerSec: lat.length / elapsed,
    samplesPerSec: (lat.length * batch) / elapsed,
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    requests: lat.length,
    durationSec: elapsed,
    backgroundCpu: bg,
  };
}

async function referenceOutput(info: MlpInfo, input: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(info.path);
  const out = await session.run({ input: new ort.Tensor('float32', input, [1, info.inputDim]) });
  const data = Float32Array.from(out['output']!.data as Float32Array);
  await session.release();
  return data;
}

// ---------------------------------------------------------------------------------------------
// HTTP targets via wrk

interface HttpTarget {
  target: TargetName;
  url: string;
  bodyFile: string;
  body: Buffer;
  headers: Record<string, string>;
  /** The server process, whose CPU time is ours, not background. */
  serverPid?: number;
}

async function benchHttp(info: MlpInfo, t: HttpTarget, workDir: string, expected: Float32Array): Promise<TargetResult> {
  const check = await checkOne(t.url, t.body, t.headers, expected, info.outputDim);
  await waitIdle(`${info.name} ${t.target}`);
  if (check !== 'ok') console.warn(`  ! ${info.name} ${t.target}: ${check}`);
  const script = join(workDir, `${info.name}-${t.target.replace(/\W+/g, '-')}.lua`);
  await writeWrkScript(script, t.bodyFile, t.headers);
  const base = { url: t.url, script, connections: CONNECTIONS, threads: WRK_THREADS, wrkPath: WRK };
  await runWrk({ ...base, durationSec: TIMING.warmSec });
  const others = new OtherCpu(t.serverPid);
  const r = await runWrk({ ...base, durationSec: TIMING.measureSec });
  const bg = others.stop();
  if (bg !== undefined && bg > BUSY_WARN) console.warn(`  ! ${info.name} ${t.target}: other processes used ${(bg * 100).toFixed(0)}% of the CPU while it was measured`);
  const errs = r.errors.status + r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
  if (errs > 0) console.warn(`  ! ${info.name} ${t.target}: errors ${JSON.stringify(r.errors)} of ${r.requests} requests`);
  return {
    model: info.name,
    target: t.target,
    reqPerSec: r.requestsPerSec,
    samplesPerSec: r.requestsPerSec,
    p50Ms: r.latencyMs.p50,
    p99Ms: r.latencyMs.p99,
    requests: r.requests,
    durationSec: r.durationSec,
    errors: r.errors,
    check,
    backgroundCpu: bg,
  };
}

/**
 * With --wait-idle, a target that other processes disturbed while it was measured is measured
 * again (at most twice more); the least disturbed attempt is kept.
 */
async function retryNoisy(run: () => Promise<TargetResult>): Promise<TargetResult> {
  let best = await run();
  for (let attempt = 1; attempt < 3 && WAIT_IDLE_SEC > 0 && (best.backgroundCpu ?? 0) > BUSY_WARN; attempt++) {
    console.log(`  … measuring ${best.model} ${best.target} again (disturbed)`);
    const r = await run();
    if ((r.backgroundCpu ?? 0) < (best.backgroundCpu ?? 0)) best = r;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// The judged comparisons, in alternating rounds (issues #2 and #3)

interface GrpcTarget {
  /** host:port of berth's gRPC endpoint */
  address: string;
  /** the model's statistics (REST): to h2load a gRPC error is an HTTP 200, the server counts it */
  statsUrl: string;
  serverPid?: number;
}

async function successAndFailCounts(statsUrl: string): Promise<{ success: number; fail: number }> {
  const body = (await (await fetch(statsUrl)).json()) as { model_stats: { inference_stats: { success: { count: number }; fail: { count: number } } }[] };
  const stats = body.model_stats[0]!.inference_stats;
  return { success: stats.success.count, fail: stats.fail.count };
}

type Window = RoundResult & { samplesPerSec: number; errors: WrkResult['errors'] };
const NO_ERRORS = (): WrkResult['errors'] => ({ connect: 0, read: 0, write: 0, timeout: 0, status: 0 });

async function restWindow(script: string, t: HttpTarget, warmSec: number): Promise<Window> {
  const base = { url: t.url, script, connections: CONNECTIONS, threads: WRK_THREADS, wrkPath: WRK };
  await runWrk({ ...base, durationSec: warmSec });
  const others = new OtherCpu(t.serverPid);
  const r = await runWrk({ ...base, durationSec: TIMING.pairedSec });
  return { reqPerSec: r.requestsPerSec, samplesPerSec: r.requestsPerSec, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99, requests: r.requests, backgroundCpu: others.stop(), errors: r.errors };
}

/**
 * gRPC load: `connections` HTTP/2 connections with `streams` calls outstanding on each, 32 calls
 * in all. tritonclient's gRPC client (and so perf_analyzer) shares one channel, that is one
 * connection, among up to 6 clients (TRITON_CLIENT_GRPC_CHANNEL_MAX_SHARE_COUNT, default 6):
 * 32 concurrent clients → 8 connections × 4 calls is that shape. 32 × 1 is wrk's shape.
 */
interface GrpcShape {
  connections: number;
  streams: number;
}
const GRPC_TRITONCLIENT: GrpcShape = { connections: 8, streams: 4 };
const GRPC_CONNECTION_PER_CALL: GrpcShape = { connections: CONNECTIONS, streams: 1 };

async function grpcWindow(info: MlpInfo, g: GrpcTarget, input: Float32Array, shape: GrpcShape, warmSec: number): Promise<Window> {
  const load = { address: g.address, model: info.name, inputName: 'input', datatype: 'FP32' as const, shape: [1, info.inputDim], data: input, concurrency: shape.connections, streams: shape.streams, threads: WRK_THREADS, h2load: H2LOAD };
  const warm = await runGrpcH2load({ ...load, durationSec: warmSec });
  const before = await successAndFailCounts(g.statsUrl);
  const others = new OtherCpu(g.serverPid);
  const r: GrpcLoadResult = await runGrpcH2load({ ...load, durationSec: TIMING.pairedSec });
  const backgroundCpu = others.stop();
  await sleep(100); // the server notices the calls h2load cut at its end
  const after = await successAndFailCounts(g.statsUrl);
  // Failed requests the server counted, less the calls h2load left unanswered when it stopped
  // (those of the warm-up too, which may be counted after `before` was read): the server sees
  // them cancelled, which is a failure to it but not an error of the run.
  const failed = Math.max(0, after.fail - before.fail - (warm.cutAtEnd ?? 0) - (r.cutAtEnd ?? 0));
  return { reqPerSec: r.rps, samplesPerSec: r.rps, p50Ms: r.p50ms, p99Ms: r.p99ms, requests: r.requests, backgroundCpu, errors: { ...NO_ERRORS(), status: r.errors + failed } };
}

/** The ceiling for one window: onnxruntime alone in this process at batch 32 (berth's server idles). */
async function inProcessWindow(session: ort.InferenceSession, info: MlpInfo, warmSec: number): Promise<Window> {
  const batch = 32;
  const { lat, elapsed, backgroundCpu } = await timeRuns(session, info, batch, warmSec, TIMING.pairedSec);
  return { reqPerSec: lat.length / elapsed, samplesPerSec: (lat.length * batch) / elapsed, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), requests: lat.length, backgroundCpu, errors: NO_ERRORS() };
}

/** The rounds of one target as one result: median rates and latencies, summed counts. */
function combineRounds(model: string, target: TargetName, windows: Window[], check?: string): TargetResult {
  const bgs = windows.map((w) => w.backgroundCpu).filter((b): b is number => b !== undefined);
  const errors = NO_ERRORS();
  for (const w of windows) for (const k of Object.keys(errors) as (keyof typeof errors)[]) errors[k] += w.errors[k];
  const inProcess = target.startsWith('in-process');
  return {
    model,
    target,
    reqPerSec: median(windows.map((w) => w.reqPerSec)),
    samplesPerSec: median(windows.map((w) => w.samplesPerSec)),
    p50Ms: median(windows.map((w) => w.p50Ms)),
    p99Ms: median(windows.map((w) => w.p99Ms)),
    requests: windows.reduce((a, w) => a + w.requests, 0),
    durationSec: windows.length * TIMING.pairedSec,
    ...(inProcess ? {} : { errors, check }),
    backgroundCpu: bgs.length ? bgs.reduce((a, b) => a + b, 0) / bgs.length : undefined,
    rounds: windows.map(({ errors: _errors, ...round }) => round),
  };
}

/** A target of the alternating rounds: how to measure one window of it. */
interface PairedTarget {
  target: TargetName;
  /** short name for the round lines */
  label: string;
  check?: string;
  window(warmSec: number): Promise<Window>;
}

/**
 * The targets whose ratios are judged, measured in TIMING.pairedRounds rounds of one window each,
 * the order rotating from round to round: whatever else the machine does (on a shared VM the
 * in-process ceiling was seen to move by 2× within an hour) disturbs all of them alike, and each
 * round gives a paired ratio. The judged figures are medians of per-round ratios.
 */
async function benchPairedRounds(info: MlpInfo, targets: PairedTarget[]): Promise<{ results: TargetResult[]; windows: Map<TargetName, Window[]> }> {
  await waitIdle(`${info.name} ${targets.map((t) => t.label).join(', ')}`);
  const windows = new Map<TargetName, Window[]>(targets.map((t) => [t.target, []]));
  for (let round = 0; round < TIMING.pairedRounds; round++) {
    const warmSec = round === 0 ? TIMING.warmSec : 1;
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    const line: string[] = [];
    for (const t of order) {
      const w = await t.window(warmSec);
      windows.get(t.target)!.push(w);
      line.push(`${t.label} ${fmt(w.samplesPerSec)}${t.target.startsWith('in-process') ? ' samples/s' : ''}`);
    }
    const others = order.map((t) => windows.get(t.target)!.at(-1)!.backgroundCpu ?? 0);
    console.log(`    round ${round + 1}: ${line.join(', ')} (other CPU ≤ ${pct(Math.max(...others))})`);
  }
  const results = targets.map((t) => combineRounds(info.name, t.target, windows.get(t.target)!, t.check));
  for (const r of results) {
    const e = r.errors;
    const bad = e ? e.status + e.connect + e.read + e.write + e.timeout : 0;
    if (bad > 0) console.warn(`  ! ${info.name} ${r.target}: errors ${JSON.stringify(r.errors)} of ${r.requests} requests`);
    if (r.backgroundCpu !== undefined && r.backgroundCpu > BUSY_WARN) console.warn(`  ! ${info.name} ${r.target}: other processes used ${(r.backgroundCpu * 100).toFixed(0)}% of the CPU while it was measured`);
  }
  return { results, windows };
}

/** Per-round ratios a / b of two targets of the same rounds (samples/s). */
function perRound(windows: Map<TargetName, Window[]>, a: TargetName, b: TargetName): number[] {
  const wa = windows.get(a);
  const wb = windows.get(b);
  if (!wa || !wb) return [];
  return wa.map((w, i) => w.samplesPerSec / wb[i]!.samplesPerSec);
}

/** An HTTP result counts only if (almost) every request succeeded and the output was right. */
function usable(r: TargetResult | undefined): r is TargetResult {
  if (!r) return false;
  const e = r.errors;
  const bad = e ? e.status + e.timeout + e.read + e.write + e.connect : 0;
  return (r.check === undefined || r.check === 'ok') && bad <= 0.001 * Math.max(1, r.requests);
}

// ---------------------------------------------------------------------------------------------
// output

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
const fmtMs = (n: number): string => (Number.isFinite(n) ? (n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)) : 'n/a');

const pct = (f: number | undefined): string => (f === undefined ? 'n/a' : `${(f * 100).toFixed(0)}%`);

function note(r: TargetResult): string {
  const parts: string[] = [];
  if (r.check !== undefined && r.check !== 'ok') parts.push(r.check);
  const e = r.errors;
  if (e && e.status) parts.push(`${e.status} non-2xx`);
  if (e && e.connect + e.read + e.write + e.timeout) parts.push(`socket errors ${e.connect}/${e.read}/${e.write}/${e.timeout}`);
  return parts.join('; ');
}

function textTable(results: TargetResult[]): string {
  const rows = [['model', 'target', 'req/s', 'samples/s', 'p50 ms', 'p99 ms', 'other CPU', 'notes']];
  for (const r of results) {
    rows.push([r.model, r.target, fmt(r.reqPerSec), fmt(r.samplesPerSec), fmtMs(r.p50Ms), fmtMs(r.p99Ms), pct(r.backgroundCpu), note(r)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((c, i) => (i >= 2 && i <= 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Ratios whose target is an upper bound (sizes), not a lower one (speeds). */
function atMost(q: Ratio): boolean {
  return q.name.startsWith('json answer bytes');
}

function markdown(results: TargetResult[], ratios: Ratio[]): string {
  const out = ['| model | target | req/s | samples/s | p50 ms | p99 ms | other CPU |', '|---|---|--:|--:|--:|--:|--:|'];
  for (const r of results) {
    const n = note(r);
    out.push(`| ${r.model} | ${r.target}${n ? ` (${n})` : ''} | ${fmt(r.reqPerSec)} | ${fmt(r.samplesPerSec)} | ${fmtMs(r.p50Ms)} | ${fmtMs(r.p99Ms)} | ${pct(r.backgroundCpu)} |`);
  }
  out.push('', '| model | ratio | value | target | |', '|---|---|--:|--:|---|');
  for (const q of ratios) {
    out.push(`| ${q.model} | ${q.name} | ${q.value === null ? 'n/a' : `${q.value.toFixed(2)}×`} | ${q.target === undefined ? '' : `${atMost(q) ? '≤' : '≥'} ${q.target}×`} | ${q.target === undefined ? '' : q.pass === undefined ? 'skipped' : q.pass ? 'PASS' : 'FAIL'} |`);
  }
  return out.join('\n');
}

/**
 * `paired`: per model, the windows of the alternating rounds (benchPairedRounds). Ratios between
 * targets of those rounds are medians of per-round ratios, not ratios of the medians.
 */
function computeRatios(results: TargetResult[], models: ModelSpec[], paired: Map<string, Map<TargetName, Window[]>>): Ratio[] {
  const ratios: Ratio[] = [];
  for (const m of models) {
    const get = (t: TargetName): TargetResult | undefined => results.find((r) => r.model === m.name && r.target === t);
    const naive = get('naive');
    const json = get('berth json');
    const bin = get('berth binary');
    const ceiling = get('in-process b32');
    const div = (a: TargetResult | undefined, b: TargetResult | undefined): number | null => (usable(a) && usable(b) && b.samplesPerSec > 0 ? a.samplesPerSec / b.samplesPerSec : null);
    const rounds = paired.get(m.name);
    /** median of per-round a / b, when both were measured in the rounds and are usable */
    const pairedRatio = (a: TargetName, b: TargetName): number | null => {
      const xs = rounds ? perRound(rounds, a, b) : [];
      return xs.length > 0 && usable(get(a)) && usable(get(b)) ? median(xs) : null;
    };
    // "best" stays a REST figure, the one issue #2's targets were set on.
    const best = [json, bin].filter(usable).sort((a, b) => b.samplesPerSec - a.samplesPerSec)[0];
    // With --skip-berth the berth targets are not judged at all (pass stays undefined).
    const judged = (name: string, value: number | null, target?: number): Ratio => ({
      model: m.name,
      name,
      value,
      target,
      pass: target === undefined || !withBerth ? undefined : value !== null && value >= target,
    });
    if (rounds?.has('berth json')) {
      ratios.push(judged('berth json / naive (paired)', rounds.has('naive') ? pairedRatio('berth json', 'naive') : div(json, naive), m.targets.jsonOverNaive));
      ratios.push(judged('berth json / berth binary (paired)', pairedRatio('berth json', 'berth binary'), m.targets.jsonOverBinary));
    } else {
      ratios.push(judged('berth json / naive', div(json, naive)));
    }
    const share = jsonAnswerShare.get(m.name);
    if (share !== undefined) {
      // a "≤" target: judged here rather than by judged()'s "≥"
      const r = judged('json answer bytes / float64-text bytes', share, m.targets.jsonAnswerShare);
      if (r.pass !== undefined && m.targets.jsonAnswerShare !== undefined) r.pass = share <= m.targets.jsonAnswerShare;
      ratios.push(r);
    }
    // With berth, the naive server is measured in the rounds beside berth binary (the best REST
    // target on both models), and that paired ratio is the judged one.
    if (rounds?.has('naive')) ratios.push(judged('berth binary / naive (paired)', pairedRatio('berth binary', 'naive'), m.targets.berthOverNaive));
    else ratios.push(judged(`berth best (${best ? best.target.replace('berth ', '') : 'n/a'}) / naive`, div(best, naive), m.targets.berthOverNaive));
    // The ceiling is measured in the rounds beside berth binary (the best REST target on both
    // models); without berth (--skip-berth) there is nothing to judge.
    if (rounds?.has('in-process b32')) ratios.push(judged('berth binary / in-process b32 ceiling (paired)', pairedRatio('berth binary', 'in-process b32'), m.targets.berthOverCeiling));
    else ratios.push(judged('berth best / in-process b32 ceiling', div(best, ceiling), m.targets.berthOverCeiling));
    ratios.push(judged('naive / in-process b1', div(naive, get('in-process b1'))));
    if (rounds?.has('lean batching')) ratios.push(judged('berth binary / lean batching (paired)', pairedRatio('berth binary', 'lean batching')));
    if (rounds?.has('berth grpc 8×4') || m.targets.grpcOverBinary !== undefined) {
      // Judged only when gRPC was measured: without h2load the row is skipped, not failed.
      const r = judged('berth grpc 8×4 / berth binary (paired)', pairedRatio('berth grpc 8×4', 'berth binary'), m.targets.grpcOverBinary);
      if (!rounds?.has('berth grpc 8×4')) r.pass = undefined;
      ratios.push(r);
    }
    if (rounds?.has('base binary')) ratios.push(judged(`berth binary / base binary (paired, base ${argv.base})`, pairedRatio('berth binary', 'base binary')));
    if (rounds?.has('base json')) ratios.push(judged(`berth json / base json (paired, base ${argv.base})`, pairedRatio('berth json', 'base json')));
    if (rounds?.has('berth grpc 32×1')) ratios.push(judged('berth grpc 32×1 / berth binary (paired)', pairedRatio('berth grpc 32×1', 'berth binary')));
  }
  return ratios;
}

function gitCommit(): string | null {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

// ---------------------------------------------------------------------------------------------
// main

async function main(): Promise<void> {
  const onlyMonitoring = argv.only === 'monitoring';
  const models = onlyMonitoring ? [] : MODELS.filter((m) => argv.only === undefined || m.name === argv.only);
  const workDir = await mkdtemp(join(os.tmpdir(), 'berth-bench-'));
  const results: TargetResult[] = [];
  const paired = new Map<string, Map<TargetName, Window[]>>();
  let monitoring: MonitoringOverhead | undefined;
  const skipped: string[] = [];
  // A target that cannot be measured is reported and the run goes on; the exit code is then 1.
  const failures: string[] = [];
  const fail = (what: string, e: unknown): void => {
    const msg = e instanceof Error ? e.message : String(e);
    failures.push(`${what}: ${msg.split('\n', 1)[0]}`);
    console.error(`  ! ${what} failed: ${msg}`);
  };
  const t0 = performance.now();
  const ortVersion = (JSON.parse(await readFile(join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
  console.log(
    `serving bench: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? '?'}), node ${process.version}, onnxruntime-node ${ortVersion}\n` +
      `wrk -t${WRK_THREADS} -c${CONNECTIONS}, warm-up ${TIMING.warmSec}s, measure ${TIMING.measureSec}s per HTTP target; in-process ${TIMING.inprocSec}s per batch size` +
      `${withBerth ? `\nin-process b32, naive, berth binary, lean batching${H2LOAD ? ' and berth grpc' : ''} in ${TIMING.pairedRounds} alternating rounds of ${TIMING.pairedSec}s` : '; berth skipped (--skip-berth)'}\nwork dir ${workDir}`,
  );
  if (withBerth) {
    if (H2LOAD) {
      console.log(`gRPC: h2load (${H2LOAD}) -t${WRK_THREADS}, 32 calls as ${GRPC_TRITONCLIENT.connections} connections × ${GRPC_TRITONCLIENT.streams} (tritonclient's shared channels, judged) and ${GRPC_CONNECTION_PER_CALL.connections} × ${GRPC_CONNECTION_PER_CALL.streams} (wrk's shape)`);
    } else {
      const why = 'berth grpc skipped: h2load is not installed (Debian: apt-get install nghttp2-client, or set H2LOAD=/path/to/h2load)';
      skipped.push(why);
      console.log(why);
    }
  }

  try {
    for (const spec of models) {
      // One repository per model so each berth process serves exactly the model under test.
      const repo = join(workDir, `repo-${spec.name}`);
      await mkdir(repo, { recursive: true });
      const info = await writeMlp(repo, spec.name, spec.layers, spec.seed);
      console.log(`\n[${spec.name}] MLP ${spec.layers.join('→')} (${fmt(info.parameters)} parameters) → ${info.path}`);

      // (a) in-process ceiling
      // With berth, the batch-32 ceiling is measured in the alternating rounds beside it.
      for (const batch of withBerth ? [1] : [1, 32]) {
        const r = await retryNoisy(() => benchInProcess(info, batch));
        results.push(r);
        console.log(`  ${r.target.padEnd(15)} ${fmt(r.samplesPerSec).padStart(8)} samples/s  (${fmt(r.reqPerSec)} runs/s, p50 ${fmtMs(r.p50Ms)} ms)`);
      }

      const bodies = makeBodies(info, 7 + spec.seed);
      const expected = await referenceOutput(info, bodies.input);
      const jsonFile = join(workDir, `${spec.name}-body.json`);
      const binFile = join(workDir, `${spec.name}-body.bin`);
      await writeFile(jsonFile, bodies.json);
      await writeFile(binFile, bodies.binary);
      const jsonHeaders = { 'Content-Type': 'application/json' };
      const binHeaders = { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(bodies.binaryHeaderLength) };

      const report = (r: TargetResult): void => {
        const n = note(r);
        console.log(`  ${r.target.padEnd(15)} ${fmt(r.reqPerSec).padStart(8)} req/s      p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms${n ? `  [${n}]` : ''}`);
      };

      // (b) naive server: measured alone without berth; with berth, in the alternating rounds
      const naivePort = await freePort();
      const naive = new Child(`naive server (${spec.name})`, join(workDir, `naive-${spec.name}.log`), process.execPath, [
        '--import', 'tsx', join(ROOT, 'bench', 'naive-server.ts'), '--model', info.path, '--name', spec.name, '--port', String(naivePort),
      ]);
      let naiveTarget: HttpTarget | undefined;
      try {
        await waitReady(naive, `http://127.0.0.1:${naivePort}/v2/health/ready`, 60_000);
        naiveTarget = { target: 'naive', url: `http://127.0.0.1:${naivePort}/v2/models/${spec.name}/infer`, bodyFile: jsonFile, body: bodies.json, headers: jsonHeaders, serverPid: naive.proc.pid };
        if (!withBerth) {
          const r = await retryNoisy(() => benchHttp(info, naiveTarget!, workDir, expected));
          results.push(r);
          report(r);
        }
      } catch (e) {
        fail(`${spec.name} naive`, e);
      }
      if (!withBerth) await naive.stop();

      // (c) berth
      if (withBerth) {
        const port = await freePort();
        let grpcPort = H2LOAD ? await freePort() : 0;
        const berthArgs = [BERTH_CLI, 'serve', repo, '--port', String(port), '--grpc-port', String(grpcPort), '--instances', '1'];
        const logFile = join(workDir, `berth-${spec.name}.log`);
        let child = new Child(`berth serve (${spec.name})`, logFile, process.execPath, berthArgs);
        // A build without gRPC rejects --grpc-port: run it without the flag rather than fail.
        if ((await child.exitedWithin(1500)) && /unknown option '--grpc-port'/.test(child.output())) {
          console.warn('  ! berth does not know --grpc-port; serving without it');
          grpcPort = 0;
          await child.stop();
          child = new Child(`berth serve (${spec.name})`, logFile, process.execPath, berthArgs.filter((a, i, all) => a !== '--grpc-port' && all[i - 1] !== '--grpc-port'));
        }
        try {
          await waitReady(child, `http://127.0.0.1:${port}/v2/health/ready`, 60_000);
          const url = `http://127.0.0.1:${port}/v2/models/${spec.name}/infer`;
          const pid = child.proc.pid;
          // issue #16: the JSON answer's size against the float64 text berth printed before
          jsonAnswerShare.set(spec.name, await answerShare(url, bodies.json, jsonHeaders));
          if (child.exited !== null) throw new Error(`berth exited (${child.exited}):\n${child.output()}`);
          const binary: HttpTarget = { target: 'berth binary', url, bodyFile: binFile, body: bodies.binary, headers: binHeaders, serverPid: pid };
          const grpc = grpcPort === 0 ? undefined : { address: `127.0.0.1:${grpcPort}`, statsUrl: `http://127.0.0.1:${port}/v2/models/${spec.name}/stats`, serverPid: pid };
          // The lean batching baseline runs beside berth for the rounds (an idle server costs nothing).
          const leanPort = await freePort();
          const lean = new Child(`lean server (${spec.name})`, join(workDir, `lean-${spec.name}.log`), process.execPath, [
            '--import', 'tsx', join(ROOT, 'bench', 'lean-server.ts'), '--model', info.path, '--name', spec.name, '--port', String(leanPort),
          ]);
          const session = await ort.InferenceSession.create(info.path);
          // --base: the other build of berth, same flags, on its own port
          const basePort = BASE_CLI === undefined ? 0 : await freePort();
          const base = BASE_CLI === undefined ? undefined : new Child(`base berth (${spec.name})`, join(workDir, `base-${spec.name}.log`), process.execPath, [
            BASE_CLI, 'serve', repo, '--port', String(basePort), '--grpc-port', '0', '--instances', '1',
          ]);
          try {
            if (base) await waitReady(base, `http://127.0.0.1:${basePort}/v2/health/ready`, 60_000);
            await waitReady(lean, `http://127.0.0.1:${leanPort}/v2/health/ready`, 60_000);
            const leanTarget: HttpTarget = { target: 'lean batching', url: `http://127.0.0.1:${leanPort}/v2/models/${spec.name}/infer`, bodyFile: binFile, body: bodies.binary, headers: binHeaders, serverPid: lean.proc.pid };
            const httpTarget = async (t: HttpTarget, label: string): Promise<PairedTarget> => {
              const check = await checkOne(t.url, t.body, t.headers, expected, info.outputDim);
              if (check !== 'ok') console.warn(`  ! ${info.name} ${t.target}: ${check}`);
              const script = join(workDir, `${info.name}-${t.target.replace(/\W+/g, '-')}.lua`);
              await writeWrkScript(script, t.bodyFile, t.headers);
              return { target: t.target, label, check, window: (warm) => restWindow(script, t, warm) };
            };
            const targets: PairedTarget[] = [
              { target: 'in-process b32', label: 'in-process b32', window: (warm) => inProcessWindow(session, info, warm) },
              await httpTarget(binary, 'binary'),
              await httpTarget({ target: 'berth json', url, bodyFile: jsonFile, body: bodies.json, headers: jsonHeaders, serverPid: pid }, 'json'),
              await httpTarget(leanTarget, 'lean'),
            ];
            if (naiveTarget) targets.push(await httpTarget(naiveTarget, 'naive'));
            if (base) {
              const baseUrl = `http://127.0.0.1:${basePort}/v2/models/${spec.name}/infer`;
              targets.push(await httpTarget({ target: 'base binary', url: baseUrl, bodyFile: binFile, body: bodies.binary, headers: binHeaders, serverPid: base.proc.pid }, 'base binary'));
              targets.push(await httpTarget({ target: 'base json', url: baseUrl, bodyFile: jsonFile, body: bodies.json, headers: jsonHeaders, serverPid: base.proc.pid }, 'base json'));
            }
            if (grpc) {
              const check = await checkGrpc(grpc.address, info, bodies.input, expected);
              if (check !== 'ok') console.warn(`  ! ${info.name} berth grpc: ${check}`);
              targets.push({ target: 'berth grpc 8×4', label: 'grpc 8×4', check, window: (warm) => grpcWindow(info, grpc, bodies.input, GRPC_TRITONCLIENT, warm) });
              targets.push({ target: 'berth grpc 32×1', label: 'grpc 32×1', check, window: (warm) => grpcWindow(info, grpc, bodies.input, GRPC_CONNECTION_PER_CALL, warm) });
            }
            const r = await benchPairedRounds(info, targets);
            for (const x of r.results) {
              results.push(x);
              if (x.target === 'in-process b32') console.log(`  ${x.target.padEnd(15)} ${fmt(x.samplesPerSec).padStart(8)} samples/s  (${fmt(x.reqPerSec)} runs/s, p50 ${fmtMs(x.p50Ms)} ms)`);
              else report(x);
            }
            paired.set(spec.name, r.windows);
            const show = (a: TargetName, b: TargetName): void => {
              const xs = perRound(r.windows, a, b);
              if (xs.length > 0) console.log(`  ${a} / ${b} per round: ${xs.map((x) => `${x.toFixed(2)}×`).join(' ')}`);
            };
            show('berth binary', 'naive');
            show('berth json', 'berth binary');
            show('berth json', 'naive');
            show('berth binary', 'in-process b32');
            show('berth binary', 'lean batching');
            show('berth grpc 8×4', 'berth binary');
            show('berth grpc 32×1', 'berth binary');
            show('berth binary', 'base binary');
            show('berth json', 'base json');
          } catch (e) {
            fail(`${spec.name} paired rounds (binary, ceiling, lean${grpc ? ', grpc' : ''})`, e);
          } finally {
            await session.release();
            await base?.stop();
            await lean.stop();
            await naive.stop();
          }
        } catch (e) {
          fail(`${spec.name} berth`, e);
        } finally {
          await child.stop();
          await naive.stop();
        }
      }
    }

    // (d) monitoring overhead (issue #6), small model
    if (withBerth && !argv['skip-monitoring'] && (onlyMonitoring || models.some((m) => m.name === 'small'))) {
      const { rounds, cycles, seconds, warmSec } = TIMING.monitoring;
      console.log(`\n[monitoring overhead] small MLP, binary tensors, wrk -t${WRK_THREADS} -c${CONNECTIONS}; ${rounds} rounds of 4 fresh servers (${warmSec}s warm-up each), ${cycles} cycles of ${seconds}s windows per round`);
      try {
        await waitIdle('monitoring overhead');
        monitoring = await measureMonitoringOverhead({ cli: [BERTH_CLI], cwd: ROOT, workDir, wrk: WRK, rounds, cycles, seconds, warmSec });
        for (const x of monitoring.medians) {
          console.log(`  ${x.config.padEnd(8)} ${fmt(x.reqPerSec).padStart(7)} req/s  p99 ${fmtMs(x.p99Ms)} ms  server CPU ${x.cpuUsPerReq.toFixed(1)} µs/req (main thread ${x.mainUsPerReq.toFixed(1)})  batch ${x.batch.toFixed(1)}  other CPU ${pct(x.otherCpu)}`);
        }
        const o = monitoring.onServer;
        console.log(`  the "everything" server wrote, over all rounds, ${o.accessLines} access lines and captured ${o.captured ?? 'n/a'} requests (${o.captureDropped ?? 'n/a'} dropped)`);
        console.log(monitoring.profile ? `  ${profileLine(monitoring.profile)}` : '  the profiled "capture" server left no profile');
      } catch (e) {
        fail('monitoring overhead', e);
      }
    } else if (withBerth && !argv['skip-monitoring']) {
      skipped.push('monitoring overhead: it uses the small model (--only heavy)');
    }
  } finally {
    if (!argv.keep) await rm(workDir, { recursive: true, force: true });
  }

  const ratios = computeRatios(results, models, paired);
  const md = markdown(results, ratios) + (monitoring ? `\n\nMonitoring overhead (small model, binary tensors):\n\n${monitoringMarkdown(monitoring)}` : '');
  console.log(`\n${textTable(results)}\n`);
  for (const q of ratios) {
    const v = q.value === null ? 'n/a' : `${q.value.toFixed(2)}×`;
    const verdict = q.target === undefined ? '' : `  (target ${atMost(q) ? '≤' : '≥'} ${q.target}×) ${q.pass === undefined ? 'skipped' : q.pass ? 'PASS' : 'FAIL'}`;
    console.log(`${q.model.padEnd(6)} ${q.name.padEnd(48)} ${v.padStart(7)}${verdict}`);
  }
  for (const r of monitoring?.ratios ?? []) {
    const verdict = r.target === undefined ? '(reported, no target)' : `(target ≥ ${r.target}×) ${r.pass ? 'PASS' : 'FAIL'}`;
    console.log(`small  ${r.name.padEnd(48)} ${`${r.value.toFixed(3)}×`.padStart(7)}  ${verdict}  ${r.pairs} pairs; per round ${r.perRound.map((x) => x.toFixed(3)).join(' ')}`);
  }
  // The issues' targets in their own words.
  const grpcHeavy = ratios.find((q) => q.model === 'heavy' && q.name.startsWith('berth grpc'));
  const verdict = (pass: boolean | undefined): string => (pass === undefined ? 'skipped' : pass ? 'PASS' : 'FAIL');
  const targetLines = [
    ...(grpcHeavy ? [`gRPC ≥ REST binary (heavy): ${verdict(grpcHeavy.pass)}${grpcHeavy.value === null ? '' : ` (${grpcHeavy.value.toFixed(2)}×)`}`] : []),
    ...(monitoring ? monitoring.ratios.filter((r) => r.target !== undefined).map((r) => {
      const what = r.config === 'metrics' ? 'metrics cost under 3% (metrics alone' : 'metrics + capture on versus off (metrics + capture';
      return `${what} ≥ ${r.target}× off): ${verdict(r.pass)} (${r.value.toFixed(3)}×)`;
    }) : []),
    ...(monitoring?.profile ? [`metrics + capture code, share of the serving thread's busy time (< 3%, profile, reported): ${(100 * (monitoring.profile.share.parts.metrics + monitoring.profile.share.parts.capture)).toFixed(2)}%`] : []),
  ];
  if (targetLines.length > 0) console.log(`\n${targetLines.join('\n')}`);
  for (const why of skipped) console.log(`skipped: ${why}`);
  console.log(`\nmarkdown for docs/benchmarks.md:\n\n${md}\n`);
  const bgs = [...results.map((r) => r.backgroundCpu), ...(monitoring?.windows.map((w) => w.otherCpu) ?? [])].filter((b): b is number => b !== undefined && Number.isFinite(b));
  const maxBg = bgs.length ? Math.max(...bgs) : undefined;
  if (maxBg !== undefined && maxBg > BUSY_WARN) {
    console.warn(`WARNING: other processes used up to ${(maxBg * 100).toFixed(0)}% of the CPU during this run: the figures are noisy; rerun on an idle machine.`);
  }

  const record = {
    bench: 'serving',
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model.trim() ?? null, memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), platform: `${os.platform()} ${os.release()}`, node: process.version, onnxruntimeNode: ortVersion },
    options: { quick: argv.quick, only: argv.only ?? null, berth: withBerth, base: argv.base ?? null, waitIdleSec: WAIT_IDLE_SEC, connections: CONNECTIONS, wrkThreads: WRK_THREADS, ...TIMING },
    models: models.map((m) => ({ name: m.name, layers: m.layers, seed: m.seed })),
    results,
    ratios,
    monitoring: monitoring ?? null,
    targets: targetLines,
    pass: ratios.every((q) => q.pass !== false) && (monitoring?.ratios.every((r) => r.pass !== false) ?? true),
    failures,
    skipped,
    maxBackgroundCpu: maxBg ?? null,
    noisy: maxBg !== undefined && maxBg > BUSY_WARN,
    elapsedSec: +((performance.now() - t0) / 1000).toFixed(1),
    markdown: md,
  };
  await mkdir(dirname(argv.out!), { recursive: true });
  await writeFile(argv.out!, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`results → ${argv.out} (${record.elapsedSec}s)`);
  if (failures.length > 0) {
    console.error(`\n${failures.length} target(s) could not be measured:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  killChildren();
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
