// Where a server's main thread goes, from a V8 CPU profile: the share of its busy time spent in
// berth's monitoring code (issue #6), a figure that holds still on a machine whose throughput
// does not (both the part and the whole slow down together).
//
//   node --cpu-prof --cpu-prof-dir=P dist/cli/main.js serve MODEL [flags]   # load it, then stop it
//   node --import tsx bench/profile-share.ts P/CPU.*.cpuprofile [--skip-sec 5] [--under dist/monitor/]
//
// A sample counts for the innermost stack frame that has a source file (builtins and node's own
// modules are looked through), so time in Map.set called by the feedback index counts for the
// feedback index, and time in fastify called by berth does not count for berth. One exception:
// the metrics onSend hook only passes fastify's send along, so what it calls is not counted for
// it. prom-client counts as monitoring. The first --skip-sec seconds (start-up) are left out.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'skip-sec': { type: 'string', default: '5' }, under: { type: 'string', default: '/dist/monitor/' } } });
if (positionals.length !== 1) {
  console.error('usage: node --import tsx bench/profile-share.ts PROFILE.cpuprofile [--skip-sec 5] [--under /dist/monitor/]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Profile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const skipUs = Number(values['skip-sec']) * 1e6;
const selfUs = new Map<number, number>();
let t = profile.startTime;
profile.samples.forEach((id, i) => {
  t += profile.timeDeltas[i]!;
  if (t - profile.startTime > skipUs) selfUs.set(id, (selfUs.get(id) ?? 0) + profile.timeDeltas[i]!);
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
    else if (url.includes(values.under!) && !(url.endsWith('metrics.js') && functionName === '' && id !== leaf)) key = `${url.slice(url.indexOf(values.under!) + 1)} ${functionName || '(anonymous)'}`;
    if (key) byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    break;
  }
}
const total = [...byFunction.values()].reduce((a, b) => a + b, 0);
console.log(`main thread busy ${(busy / 1e6).toFixed(2)} s; in ${values.under} (and prom-client): ${(total / 1e6).toFixed(3)} s = ${((100 * total) / busy).toFixed(2)}%`);
for (const [k, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${((100 * us) / busy).toFixed(2).padStart(5)}%  ${k}`);
