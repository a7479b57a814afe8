/**
 * The access matrix over REST: every route in the router's own route table (recorded as routes
 * are added, so a route added later is covered without touching this file) × {no key, wrong
 * secret, malformed Authorization headers, a read, an infer and an admin key}, on a server with
 * --require-auth and one without. Then every route again through spellings of its path that
 * the router may accept (percent-encoded letters, `//`, `/./`, absolute-form targets, ...): each
 * is either not routed at all or answered exactly like its plain twin, key by key.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { buildHttpApp } from '../../src/http/app.js';
import { InferenceService } from '../../src/core/inference-service.js';
import { REST_ROUTES, registeredRoutes } from '../../src/http/route-scopes.js';
import type { RegisteredRoute } from '../../src/http/route-scopes.js';
import { GRPC_METHODS } from '../../src/serving/access.js';
import type { FastifyInstance } from 'fastify';
import { expectedScopes, keyedRegistry, pool, rawRequest } from './auth-helpers.js';
import type { KeyedRegistry, RawAnswer, Scope } from './auth-helpers.js';

type Cred = { name: string; header?: string | Buffer; scope?: Scope };

function credentials(keys: Record<Scope, string>): Cred[] {
  return [
    { name: 'no key' },
    { name: 'wrong secret', header: 'Bearer berth_000000000000_notavalidkeynotavalidkeynotavalidkeynotava' },
    { name: 'Bearer without a token', header: 'Bearer' },
    { name: 'Basic scheme', header: 'Basic dXNlcjpwYXNz' },
    { name: 'two tokens', header: `Bearer ${keys.admin} ${keys.admin}` },
    { name: 'non-ASCII token', header: Buffer.concat([Buffer.from(`Bearer ${keys.admin.slice(0, -2)}`), Buffer.from([0xc3, 0xa9])]) },
    { name: 'admin key in another header', header: `Token ${keys.admin}` },
    { name: 'read key', header: `Bearer ${keys.read}`, scope: 'read' },
    { name: 'infer key', header: `Bearer ${keys.infer}`, scope: 'infer' },
    { name: 'admin key', header: `Bearer ${keys.admin}`, scope: 'admin' },
  ];
}

/** A concrete path for a route pattern: parameters filled with things that exist. */
function concrete(route: RegisteredRoute): string {
  return route.url
    .replace(/:target/, 'm:predict')
    .replace(/:model|:name/g, 'm')
    .replace(/:version/g, '1')
    .replace(/:alias/g, 'staging')
    .replace(/\*$/, route.url.startsWith('/docs') ? 'index.css' : 'models/m');
}

/** A body that reaches each POST/PUT/PATCH handler's own validation (never a change that sticks). */
function bodyFor(method: string): string | undefined {
  return method === 'GET' || method === 'HEAD' || method === 'DELETE' ? undefined : '{}';
}

async function ask(port: number, route: RegisteredRoute, path: string, cred: Cred, extra: Record<string, string> = {}): Promise<RawAnswer> {
  const headers: Record<string, string | Buffer> = { ...extra };
  if (cred.header !== undefined) headers.authorization = cred.header;
  return rawRequest(port, route.method, path, headers, bodyFor(route.method));
}

function checkRoute(route: RegisteredRoute, requireAuth: boolean, cred: Cred, answer: RawAnswer): string | undefined {
  const where = `${route.method} ${route.url} with ${cred.name} (require-auth ${requireAuth}): ${answer.status} ${answer.body.slice(0, 120)}`;
  const refused = answer.status === 401 || answer.status === 403;
  const scopes = expectedScopes(route.rule!.access, requireAuth);
  if (scopes === 'none') return refused ? `refused, expected open: ${where}` : undefined;
  if (!cred.scope) {
    if (answer.status !== 401) return `expected 401: ${where}`;
    if (!/^Bearer realm="berth"/.test(answer.headers['www-authenticate'] ?? '')) return `401 without WWW-Authenticate: ${where}`;
    return undefined;
  }
  if (scopes.includes(cred.scope)) return refused ? `refused, expected allowed: ${where}` : undefined;
  return answer.status === 403 ? undefined : `expected 403: ${where}`;
}

/** Other spellings of a path that a router might map to the same route. */
function spellings(path: string, port: number): Record<string, string> {
  const segments = path.split('/').slice(1);
  const pct = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  const encodeFirst = (i: number, upper = false): string | undefined => {
    const s = segments[i];
    if (!s || !/^[a-z0-9]/i.test(s)) return undefined;
    const code = upper ? pct(s[0]!).toUpperCase() : pct(s[0]!);
    return '/' + segments.map((x, j) => (j === i ? code + x.slice(1) : x)).join('/');
  };
  const out: Record<string, string | undefined> = {
    'first letter encoded': encodeFirst(0),
    'second segment encoded': encodeFirst(1),
    'second segment encoded, upper-case hex': encodeFirst(1, true),
    'last segment encoded': encodeFirst(segments.length - 1),
    'every letter encoded': path.replace(/[a-z0-9.]/gi, (c) => pct(c)),
    'leading //': `/${path}`,
    'inner //': path.replace(/^(\/[^/]+)\//, '$1//'),
    '/./': path.replace(/^(\/[^/]+)\//, '$1/./'),
    '/x/../': path.replace(/^(\/[^/]+)\//, '$1/x/../'),
    'encoded slash': path.replace(/^(\/[^/]+)\//, '$1%2f'),
    'trailing slash': `${path}/`,
    'semicolon': `${path};x=1`,
    'upper case': path.toUpperCase(),
    'absolute-form': `http://127.0.0.1:${port}${path}`,
    'absolute-form, other host name': `http://localhost:${port}${path}`,
    'absolute-form, encoded': `http://127.0.0.1:${port}${encodeFirst(1) ?? encodeFirst(0) ?? path}`,
  };
  return Object.fromEntries(Object.entries(out).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== path));
}

/** What access control decided: refused without a key, refused for the key's scope, or let through. */
function verdict(a: RawAnswer): string {
  return a.status === 401 || a.status === 403 ? String(a.status) : 'let through';
}

/** The router found no route: its own 404 (or the parser refused the target). */
function notRouted(a: RawAnswer): boolean {
  if (a.status === 400 && !a.body.trimStart().startsWith('{')) return true;
  if (a.status !== 404) return false;
  try {
    const error = (JSON.parse(a.body) as { error?: string }).error ?? '';
    return error === 'Not Found' || error.startsWith('no such admin endpoint');
  } catch {
    return false;
  }
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

describe('access matrix (REST)', () => {
  let reg: KeyedRegistry;
  let locked: RunningServer;
  let open: RunningServer;
  let withDashboard: FastifyInstance;
  let dashboardService: InferenceService;
  let dashboardPort: number;

  before(async () => {
    reg = await keyedRegistry();
    const common = { paths: [] as string[], http: { port: 0 }, grpc: { enabled: false }, registry: { instance: reg.registry, pollSecs: 0.05 }, home: reg.home };
    locked = await startServer({ ...common, requireAuth: true });
    open = await startServer({ ...common, home: join(reg.dir, 'home2') });
    // The dashboard's files are routes too (one per file): a built dashboard, faked.
    const web = join(reg.dir, 'web');
    mkdirSync(join(web, 'assets'), { recursive: true });
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>berth</title>');
    writeFileSync(join(web, 'assets', 'app-1234.js'), 'console.log(1)');
    dashboardService = new InferenceService();
    withDashboard = buildHttpApp(dashboardService, { auth: { registry: reg.registry, requireAuth: true }, dashboard: { web: true, root: web } });
    dashboardPort = await listen(withDashboard);
  });

  after(async () => {
    await locked?.close();
    await open?.close();
    await withDashboard?.close();
    await dashboardService?.close();
    await reg?.registry.close();
  });

  test('every route the router knows has a declared rule, and the table has no stale rows', () => {
    const all = [...registeredRoutes(locked.http), ...registeredRoutes(withDashboard)];
    assert.ok(all.length > 50, `only ${all.length} routes recorded`);
    const undeclared = all.filter((r) => !r.rule).map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(undeclared, [], 'routes without a rule in http/route-scopes.ts');
    const served = new Set(all.map((r) => `${r.method === 'HEAD' ? 'GET' : r.method} ${r.url}`));
    const stale = Object.keys(REST_ROUTES).filter((k) => !served.has(k) && k !== 'GET /' && k !== 'POST /api/v1/models');
    assert.deepEqual(stale, [], 'rows for routes that do not exist');
  });

  test('a spot check of the policy itself', () => {
    const rule = (k: string) => REST_ROUTES[k]?.access;
    assert.equal(rule('GET /v2/health/live'), 'public');
    assert.equal(rule('GET /api/v1/audit'), 'read');
    assert.equal(rule('GET /api/v1/serving/models/:name/versions/:version/model.onnx'), 'read');
    assert.equal(rule('POST /api/v1/models/:name/feedback'), 'feedback');
    assert.equal(rule('POST /api/v1/models/:name/versions'), 'admin');
    assert.equal(rule('POST /v2/repository/models/:model/load'), 'admin');
    assert.equal(rule('POST /v2/repository/models/:model/unload'), 'admin');
    assert.equal(rule('POST /v2/models/:model/infer'), 'infer');
    assert.equal(rule('POST /v1/models/:target'), 'infer');
    assert.equal(rule('GET /metrics'), 'serving');
    assert.equal(GRPC_METHODS.RepositoryModelLoad?.access, 'admin');
    assert.equal(GRPC_METHODS.ModelInfer?.access, 'infer');
  });

  for (const requireAuth of [true, false]) {
    test(`every route × every credential, ${requireAuth ? 'with' : 'without'} --require-auth`, async () => {
      const server = requireAuth ? locked : open;
      const routes = registeredRoutes(server.http);
      const creds = credentials(reg.keys);
      const cases = routes.flatMap((route) => creds.map((cred) => ({ route, cred })));
      const failures = (await pool(cases, 8, async ({ route, cred }) => checkRoute(route, requireAuth, cred, await ask(server.port, route, concrete(route), cred)))).filter((f) => f !== undefined);
      assert.deepEqual(failures, []);
    });
  }

  test("the dashboard's files are public, its data is not", async () => {
    const routes = registeredRoutes(withDashboard);
    assert.ok(routes.some((r) => r.url === '/assets/app-1234.js'), 'the static file routes were recorded');
    const creds = credentials(reg.keys);
    const cases = routes.flatMap((route) => creds.map((cred) => ({ route, cred })));
    const failures = (await pool(cases, 8, async ({ route, cred }) => checkRoute(route, true, cred, await ask(dashboardPort, route, concrete(route), cred)))).filter((f) => f !== undefined);
    assert.deepEqual(failures, []);
  });

  test('every other spelling of every route is either not routed or judged exactly like the route', async () => {
    const server = locked;
    const creds = credentials(reg.keys).filter((c) => c.name === 'no key' || c.scope);
    const failures: string[] = [];
    // HEAD answers have no body to tell the router's 404 from a handler's; their GET twins are checked
    const routes = registeredRoutes(server.http).filter((r) => r.method !== 'HEAD');
    await pool(routes, 4, async (route) => {
      const path = concrete(route);
      const twin = await Promise.all(creds.map((c) => ask(server.port, route, path, c)));
      for (const [how, spelled] of Object.entries(spellings(path, server.port))) {
        const answers = await Promise.all(creds.map((c) => ask(server.port, route, spelled, c)));
        if (answers.every(notRouted)) continue;
        // the same verdict key by key (a spelling may reach a sibling route, `/v2/models/` the
        // route of model '', whose handler answers differently: what matters is who got in)
        const mismatch = answers.findIndex((a, i) => verdict(a) !== verdict(twin[i]!));
        if (mismatch >= 0) {
          failures.push(`${route.method} ${spelled} (${how}) with ${creds[mismatch]!.name}: ${answers[mismatch]!.status} ${answers[mismatch]!.body.slice(0, 80)}; ${path} answers ${twin[mismatch]!.status}`);
        }
      }
    });
    assert.deepEqual(failures, []);
  });

  test('the probe suite\'s requests: an upload, an alias move and model control without a key are refused', async () => {
    const port = locked.port;
    const model = readFileSync(join(reg.dir, 'src', 'm', '1', 'model.onnx'));
    for (const target of ['/api/%761/models/m/versions', '/%61pi/v1/models/m/versions', `http://x/api/v1/models/m/versions`]) {
      const a = await rawRequest(port, 'POST', target, { 'content-type': 'application/octet-stream' }, model.toString('latin1'));
      assert.ok(a.status === 401 || a.status === 403 || notRouted(a), `${target}: ${a.status} ${a.body}`);
    }
    for (const target of ['/api/%761/models/m/aliases/production', '/api/v1/models/m/aliases/%70roduction']) {
      const a = await rawRequest(port, 'PUT', target, {}, '{"version":1}');
      assert.ok(a.status === 401 || a.status === 403 || notRouted(a), `${target}: ${a.status} ${a.body}`);
    }
    for (const target of ['/%762/repository/models/m/unload', `http://127.0.0.1:${port}/v2/repository/models/m/load`, '/v2/%72epository/models/m/unload']) {
      const a = await rawRequest(port, 'POST', target, {}, '{}');
      assert.ok(a.status === 401 || a.status === 403 || notRouted(a), `${target}: ${a.status} ${a.body}`);
    }
    for (const target of ['/api/%761/audit', '/%762/models/m/infer', '/v2/models/%6d/infer']) {
      const a = await rawRequest(port, target.endsWith('infer') ? 'POST' : 'GET', target, {}, target.endsWith('infer') ? '{}' : undefined);
      assert.ok(a.status === 401 || a.status === 403 || notRouted(a), `${target}: ${a.status} ${a.body}`);
    }
    assert.deepEqual((await reg.registry.getModel('m')).aliases, { production: 1 });
    assert.equal((await reg.registry.listVersions('m')).length, 1);
  });
});
