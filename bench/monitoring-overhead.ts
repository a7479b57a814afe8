// Monitoring overhead, the section of `npm run bench` for issue #6 ("throughput with metrics +
// capture on versus off, target ≥ 0.97×"; "recording metrics must cost under 3% throughput").
//
// Four `berth serve` configurations of the small MLP (64→256→256→10):
//   off:     --no-metrics --no-access-log --capture-rate 0 --drift-window 0
//   metrics: metrics alone (access log, capture and drift off)                 judged: ≥ 0.97× off
//   capture: metrics + prediction capture at 10% (access log and drift off)     judged: ≥ 0.97× off
//   all:     the serve defaults (metrics, access log, drift) + --capture-rate 0.1, reported
// loaded in turn with wrk (32 connections, binary tensors, batch 1). Each round starts new
// processes (see the loop for why) and warms each up to its steady state, then measures them in
// short windows, one configuration after another, cycle after cycle, the order reversing every
// cycle: on this VM a server's speed moves by ±10% from one second to the next, and the machine's
// slow spells land on configurations alike when their windows alternate second by second. A
// configuration's ratio to "off" is the median over all cycles of its window / "off"'s window of
// the same cycle; per-round medians are reported beside it. The servers' stdout (their JSON log, access
// lines included) goes to a file on tmpfs, as to a container runtime's log pipe.
// Last, one more "capture" server runs under `node --cpu-prof` for one window: the share of its
// main thread's busy time in monitoring code (profile-share.ts). On a machine whose speed moves
// by more than 3% between windows the throughput ratio cannot resolve 3%; that share can (the
// part and the whole slow down together), though it leaves out garbage collection.
// bench/monitoring.ts is the tool for digging further (tracing, JSON bodies, loading servers
// together, arbitrary flag sets).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { freePort, median, sleep } from './common.js';
import { dirname, join } from 'node:path';
import { mulberry32, uniform, writeMlp } from './models.js';
import { profileShare, type CpuProfile, type ProfileShare } from './profile-share.js';
import { runWrk, writeWrkScript, type WrkResult } from './wrk.js';

export const MONITORING_TARGET = 0.97;
/** The capture rate of the "on" server: a realistic setting (the serve default is 0, off). */
export const CAPTURE_RATE = 0.1;
const CONNECTIONS = 32;
const WRK_THREADS = 2;
const MODEL = 'small';
/** the profiled window, seconds: ~8 000 samples at V8's 1 ms interval */
const PROFILE_SEC = 8;

export interface MonitoringOverheadOptions {
  /** node arguments that run the berth CLI, e.g. [dist/cli/main.js] or [--import, tsx, src/cli/main.ts] */
  cli: string[];
  cwd: string;
  /** scratch directory: the model, the servers' BERTH_HOME (capture goes there) */
  workDir: string;
  wrk: string;
  rounds: number;
  /** windows per configuration in a round */
  cycles: number;
  /** measured seconds per window */
  seconds: number;
  /** load on each new server before its first window, seconds */
  warmSec: number;
  /** what the "on" server captures (default CAPTURE_RATE) */
  captureRate?: number;
  log?: (line: string) => void;
}

export interface OverheadWindow {
  config: string;
  round: number;
  cycle: number;
  reqPerSec: number;
  p99Ms: number;
  /** server CPU time per request (all threads), µs */
  cpuUsPerReq: number;
  /** CPU time of the server's main thread (the event loop, where monitoring runs) per request, µs */
  mainUsPerReq: number;
  /** mean rows per executed batch */
  batch: number;
  /** CPU share (0..1) of processes other than the server, wrk and this bench */
  otherCpu: number;
  errors: number;
}

export interface OverheadRatio {
  name: string;
  /** the configuration measured against "off" */
  config: string;
  /** median over all cycles of the paired window ratios */
  value: number;
  pairs: number;
  /** medians of each round's paired ratios */
  perRound: number[];
  /** the issue's target; undefined = reported only */
  target?: number;
  pass?: boolean;
}

export interface MonitoringOverhead {
  configs: OverheadConfig[];
  windows: OverheadWindow[];
  /** per configuration: median req/s, p99, CPU per request */
  medians: { config: string; reqPerSec: number; p99Ms: number; cpuUsPerReq: number; mainUsPerReq: number; batch: number; otherCpu: number }[];
  ratios: OverheadRatio[];
  /** what the "all" server did, over all rounds: access lines written, requests captured and dropped */
  onServer: { accessLines: number; captured: number | null; captureDropped: number | null };
  /** the profiled "capture" server; undefined when its profile could not be read */
  profile?: { config: string; reqPerSec: number; share: ProfileShare };
}

interface OverheadConfig {
  name: string;
  flags: string[];
  /** what its ratio to "off" is called in the results */
  label: string;
  /** the issue's target for that ratio; none = reported only */
  target?: number;
}

const CONFIGS = (captureRate: number): OverheadConfig[] => [
  { name: 'off', flags: ['--no-metrics', '--no-access-log', '--capture-rate', '0', '--drift-window', '0'], label: 'all off' },
  { name: 'metrics', flags: ['--no-access-log', '--capture-rate', '0', '--drift-window', '0'], label: 'metrics alone / all off', target: MONITORING_TARGET },
  { name: 'capture', flags: ['--no-access-log', '--capture-rate', String(captureRate), '--drift-window', '0'], label: `metrics + capture ${captureRate} / all off`, target: MONITORING_TARGET },
  { name: 'all', flags: ['--capture-rate', String(captureRate)], label: `everything: metrics + access log + capture ${captureRate} + drift / all off` },
];



/** utime + stime from a /proc stat file (plus reaped children's with `children`), in clock ticks. */
export function statTicks(path: string, children = false): number | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine. */
export function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const v = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3]! + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

export const TICKS_PER_SEC = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

export interface BerthProcess {
  name: string;
  url: string;
  proc: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Starts `berth serve` with its stdout in a log file on tmpfs (when there is one): like a
 * container runtime's log pipe it takes each line without a disk in the way, and a pipe to this
 * process would make the bench pay for reading it. Resolves once /v2/health/ready answers 200.
 */
export async function startBerthProcess(name: string, opts: { cli: string[]; cwd: string; home: string; modelDir: string; flags: string[]; env?: NodeJS.ProcessEnv }): Promise<BerthProcess> {
  const port = await freePort();
  const logDir = existsSync('/dev/shm') ? '/dev/shm' : opts.home;
  await mkdir(opts.home, { recursive: true });
  const logFile = join(logDir, `berth-bench-${process.pid}-${name}.log`);
  const fd = openSync(logFile, 'w');
  const args = [...opts.cli, 'serve', opts.modelDir, '--port', String(port), '--grpc-port', '0', '--instances', '1', '--log-level', 'info', ...opts.flags];
  let proc: ChildProcess;
  try {
    proc = spawn(process.execPath, args, { cwd: opts.cwd, stdio: ['ignore', fd, fd], env: { ...process.env, NODE_ENV: 'production', BERTH_HOME: opts.home, ...opts.env } });
  } finally {
    closeSync(fd);
  }
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
  };
  const server = { name, url: `http://127.0.0.1:${port}`, proc, logFile, stop };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`berth (${name}) exited (${proc.exitCode}):\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    try {
      const r = await fetch(`${server.url}/v2/health/ready`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`berth (${name}) not ready after 60 s:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    }
    await sleep(100);
  }
}

/** Rows inferred and batches executed so far (Triton's statistics extension). */
async function executionCounts(url: string, model: string): Promise<{ rows: number; executions: number }> {
  const body = (await (await fetch(`${url}/v2/models/${model}/stats`)).json()) as { model_stats: { inference_count: number; execution_count: number }[] };
  return { rows: body.model_stats[0]!.inference_count, executions: body.model_stats[0]!.execution_count };
}

/** The section's load on one server: wrk with its connections and threads, for `seconds`. */
function load(s: BerthProcess, model: string, script: string, wrk: string, seconds: number): Promise<WrkResult> {
  return runWrk({ url: `${s.url}/v2/models/${model}/infer`, script, connections: CONNECTIONS, threads: WRK_THREADS, wrkPath: wrk, durationSec: seconds });
}

/** One wrk window against one server, with its CPU accounting from /proc. */
export async function measureWindow(s: BerthProcess, model: string, script: string, wrk: string, seconds: number, round: number, cycle: number): Promise<OverheadWindow> {
  const pid = s.proc.pid!;
  const e0 = await executionCounts(s.url, model);
  const t0 = statTicks(`/proc/${pid}/stat`);
  const m0 = statTicks(`/proc/${pid}/task/${pid}/stat`);
  const own0 = statTicks('/proc/self/stat', true);
  const c0 = cpuTimes();
  const r = await load(s, model, script, wrk, seconds);
  const t1 = statTicks(`/proc/${pid}/stat`);
  const m1 = statTicks(`/proc/${pid}/task/${pid}/stat`);
  const own1 = statTicks('/proc/self/stat', true);
  const c1 = cpuTimes();
  const e1 = await executionCounts(s.url, model);
  const serverTicks = t0 !== undefined && t1 !== undefined ? t1 - t0 : NaN;
  let otherCpu = NaN;
  // others = the machine's busy time less the server's, this bench's and wrk's (a reaped child)
  if (c0 && c1 && c1.total > c0.total && own0 !== undefined && own1 !== undefined) {
    otherCpu = Math.max(0, (c1.busy - c0.busy - serverTicks - (own1 - own0)) / (c1.total - c0.total));
  }
  const perRequest = (ticks: number): number => (r.requests > 0 ? ((ticks / TICKS_PER_SEC) * 1e6) / r.requests : NaN);
  return {
    config: s.name,
    round,
    cycle,
    reqPerSec: r.requestsPerSec,
    p99Ms: r.latencyMs.p99,
    cpuUsPerReq: perRequest(serverTicks),
    mainUsPerReq: m0 !== undefined && m1 !== undefined ? perRequest(m1 - m0) : NaN,
    batch: (e1.rows - e0.rows) / Math.max(1, e1.executions - e0.executions),
    otherCpu,
    errors: r.errors.status + r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout,
  };
}

/** The small model's binary-tensor request (inputs and the output as raw float32). */
async function writeBinaryBody(dir: string): Promise<{ bodyFile: string; headers: Record<string, string> }> {
  const x = uniform(mulberry32(7), 64, 0, 1);
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
    outputs: [{ name: 'output', parameters: { binary_data: true } }],
  }));
  const bodyFile = join(dir, 'monitoring-body.bin');
  await writeFile(bodyFile, Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]));
  return { bodyFile, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) } };
}

/** A counter's value in Prometheus text, or null when absent. */
function metricValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * One window of a configuration whose server runs under `node --cpu-prof`, and the shares of
 * its main thread in monitoring code over that window (the profile's clock is process.hrtime's).
 */
async function profiledWindow(opts: MonitoringOverheadOptions, c: OverheadConfig, modelDir: string, script: string): Promise<MonitoringOverhead['profile']> {
  const profDir = join(opts.workDir, `profile-${c.name}`);
  rmSync(profDir, { recursive: true, force: true });
  const main = opts.cli[opts.cli.length - 1]!;
  const s = await startBerthProcess(`${c.name}-profiled`, { cli: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, ...opts.cli], cwd: opts.cwd, home: join(opts.workDir, `home-profiled-${c.name}`), modelDir, flags: c.flags });
  let from: number;
  let to: number;
  let reqPerSec: number;
  try {
    await load(s, MODEL, script, opts.wrk, opts.warmSec);
    from = Number(process.hrtime.bigint() / 1000n);
    reqPerSec = (await load(s, MODEL, script, opts.wrk, PROFILE_SEC)).requestsPerSec;
    to = Number(process.hrtime.bigint() / 1000n);
  } finally {
    await s.stop();
    rmSync(s.logFile, { force: true });
  }
  // the main thread's profile is CPU.<date>.<time>.<pid>.0.<n>.cpuprofile (workers: .1., .2., ...)
  const file = readdirSync(profDir).find((n) => n.includes(`.${s.proc.pid}.0.`) && n.endsWith('.cpuprofile'));
  if (!file) return undefined;
  const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile;
  rmSync(profDir, { recursive: true, force: true });
  // monitoring code: <the CLI's build or source root>/monitor/
  return { config: c.name, reqPerSec, share: profileShare(profile, { under: `${dirname(dirname(main))}/monitor/`, fromUs: from, toUs: to }) };
}

export async function measureMonitoringOverhead(opts: MonitoringOverheadOptions): Promise<MonitoringOverhead> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const captureRate = opts.captureRate ?? CAPTURE_RATE;
  const configs = CONFIGS(captureRate);
  const modelDir = join(opts.workDir, 'monitoring-models');
  await writeMlp(modelDir, MODEL, [64, 256, 256, 10], 1);
  const { bodyFile, headers } = await writeBinaryBody(opts.workDir);
  const script = join(opts.workDir, 'monitoring-binary.lua');
  await writeWrkScript(script, bodyFile, headers);

  const windows: OverheadWindow[] = [];
  const onServer: MonitoringOverhead['onServer'] = { accessLines: 0, captured: null, captureDropped: null };
  for (const c of configs) log(`  ${c.name.padEnd(7)} berth serve ${c.flags.join(' ')}`);
  for (let round = 1; round <= opts.rounds; round++) {
    // Fresh processes every round: one process of a configuration can run a few per cent faster
    // or slower than another of the same flags for its whole life (measured: two identical
    // servers side by side differed by up to ~5% over four rounds), which one process per
    // configuration would turn into a bias of the ratio. New processes each round make that a
    // per-round error, which the median over the rounds' paired windows absorbs.
    const servers: BerthProcess[] = [];
    try {
      const started = await Promise.allSettled(configs.map((c) => startBerthProcess(c.name, { cli: opts.cli, cwd: opts.cwd, home: join(opts.workDir, `home-${c.name}`), modelDir, flags: c.flags })));
      for (const r of started) if (r.status === 'fulfilled') servers.push(r.value);
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      // Warm-up to the steady state a long-running server is in: the JIT settled, the heap
      // grown, the feedback index's ring of the last 100 000 predictions full (a new process ran
      // at 4-6k req/s in its first second and 14-16k from its third), which shorter warm-ups
      // left inside the windows.
      for (const s of servers) await load(s, MODEL, script, opts.wrk, opts.warmSec);
      // the order rotates by round and reverses every cycle, so no configuration is always
      // measured first or last, or always right after the same one
      const shift = (round - 1) % servers.length;
      const rotated = [...servers.slice(shift), ...servers.slice(0, shift)];
      for (let cycle = 1; cycle <= opts.cycles; cycle++) {
        const order = cycle % 2 === 1 ? rotated : [...rotated].reverse();
        for (const s of order) windows.push(await measureWindow(s, MODEL, script, opts.wrk, opts.seconds, round, cycle));
      }
      const line = servers.map((s) => {
        const ws = windows.filter((w) => w.round === round && w.config === s.name);
        const errors = ws.reduce((n, w) => n + w.errors, 0);
        return `${s.name} ${median(ws.map((w) => w.reqPerSec)).toFixed(0)} req/s (main ${median(ws.map((w) => w.mainUsPerReq)).toFixed(1)} µs/req, other CPU ${(median(ws.map((w) => w.otherCpu)) * 100).toFixed(0)}%${errors ? `, ${errors} errors` : ''})`;
      });
      log(`    round ${round}: ${line.join(', ')}`);
      const on = servers.find((s) => s.name === 'all')!;
      const metricsText = await (await fetch(`${on.url}/metrics`)).text();
      onServer.accessLines += readFileSync(on.logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"access"')).length;
      const add = (sum: number | null, v: number | null): number | null => (v === null ? sum : (sum ?? 0) + v);
      onServer.captured = add(onServer.captured, metricValue(metricsText, 'berth_capture_records_written'));
      onServer.captureDropped = add(onServer.captureDropped, metricValue(metricsText, 'berth_capture_records_dropped'));
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      for (const s of servers) rmSync(s.logFile, { force: true });
    }
  }
  const of = (config: string) => windows.filter((w) => w.config === config);
  const medians = configs.map((c) => {
    const ws = of(c.name);
    return {
      config: c.name,
      reqPerSec: median(ws.map((w) => w.reqPerSec)),
      p99Ms: median(ws.map((w) => w.p99Ms)),
      cpuUsPerReq: median(ws.map((w) => w.cpuUsPerReq)),
      mainUsPerReq: median(ws.map((w) => w.mainUsPerReq)),
      batch: median(ws.map((w) => w.batch)),
      otherCpu: median(ws.map((w) => w.otherCpu)),
    };
  });
  const ratios = configs.filter((c) => c.name !== 'off').map((c): OverheadRatio => {
    const paired = of(c.name).map((w) => ({ round: w.round, ratio: w.reqPerSec / of('off').find((o) => o.round === w.round && o.cycle === w.cycle)!.reqPerSec }));
    const value = median(paired.map((p) => p.ratio));
    const perRound = [...new Set(paired.map((p) => p.round))].map((r) => median(paired.filter((p) => p.round === r).map((p) => p.ratio)));
    return { name: c.label, config: c.name, value, pairs: paired.length, perRound, target: c.target, pass: c.target === undefined ? undefined : value >= c.target };
  });
  const profile = await profiledWindow(opts, configs.find((c) => c.name === 'capture')!, modelDir, script);
  return { configs, windows, medians, ratios, onServer, profile };
}

/** The section's tables, for docs/benchmarks.md. */
export function monitoringMarkdown(m: MonitoringOverhead): string {
  const out = ['| configuration | `berth serve` flags | req/s | p99 ms | server CPU µs/req | main thread µs/req | batch | other CPU |', '|---|---|--:|--:|--:|--:|--:|--:|'];
  for (const x of m.medians) {
    const flags = m.configs.find((c) => c.name === x.config)!.flags.join(' ');
    out.push(`| ${x.config} | \`${flags}\` | ${Math.round(x.reqPerSec).toLocaleString('en-US')} | ${x.p99Ms.toFixed(2)} | ${x.cpuUsPerReq.toFixed(1)} | ${x.mainUsPerReq.toFixed(1)} | ${x.batch.toFixed(1)} | ${(x.otherCpu * 100).toFixed(0)}% |`);
  }
  out.push('', '| ratio (median of the paired windows) | value | pairs | per round (medians) | target | |', '|---|--:|--:|---|--:|---|');
  for (const r of m.ratios) out.push(`| ${r.name} | ${r.value.toFixed(3)}× | ${r.pairs} | ${r.perRound.map((x) => x.toFixed(3)).join(' ')} | ${r.target === undefined ? '' : `≥ ${r.target}×`} | ${r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL'} |`);
  if (m.profile) out.push('', profileLine(m.profile));
  return out.join('\n');
}

/** The profiled server's shares, one sentence. */
export function profileLine(p: NonNullable<MonitoringOverhead['profile']>): string {
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  const { parts, total } = p.share;
  const top = p.share.byFunction.slice(0, 5).map(([k, us]) => `${k} ${pct(us / p.share.busyUs)}`).join(', ');
  return `Profile of a "${p.config}" server (\`node --cpu-prof\`, ${Math.round(p.reqPerSec).toLocaleString('en-US')} req/s): monitoring code takes ${pct(total)} of its main thread's busy time — metrics ${pct(parts.metrics)}, capture ${pct(parts.capture)}, metrics + capture ${pct(parts.metrics + parts.capture)}, the feedback index (on in every configuration, "off" included) ${pct(parts.feedback)}, other ${pct(parts.other)}. Largest: ${top}.`;
}
