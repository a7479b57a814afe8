/** Shared pieces of the fleet tests: replicas as `berth serve --registry` processes, and their convergence reports. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CLI } from '../helpers/cli-server.js';
import type { Convergence } from '../../src/http/dashboard-data-schemas.js';

export const DIST_SKIP = existsSync(CLI) ? false : 'dist/cli/main.js is missing: run npm run build';

/** The berth CLI (dist) with the catalog given by BERTH_CATALOG_URL. */
export function berth(args: string[], catalogUrl: string): { code: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000, env: { ...process.env, BERTH_CATALOG_URL: catalogUrl } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

export async function convergence(url: string, key: string): Promise<Convergence> {
  const res = await fetch(`${url}/api/v1/server`, { headers: { authorization: `Bearer ${key}` } });
  if (res.status !== 200) throw new Error(`GET /api/v1/server: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { convergence: Convergence | null };
  if (!body.convergence) throw new Error('no convergence report');
  return body.convergence;
}

/** The version that answered one unversioned request, or undefined when it failed. */
export async function servedVersion(url: string, body: object): Promise<string | undefined> {
  try {
    const res = await fetch(`${url}/v2/models/m/infer`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    if (res.status !== 200) {
      await res.arrayBuffer();
      return undefined;
    }
    return ((await res.json()) as { model_version: string }).model_version;
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
