/** Helpers for the drift tests: seeded data generators and the independent numpy oracle. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Tensor } from '../../src/core/tensor.js';
import type { RequestRecord } from '../../src/core/observer.js';
import { gaussian } from '../../src/monitor/drift/stats.js';
import { mulberry32 } from '../../src/util/random.js';

export const PYTHON = '/usr/bin/python3';

/** Whether /usr/bin/python3 with numpy is there (Debian's python3-numpy). */
export function hasNumpy(): boolean {
  if (!existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
}

/** Runs a Python script that reads JSON from stdin and prints JSON; returns the parsed output. */
export function python<T>(script: string, input: unknown): T {
  const r = spawnSync(PYTHON, ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** n normal draws with the given mean and sd, from a seed. */
export function normals(seed: number, n: number, mu = 0, sd = 1): number[] {
  const g = gaussian(mulberry32(seed));
  return Array.from({ length: n }, () => mu + sd * g());
}

/**
 * A seeded generator of rows with `features` numeric features, feature f ~ N(f, 1 + f/10),
 * optionally shifted (by `shift` σ) or scaled (sd × `scale`) on chosen features.
 */
export function rows(seed: number, n: number, features: number, change: { shift?: number; scale?: number; on?: number[] } = {}): Float32Array {
  const g = gaussian(mulberry32(seed));
  const out = new Float32Array(n * features);
  const on = new Set(change.on ?? []);
  for (let r = 0; r < n; r++) {
    for (let f = 0; f < features; f++) {
      const sd = 1 + f / 10;
      let mu = f;
      let s = sd;
      if (on.has(f)) {
        mu += (change.shift ?? 0) * sd;
        s *= change.scale ?? 1;
      }
      out[r * features + f] = mu + s * g();
    }
  }
  return out;
}

/** A successful request record, as the core would report it. */
export function record(model: string, version: string, inputs: Tensor[], outputs: Tensor[], rowsCount: number, requestId = `r${Math.random()}`): RequestRecord {
  return {
    model,
    version,
    requestId,
    outcome: 'success',
    rows: rowsCount,
    inputs,
    outputs,
    durationNs: 1_000_000,
    queueNs: 0,
    computeNs: 500_000,
    startedAt: Date.now(),
  };
}
