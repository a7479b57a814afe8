// Where a server's main thread goes, from a V8 CPU profile: the share of its busy time spent in
// berth's monitoring code (issue #6), a figure that holds still on a machine whose throughput
// does not (both the part and the whole slow down together). `npm run bench` profiles the "capture"
// server this way (monitoring-overhead.ts); by hand:
//
//   node --cpu-prof --cpu-prof-dir=P dist/cli/main.js serve MODEL [flags]   # load it, then stop it
//   node --import tsx bench/profile-share.ts P/CPU.*.cpuprofile [--skip-sec 5] [--under dist/monitor/]
//
// A sample counts for the innermost stack frame that has a source file (builtins and node's own
// modules are looked through), so time in Map.set called by the feedback index counts for the
// feedback index, and time in fastify called by berth does not count for berth. One exception:
// the metrics onSend hook only passes fastify's send along, so what it calls is not counted for
// it. prom-client counts as monitoring. Time in the garbage collector counts for nobody, so the
// share leaves out what monitoring's allocations cost there (the throughput ratio includes it).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** µs on the monotonic clock (the one process.hrtime reads) */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileShare {
  /** main-thread busy time in the interval, µs */
  busyUs: number;
  /** per "file function" of monitoring code (file relative to `under`), µs, largest first */
  byFunction: [string, number][];
  /** share (0..1) of the busy time per part: metrics, capture, feedback index, other */
  parts: Record<MonitoringPart, number>;
  /** share (0..1) of all monitoring code */
  total: number;
}

export type MonitoringPart = 'metrics' | 'capture' | 'feedback' | 'other';

/**
 * What a monitoring file belongs to. json-text.js writes capture headers and access lines: it
 * counts for capture, so profile a server with the access log off when that matters.
 */
function partOf(key: string): MonitoringPart {
  if (key === 'prom-client' || key.startsWith('metrics.')) return 'metrics';
  if (key.startsWith('capture/') || key.startsWith('monitoring.') || key.startsWith('json-text.')) return 'capture';
  if (key.startsWith('feedback.')) return 'feedback';
  return 'other';
}

/**
 * Shares of a profile's main-thread busy time in monitoring code (files whose URL contains
 * `under`), over samples taken from `fromUs` to `toUs` on the profile's clock.
 */
export function profileShare(profile: CpuProfile, opts: { under: string; fromUs?: number; toUs?: number }): ProfileShare {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i]!;
    if (t >= (opts.fromUs ?? -Infinity) && t <= (opts.toUs ?? Infinity)) selfUs.set(id, (selfUs.get(id) ?? 0) + profile.timeDeltas[i]!);
  });
  const isBuiltin = (url: string): boolean => url === '' || url.startsWith('node:');
  let busy = 0;
  const byFunction = new Map<string, number>();
  for (const [leaf, us] of selfUs) {
    if (nodes.get(leaf)!.callFrame.functionName === '(idle)') continue;
    busy += us;
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const { url, functionName } = nodes.get(id)!.callFrame;
      if (isBuiltin(url)) continue;
      let key: string | undefined;
      if (url.includes('prom-client')) key = 'prom-client';
      else if (url.includes(opts.under) && !(/metrics\.[jt]s$/.test(url) && functionName === '' && id !== leaf)) key = `${url.slice(url.indexOf(opts.under) + opts.under.length)} ${functionName || '(anonymous)'}`;
      if (key) byFunction.set(key, (byFunction.get(key) ?? 0) + us);
      break;
    }
  }
  const parts: Record<MonitoringPart, number> = { metrics: 0, capture: 0, feedback: 0, other: 0 };
  let total = 0;
  for (const [key, us] of byFunction) {
    parts[partOf(key)] += us / busy;
    total += us / busy;
  }
  return { busyUs: busy, byFunction: [...byFunction].sort((a, b) => b[1] - a[1]), parts, total };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'skip-sec': { type: 'string', default: '5' }, under: { type: 'string', default: '/dist/monitor/' } } });
  if (positionals.length !== 1) {
    console.error('usage: node --import tsx bench/profile-share.ts PROFILE.cpuprofile [--skip-sec 5] [--under /dist/monitor/]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as CpuProfile;
  const s = profileShare(profile, { under: values.under!, fromUs: profile.startTime + Number(values['skip-sec']) * 1e6 });
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  console.log(`main thread busy ${(s.busyUs / 1e6).toFixed(2)} s; in ${values.under} (and prom-client): ${pct(s.total)} (metrics ${pct(s.parts.metrics)}, capture ${pct(s.parts.capture)}, feedback index ${pct(s.parts.feedback)}, other ${pct(s.parts.other)})`);
  for (const [k, us] of s.byFunction.slice(0, 15)) console.log(`  ${pct(us / s.busyUs).padStart(6)}  ${k}`);
}
