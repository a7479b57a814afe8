/**
 * `berth serve`'s options against the configuration schema: every key has its flag, every flag
 * its key, the help shows the schema's default, and a flag given lands on its key.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { z } from 'zod';
import type { Option } from 'commander';
import { registerServe } from '../../src/cli/commands/serve.js';
import { addConfigOptions, configFromFlags } from '../../src/cli/config-flags.js';
import { leafKeys } from '../../src/config/walk.js';
import type { ConfigLeaf } from '../../src/config/walk.js';
import { parseConfig } from '../../src/config/load.js';

function serveCommand(): Command {
  const program = new Command();
  registerServe(program);
  return program.commands.find((c) => c.name() === 'serve')!;
}

const leaves = leafKeys();
const longOf = (leaf: ConfigLeaf): string => leaf.meta.flag.split(/[ ,]/)[0]!;

/** A value for each flag that differs from the key's default, and what the key should then hold. */
function sample(leaf: ConfigLeaf): { args: string[]; value: unknown } {
  const flag = longOf(leaf);
  const special: Record<string, { args: string[]; value: unknown }> = {
    '--host': { args: ['0.0.0.0'], value: '0.0.0.0' },
    '--catalog': { args: ['sqlite:/tmp/c.db'], value: 'sqlite:/tmp/c.db' },
    '--allowed-hosts': { args: ['example.com,*.corp'], value: 'example.com,*.corp' },
    '--allowed-origins': { args: ['https://app.example'], value: 'https://app.example' },
    '--restricted-api': { args: ['inference:x-key=long-enough-value'], value: ['inference:x-key=long-enough-value'] },
    '--preferred-batch-size': { args: ['4,8'], value: [4, 8] },
    '--load-model': { args: ['a'], value: ['a'] },
    '--access-log-sample': { args: ['0.25'], value: 0.25 },
    '--capture-rate': { args: ['0.25'], value: 0.25 },
  };
  if (special[flag]) return special[flag];
  if (leaf.kind === 'boolean') return { args: [], value: !leaf.default };
  if (leaf.kind === 'integer' || leaf.kind === 'number') {
    const n = typeof leaf.default === 'number' ? leaf.default + 1 : 3;
    return { args: [String(n)], value: n };
  }
  if (leaf.kind === 'enum') {
    const v = leaf.values!.find((x) => x !== leaf.default)!;
    return { args: [v], value: v };
  }
  return { args: ['/some/where'], value: '/some/where' };
}

describe('berth serve options and the configuration schema', () => {
  test('every schema key has exactly one flag and every flag a key', () => {
    const cmd = serveCommand();
    const byLong = new Map(cmd.options.map((o: Option) => [o.long!, o]));
    for (const leaf of leaves) {
      if (leaf.path.join('.') === 'paths') continue; // the positional argument
      assert.ok(byLong.has(longOf(leaf)), `${leaf.path.join('.')}: no ${longOf(leaf)} option on berth serve`);
    }
    const keyFlags = new Set(leaves.map(longOf));
    for (const option of cmd.options) {
      if (option.long === '--config') continue;
      assert.ok(keyFlags.has(option.long!), `${option.long}: no schema key (src/config/schema.ts)`);
    }
    assert.equal(cmd.options.length, leaves.length - 1 + 1, 'one option per key (less the positional paths) plus --config');
    assert.equal(new Set(leaves.map(longOf)).size, leaves.length, 'no flag is used by two keys');
  });

  test('the help shows each key\'s schema default and environment variable, and commander holds no default of its own', () => {
    const cmd = serveCommand();
    for (const leaf of leaves) {
      if (leaf.path.join('.') === 'paths') continue;
      const option = cmd.options.find((o: Option) => o.long === longOf(leaf))!;
      const where = `${option.long}: '${option.description}'`;
      assert.equal(option.defaultValue, undefined, `${where}: a commander default would override the config file`);
      assert.ok(option.description.startsWith(leaf.meta.help), where);
      const plain = leaf.kind !== 'boolean' && leaf.default !== undefined && !(Array.isArray(leaf.default) && leaf.default.length === 0);
      if (leaf.meta.env) assert.match(option.description, new RegExp(`\\[default: \\$${leaf.meta.env}\\b`), where);
      if (plain && !leaf.meta.defaultText) assert.ok(option.description.endsWith(`[default: ${String(leaf.default)}]`), `${where}: expected [default: ${String(leaf.default)}]`);
      if (leaf.meta.defaultText) assert.ok(option.description.includes(leaf.meta.defaultText), where);
      if (leaf.kind === 'boolean') {
        // a switch turns on what is off by default; --no-X turns off what is on
        assert.equal(option.negate, leaf.default === true, `${where}: default ${String(leaf.default)}`);
      }
    }
  });

  test('each flag sets its key, and the result passes the schema', () => {
    for (const leaf of leaves) {
      if (leaf.path.join('.') === 'paths') continue;
      const cmd = addConfigOptions(new Command().exitOverride());
      const { args, value } = sample(leaf);
      cmd.parse([longOf(leaf), ...args], { from: 'user' });
      const flags = configFromFlags(cmd);
      let at: unknown = flags;
      for (const part of leaf.path) at = (at as Record<string, unknown>)[part];
      assert.deepEqual(at, value, `${longOf(leaf)} ${args.join(' ')} → ${leaf.path.join('.')}`);
      assert.doesNotThrow(() => parseConfig(flags), `${longOf(leaf)} ${args.join(' ')}`);
    }
  });

  test('a schema key added without its flag metadata is caught', () => {
    assert.throws(() => leafKeys(z.strictObject({ http: z.strictObject({ newKey: z.number().default(1) }).prefault({}) })), /http\.newKey has no flag/);
  });

  test('flags not given leave their keys unset, so the file and the defaults show through', () => {
    const cmd = addConfigOptions(new Command());
    cmd.parse([], { from: 'user' });
    assert.deepEqual(configFromFlags(cmd), {});
  });

  test('--grpc-port 0 keeps meaning gRPC off; bad values are refused naming the flag', () => {
    const cmd = addConfigOptions(new Command());
    cmd.parse(['--grpc-port', '0'], { from: 'user' });
    assert.deepEqual(configFromFlags(cmd), { grpc: { enabled: false } });
    for (const [flag, value, why] of [['--port', 'abc', /expected a number/], ['--port', '70000', /65535/], ['--capture-rate', '2', /1/], ['--model-control', 'sometimes', /none|explicit|poll/], ['--preferred-batch-size', '4,x', /numbers separated by commas/], ['--restricted-api', 'bogus', /CATEGORY/]] as const) {
      const c = addConfigOptions(new Command().exitOverride().configureOutput({ writeErr: () => undefined }));
      assert.throws(() => c.parse([flag, value], { from: 'user' }), (err: Error) => err.message.includes(flag) && why.test(err.message), `${flag} ${value}`);
    }
  });
});
