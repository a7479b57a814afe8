/**
 * Finds models on disk. A PATH is an `.onnx` file (model = file name, version 1), a model
 * directory (`NAME/VERSION/model.onnx`, optional `NAME/config.json`), or a repository of such
 * directories, as in Triton. Version directories must be numeric and not start with "0".
 *
 * One broken model never stops the others: whatever is wrong with a model directory (a
 * config.json that is not JSON, too large or not a regular file, an unreadable directory, a
 * symlink loop) becomes that source's `error`, and the service reports the model not ready
 * with that reason while the rest of the repository serves.
 */
import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { invalidArgument } from './errors.js';
import { readBounded } from '../util/read-bounded.js';

export interface ModelSource {
  name: string;
  /** the model directory, or undefined for a bare .onnx file */
  dir?: string;
  /** version number → model file */
  versions: Map<number, string>;
  /** parsed config.json, if any (validated later by resolveConfig) */
  configFile?: unknown;
  configPath?: string;
  /** why the model directory itself cannot be used; the model is then reported not ready */
  error?: string;
}

const VERSION_DIR = /^[1-9][0-9]*$/;
export const MODEL_FILENAME = 'model.onnx';
/** config.json larger than this is refused (a real one is a few kB) */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function why(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ELOOP') return 'a symbolic link loop';
  if (e?.code === 'ENOENT') return 'missing (a dangling symbolic link?)';
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return 'permission denied';
  return e?.message ?? String(err);
}

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

/**
 * Version entries of a model directory: numeric names that are directories, and numeric names
 * that cannot be stat'ed (a symlink loop, no permission), kept so that the version is
 * reported not ready with the reason instead of silently skipped.
 */
function modelVersionEntries(dir: string): string[] {
  return readdirSync(dir).filter((e) => {
    if (!VERSION_DIR.test(e)) return false;
    try {
      return statSync(join(dir, e)).isDirectory();
    } catch {
      return true;
    }
  });
}

/** Reads config.json: a regular file (never a FIFO that would block), bounded, a JSON object. */
function readConfig(configPath: string): { configFile?: unknown; error?: string } {
  let st;
  try {
    st = statSync(configPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !lstatOrUndefined(configPath)) return {};
    return { error: `${configPath}: ${why(err)}` };
  }
  if (!st.isFile()) return { error: `${configPath}: not a regular file` };
  if (st.size > MAX_CONFIG_BYTES) return { error: `${configPath}: ${st.size} bytes, larger than the limit of ${MAX_CONFIG_BYTES}` };
  let text: string;
  try {
    text = readBounded(configPath, MAX_CONFIG_BYTES);
  } catch (err) {
    return { error: `${configPath}: ${why(err)}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { error: `${configPath}: not valid JSON (${(err as Error).message})` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { error: `${configPath}: must be a JSON object` };
  return { configFile: parsed };
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Reads one model directory. Never throws: problems become the source's `error`. */
export function readModelDir(dir: string, name = basename(dir)): ModelSource {
  const versions = new Map<number, string>();
  const configPath = join(dir, 'config.json');
  try {
    for (const v of modelVersionEntries(dir)) versions.set(Number(v), join(dir, v, MODEL_FILENAME));
  } catch (err) {
    return { name, dir, versions, error: `${dir}: cannot read the model directory: ${why(err)}` };
  }
  const { configFile, error } = readConfig(configPath);
  if (error !== undefined) return { name, dir, versions, configPath, error };
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
        if (entry.startsWith('.')) continue;
        if (isDir(dir)) {
          sources.push(readModelDir(dir));
          continue;
        }
        // A symlink whose target cannot be reached (a loop, a dangling or unreadable target)
        // was meant to be a model: report it rather than skip it. Plain files are ignored.
        if (lstatOrUndefined(dir)?.isSymbolicLink()) {
          try {
            statSync(dir);
          } catch (err) {
            sources.push({ name: entry, dir, versions: new Map(), error: `${dir}: ${why(err)}` });
          }
        }
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
