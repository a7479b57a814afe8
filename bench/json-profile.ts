// Issue #16: the share of a server's main thread spent producing JSON answers, before and after
// the worker renders them. Serves the heavy MLP (512 → 2048 → 2048 → 1000, 1000 FP32 outputs)
// with each given berth build under `node --cpu-prof`, loads it with wrk (JSON in, JSON out, 32
// connections) for a window, stops it, and reports the main thread's busy time and the share of
// it inside the answer encoders (encodeInferResponse / encodePredictions and what they call:
// JSON.stringify, the number text, the copies), plus requests per second.
//
//   node --import tsx bench/json-profile.ts [--seconds 8] CLI_JS [CLI_JS...]
//   e.g. node --import tsx bench/json-profile.ts /work/main/dist/cli/main.js dist/cli/main.js
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeMlp } from './models.js';
import { findWrk, writeWrkScript } from './wrk.js';

const { values: argv, positionals } = parseArgs({ options: { seconds: { type: 'string', default: '8' } }, allowPositionals: true });
const seconds = Number(argv.seconds);
const wrk = findWrk();
if (!wrk || positionals.length === 0) {
  console.error('usage: node --import tsx bench/json-profile.ts [--seconds S] CLI_JS [CLI_JS...]   (needs wrk)');
  process.exit(2);
}

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

const ENCODERS = new Set(['encodeInferResponse', 'encodePredictions']);

/** Busy µs of the main thread and µs under an encoder, from a .cpuprofile. */
function share(path: string): { busyUs: number; encodeUs: number } {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const parent = new Map<number, number>();
  const byId = new Map<number, Node>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const underEncoder = new Map<number, boolean>();
  const isUnder = (id: number): boolean => {
    const known = underEncoder.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    const p = parent.get(id);
    const v = ENCODERS.has(n.callFrame.functionName) || (p !== undefined && isUnder(p));
    underEncoder.set(id, v);
    return v;
  };
  let busyUs = 0;
  let encodeUs = 0;
  profile.samples.forEach((id, i) => {
    const name = byId.get(id)!.callFrame.functionName;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (name === '(idle)' || name === '(program)') return;
    busyUs += dt;
    if (isUnder(id)) encodeUs += dt;
  });
  return { busyUs, encodeUs };
}

const work = mkdtempSync(join(tmpdir(), 'berth-json-profile-'));
const repo = join(work, 'repo');
const info = await writeMlp(repo, 'heavy', [512, 2048, 2048, 1000], 2);
const input = Array.from({ length: info.inputDim }, (_, i) => Math.sin(i) * 0.5);
const bodyFile = join(work, 'body.json');
writeFileSync(bodyFile, JSON.stringify({ inputs: [{ name: 'input', shape: [1, info.inputDim], datatype: 'FP32', data: input }] }));
const script = join(work, 'load.lua');
await writeWrkScript(script, bodyFile, { 'Content-Type': 'application/json' });

for (const [k, cli] of positionals.entries()) {
  console.log(`${cli}: serving and loading for ${seconds} s`);
  const profDir = join(work, `prof-${k}`);
  const port = await new Promise<number>((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as { port: number };
      probe.close(() => done(free));
    });
  });
  const server = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, resolve(cli), 'serve', repo, '--port', String(port), '--grpc-port', '0', '--instances', '1'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/v2/health/ready`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error(`${cli} did not get ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const answer = await (await fetch(`${url}/v2/models/heavy/infer`, { method: 'POST', body: readFileSync(bodyFile) })).text();
  const load = spawn(wrk, ['-t2', '-c32', `-d${seconds}s`, '-s', script, `${url}/v2/models/heavy/infer`]);
  let out = '';
  load.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => load.on('exit', r));
  const summary = JSON.parse(/WRK_JSON (.*)/.exec(out)![1]!) as { requests: number; duration_us: number; errors: Record<string, number> };
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!;
  const s = share(join(profDir, file));
  console.log(`${cli}: ${(summary.requests / (summary.duration_us / 1e6)).toFixed(0)} req/s, answer ${answer.length} bytes, main thread busy ${(s.busyUs / 1e6).toFixed(2)} s, in the answer encoders ${(s.encodeUs / 1e6).toFixed(2)} s = ${((100 * s.encodeUs) / s.busyUs).toFixed(1)}% (${(s.encodeUs / summary.requests).toFixed(1)} µs per request)`);
}
