/**
 * Validation of everything a caller names: model names, aliases, references ('N:V', 'N@alias',
 * 'N'), tags and metrics. Names become single path segments under HOME, so anything outside
 * `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}` is refused before it reaches the file system or the catalog.
 * That rule alone keeps out the reference syntax (`:`, `@`), paths (`/`, `\`, a leading `.`)
 * and Unicode look-alikes (ASCII only).
 *
 * On top of it, for names created from now on (existing ones stay readable):
 * - a new model may not be called `latest` (the reference keyword: `berth pull latest` would
 *   read as "the newest version of ...") or `stats` (GET /v2/models/stats is every model's
 *   statistics, so that model's metadata could not be reached);
 * - a new model may not differ from an existing one only in letter case (`Digits` beside
 *   `digits`): on a case-insensitive file system they would share a directory, and people
 *   reading an audit log would take them for one model;
 * - an alias may not be `latest` (always the newest version) nor all digits (`m@3` would read
 *   as version 3, which is `m:3`).
 */
import { BerthError, invalidArgument } from '../core/errors.js';
import { NAME_PATTERN } from './constants.js';

const NAME = new RegExp(NAME_PATTERN);

/** The model's file name inside a version (external data files keep their own names beside it). */
export const MODEL_FILE = 'model.onnx';
/** The alias serving follows and rollouts move. */
export const PRODUCTION = 'production';

/** `latest` always means the newest version, so it cannot be set as an alias. */
export const RESERVED_ALIASES = new Set(['latest']);

/** Names a new model cannot take (see the header). */
export const RESERVED_MODEL_NAMES = new Set(['latest', 'stats']);

function show(value: unknown): string {
  const s = typeof value === 'string' ? value : String(value);
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

export function isValidName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value);
}

export function checkName(value: unknown, what = 'model name'): string {
  if (!isValidName(value)) {
    throw invalidArgument(`invalid ${what} ${show(value)}: use 1–128 characters from A-Z a-z 0-9 _ . -, starting with a letter or digit`);
  }
  return value;
}

export function checkAlias(value: unknown): string {
  return checkName(value, 'alias');
}

export function checkSettableAlias(value: unknown): string {
  const alias = checkAlias(value);
  if (RESERVED_ALIASES.has(alias)) throw invalidArgument(`'${alias}' is reserved (N@latest always means the newest version)`);
  if (/^[0-9]+$/.test(alias)) throw invalidArgument(`invalid alias '${alias}': an alias cannot be all digits (N@${alias} would read as version ${alias}, which is N:${alias})`);
  return alias;
}

/** The rule for the name of a model being created (lookups of existing models use checkName). */
export function checkNewModelName(value: unknown): string {
  const name = checkName(value);
  if (RESERVED_MODEL_NAMES.has(name.toLowerCase())) {
    throw invalidArgument(`model name '${name}' is reserved (${name.toLowerCase() === 'latest' ? "'latest' means a model's newest version in references" : 'GET /v2/models/stats is the statistics of every model'}): choose another name`);
  }
  return name;
}

/** Refuses a new model name that differs from an existing one only in letter case. */
export function checkNoCaseCollision(name: string, existing: Iterable<string>): void {
  const lower = name.toLowerCase();
  for (const other of existing) {
    if (other !== name && other.toLowerCase() === lower) {
      throw new BerthError('ALREADY_EXISTS', `model name '${name}' differs from the existing model '${other}' only in letter case: use '${other}' or another name`);
    }
  }
}

export function checkVersion(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) return value;
  if (typeof value === 'string' && /^[1-9][0-9]{0,14}$/.test(value)) return Number(value);
  throw invalidArgument(`invalid version ${show(value)}: expected a positive integer`);
}

export type ParsedRef =
  | { name: string; kind: 'version'; version: number }
  | { name: string; kind: 'alias'; alias: string }
  | { name: string; kind: 'latest' };

/** Parses 'N:V', 'N@alias' or 'N' (the latest version). */
export function parseRef(ref: unknown): ParsedRef {
  if (typeof ref !== 'string' || ref === '') throw invalidArgument(`invalid model reference ${show(ref)}: expected NAME, NAME:VERSION or NAME@ALIAS`);
  const at = ref.indexOf('@');
  const colon = ref.indexOf(':');
  if (at >= 0) {
    const name = checkName(ref.slice(0, at));
    const alias = checkAlias(ref.slice(at + 1));
    return alias === 'latest' ? { name, kind: 'latest' } : { name, kind: 'alias', alias };
  }
  if (colon >= 0) return { name: checkName(ref.slice(0, colon)), kind: 'version', version: checkVersion(ref.slice(colon + 1)) };
  return { name: checkName(ref), kind: 'latest' };
}

/** MLflow's floor for tag sizes: keys of 250 bytes, values of 5000. */
const TAG_KEY_MAX = 250;
const TAG_VALUE_MAX = 5000;

export function checkTags(tags: unknown, what = 'tag'): Record<string, string> {
  if (tags === undefined) return {};
  if (tags === null || typeof tags !== 'object' || Array.isArray(tags)) throw invalidArgument(`${what}s must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) {
    if (k === '' || Buffer.byteLength(k) > TAG_KEY_MAX) throw invalidArgument(`${what} key ${show(k)} must be 1–${TAG_KEY_MAX} bytes`);
    if (typeof v !== 'string' || Buffer.byteLength(v) > TAG_VALUE_MAX) throw invalidArgument(`${what} ${show(k)} must be a string of at most ${TAG_VALUE_MAX} bytes`);
    out[k] = v;
  }
  return out;
}

export function checkMetrics(metrics: unknown): Record<string, number> {
  if (metrics === undefined) return {};
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) throw invalidArgument('metrics must be an object of numbers');
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(metrics)) {
    if (k === '' || Buffer.byteLength(k) > TAG_KEY_MAX) throw invalidArgument(`metric name ${show(k)} must be 1–${TAG_KEY_MAX} bytes`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(`metric ${show(k)} must be a finite number`);
    out[k] = v;
  }
  return out;
}

export function checkActor(actor: unknown): string {
  if (typeof actor !== 'string' || actor.trim() === '' || actor.length > 256) throw invalidArgument('actor must be a non-empty string of at most 256 characters');
  return actor;
}

/** The default actor: $USER (or $USERNAME), else 'unknown'. */
export function defaultActor(): string {
  return process.env.USER || process.env.USERNAME || 'unknown';
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}
