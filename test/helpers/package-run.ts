/**
 * Runs the built `berth package` (dist/cli/main.js) in a child process with --json, timing it and
 * reading its peak resident memory (VmHWM, written at exit by test/helpers/peak-rss.mjs).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PackageResult } from '../../src/package/package-image.js';
import { CLI } from './cli-server.js';

const PRELOAD = new URL('./peak-rss.mjs', import.meta.url).pathname;

export interface PackageRun {
  seconds: number;
  /** the packager's peak resident set, bytes */
  peakRss: number;
  result: PackageResult;
}

/** `berth package ARGS --json`; rejects with the CLI's stderr when it exits non-zero. */
export async function runPackage(args: string[], env: NodeJS.ProcessEnv = {}): Promise<PackageRun> {
  const tmp = await mkdtemp(join(tmpdir(), 'berth-rss-'));
  const rssFile = join(tmp, 'peak');
  try {
    const started = performance.now();
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', PRELOAD, CLI, 'package', ...args, '--json'], {
        env: { ...process.env, SOURCE_DATE_EPOCH: '0', ...env, BERTH_PEAK_RSS_FILE: rssFile },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 30 * 60 * 1000,
      }, (err, out, errOut) => (err ? reject(new Error(`berth package ${args.join(' ')} failed: ${String(errOut).trim() || err.message}`)) : resolve(String(out))));
    });
    const seconds = (performance.now() - started) / 1000;
    const peakRss = Number(await readFile(rssFile, 'utf8'));
    return { seconds, peakRss, result: JSON.parse(stdout) as PackageResult };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
