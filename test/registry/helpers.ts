/**
 * Shared pieces of the registry tests: models to push, the PostgreSQL test database (when
 * BERTH_TEST_PG_URL is set), and child processes that push.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, saveModel } from '../../src/onnx/index.js';
import { PostgresCatalog } from '../../src/registry/postgres-catalog.js';
import { SqliteCatalog } from '../../src/registry/sqlite-catalog.js';
import type { Catalog } from '../../src/registry/catalog.js';

export { tempDir, writeAffine, AFFINE, affineExpected } from '../helpers/models.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, '..', '..');

export const PG_URL = process.env.BERTH_TEST_PG_URL || undefined;
export const PG_SKIP = PG_URL ? false : 'PostgreSQL not configured: set BERTH_TEST_PG_URL (scripts/ci/start-postgres.sh prints one; .ci/run sets it)';

/** A PostgreSQL URL whose tables live in a fresh schema (dropped by dropPgSchema). */
export function pgUrlWithFreshSchema(): string {
  const u = new URL(PG_URL!);
  u.searchParams.set('schema', `t_${randomBytes(5).toString('hex')}`);
  return u.toString();
}

export async function dropPgSchema(url: string): Promise<void> {
  const c = await PostgresCatalog.open(url);
  await c.dropSchema();
  await c.close();
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  skip: false | string;
  /** a fresh, empty catalog; `url` is what Registry.open takes as catalogUrl */
  fresh(dir: string): Promise<{ catalog: Catalog; url: string; cleanup(): Promise<void> }>;
}

export const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    skip: false,
    async fresh(dir) {
      const path = join(dir, 'catalog.db');
      return { catalog: SqliteCatalog.open(path), url: `sqlite:${path}`, cleanup: async () => undefined };
    },
  },
  {
    name: 'postgres',
    skip: PG_SKIP,
    async fresh() {
      const url = pgUrlWithFreshSchema();
      return { catalog: await PostgresCatalog.open(url), url, cleanup: () => dropPgSchema(url) };
    },
  },
];

/**
 * A model whose weights live in external data: y = x · W with W [rows, cols] float32 in
 * `weights.bin` (rows × cols × 4 bytes), plus a small bias kept inline.
 */
export async function writeExternalModel(dir: string, rows = 64, cols = 32, fill = 1): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = ((i % 97) - 48) * 0.01 * fill;
  const graph = makeGraph({
    name: 'ext',
    nodes: [makeNode('MatMul', ['x', 'W'], ['mm']), makeNode('Add', ['mm', 'B'], ['y'])],
    inputs: [makeValueInfo('x', 'float32', ['batch', rows])],
    outputs: [makeValueInfo('y', 'float32', ['batch', cols])],
    initializers: [makeTensor('W', 'float32', [rows, cols], w), makeTensor('B', 'float32', [cols], new Float32Array(cols).fill(0.5))],
  });
  const path = join(dir, 'model.onnx');
  await saveModel(makeModel({ graph }), path, { externalData: { location: 'weights.bin', sizeThreshold: 1024 } });
  return path;
}

/** Every file under `dir`, relative, sorted. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** A child that has imported the registry and waits for a line on stdin before pushing. */
export interface PushChild {
  proc: ChildProcess;
  ready: Promise<void>;
  /** resolves with stdout when the child exits */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  go(): void;
}

export function spawnPushChild(args: { home: string; catalogUrl?: string; file: string; name: string; env?: NodeJS.ProcessEnv }): PushChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'push-child.ts'), args.home, args.catalogUrl ?? '', args.file, args.name], {
    cwd: ROOT,
    ...(args.env ? { env: { ...process.env, ...args.env } } : {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let markReady: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('ready\n')) markReady();
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    proc.on('exit', (code, signal) => {
      markReady();
      resolve({ code, signal, stdout, stderr });
    });
  });
  proc.stdin!.on('error', () => undefined);
  return { proc, ready, done, go: () => proc.stdin!.write('go\n') };
}
