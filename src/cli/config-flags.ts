/**
 * `berth serve`'s options, generated from the configuration schema (config/schema.ts): each
 * schema key's flag, help text, default and environment variable come from there, so the
 * command line cannot disagree with a config file or with startServer(). Flags are registered
 * without commander defaults, so that a flag left out does not override the `--config` file;
 * the help shows the schema's default instead.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { leafKeys } from '../config/walk.js';
import type { ConfigLeaf } from '../config/walk.js';
import { setPath } from '../config/load.js';

/** The help line: the schema's text, its default and its environment variable. */
export function helpText(leaf: ConfigLeaf): string {
  const shown = leaf.meta.defaultText ?? (leaf.kind === 'boolean' || leaf.default === undefined || (Array.isArray(leaf.default) && leaf.default.length === 0) ? undefined : String(leaf.default));
  const def = leaf.meta.env ? `$${leaf.meta.env}${shown ? ` or ${shown}` : ''}` : shown;
  return `${leaf.meta.help}${def ? ` [default: ${def}]` : ''}`;
}

/** The attribute commander stores a flag under: --max-body-mb → maxBodyMb, --no-grpc → grpc. */
function attributeOf(leaf: ConfigLeaf): string {
  return new Option(leaf.meta.flag).attributeName();
}

/** Checks one flag's value against its schema key now, so the error names the flag. */
function checked<T>(leaf: ConfigLeaf, value: T): T {
  const r = leaf.schema.safeParse(value);
  if (!r.success) throw new InvalidArgumentError(r.error.issues.map((i) => i.message).join('; '));
  return value;
}

function scalar(leaf: ConfigLeaf, text: string): unknown {
  if (leaf.kind === 'integer' || leaf.kind === 'number') {
    const n = text.trim() === '' ? NaN : Number(text);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${text}'`);
    return checked(leaf, n);
  }
  return checked(leaf, text);
}

function argParser(leaf: ConfigLeaf): ((value: string, previous: unknown) => unknown) | undefined {
  if (leaf.kind === 'boolean') return undefined;
  if (leaf.meta.list === 'repeat') return (value, previous) => checked(leaf, [...((previous as string[] | undefined) ?? []), value]);
  if (leaf.meta.list === 'comma' && leaf.kind === 'list') {
    return (value) => {
      const items = value.split(',').map((v) => Number(v.trim()));
      if (items.some((n) => !Number.isFinite(n))) throw new InvalidArgumentError(`expected numbers separated by commas, got '${value}'`);
      return checked(leaf, items);
    };
  }
  return (value) => scalar(leaf, value);
}

/** The schema's leaves that are options (the positional paths are an argument). */
export function optionLeaves(): ConfigLeaf[] {
  return leafKeys().filter((l) => l.meta.flag.startsWith('-'));
}

/** The positional argument's key (the model paths). */
export function pathsLeaf(): ConfigLeaf {
  return leafKeys().find((l) => l.path.join('.') === 'paths')!;
}

/** Adds every schema key's option to a command. */
export function addConfigOptions(cmd: Command): Command {
  for (const leaf of optionLeaves()) {
    const option = new Option(leaf.meta.flag, helpText(leaf));
    const parse = argParser(leaf);
    if (parse) option.argParser(parse);
    cmd.addOption(option);
  }
  return cmd;
}

/**
 * The keys the command line set, as a nested config object (flags not given are absent).
 * `--grpc-port 0` keeps its meaning from before config files: gRPC off.
 */
export function configFromFlags(cmd: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const values = cmd.opts();
  for (const leaf of optionLeaves()) {
    const attribute = attributeOf(leaf);
    if (cmd.getOptionValueSource(attribute) !== 'cli') continue;
    const value = values[attribute];
    if (leaf.path.join('.') === 'grpc.port' && value === 0) setPath(out, ['grpc', 'enabled'], false);
    else setPath(out, leaf.path, value);
  }
  return out;
}
