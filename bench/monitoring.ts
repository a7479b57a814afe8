// Monitoring overhead bench (issue #6), the tool for digging further than the section of
// `npm run bench` (bench/monitoring-overhead.ts): `node --import tsx bench/monitoring.ts [--quick]`
//
// Serves the small MLP (64→256→256→10) with `berth serve` twice, side by side:
//   off: --no-metrics --no-access-log (and capture off, drift off)
//   on:  Prometheus metrics + the access log at info (its default: every failure, successes
//        up to ~1000 lines a second), written to the log file the server's stdout goes to
//        (and --capture-rate R when asked: --capture-rate R)
// and loads each with wrk (32 connections, JSON, batch 1) in alternating rounds (on/off, then
// off/on...), a warm-up before each window. It prints per-round figures, the medians, and the
// ratio on/off of the median throughputs, with the target ≥ 0.97. It also reports the server's
// CPU time per request (from /proc), the mean batch size (a small model batches more when each
// request takes longer: one more reason to compare throughput, not guesses), and the CPU share
// other processes took during each window. Then, since a shared machine's load changes from one
// window to the next, it loads both servers at once (`--together N` windows): both see the same
// disturbance, and the ratio of their throughputs is a paired comparison.
//
// Tracing is off in both (no OTEL_* variables): then berth registers no hook and no observer
// for it. `--tracing` adds a server with tracing on, exporting to a local OTLP sink, to show
// what tracing costs when it is on; `--also=LABEL:ARGS` adds any other configuration to the
// same rotation (e.g. metrics alone: --also="metrics-only:--no-access-log").
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { freePort, median, sleep } from './common.js';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mulberry32, uniform, writeMlp } from './models.js';
import { findWrk, runWrk, writeWrkScript, type WrkResult } from './wrk.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const CONNECTIONS = 32;
const WRK_THREADS = 2;
const TARGET = 0.97;

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'capture-rate': { type: 'string' },
    tracing: { type: 'boolean', default: false },
    together: { type: 'string' },
    'log-dir': { type: 'string' },
    'on-args': { type: 'string' },
    'off-args': { type: 'string' },
    also: { type: 'string', multiple: true },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (argv.help) {
  console.log(`usage: node --import tsx bench/monitoring.ts [--quick] [--rounds N] [--seconds S] [--capture-rate R] [--tracing]

  --quick           2 rounds of 5 s (smoke run, noisier)
  --rounds N        alternating on/off rounds (default 5)
  --seconds S       measured seconds per window (default 10; warm-up 3 s before each)
  --capture-rate R  also capture a share R of requests in the "on" server (berth serve --capture-rate)
  --tracing         also measure a server with tracing on (OTLP/HTTP to a local sink)
  --together N      paired windows loading both servers at once (default: as many as rounds; 0 = none)
  --on-args="..."   more \`berth serve\` flags for the "on" server, e.g. --on-args=--no-access-log to time metrics alone
  --off-args="..."  the "off" server's flags instead of --no-metrics --no-access-log
  --also=LABEL:ARGS another server measured in the same rotation and compared with "off"
                    (repeatable), e.g. --also="metrics-only:--no-access-log"
  --log-dir DIR     where the servers' stdout (their JSON log) goes (default /dev/shm, a tmpfs)
  --keep            keep the temporary directory and the server logs`);
  process.exit(0);
}

const ROUNDS = Number(argv.rounds ?? (argv.quick ? 2 : 5));
const MEASURE_SEC = Number(argv.seconds ?? (argv.quick ? 5 : 10));
const WARM_SEC = argv.quick ? 2 : 3;
const TOGETHER = Number(argv.together ?? ROUNDS);
// Server logs go to a file on tmpfs when there is one: like a container runtime's log pipe, it
// takes each line without making the server wait for a disk (a disk shared with other work
// would add its own noise). The server still pays for every write(2).
const LOG_DIR = argv['log-dir'] ?? (existsSync('/dev/shm') ? '/dev/shm' : undefined);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || !(MEASURE_SEC >= 1)) {
  console.error('--rounds takes a positive integer and --seconds a number ≥ 1');
  process.exit(2);
}
const WRK = findWrk();
if (!WRK) {
  console.error('wrk is not installed: this bench needs it (Debian: apt-get install wrk).');
  process.exit(1);
}


/** utime + stime of a process (plus its reaped children's with `children`), in clock ticks. */
function procTicks(pid: number | 'self', children = false): number | undefined {
  return statTicks(`/proc/${pid}/stat`, children);
}

/** utime + stime of a process's main thread (the event loop, where HTTP, JSON and monitoring run). */
function mainThreadTicks(pid: number): number | undefined {
  return statTicks(`/proc/${pid}/task/${pid}/stat`, false);
}

function statTicks(path: string, children: boolean): number | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine. */
function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3]! + (v[4] ?? 0);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

const TICKS_PER_SEC = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface Server {
  label: string;
  url: string;
  proc: ChildProcess;
  logFile: string;
}

const servers: Server[] = [];
process.on('exit', () => {
  for (const s of servers) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
});

async function startBerth(label: string, dir: string, modelDir: string, extraArgs: string[], env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const port = await freePort();
  const logFile = join(LOG_DIR ?? dir, `berth-bench-${process.pid}-${label}.log`);
  const fd = openSync(logFile, 'w');
  // The server's stdout (its JSON log, access lines included) goes to a file, as it would to a
  // container runtime's log pipe; a pipe to this process would make the bench pay for reading it.
  const args = ['--import', 'tsx', CLI, 'serve', modelDir, '--port', String(port), '--grpc-port', '0', '--log-level', 'info', ...extraArgs];
  let proc: ChildProcess;
  try {
    proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', fd, fd], env: { ...process.env, NODE_ENV: 'production', BERTH_HOME: join(dir, `home-${label}`), ...env } });
  } finally {
    closeSync(fd);
  }
  const server = { label, url: `http://127.0.0.1:${port}`, proc, logFile };
  servers.push(server);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${label} exited (${proc.exitCode}):\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    try {
      const r = await fetch(`${server.url}/v2/health/ready`);
      if (r.status === 200) break;
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) throw new Error(`${label} not ready:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    await sleep(100);
  }
  return server;
}

async function stopBerth(s: Server): Promise<void> {
  if (s.proc.exitCode !== null) return;
  const exited = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  const killer = setTimeout(() => s.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
}

/** `berth serve --help` lists the flags this checkout has (capture and drift came later). */
function serveFlags(): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'serve', '--help'], { cwd: ROOT, encoding: 'utf8' });
  return r.stdout;
}

interface Window {
  label: string;
  round: number;
  reqPerSec: number;
  p99Ms: number;
  /** server CPU time per request, microseconds */
  cpuUsPerReq: number;
  /** CPU time of the server's main thread per request, microseconds */
  mainUsPerReq: number;
  /** share of the machine's CPU used by other processes (not the server, not wrk) */
  otherCpu: number;
  /** mean rows per executed batch */
  batch: number;
  errors: number;
}

/** Rows inferred and batches executed so far (Triton's statistics extension). */
async function execStats(s: Server): Promise<{ rows: number; executions: number }> {
  const body = (await (await fetch(`${s.url}/v2/models/small/stats`)).json()) as { model_stats: { inference_count: number; execution_count: number }[] };
  return { rows: body.model_stats[0]!.inference_count, executions: body.model_stats[0]!.execution_count };
}

async function measure(s: Server, script: string, round: number): Promise<Window> {
  const base = { url: `${s.url}/v2/models/small/infer`, script, connections: CONNECTIONS, threads: WRK_THREADS, wrkPath: WRK };
  await runWrk({ ...base, durationSec: WARM_SEC });
  const pid = s.proc.pid!;
  const e0 = await execStats(s);
  const t0 = procTicks(pid);
  const m0 = mainThreadTicks(pid);
  const own0 = procTicks('self', true);
  const c0 = cpuTimes();
  const r: WrkResult = await runWrk({ ...base, durationSec: MEASURE_SEC });
  const t1 = procTicks(pid);
  const m1 = mainThreadTicks(pid);
  const own1 = procTicks('self', true);
  const c1 = cpuTimes();
  const e1 = await execStats(s);
  const serverTicks = t0 !== undefined && t1 !== undefined ? t1 - t0 : Number.NaN;
  // others = the machine's busy time less the server's, this bench's and wrk's (a reaped child)
  let otherCpu = Number.NaN;
  if (c0 && c1 && c1.total > c0.total && own0 !== undefined && own1 !== undefined) {
    otherCpu = Math.max(0, (c1.busy - c0.busy - serverTicks - (own1 - own0)) / (c1.total - c0.total));
  }
  const errors = r.errors.status + r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
  return {
    label: s.label,
    round,
    reqPerSec: r.requestsPerSec,
    p99Ms: r.latencyMs.p99,
    cpuUsPerReq: r.requests > 0 ? (serverTicks / TICKS_PER_SEC) * 1e6 / r.requests : Number.NaN,
    mainUsPerReq: r.requests > 0 && m0 !== undefined && m1 !== undefined ? ((m1 - m0) / TICKS_PER_SEC) * 1e6 / r.requests : Number.NaN,
    otherCpu,
    batch: (e1.rows - e0.rows) / Math.max(1, e1.executions - e0.executions),
    errors,
  };
}

/**
 * Both servers loaded at the same time, one wrk each (one thread, 32 connections): whatever else
 * runs on the machine disturbs both alike, so the ratio of their throughputs is a paired
 * comparison of their cost per request (with the CPU shared between them).
 */
async function measureTogether(on: Server, off: Server, script: string): Promise<{ on: number; off: number }> {
  const base = (s: Server) => ({ url: `${s.url}/v2/models/small/infer`, script, connections: CONNECTIONS, threads: 1, wrkPath: WRK });
  await Promise.all([runWrk({ ...base(on), durationSec: WARM_SEC }), runWrk({ ...base(off), durationSec: WARM_SEC })]);
  const [a, b] = await Promise.all([runWrk({ ...base(on), durationSec: MEASURE_SEC }), runWrk({ ...base(off), durationSec: MEASURE_SEC })]);
  return { on: a.requestsPerSec, off: b.requestsPerSec };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(os.tmpdir(), 'berth-bench-monitoring-'));
  const modelDir = join(dir, 'models');
  await writeMlp(modelDir, 'small', [64, 256, 256, 10], 1);
  const x = uniform(mulberry32(7), 64, -1, 1);
  const bodyFile = join(dir, 'body.json');
  await writeFile(bodyFile, JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: Array.from(x) }] }));
  const script = join(dir, 'infer.lua');
  await writeWrkScript(script, bodyFile, { 'Content-Type': 'application/json' });

  const help = serveFlags();
  const quiet: string[] = [];
  if (help.includes('--capture-rate')) quiet.push('--capture-rate', '0');
  if (help.includes('--drift-window')) quiet.push('--drift-window', '0');
  const onArgs = [...quiet];
  if (argv['capture-rate'] !== undefined) {
    if (!help.includes('--capture-rate')) throw new Error('this berth has no --capture-rate yet');
    onArgs.splice(onArgs.indexOf('--capture-rate'), 2, '--capture-rate', argv['capture-rate']);
  }
  if (argv['on-args']) onArgs.push(...argv['on-args'].split(/\s+/).filter((x) => x.length > 0));
  const offArgs = argv['off-args'] !== undefined ? [...quiet, ...argv['off-args'].split(/\s+/).filter((x) => x.length > 0)] : ['--no-metrics', '--no-access-log', ...quiet];
  const onLabel = argv['capture-rate'] !== undefined ? `on (metrics, access log, capture ${argv['capture-rate']})` : 'on (metrics, access log at its default)';

  console.log(`monitoring overhead: small MLP 64→256→256→10, JSON, wrk c=${CONNECTIONS} t=${WRK_THREADS}, ${ROUNDS} rounds × ${MEASURE_SEC} s (+${WARM_SEC} s warm-up), ${os.cpus().length} cores`);
  console.log(`  on:  ${onLabel}: berth serve ${onArgs.join(' ') || '(defaults)'}`);
  console.log(`  off: berth serve ${offArgs.join(' ')}`);

  let sink: ReturnType<typeof createHttpServer> | undefined;
  const on = await startBerth('on', dir, modelDir, onArgs);
  const off = await startBerth('off', dir, modelDir, offArgs);
  const extras: Server[] = [];
  for (const spec of argv.also ?? []) {
    const colon = spec.indexOf(':');
    const label = colon < 0 ? spec : spec.slice(0, colon);
    const args = colon < 0 ? [] : spec.slice(colon + 1).split(/\s+/).filter((x) => x.length > 0);
    console.log(`  ${label}: berth serve ${[...quiet, ...args].join(' ')}`);
    extras.push(await startBerth(label, dir, modelDir, [...quiet, ...args]));
  }
  let traced: Server | undefined;
  if (argv.tracing) {
    sink = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    const sinkPort = await freePort();
    await new Promise<void>((r) => sink!.listen(sinkPort, '127.0.0.1', r));
    traced = await startBerth('traced', dir, modelDir, onArgs, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
  }
  const windows: Window[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // every round another order, so that no server is always measured first or last
      const all = [on, off, ...extras, ...(traced ? [traced] : [])];
      const shift = (round - 1) % all.length;
      const order = round % 2 === 1 ? [...all.slice(shift), ...all.slice(0, shift)] : [...all.slice(shift), ...all.slice(0, shift)].reverse();
      for (const s of order) {
        const w = await measure(s, script, round);
        windows.push(w);
        console.log(`  round ${round} ${s.label.padEnd(12)} ${w.reqPerSec.toFixed(0).padStart(7)} req/s  p99 ${w.p99Ms.toFixed(2).padStart(6)} ms  CPU ${w.cpuUsPerReq.toFixed(1).padStart(6)} µs/req (main thread ${w.mainUsPerReq.toFixed(1).padStart(5)})  batch ${w.batch.toFixed(1).padStart(5)}  others ${(w.otherCpu * 100).toFixed(0).padStart(3)}% CPU${w.errors ? `  errors ${w.errors}` : ''}`);
      }
    }
    const together: { on: number; off: number }[] = [];
    for (let i = 1; i <= TOGETHER; i++) {
      const t = await measureTogether(on, off, script);
      together.push(t);
      console.log(`  together ${i}: on ${t.on.toFixed(0).padStart(6)} req/s, off ${t.off.toFixed(0).padStart(6)} req/s, ratio ${(t.on / t.off).toFixed(3)}`);
    }
    const logBytes = statSync(on.logFile).size;
    const accessLines = readFileSync(on.logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"access"')).length;
    const metricsText = await (await fetch(`${on.url}/metrics`)).text();
    const offMetrics = (await fetch(`${off.url}/metrics`)).status;

    const pick = (label: string, f: (w: Window) => number) => windows.filter((w) => w.label === label).map(f);
    const onRps = median(pick('on', (w) => w.reqPerSec));
    const offRps = median(pick('off', (w) => w.reqPerSec));
    const paired = Array.from({ length: ROUNDS }, (_, i) => {
      const a = windows.find((w) => w.label === 'on' && w.round === i + 1)!;
      const b = windows.find((w) => w.label === 'off' && w.round === i + 1)!;
      return a.reqPerSec / b.reqPerSec;
    });
    const onCpu = median(pick('on', (w) => w.cpuUsPerReq));
    const offCpu = median(pick('off', (w) => w.cpuUsPerReq));
    const onMain = median(pick('on', (w) => w.mainUsPerReq));
    const offMain = median(pick('off', (w) => w.mainUsPerReq));
    const ratio = onRps / offRps;
    console.log('');
    console.log(`  median throughput  on ${onRps.toFixed(0)} req/s, off ${offRps.toFixed(0)} req/s`);
    console.log(`  ratio on/off       ${ratio.toFixed(3)}  (target ≥ ${TARGET}: ${ratio >= TARGET ? 'PASS' : 'FAIL'}); per-round ratios ${paired.map((p) => p.toFixed(3)).join(' ')}, median ${median(paired).toFixed(3)}`);
    if (together.length > 0) {
      const r = median(together.map((t) => t.on / t.off));
      console.log(`  loaded together    median ratio on/off ${r.toFixed(3)} over ${together.length} paired windows (${together.map((t) => (t.on / t.off).toFixed(3)).join(' ')})`);
    }
    console.log(`  server CPU/request on ${onCpu.toFixed(1)} µs, off ${offCpu.toFixed(1)} µs (${(((onCpu / offCpu) - 1) * 100).toFixed(1)}%)`);
    console.log(`  main thread CPU/request on ${onMain.toFixed(1)} µs, off ${offMain.toFixed(1)} µs (${(((onMain / offMain) - 1) * 100).toFixed(1)}%): the event loop is what limits a small model's throughput`);
    for (const x of extras) {
      const xRps = median(pick(x.label, (w) => w.reqPerSec));
      const xPaired = Array.from({ length: ROUNDS }, (_, i) => {
        const a = windows.find((w) => w.label === x.label && w.round === i + 1)!;
        const b = windows.find((w) => w.label === 'off' && w.round === i + 1)!;
        return a.reqPerSec / b.reqPerSec;
      });
      const xMain = median(pick(x.label, (w) => w.mainUsPerReq));
      console.log(`  ${x.label.padEnd(18)} ${xRps.toFixed(0)} req/s, ratio to off ${(xRps / offRps).toFixed(3)} (per-round median ${median(xPaired).toFixed(3)}); main thread ${xMain.toFixed(1)} µs/request (${(((xMain / offMain) - 1) * 100).toFixed(1)}%)`);
    }
    if (traced) {
      const tRps = median(pick('traced', (w) => w.reqPerSec));
      const tCpu = median(pick('traced', (w) => w.cpuUsPerReq));
      console.log(`  tracing on         ${tRps.toFixed(0)} req/s, ${(tRps / onRps).toFixed(3)}× of "on"; ${tCpu.toFixed(1)} µs CPU/request`);
    }
    console.log(`  the "on" server wrote ${accessLines} access lines (${(logBytes / 1e6).toFixed(1)} MB) and serves ${metricsText.split('\n').filter((l) => l.startsWith('berth_')).length} berth_* samples; "off" answers /metrics with ${offMetrics}`);
    const busy = Math.max(...windows.map((w) => w.otherCpu).filter(Number.isFinite));
    if (busy > 0.05) console.log(`  ! other processes took up to ${(busy * 100).toFixed(0)}% of the CPU during a window: figures are noisier`);
  } finally {
    await Promise.all(servers.map(stopBerth));
    sink?.close();
    if (!argv.keep) {
      await rm(dir, { recursive: true, force: true });
      for (const s of servers) rmSync(s.logFile, { force: true });
    } else console.log(`  kept ${dir} and ${servers.map((s) => s.logFile).join(', ')}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
