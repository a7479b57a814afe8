/**
 * Our /metrics against the real thing: Prometheus's own linter (`promtool check metrics`) and a
 * real Prometheus server (Debian's `prometheus` package) scraping berth on loopback, queried
 * through its HTTP API for a rate and a histogram quantile.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { postJson } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const path = join(dir, command);
    if (spawnSync('test', ['-x', path]).status === 0) return path;
  }
  return undefined;
}

const PROMTOOL = which('promtool');
const PROMETHEUS = which('prometheus');


const row = (k: number) => ({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [k, 2, 3, 4] }] });

describe('Prometheus', () => {
  let server: RunningServer;
  before(async () => {
    const repo = tempDir();
    await writeAffine(repo, 'affine', 1, { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 500 } });
    await writeAffine(repo, 'other', 1);
    server = await startServer({ paths: [repo], http: { port: 0 }, grpc: { enabled: false }, monitoring: { enabled: false } });
  });
  after(() => server.close());

  test('promtool check metrics finds nothing to complain about', { skip: PROMTOOL ? false : 'promtool not installed (Debian package prometheus)' }, async () => {
    // traffic of every kind first, so that every series exists
    for (let k = 0; k < 5; k++) assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, row(k))).status, 200);
    await postJson(`${server.url}/v2/models/other/infer`, row(1));
    assert.equal((await postJson(`${server.url}/v2/models/affine/infer`, { inputs: [] })).status, 400);
    assert.equal((await postJson(`${server.url}/v2/models/missing/infer`, row(1))).status, 404);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /berth_inference_requests_total\{/);
    assert.match(text, /berth_request_duration_seconds_bucket\{/);
    const result = spawnSync(PROMTOOL!, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(`${result.stdout}${result.stderr}`.trim(), '', 'promtool output');
    assert.equal(result.status, 0);
  });

  describe('a real Prometheus server scraping berth', { skip: PROMETHEUS ? false : 'prometheus not installed (Debian package prometheus)' }, () => {
    let prometheus: ChildProcess | undefined;
    let promUrl = '';
    let dir = '';
    let log = '';
    before(async () => {
      dir = tempDir('berth-prometheus-');
      mkdirSync(join(dir, 'data'));
      const config = join(dir, 'prometheus.yml');
      writeFileSync(config, [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: berth',
        '    scrape_interval: 1s',
        '    scrape_timeout: 1s',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${server.port}']`,
        '',
      ].join('\n'));
      const port = await freePort();
      promUrl = `http://127.0.0.1:${port}`;
      prometheus = spawn(PROMETHEUS!, [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      prometheus.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      prometheus.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          if ((await fetch(`${promUrl}/-/ready`)).status === 200) break;
        } catch {
          // not listening yet
        }
        if (prometheus.exitCode !== null || Date.now() > deadline) throw new Error(`prometheus did not become ready:\n${log.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    after(async () => {
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((r) => prometheus!.once('exit', r));
        prometheus.kill('SIGTERM');
        await exited;
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      assert.equal(body.status, 'success', body.error);
      assert.equal(body.data.resultType, 'vector');
      return body.data.result;
    }

    test('queries a request rate and a p99 latency through the Prometheus HTTP API', async () => {
      // A little load (4 clients in a loop, bounded in time) while Prometheus scrapes every second.
      let stop = false;
      let sent = 0;
      const client = async (c: number) => {
        while (!stop) {
          const r = await postJson(`${server.url}/v2/models/affine/infer`, row(c + sent));
          assert.equal(r.status, 200);
          sent++;
          await new Promise((res) => setTimeout(res, 5));
        }
      };
      const clients = Array.from({ length: 4 }, (_, c) => client(c));
      const hardStop = setTimeout(() => (stop = true), 60_000);
      try {
        let rate = 0;
        let p99 = Number.NaN;
        const deadline = Date.now() + 45_000;
        while (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 1000));
          const rates = await query('sum(rate(berth_inference_requests_total{model="affine",outcome="success"}[5s]))');
          rate = rates.length > 0 ? Number(rates[0]!.value[1]) : 0;
          const q = await query('histogram_quantile(0.99, sum by (le) (rate(berth_request_duration_seconds_bucket{model="affine"}[5s])))');
          p99 = q.length > 0 ? Number(q[0]!.value[1]) : Number.NaN;
          if (rate > 0 && Number.isFinite(p99)) break;
        }
        assert.ok(rate > 0, `rate(berth_inference_requests_total) = ${rate}; prometheus log:\n${log.slice(-2000)}`);
        assert.ok(Number.isFinite(p99) && p99 > 0 && p99 <= 10, `p99 = ${p99}`);
        const up = await query('up{job="berth"}');
        assert.equal(up[0]?.value[1], '1');
        // the target is healthy: Prometheus parsed every scrape
        const targets = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
        assert.equal(targets.data.activeTargets[0]?.health, 'up');
        assert.equal(targets.data.activeTargets[0]?.lastError, '');
        // and the gauges read at scrape time arrive too
        const ready = await query('berth_model_ready{model="affine"}');
        assert.equal(ready[0]?.value[1], '1');
      } finally {
        stop = true;
        clearTimeout(hardStop);
        await Promise.all(clients);
      }
      assert.ok(sent > 0);
    });
  });
});
