/**
 * The failover scenario of issue #19, for any kind of replica (processes, containers): under 16
 * keep-alive clients, one replica SIGKILLed, one SIGTERMed, both restarted, one restarted, then a
 * rolling restart of all three, each step waiting for what HAProxy's own checks see.
 */
import assert from 'node:assert/strict';
import type { Haproxy, StatRow } from './fleet.js';
import { closedLoop } from './load.js';
import type { LoadReport, Workload } from './load.js';

/** What the scenario needs of a replica. */
export interface Restartable {
  readonly name: string;
  /** sends the signal and resolves with the exit code once it has exited */
  signal(sig: 'SIGKILL' | 'SIGTERM'): Promise<number | null>;
  /** starts it again on the same ports and resolves once it answers ready */
  start(): Promise<void>;
  log(): string | Promise<string>;
}

export function counters(rows: StatRow[]): { retries: number; redispatches: number; downs: number } {
  const sum = (k: string) => rows.reduce((s, r) => s + Number(r[k] || 0), 0);
  return { retries: sum('wretr'), redispatches: sum('wredis'), downs: sum('chkdown') };
}

export interface FailoverResult {
  report: LoadReport;
  line: string;
  downs: number;
}

export async function failoverScenario(haproxy: Haproxy, replicas: Restartable[], w: Workload, minSeconds = 20): Promise<FailoverResult> {
  const [r1, r2, r3] = replicas as [Restartable, Restartable, Restartable];
  const load = closedLoop(haproxy.url, w, 16);
  const started = Date.now();
  const events: string[] = [];
  const at = (what: string) => events.push(`${((Date.now() - started) / 1000).toFixed(1)} s ${what}`);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const drained = async (r: Restartable) => {
    const code = await r.signal('SIGTERM');
    assert.equal(code, 0, `${r.name} did not exit 0 after SIGTERM:\n${(await r.log()).slice(-3000)}`);
  };
  try {
    await sleep(2000);
    // 1. a replica dies mid-traffic: its in-flight requests and new connections to it fail at the socket
    at(`SIGKILL ${r1.name}`);
    await r1.signal('SIGKILL');
    await haproxy.waitStatus('replica1', 'DOWN');
    at('replica1 DOWN in HAProxy');
    await sleep(1500);
    // 2. a replica drains: readiness fails at once, it serves --drain-delay more, then exits 0
    at(`SIGTERM ${r2.name}`);
    await drained(r2);
    at(`${r2.name} exited`);
    await sleep(1000);
    // both come back where HAProxy expects them
    await Promise.all([r1.start(), r2.start()]);
    await haproxy.waitStatus('replica1', 'UP');
    await haproxy.waitStatus('replica2', 'UP');
    at('replica1, replica2 UP again');
    // 3. a replica restarted (SIGTERM, start at once), then 4. a rolling restart of all three
    for (const [i, r] of [r3, r1, r2, r3].entries()) {
      at(`restart ${r.name}`);
      await drained(r);
      await r.start();
      await haproxy.waitStatus(`replica${[3, 1, 2, 3][i]}`, 'UP');
    }
    at('rolling restart done');
    const remaining = minSeconds * 1000 - (Date.now() - started);
    if (remaining > 0) await sleep(remaining);
  } finally {
    await load.stop();
  }
  const report = load.report;
  const c = counters(await haproxy.servers());
  const line = `${report.total} requests over ${((Date.now() - started) / 1000).toFixed(1)} s, ${report.count(200)} right answers, ` +
    `failures ${JSON.stringify(report.failures())}; HAProxy retries ${c.retries}, redispatches ${c.redispatches}, ` +
    `UP→DOWN ${c.downs}; p50 ${report.latency(200, 0.5).toFixed(1)} ms, p99 ${report.latency(200, 0.99).toFixed(1)} ms\n${events.join('\n')}`;
  return { report, line, downs: c.downs };
}
