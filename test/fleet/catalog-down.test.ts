/**
 * A replica that starts while the catalog is unreachable (PostgreSQL behind a TCP proxy the
 * test closes and opens): it serves the state it saved after its last successful sync, for
 * the versions still in its local cache, reports the rest not served with the reason, stays
 * ready, retries with backoff and converges once the catalog answers. A replica with nothing
 * saved is not ready until then.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from '../../src/registry/registry.js';
import { PG_SKIP, PG_URL, dropPgSchema, pgUrlWithFreshSchema } from '../registry/helpers.js';
import { startCliServer, type ChildServer } from '../helpers/cli-server.js';
import { tempDir } from '../helpers/models.js';
import { inferBody, rowFor, writeScaledAffine } from '../rollout/helpers.js';
import { DIST_SKIP, convergence, servedVersion, sleep } from './helpers.js';

/** A TCP proxy to PostgreSQL that can be closed (connections cut, port refusing) and opened again on the same port. */
class CatalogProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

async function status(url: string, path: string): Promise<number> {
  const res = await fetch(`${url}${path}`);
  await res.arrayBuffer();
  return res.status;
}

async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 60000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

describe('catalog unreachable at start', { skip: PG_SKIP || DIST_SKIP }, () => {
  let direct: string;
  let proxied: string;
  let proxy: CatalogProxy;
  let home: string;
  let registry: Registry;
  let key: string;
  const children: ChildServer[] = [];
  const serve = async (h: string) => {
    const c = await startCliServer(['--registry', '--catalog', proxied, '--home', h, '--registry-poll-secs', '0.5', '--no-monitoring']);
    children.push(c);
    return c;
  };

  before(async () => {
    direct = pgUrlWithFreshSchema();
    const u = new URL(direct);
    proxy = new CatalogProxy({ host: u.hostname, port: Number(u.port || 5432) });
    await proxy.open();
    u.port = String(proxy.port);
    proxied = u.toString();
    home = join(tempDir('berth-offline-'), 'home');
    registry = await Registry.open({ home, catalogUrl: direct });
    key = (await registry.createKey('read', { name: 'offline-test' })).key;
  });

  after(async () => {
    for (const c of children) await c.stop();
    await proxy?.close();
    await registry?.close();
    if (PG_URL) await dropPgSchema(direct);
  });

  test('serves the saved state for what is cached, reports the rest, and converges when the catalog returns', async () => {
    const src = tempDir('berth-offline-src-');
    for (const v of [1, 2]) await registry.push(await writeScaledAffine(src, 'm', v, v), { name: 'm' });
    await registry.push(await writeScaledAffine(src, 'n', 1, 5), { name: 'n' });
    await registry.setAlias('m', 'production', 1);
    await registry.setAlias('n', 'production', 1);

    // A replica follows the catalog and saves what it applied.
    const first = await serve(home);
    await until('first replica converged', async () => (await convergence(first.url, key)).converged);
    assert.equal(await first.stop(), 0);
    const saved = readdirSync(join(home, 'serving')).filter((f) => f.startsWith('applied-') && f.endsWith('.json'));
    assert.equal(saved.length, 1, 'one state file, no temporary left behind');
    const state = JSON.parse(readFileSync(join(home, 'serving', saved[0]!), 'utf8')) as { models: Record<string, { policy: { production: string } }> };
    assert.deepEqual(Object.keys(state.models).sort(), ['m', 'n']);
    assert.equal(state.models.m!.policy.production, '1');

    // n's files leave the local cache; the catalog goes away; the catalog changes meanwhile.
    rmSync(join(home, 'materialized', 'n'), { recursive: true, force: true });
    await proxy.close();
    await registry.setAlias('m', 'production', 2);

    const t0 = Date.now();
    const replica = await serve(home);
    const fresh = await serve(join(tempDir('berth-offline-fresh-'), 'home'));
    const startMs = Date.now() - t0;
    assert.match(replica.log(), /catalog unreachable at start/);
    assert.equal(await servedVersion(replica.url, inferBody(rowFor(1))), '1', 'the saved production version answers');
    assert.equal(await status(replica.url, '/v2/health/ready'), 200, 'ready: it serves what it could load');
    assert.notEqual(await status(replica.url, '/v2/models/n/ready'), 200, 'n is not served: its files are not cached');
    assert.match(replica.log(), /registry model 'n' not served: the catalog is unreachable and version 1: model\.onnx is not in the local cache/);
    assert.equal(await metric(replica.url, 'berth_registry_catalog_up'), 0);
    assert.equal(await metric(replica.url, 'berth_registry_converged'), 0);
    assert.equal(await status(fresh.url, '/v2/health/ready'), 503, 'a replica with nothing saved is not ready');
    // GET /api/v1/server needs a key, which the catalog verifies: 503 while it is down
    const res = await fetch(`${replica.url}/api/v1/server`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.status, 503);
    await res.arrayBuffer();
    // several retries fail meanwhile (backoff from 0.5 s)
    await sleep(2000);
    assert.equal(await servedVersion(replica.url, inferBody(rowFor(2))), '1');

    await proxy.open();
    const reopened = Date.now();
    const report = await until('the replica converged after the catalog returned', async () => {
      const c = await convergence(replica.url, key);
      return c.converged ? c : undefined;
    });
    const convergedMs = Date.now() - reopened;
    await until('the fresh replica ready', async () => (await status(fresh.url, '/v2/health/ready')) === 200);
    const freshMs = Date.now() - reopened;
    console.log(`# both replicas started in ${startMs} ms with the catalog down; converged ${convergedMs} ms (saved state) and ready ${freshMs} ms (nothing saved) after it returned`);
    assert.equal(report.catalog, 'reachable');
    assert.equal(report.source, 'catalog');
    assert.deepEqual(report.models.map((m) => [m.name, m.state, m.applied?.production]), [['m', 'converged', 2], ['n', 'converged', 1]]);
    assert.equal(await servedVersion(replica.url, inferBody(rowFor(3))), '2');
    assert.equal(await status(replica.url, '/v2/models/n/ready'), 200);
    assert.equal(await metric(replica.url, 'berth_registry_catalog_up'), 1);

    // The catalog going away while serving changes nothing that is served; it is reported.
    await proxy.close();
    await until('the outage noticed', async () => (await metric(replica.url, 'berth_registry_catalog_up')) === 0, 10000);
    for (let i = 0; i < 5; i++) assert.equal(await servedVersion(replica.url, inferBody(rowFor(i))), '2');
    assert.equal(await status(replica.url, '/v2/health/ready'), 200);
    await registry.setAlias('m', 'production', 1);
    await proxy.open();
    await until('the change made during the outage applied', async () => (await servedVersion(replica.url, inferBody(rowFor(4)))) === '1');
    assert.equal(await metric(replica.url, 'berth_registry_catalog_up'), 1);
  });
});
