/**
 * Finds models on disk. A PATH is an `.onnx` file (model = file name, version 1), a model
 * directory (`NAME/VERSION/model.onnx`, optional `NAME/config.json`), or a repository of such
 * directories, as in Triton. Version directories must be numeric and not start with "0".
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { invalidArgument } from './errors.js';

export interface ModelSource {
  name: string;
  /** the model directory, or undefined for a bare .onnx file */
  dir?: string;
  /** version number → model file */
  versions: Map<number, string>;
  /** parsed config.json, if any (validated later by resolveConfig) */
  configFile?: unknown;
  configPath?: string;
}

const VERSION_DIR = /^[1-9][0-9]*$/;
export const MODEL_FILENAME = 'model.onnx';

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function versionDirs(dir: string): string[] {
  return readdirSync(dir).filter((e) => VERSION_DIR.test(e) && isDir(join(dir, e)));
}

/** Reads one model directory. */
export function readModelDir(dir: string, name = basename(dir)): ModelSource {
  const versions = new Map<number, string>();
  for (const v of versionDirs(dir)) versions.set(Number(v), join(dir, v, MODEL_FILENAME));
  const configPath = join(dir, 'config.json');
  let configFile: unknown;
  if (existsSync(configPath)) {
    try {
      configFile = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (err) {
      throw invalidArgument(`${configPath}: not valid JSON (${(err as Error).message})`);
    }
  }
  return { name, dir, versions, configFile, configPath: configFile === undefined ? undefined : configPath };
}

/**
 * A bare .onnx file is model FILE-NAME version 1, except that a file called `model.onnx` is
 * named after its directory (`digits/model.onnx` → digits), or is a version of its model when
 * that directory is numeric (`digits/3/model.onnx` → digits version 3).
 */
function sourceForFile(path: string): ModelSource {
  if (basename(path) !== MODEL_FILENAME) return { name: basename(path, '.onnx'), versions: new Map([[1, path]]) };
  const parent = dirname(path);
  if (VERSION_DIR.test(basename(parent))) return { name: basename(dirname(parent)), versions: new Map([[Number(basename(parent)), path]]) };
  return { name: basename(parent), versions: new Map([[1, path]]) };
}

/** Expands the command-line PATHs into model sources; names must be unique. */
export function discoverModels(paths: readonly string[]): ModelSource[] {
  const sources: ModelSource[] = [];
  for (const raw of paths) {
    const path = resolve(raw);
    if (!existsSync(path)) throw invalidArgument(`${raw}: no such file or directory`);
    if (!isDir(path)) {
      if (!path.endsWith('.onnx')) throw invalidArgument(`${raw}: expected an .onnx file or a model repository directory`);
      sources.push(sourceForFile(path));
    } else if (versionDirs(path).length > 0) {
      sources.push(readModelDir(path));
    } else {
      for (const entry of readdirSync(path).sort()) {
        const dir = join(path, entry);
        if (!entry.startsWith('.') && isDir(dir)) sources.push(readModelDir(dir));
      }
    }
  }
  const seen = new Set<string>();
  for (const s of sources) {
    if (seen.has(s.name)) throw invalidArgument(`model name '${s.name}' is given by more than one path`);
    seen.add(s.name);
  }
  return sources;
}
