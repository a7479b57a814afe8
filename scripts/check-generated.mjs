#!/usr/bin/env node
/**
 * Fails (exit 1) when a checked-in generated file is stale: regenerates everything into a
 * temporary directory and compares it, file by file, with the repository's copy. Part of
 * `npm test`. Fix a failure with `npm run gen` and commit the result.
 *
 * `node scripts/check-generated.mjs [ROOT]` checks the copy under ROOT instead of the
 * repository's (its test uses that).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENERATED_DIRS, REPO, generate } from './generate.mjs';

/** Every file under dir, as paths relative to base ([] when dir is absent). */
function files(base, dir) {
  let entries;
  try {
    entries = readdirSync(join(base, dir));
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const path = join(dir, e);
    return statSync(join(base, path)).isDirectory() ? files(base, path) : [path];
  });
}

const checked = process.argv[2] ?? REPO;
const tmp = mkdtempSync(join(tmpdir(), 'berth-gen-'));
try {
  generate(tmp);
  const problems = [];
  for (const dir of GENERATED_DIRS) {
    const fresh = new Set(files(tmp, dir));
    const committed = new Set(files(checked, dir));
    for (const f of fresh) {
      if (!committed.has(f)) problems.push(`missing: ${f}`);
      else if (!readFileSync(join(tmp, f)).equals(readFileSync(join(checked, f)))) problems.push(`stale: ${f}`);
    }
    for (const f of committed) if (!fresh.has(f)) problems.push(`not generated any more: ${f}`);
  }
  if (problems.length > 0) {
    console.error(`generated files are out of date (run \`npm run gen\` and commit):\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  } else {
    console.log(`generated files are up to date (${GENERATED_DIRS.join(', ')})`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
