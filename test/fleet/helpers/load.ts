/**
 * A load generator for the fleet tests: Open Inference Protocol requests over keep-alive
 * connections, alternating JSON and binary tensors, each answer checked against the expected
 * output (computed here, not by berth). Two shapes of load:
 *  - closed loop: C clients, each with its own keep-alive connection, one request at a time;
 *  - open loop: requests started at a fixed rate whatever the answers, as independent users
 *    would send them (what "3× the capacity" means).
 * Every outcome is counted: 200 with a right answer, 200 with a wrong one, each other status,
 * each socket error.
 */
import { Agent, request } from 'node:http';

/** One kind of model the load sends: its input rows and the output to expect for them. */
export interface Workload {
  model: string;
  input: string;
  output: string;
  width: number;
  rows: number;
  /** the expected output row for an input row */
  expected(row: Float32Array): Float32Array;
}

export interface Outcome {
  status: number | string;
  ms: number;
  retryAfter?: string;
}

export class LoadReport {
  readonly outcomes: Outcome[] = [];
  /** open loop: the longest the generator fell behind its schedule (its own event loop starved), ms */
  maxLagMs = 0;

  add(o: Outcome): void {
    this.outcomes.push(o);
  }

  get total(): number {
    return this.outcomes.length;
  }

  count(status: number | string): number {
    return this.outcomes.filter((o) => o.status === status).length;
  }

  /** status (or error) → count, for everything that is not a right 200 */
  failures(except: (number | string)[] = []): Record<string, number> {
    const out: Record<string, number> = {};
    for (const o of this.outcomes) if (o.status !== 200 && !except.includes(o.status)) out[String(o.status)] = (out[String(o.status)] ?? 0) + 1;
    return out;
  }

  latency(status: number | string, q: number): number {
    const ms = this.outcomes.filter((o) => o.status === status).map((o) => o.ms).sort((a, b) => a - b);
    if (ms.length === 0) return NaN;
    return ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!;
  }
}

/** A request made once and sent many times: the generator must not be the bottleneck it measures. */
interface Prepared {
  body: Buffer;
  headers: Record<string, string>;
  expected: Float32Array;
}

const POOL = 32;
const pools = new WeakMap<Workload, { json: Prepared[]; binary: Prepared[] }>();

function prepare(w: Workload): { json: Prepared[]; binary: Prepared[] } {
  let pool = pools.get(w);
  if (pool) return pool;
  pool = { json: [], binary: [] };
  for (let k = 0; k < POOL; k++) {
    // quarter steps: exact in FP32 and in JSON
    const input = Float32Array.from({ length: w.width * w.rows }, (_, i) => ((k * 7 + i * 3) % 41) / 4 - 5);
    const parts: number[] = [];
    for (let r = 0; r < w.rows; r++) parts.push(...w.expected(input.subarray(r * w.width, (r + 1) * w.width)));
    const expected = Float32Array.from(parts);
    const shape = [w.rows, w.width];
    const json = Buffer.from(JSON.stringify({ inputs: [{ name: w.input, shape, datatype: 'FP32', data: Array.from(input) }] }));
    pool.json.push({ body: json, headers: { 'content-type': 'application/json' }, expected });
    const header = Buffer.from(JSON.stringify({
      inputs: [{ name: w.input, shape, datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }],
      outputs: [{ name: w.output, parameters: { binary_data: true } }],
    }));
    pool.binary.push({
      body: Buffer.concat([header, Buffer.from(input.buffer, input.byteOffset, input.byteLength)]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      expected,
    });
  }
  pools.set(w, pool);
  return pool;
}

let counter = 0;

function close(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > 1e-4 * Math.max(1, Math.abs(b[i]!))) return false;
  return true;
}

/** One request; resolves with its outcome (never rejects). */
export function inferOnce(baseUrl: string, agent: Agent, w: Workload, binary: boolean, timeoutMs = 30_000): Promise<Outcome> {
  const pool = prepare(w);
  const p = (binary ? pool.binary : pool.json)[counter++ % POOL]!;
  const body = p.body;
  const headers = { host: 'localhost', ...p.headers, 'content-length': String(body.length) };
  const started = performance.now();
  return new Promise<Outcome>((resolve) => {
    const done = (status: number | string, retryAfter?: string) => resolve({ status, ms: performance.now() - started, retryAfter });
    const req = request(`${baseUrl}/v2/models/${w.model}/infer`, { method: 'POST', agent, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e: Error) => done(`response error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        if (res.statusCode !== 200) return done(res.statusCode ?? 'no status', res.headers['retry-after']);
        try {
          const hlen = res.headers['inference-header-content-length'];
          const n = hlen === undefined ? raw.length : Number(hlen);
          const header = JSON.parse(raw.subarray(0, n).toString('utf8')) as { outputs: { name: string; data?: number[]; parameters?: { binary_data_size?: number } }[] };
          const out = header.outputs.find((o) => o.name === w.output)!;
          const got = out.data ?? new Float32Array(raw.buffer.slice(raw.byteOffset + n, raw.byteOffset + raw.length));
          done(close(got, p.expected) ? 200 : 'wrong answer');
        } catch (err) {
          done(`bad body: ${(err as Error).message}`);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => done(`socket ${e.code ?? e.message}`));
    req.end(body);
  });
}

export interface Running {
  report: LoadReport;
  /** stops sending, waits for the answers in flight, returns the report */
  stop(): Promise<LoadReport>;
}

/** C clients, each on its own keep-alive connection, one request after another (JSON, binary, JSON, …). */
export function closedLoop(baseUrl: string, w: Workload, clients: number, pauseMs = 0): Running {
  const report = new LoadReport();
  let stopping = false;
  const agents: Agent[] = [];
  const loops = Array.from({ length: clients }, async (_, c) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    let binary = c % 2 === 1;
    while (!stopping) {
      report.add(await inferOnce(baseUrl, agent, w, binary));
      binary = !binary;
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    report,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      for (const a of agents) a.destroy();
      return report;
    },
  };
}

/** Requests started at `perSecond` whatever the answers (up to `maxSockets` keep-alive connections). */
export function openLoop(baseUrl: string, w: Workload, perSecond: number, maxSockets = 256): Running {
  const report = new LoadReport();
  const agent = new Agent({ keepAlive: true, maxSockets });
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const due = Math.floor(((now - started) / 1000) * perSecond);
    if (sent < due) report.maxLagMs = Math.max(report.maxLagMs, now - started - (sent / perSecond) * 1000);
    for (; sent < due; sent++) {
      const p: Promise<void> = inferOnce(baseUrl, agent, w, sent % 2 === 1).then((o) => {
        report.add(o);
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
  }, 2);
  return {
    report,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      agent.destroy();
      return report;
    },
  };
}
