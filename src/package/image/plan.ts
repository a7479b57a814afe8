// The image as data before any byte is written: the base, the layers (least to most often
// changed: Node runtime | node_modules | app | models) and the config. The image builder
// (build.ts) and the Dockerfile export (dockerfile.ts) both start from this plan, so they produce
// the same file tree and the same config.

import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LayerPlan } from '../layers/entries.js';
import { appEntries } from '../layers/app.js';
import { nodeModulesEntries, type TargetArch } from '../layers/node-modules.js';
import { busyboxEntries, DEFAULT_BUSYBOX, NODE_PATH, nodeEntries } from '../layers/runtime.js';
import { modelEntries, type PackagedModel } from '../models.js';
import type { ImageConfig, Platform } from '../../oci/types.js';
import { baseNodePath, baseNodeVersion, nodeVersionUsable, MIN_NODE, type BaseImage } from './base.js';
import { createdTime, imageConfig, imageLabels, type ConfigInputs } from './config.js';

export interface ImagePlan {
  base: BaseImage;
  platform: Platform;
  layers: LayerPlan[];
  config: Omit<ImageConfig, 'rootfs' | 'history'>;
  /** the manifest's annotations */
  annotations: Record<string, string>;
  tag: string;
  models: PackagedModel[];
}

export interface PlanOptions {
  models: PackagedModel[];
  base: BaseImage;
  /** linux/amd64 or linux/arm64 */
  platform: string;
  modelOnly?: boolean;
  /** a Node binary to add at /usr/local/bin/node */
  node?: string;
  tag: string;
  /** berth's checkout or installation (package.json, dist/, node_modules/); found from this file when omitted */
  appRoot?: string;
  busybox?: string;
  /** SOURCE_DATE_EPOCH, seconds */
  epoch?: number;
}

export function parsePlatform(p: string): { platform: Platform; arch: TargetArch } {
  const m = /^linux\/(amd64|arm64)$/.exec(p);
  if (!m) throw new Error(`--platform ${p}: expected linux/amd64 or linux/arm64`);
  return { platform: { os: 'linux', architecture: m[1]! }, arch: m[1] as TargetArch };
}

/** This machine's platform as an image platform, or undefined when it is not one we build for. */
export function hostPlatform(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  return process.arch === 'x64' ? 'linux/amd64' : process.arch === 'arm64' ? 'linux/arm64' : undefined;
}

/** The directory holding berth's package.json: two levels above src/package/image or dist/package/image. */
export async function findAppRoot(): Promise<string> {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = await readFile(join(dir, 'package.json'), 'utf8').then((t) => JSON.parse(t) as { name?: string }, () => undefined);
    if (pkg?.name === 'berth') return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find berth\'s package.json above its modules');
}

async function nodeVersionOf(binary: string, sameAsHost: boolean): Promise<string | undefined> {
  if (binary === process.execPath) return process.versions.node;
  if (!sameAsHost) return undefined;
  const { stdout } = await promisify(execFile)(binary, ['--version'], { timeout: 10_000 });
  return stdout.trim().replace(/^v/, '');
}

export async function planImage(o: PlanOptions): Promise<ImagePlan> {
  const { platform, arch } = parsePlatform(o.platform);
  if (o.models.length === 0) throw new Error('an image needs at least one model');
  const appRoot = o.appRoot ?? (await findAppRoot());
  const berthVersion = (JSON.parse(await readFile(join(appRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const created = createdTime(o.epoch);
  const layers: LayerPlan[] = [];
  const sameAsHost = hostPlatform() === o.platform;
  let nodePath = NODE_PATH;
  let nodeVersion: string | undefined;
  let addsNode = false;

  if (o.modelOnly) {
    layers.push({ name: 'busybox', description: 'static busybox as /bin/sh (KServe modelcar)', entries: await busyboxEntries(o.busybox ?? DEFAULT_BUSYBOX, arch) });
  } else {
    if (!o.base.manifest) throw new Error('the server image needs a base with a C library (glibc, libstdc++): give --base oci:DIR[:TAG] or a registry reference (scratch is for --model-only)');
    const baseNode = baseNodeVersion(o.base);
    if (baseNode !== undefined && !nodeVersionUsable(baseNode) && !o.node) {
      throw new Error(`base ${o.base.given} has Node ${baseNode}; berth needs Node >= ${MIN_NODE.join('.')} (use another base, or add one with --node PATH)`);
    }
    if (baseNode !== undefined && !o.node) {
      nodeVersion = baseNode;
      nodePath = baseNodePath(o.base);
    } else {
      const binary = o.node ?? (sameAsHost ? process.execPath : undefined);
      if (!binary) {
        throw new Error(`base ${o.base.given} has no Node (no NODE_VERSION, no io.berth.node.version label) and ${o.platform} is not this machine's platform: give --node PATH (a ${o.platform} Node binary)`);
      }
      if (!(await stat(binary).then((s) => s.isFile(), () => false))) throw new Error(`--node ${binary}: no such file`);
      nodeVersion = await nodeVersionOf(binary, sameAsHost);
      if (nodeVersion !== undefined && !nodeVersionUsable(nodeVersion)) throw new Error(`--node ${binary} is Node ${nodeVersion}; berth needs Node >= ${MIN_NODE.join('.')}`);
      addsNode = true;
      layers.push({ name: 'node', description: `Node.js ${nodeVersion ?? ''} runtime`.replace('  ', ' '), entries: await nodeEntries(binary, arch) });
    }
    layers.push({ name: 'node_modules', description: `berth's production dependencies for ${o.platform}`, entries: await nodeModulesEntries(appRoot, arch) });
    layers.push({ name: 'app', description: `berth ${berthVersion}`, entries: await appEntries(appRoot) });
  }
  layers.push({ name: 'models', description: `models ${o.models.map((m) => m.name).join(', ')}`, entries: await modelEntries(o.models) });

  const inputs: ConfigInputs = { platform, base: o.base, modelOnly: !!o.modelOnly, models: o.models, berthVersion, tag: o.tag, created, nodePath, nodeVersion, addsNode };
  return { base: o.base, platform, layers, config: imageConfig(inputs), annotations: imageLabels(inputs), tag: o.tag, models: o.models };
}
