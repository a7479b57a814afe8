/**
 * Turning configuration sources into one parsed, frozen BerthConfig. Precedence, lowest first:
 * the schema's defaults < environment variables (BERTH_HOME, BERTH_CATALOG_URL) < the `--config`
 * file < command-line flags. Errors name the source and the key's path, e.g.
 * `berth.yaml: http.port: Too big: expected number to be <=65535`.
 */
import { stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { invalidArgument } from '../core/errors.js';
import { serverConfigSchema } from './schema.js';
import type { BerthConfig, BerthConfigFile } from './schema.js';
import { leafKeys } from './walk.js';
import { envValue } from './defaults.js';
import { readBounded } from '../util/read-bounded.js';

/** Largest config file: far above any real one, and it is read whole. */
const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/** One line per problem: `SOURCE: PATH: message`; unknown keys are named with their full path. */
export function describeIssues(error: z.ZodError, source: string): string {
  return error.issues
    .map((issue) => {
      const at = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => [...at, k].join('.'));
        return `${source}: unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}`;
      }
      return `${source}: ${at.join('.') || '(root)'}: ${issue.message}`;
    })
    .join('\n');
}

function frozen<T>(value: T): T {
  // Buffers (a restricted API's digest) cannot be frozen and are not shared outside the config
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) frozen(child);
  return Object.freeze(value);
}

/** Parses (defaults filled in) and deeply freezes; throws INVALID_ARGUMENT naming the source and path. */
export function parseConfig(input: unknown, source = 'configuration'): BerthConfig {
  const parsed = serverConfigSchema.safeParse(input ?? {});
  if (!parsed.success) throw invalidArgument(describeIssues(parsed.error, source));
  return frozen(parsed.data);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** `over` wins key by key; lists are replaced, not concatenated; undefined leaves `under`'s value. */
export function mergeConfig(under: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...under };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? mergeConfig(out[key] as Record<string, unknown>, value) : value;
  }
  return out;
}

/** Sets a dotted path in a nested object, creating sections on the way. */
export function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let at = target;
  for (const part of path.slice(0, -1)) {
    if (!isPlainObject(at[part])) at[part] = {};
    at = at[part] as Record<string, unknown>;
  }
  at[path[path.length - 1]!] = value;
}

/** The keys that have an environment variable, set from `env`. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const leaf of leafKeys()) {
    if (!leaf.meta.env) continue;
    const v = envValue(env, leaf.meta.env);
    if (v !== undefined) setPath(out, leaf.path, v);
  }
  return out;
}

/** Keys holding file system paths: in a config file they are relative to the file's directory. */
function resolveFilePaths(doc: Record<string, unknown>, base: string): void {
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  if (Array.isArray(doc.paths)) doc.paths = doc.paths.map((p) => (typeof p === 'string' ? at(p) : p));
  if (typeof doc.home === 'string') doc.home = at(doc.home);
  const monitoring = doc.monitoring;
  if (isPlainObject(monitoring) && typeof monitoring.alerts === 'string') monitoring.alerts = at(monitoring.alerts);
}

/**
 * Reads a config file (.yaml, .yml or .json) and checks it against the schema on its own, so
 * that a mistake is reported with the file's name. Returns the file's keys as written (paths
 * made absolute), to be merged under the flags.
 */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.yaml' && ext !== '.yml' && ext !== '.json') throw invalidArgument(`${path}: a config file is .yaml, .yml or .json`);
  let text: string;
  try {
    // a regular file only (a FIFO would block the start), read bounded (as a model's config.json)
    if (!(await stat(path)).isFile()) throw new Error('not a regular file');
    text = readBounded(path, MAX_CONFIG_FILE_BYTES);
  } catch (err) {
    throw invalidArgument(`${path}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = ext === '.json' ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw invalidArgument(`${path}: not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (!isPlainObject(doc)) throw invalidArgument(`${path}: expected a mapping of configuration keys at the top level`);
  const check = serverConfigSchema.safeParse(doc);
  if (!check.success) throw invalidArgument(describeIssues(check.error, path));
  resolveFilePaths(doc, dirname(resolve(path)));
  return doc;
}

export interface ConfigSources {
  /** `--config FILE` */
  file?: string;
  /** what the command line set (unset flags absent) */
  flags?: BerthConfigFile | Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

/** defaults < environment < file < flags, parsed and frozen. */
export async function loadConfig(sources: ConfigSources): Promise<BerthConfig> {
  const fromEnv = configFromEnv(sources.env ?? process.env);
  const fromFile = sources.file ? await readConfigFile(sources.file) : {};
  const merged = mergeConfig(mergeConfig(fromEnv, fromFile), (sources.flags ?? {}) as Record<string, unknown>);
  return parseConfig(merged, sources.file ? `${sources.file} with the command line` : 'command line');
}


/** A library caller's partial config (startServer): the environment under it, then parsed and frozen. */
export function parseConfigObject(input: BerthConfigFile | Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): BerthConfig {
  return parseConfig(mergeConfig(configFromEnv(env), input as Record<string, unknown>), 'startServer config');
}
