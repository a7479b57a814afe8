/**
 * Builds the berth server image with the digits model on the offline base, for the container
 * tests: with `berth package` when the built CLI has it, else with buildah and a small Dockerfile
 * (dist/, the production node_modules, the model repository) so the run checks do not wait on it.
 */
import { execFile, spawnSync } from 'node:child_process';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { CLI } from '../helpers/cli-server.js';
import { uniqueName, type Podman } from '../helpers/podman.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);

export interface BuiltImage {
  /** The image's name in podman's storage (removed by the Podman session's cleanup). */
  image: string;
  how: 'berth package' | 'buildah bud';
  seconds: number;
}

function hasPackageCommand(): boolean {
  // commander prints the top-level help, exit 0, for an unknown command's --help: look for ours
  const r = spawnSync(process.execPath, [CLI, 'package', '--help'], { encoding: 'utf8' });
  return r.status === 0 && /Usage: berth package/.test(r.stdout);
}

export async function buildServerImage(opts: { podman: Podman; baseDir: string; models: string; work: string }): Promise<BuiltImage> {
  const started = performance.now();
  if (hasPackageCommand()) {
    const out = join(opts.work, 'image-oci');
    await run(process.execPath, [CLI, 'package', opts.models, '--tag', 'berth-test/digits:1', '--base', `oci:${opts.baseDir}:latest`, '--oci', out], {
      cwd: ROOT,
      env: { ...process.env, SOURCE_DATE_EPOCH: '0' },
      maxBuffer: 16 * 1024 * 1024,
    });
    const image = await opts.podman.loadOci(out);
    return { image, how: 'berth package', seconds: (performance.now() - started) / 1000 };
  }
  const image = await buildWithBuildah(opts);
  return { image, how: 'buildah bud', seconds: (performance.now() - started) / 1000 };
}

/** Top-level package directories of the production dependency closure (nested ones come along). */
async function productionPackages(): Promise<string[]> {
  const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }).catch((err: { stdout?: string }) => {
    // npm ls exits 1 on extraneous or invalid packages but still prints the tree
    if (err.stdout) return { stdout: err.stdout };
    throw err;
  });
  const modules = join(ROOT, 'node_modules');
  return [...new Set(stdout.split('\n')
    .map((p) => relative(modules, p.trim()))
    .filter((rel) => rel !== '' && !rel.startsWith('..') && !rel.includes('/node_modules/'))
    .filter((rel) => (rel.startsWith('@') ? rel.split('/').length === 2 : !rel.includes('/'))))].sort();
}

async function buildWithBuildah(opts: { podman: Podman; baseDir: string; models: string; work: string }): Promise<string> {
  const base = await opts.podman.loadOci(opts.baseDir, 'latest');
  const context = join(opts.work, 'context');
  await mkdir(join(context, 'app', 'node_modules'), { recursive: true });
  await cp(join(ROOT, 'dist'), join(context, 'app', 'dist'), { recursive: true });
  await cp(join(ROOT, 'package.json'), join(context, 'app', 'package.json'));
  for (const rel of await productionPackages()) {
    await cp(join(ROOT, 'node_modules', rel), join(context, 'app', 'node_modules', rel), { recursive: true, dereference: true });
  }
  // onnxruntime-node ships every platform's binaries: keep linux/x64 only (288 MB -> 46 MB)
  const napi = join(context, 'app', 'node_modules', 'onnxruntime-node', 'bin');
  for (const version of await readdir(napi).catch(() => [] as string[])) {
    for (const os of await readdir(join(napi, version))) {
      if (os !== 'linux') await rm(join(napi, version, os), { recursive: true, force: true });
      else for (const arch of await readdir(join(napi, version, os))) if (arch !== 'x64') await rm(join(napi, version, os, arch), { recursive: true, force: true });
    }
  }
  await cp(opts.models, join(context, 'models'), { recursive: true });
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${base}`,
    'COPY app /app',
    'COPY models /models',
    'ENV ORT_DISABLE_TELEMETRY=1 NODE_ENV=production',
    'USER 65532:65532',
    'EXPOSE 8000 8001',
    'ENTRYPOINT ["/usr/local/bin/node", "/app/dist/cli/main.js", "serve", "/models", "--host", "0.0.0.0"]',
    '',
  ].join('\n'));
  const image = `localhost/${uniqueName('berth-test-app')}:latest`;
  opts.podman.track(image);
  await opts.podman.check(['bud', '--quiet', '--layers=false', '--pull=never', '-f', join(context, 'Dockerfile'), '-t', image, context], 600000, 'buildah');
  return image;
}
