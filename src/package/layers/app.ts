// berth itself: package.json and the compiled dist/ (plus data/, the example's dataset) under
// /app, and /tmp (1777) so that the server has a writable home when the base has none.

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DIR_MODE, FILE_MODE, normalizedMode, type LayerEntry } from './entries.js';

/** Declarations, source maps and build info: nothing loads them at run time. */
const SKIP = /(\.d\.ts|\.map|\.tsbuildinfo)$/;

async function walk(dir: string, imageDir: string, out: LayerEntry[]): Promise<void> {
  out.push({ type: 'dir', path: imageDir, mode: DIR_MODE });
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) await walk(path, `${imageDir}/${name}`, out);
    else if (st.isFile() && !SKIP.test(name)) out.push({ type: 'file', path: `${imageDir}/${name}`, mode: normalizedMode(st.mode), source: { file: path, size: st.size } });
  }
}

/** The app layer: /app/package.json, /app/dist, /app/data, and /tmp. */
export async function appEntries(appRoot: string, appDir = '/app'): Promise<LayerEntry[]> {
  const main = join(appRoot, 'dist', 'cli', 'main.js');
  if (!(await stat(main).then((s) => s.isFile(), () => false))) throw new Error(`${main} is missing: run npm run build first`);
  const out: LayerEntry[] = [{ type: 'dir', path: '/tmp', mode: 0o1777 }];
  const pkg = await stat(join(appRoot, 'package.json'));
  out.push({ type: 'file', path: `${appDir}/package.json`, mode: FILE_MODE, source: { file: join(appRoot, 'package.json'), size: pkg.size } });
  await walk(join(appRoot, 'dist'), `${appDir}/dist`, out);
  if (await stat(join(appRoot, 'data')).then((s) => s.isDirectory(), () => false)) await walk(join(appRoot, 'data'), `${appDir}/data`, out);
  return out;
}
