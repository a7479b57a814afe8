// The production node_modules of berth as layer entries: the closure of package.json's
// `dependencies` (and the optional and peer dependencies that are installed), never a
// devDependency, pruned for one target platform. Packages are found the way Node resolves them
// (nested node_modules first, then upward), so hoisted and nested copies both land where Node
// will look for them in the image.
//
// Pruning, each rule safe because nothing loads the removed files at run time:
// - native binaries for other systems: onnxruntime-node's bin/napi-v*/<os>/<arch> and
//   node-gyp-build's prebuilds/<os>-<arch> keep only linux/<arch>;
// - better-sqlite3's build leftovers: deps/, src/, binding.gyp and build/ except the addon itself;
// - tests, CI files, TypeScript declarations, source maps and markdown (licences stay).
// Every native addon kept is checked to be an ELF object for the target architecture: a
// cross-platform build with a host-only addon fails here instead of in the container.

import { open, readFile, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { DIR_MODE, normalizedMode, type LayerEntry } from './entries.js';

export type TargetArch = 'amd64' | 'arm64';

/** Node's and npm's name for an architecture (process.arch). */
export function nodeArch(arch: TargetArch): 'x64' | 'arm64' {
  return arch === 'amd64' ? 'x64' : 'arm64';
}

interface PackageJson {
  name?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

async function readPackageJson(dir: string): Promise<PackageJson> {
  return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

async function isPackageDir(dir: string): Promise<boolean> {
  return stat(join(dir, 'package.json')).then((s) => s.isFile(), () => false);
}

/**
 * The package directories (real paths) of the production closure, each with its path relative to
 * the root node_modules (where it goes under /app/node_modules).
 */
export async function productionClosure(appRoot: string): Promise<{ dir: string; rel: string; name: string }[]> {
  const rootModules = await realpath(join(appRoot, 'node_modules')).catch(() => {
    throw new Error(`${appRoot}/node_modules is missing: install berth's dependencies first (npm ci --omit=dev)`);
  });
  const stopAt = dirname(rootModules);
  const found = new Map<string, { dir: string; rel: string; name: string }>();

  async function resolveFrom(fromDir: string, name: string): Promise<string | undefined> {
    let d = fromDir;
    for (;;) {
      const candidate = join(d, 'node_modules', name);
      if (await isPackageDir(candidate)) return candidate;
      if (d === stopAt || d === dirname(d)) return undefined;
      d = dirname(d);
    }
  }

  async function visit(fromDir: string, pkg: PackageJson, who: string): Promise<void> {
    const wanted: [string, boolean][] = [
      ...Object.keys(pkg.dependencies ?? {}).map((n): [string, boolean] => [n, true]),
      ...Object.keys(pkg.optionalDependencies ?? {}).map((n): [string, boolean] => [n, false]),
      ...Object.keys(pkg.peerDependencies ?? {}).map((n): [string, boolean] => [n, false]),
    ];
    for (const [name, required] of wanted) {
      const at = await resolveFrom(fromDir, name);
      if (!at) {
        if (required) throw new Error(`${who} needs ${name}, which is not installed under ${rootModules}`);
        continue;
      }
      const dir = await realpath(at);
      if (found.has(dir)) continue;
      const rel = relative(rootModules, at);
      if (rel.startsWith('..')) throw new Error(`${name} resolves outside ${rootModules}: ${at}`);
      found.set(dir, { dir, rel: rel.split(sep).join('/'), name });
      await visit(at, await readPackageJson(dir), name);
    }
  }

  await visit(stopAt, await readPackageJson(appRoot), 'berth');
  return [...found.values()].sort((a, b) => (a.rel < b.rel ? -1 : 1));
}

const SKIP_DIRS = new Set(['node_modules', 'test', 'tests', '__tests__', '.github', 'coverage', '.nyc_output']);
const SKIP_FILE = /(\.md|\.markdown|\.d\.ts|\.d\.mts|\.d\.cts|\.map|\.tsbuildinfo)$|^(\.npmignore|\.editorconfig|\.eslintrc.*|\.prettierrc.*|\.travis\.yml|\.gitattributes)$/i;

/** Whether `rel` (a path inside the package, '/'-separated) is pruned for `arch`. */
export function pruned(pkgName: string, rel: string, isDir: boolean, arch: TargetArch): boolean {
  const parts = rel.split('/');
  const leaf = parts[parts.length - 1]!;
  if (isDir && SKIP_DIRS.has(leaf)) return true;
  if (!isDir && SKIP_FILE.test(leaf) && !/^licen[cs]e/i.test(leaf)) return true;
  const na = nodeArch(arch);
  // bin/napi-v6/<os>/<arch>/...
  if (pkgName === 'onnxruntime-node' && parts[0] === 'bin' && parts.length >= 3 && /^napi-v\d+$/.test(parts[1]!)) {
    if (parts[2] !== 'linux') return true;
    if (parts.length >= 4 && parts[3] !== na) return true;
  }
  // node-gyp-build's prebuilds/<platform>-<arch>[...]/
  if (parts[0] === 'prebuilds' && parts.length >= 2 && isDir && parts.length === 2) {
    const [os, cpu] = parts[1]!.split('-');
    if (os !== 'linux' || cpu !== na) return true;
  }
  if (pkgName === 'better-sqlite3') {
    if (parts.length === 1 && (leaf === 'deps' || leaf === 'src' || leaf === 'binding.gyp')) return true;
    if (parts[0] === 'build' && parts.length >= 2) {
      const keep = rel === 'build/Release' || rel === 'build/Release/better_sqlite3.node';
      if (!keep) return true;
    }
  }
  return false;
}

const ELF_MACHINE: Record<TargetArch, number> = { amd64: 0x3e, arm64: 0xb7 };

/** The ELF machine of a file, or undefined when it is not ELF. */
export async function elfMachine(file: string): Promise<number | undefined> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(20);
    const { bytesRead } = await fh.read(buf, 0, 20, 0);
    if (bytesRead < 20 || buf.readUInt32BE(0) !== 0x7f454c46) return undefined;
    return buf[5] === 2 ? buf.readUInt16BE(18) : buf.readUInt16LE(18);
  } finally {
    await fh.close();
  }
}

/** Throws unless `file` is an ELF object for `arch`. */
export async function checkElfArch(file: string, arch: TargetArch, what: string): Promise<void> {
  const machine = await elfMachine(file);
  if (machine === undefined) throw new Error(`${what} (${file}) is not a Linux ELF binary, so it cannot run in a linux/${arch} image`);
  if (machine !== ELF_MACHINE[arch]) {
    const other = Object.entries(ELF_MACHINE).find(([, m]) => m === machine)?.[0] ?? `ELF machine 0x${machine.toString(16)}`;
    throw new Error(`${what} (${file}) is built for ${other}, not linux/${arch}`);
  }
}

/** Regular files and directories under `dir`, pruned, as entries under `imageDir`. */
async function walkPackage(dir: string, imageDir: string, pkgName: string, arch: TargetArch, out: LayerEntry[]): Promise<void> {
  async function walk(at: string, rel: string): Promise<void> {
    const names = (await readdir(at)).sort();
    // one directory's stats at once: thousands of files, one await each, made planning take seconds
    const stats = await Promise.all(names.map((name) => stat(join(at, name)).catch(() => undefined))); // follows links; a dangling one is skipped
    for (const [i, name] of names.entries()) {
      const path = join(at, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = stats[i];
      if (!st) continue;
      if (st.isDirectory()) {
        if (pruned(pkgName, r, true, arch)) continue;
        out.push({ type: 'dir', path: `${imageDir}/${r}`, mode: DIR_MODE });
        await walk(path, r);
      } else if (st.isFile()) {
        if (pruned(pkgName, r, false, arch)) continue;
        if (name.endsWith('.node')) {
          await checkElfArch(path, arch, `native addon ${pkgName}/${r}`).catch((err: Error) => {
            throw new Error(`${err.message}: package from node_modules installed for linux/${arch} (npm ci --omit=dev on such a machine)`);
          });
        }
        out.push({ type: 'file', path: `${imageDir}/${r}`, mode: normalizedMode(st.mode), source: { file: path, size: st.size } });
      }
    }
  }
  out.push({ type: 'dir', path: imageDir, mode: DIR_MODE });
  await walk(dir, '');
}

/** The node_modules layer's entries, under `/app/node_modules`. */
export async function nodeModulesEntries(appRoot: string, arch: TargetArch, imageRoot = '/app/node_modules'): Promise<LayerEntry[]> {
  // packages walked concurrently into their own lists; the layer sorts its entries anyway
  const lists = await Promise.all((await productionClosure(appRoot)).map(async (pkg) => {
    const out: LayerEntry[] = [];
    await walkPackage(pkg.dir, `${imageRoot}/${pkg.rel}`, pkg.name || basename(pkg.dir), arch, out);
    return out;
  }));
  return lists.flat();
}
