/**
 * The offline base image (scripts/build-base.sh) for container tests, built once per recipe and
 * Node version into .scratch/base-image/<key>/ and reused by every test file after it. CI starts
 * from a clean checkout, so there the recipe itself is run; BERTH_BASE_FRESH=1 forces a fresh
 * build into a temporary directory.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const RECIPE = ['scripts/build-base.sh', 'scripts/base-image/assemble.ts', 'scripts/base-image/dir-layer.ts', 'src/package/oci/layout.ts'];

/** Why the base cannot be built here, or undefined. */
export function baseSkipReason(): string | undefined {
  const missing = ['mmdebstrap', 'dpkg-deb', 'npm'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
  return missing.length > 0 ? `${missing.join(', ')} not installed (Debian: apt-get install mmdebstrap dpkg npm)` : undefined;
}

export interface BaseImage {
  /** The OCI layout directory (tag `latest`). */
  dir: string;
  /** Whether this call built it (false: reused from the cache). */
  built: boolean;
  /** build-base.sh's summary line (sizes, seconds) when built. */
  summary?: Record<string, unknown>;
  /** Removes it when it was built into a temporary directory. */
  dispose(): Promise<void>;
}

function recipeKey(): string {
  const hash = createHash('sha256');
  for (const file of RECIPE) hash.update(readFileSync(join(ROOT, file)));
  return `node${process.versions.node}-${hash.digest('hex').slice(0, 12)}`;
}

/** Builds (or reuses) the base image; SOURCE_DATE_EPOCH 0 as in the docs' default. */
export async function ensureBaseImage(): Promise<BaseImage> {
  const fresh = process.env.BERTH_BASE_FRESH === '1';
  let dir: string;
  let temp: string | undefined;
  if (fresh) {
    temp = await mkdtemp(join(tmpdir(), 'berth-base-'));
    dir = join(temp, 'oci');
  } else {
    dir = join(ROOT, '.scratch', 'base-image', recipeKey());
    if (existsSync(join(dir, 'index.json'))) return { dir, built: false, dispose: async () => {} };
    await mkdir(join(ROOT, '.scratch', 'base-image'), { recursive: true });
  }
  const r = spawnSync('bash', [join(ROOT, 'scripts/build-base.sh'), dir], {
    cwd: ROOT,
    env: { ...process.env, SOURCE_DATE_EPOCH: '0' },
    encoding: 'utf8',
    timeout: 15 * 60 * 1000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) {
    if (temp) await rm(temp, { recursive: true, force: true });
    throw new Error(`scripts/build-base.sh failed (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  }
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return {
    dir,
    built: true,
    summary: JSON.parse(last) as Record<string, unknown>,
    dispose: async () => {
      if (temp) await rm(temp, { recursive: true, force: true });
    },
  };
}
