/**
 * The registry commands: push, models, versions, show, alias, pull, audit, fsck, keys.
 * Every command takes --home DIR (default $BERTH_HOME or ~/.berth) and --catalog URL (default
 * $BERTH_CATALOG_URL, else SQLite in HOME); every listing takes --json; every change takes
 * --actor NAME (default $USER) for the audit log.
 *
 * Also the `--push` support shared by optimize, quantize, prune and convert (addPushOptions,
 * inputFromRegistry, pushDerived).
 */
import { basename, extname } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { formatBytes } from '../../onnx/inspect.js';
import { Registry } from '../../registry/registry.js';
import { readDataset } from '../../datasets/index.js';
import { buildProfile, saveProfile } from '../../monitor/drift/index.js';
import type { ProfileSignature } from '../../monitor/drift/index.js';
import { checkName, isValidName } from '../../registry/names.js';
import { KEY_SCOPES, type AuditEntry, type FsckReport, type KeyScope, type TensorSignature, type VersionRecord } from '../../registry/types.js';
import { fail } from '../fail.js';

export interface RegistryFlags {
  home?: string;
  catalog?: string;
  artifactStore?: string;
  artifactStoreInsecure?: boolean;
  actor?: string;
  json?: boolean;
}

function addCommon(cmd: Command, opts: { actor?: boolean; json?: boolean } = {}): Command {
  cmd.option('--home <dir>', 'registry home (default: $BERTH_HOME or ~/.berth)');
  cmd.option('--catalog <url>', 'catalog: postgres://… or sqlite:PATH (default: $BERTH_CATALOG_URL, else HOME/catalog.db)');
  cmd.option('--artifact-store <url>', 'where versions\' files live: oci://HOST[:PORT]/REPO (an OCI registry; HOME caches it) or filesystem (default: $BERTH_ARTIFACT_STORE, else HOME)');
  cmd.option('--artifact-store-insecure', 'plain http to an artifact registry that is not on loopback');
  if (opts.actor) cmd.option('--actor <name>', 'who to record in the audit log (default: $USER)');
  if (opts.json) cmd.option('--json', 'print JSON');
  return cmd;
}

export async function withRegistry<T>(flags: RegistryFlags, fn: (registry: Registry) => Promise<T>): Promise<T> {
  const registry = await Registry.open({
    home: flags.home, catalogUrl: flags.catalog, artifactStore: flags.artifactStore,
    ...(flags.artifactStoreInsecure ? { artifactStoreInsecure: true } : {}),
  });
  try {
    return await fn(registry);
  } finally {
    await registry.close();
  }
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** key=value, repeatable, into an object. */
function keyValue(kind: 'tag' | 'metric') {
  return (value: string, previous: Record<string, string | number> = {}): Record<string, string | number> => {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got '${value}'`);
    const key = value.slice(0, eq);
    const raw = value.slice(eq + 1);
    if (kind === 'metric') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`metric ${key}: '${raw}' is not a number`);
      return { ...previous, [key]: n };
    }
    return { ...previous, [key]: raw };
  };
}

function positive(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

/** Columns padded to their widest cell. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);
const sig = (s: TensorSignature[]): string => s.map((t) => `${t.name} ${t.datatype}[${t.shape.join(',')}]`).join(', ');
const kv = (o: Record<string, unknown>): string => Object.entries(o).map(([k, v]) => `${k}=${String(v)}`).join(' ');
const brief = (value: unknown): string => (value === undefined ? '' : JSON.stringify(value));

function aliasesOf(aliases: Record<string, number>, version: number): string[] {
  return Object.entries(aliases).filter(([, v]) => v === version).map(([a]) => a);
}

export function formatVersion(v: VersionRecord, aliases: Record<string, number> = {}): string {
  const lines = [`${v.name}:${v.version}`];
  const here = aliasesOf(aliases, v.version);
  if (here.length) lines.push(`  aliases   ${here.join(', ')}`);
  lines.push(`  digest    ${v.digest}`);
  lines.push(`  size      ${formatBytes(v.size)} in ${v.files.length} file${v.files.length === 1 ? '' : 's'}`);
  for (const f of v.files) lines.push(`    ${f.path}  ${formatBytes(f.size)}  ${f.digest}`);
  lines.push(`  inputs    ${sig(v.inputs) || '—'}`);
  lines.push(`  outputs   ${sig(v.outputs) || '—'}`);
  if (Object.keys(v.metrics).length) lines.push(`  metrics   ${kv(v.metrics)}`);
  if (Object.keys(v.tags).length) lines.push(`  tags      ${kv(v.tags)}`);
  if (v.parent) lines.push(`  parent    ${v.parent.name}:${v.parent.version}`);
  if (v.derivedBy) lines.push(`  derived   ${v.derivedBy}`);
  lines.push(`  created   ${v.createdAt} by ${v.createdBy}`);
  return lines.join('\n') + '\n';
}

function formatAudit(entries: AuditEntry[]): string {
  return table(
    ['ID', 'AT', 'ACTOR', 'ACTION', 'MODEL', 'BEFORE → AFTER'],
    entries.map((e) => [String(e.id), e.at, e.actor, e.action, e.model ?? '', `${brief(e.before)} → ${brief(e.after)}`]),
  );
}

function formatFsck(r: FsckReport, repair: boolean): string {
  const lines = [`checked ${r.checked} blob${r.checked === 1 ? '' : 's'} referenced by the catalog`];
  for (const m of r.missing) lines.push(`missing  ${m.digest}  (${m.refs.join(', ')})`);
  for (const c of r.corrupt) lines.push(`corrupt  ${c.digest}  hashes to ${c.actual}, ${c.size} bytes  (${c.refs.join(', ')})`);
  for (const o of r.orphans) lines.push(`${repair ? 'removed' : 'orphan '}  ${o}`);
  for (const s of r.stale) lines.push(`${repair ? 'removed' : 'stale  '}  ${s}`);
  for (const s of r.recent) lines.push(`kept     ${s}  (recent: a write may be in progress)`);
  if (r.missing.length === 0 && r.corrupt.length === 0) lines.push('every referenced blob is present and verifies');
  else lines.push(`${r.missing.length} missing, ${r.corrupt.length} corrupt: affected versions cannot be served or pulled; re-push them`);
  if (!repair && (r.orphans.length || r.stale.length)) lines.push(`${r.orphans.length} orphan blob(s), ${r.stale.length} stale temporary file(s): run with --repair to remove them`);
  return lines.join('\n') + '\n';
}

interface PushCommandFlags extends RegistryFlags {
  name: string;
  description?: string;
  tag?: Record<string, string>;
  metric?: Record<string, number>;
  parent?: string;
  derivedBy?: string;
  referenceData?: string;
}

export function registerRegistryCommands(program: Command): void {
  addCommon(
    program
      .command('push')
      .description('register a model file (and its external data) as the next version of NAME; prints NAME:VERSION')
      .argument('<file>', 'the .onnx model')
      .requiredOption('--name <name>', 'registered model name ([A-Za-z0-9][A-Za-z0-9_.-]{0,127})')
      .option('--description <text>', "the model's description")
      .option('--tag <key=value>', 'a tag of the version (repeatable)', keyValue('tag'))
      .option('--metric <key=value>', 'a metric of the version, e.g. accuracy=0.97 (repeatable)', keyValue('metric'))
      .option('--parent <ref>', 'the version this one derives from: NAME:VERSION or NAME@ALIAS')
      .option('--derived-by <text>', 'how it was derived from the parent, e.g. "quantize dynamic int8 of digits:3"')
      .option('--reference-data <file>', 'inputs the model was trained or validated on (.npy, .npz, .json, .csv): saved as the drift reference profile of the new version'),
    { actor: true, json: true },
  ).action(async (file: string, flags: PushCommandFlags) => {
    try {
      const v = await withRegistry(flags, (r) =>
        r.push(file, {
          name: flags.name,
          description: flags.description,
          tags: flags.tag,
          metrics: flags.metric,
          parent: flags.parent,
          derivedBy: flags.derivedBy,
          actor: flags.actor,
        }),
      );
      if (flags.referenceData) {
        // The drift reference lives beside the registry's blobs, where `berth serve` looks for it.
        const home = await withRegistry(flags, async (r) => r.home);
        const data = await readDataset(flags.referenceData, { inputNames: v.inputs.map((i) => i.name) });
        const signature = { inputs: v.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape })) };
        await saveProfile(home, v.name, String(v.version), buildProfile(data, signature as ProfileSignature, { model: v.name, version: String(v.version) }));
      }
      if (flags.json) json(v);
      else out(`${v.name}:${v.version}`);
    } catch (err) {
      fail(err);
    }
  });

  addCommon(program.command('models').description('list registered models'), { json: true }).action(async (flags: RegistryFlags) => {
    try {
      const models = await withRegistry(flags, (r) => r.listModels());
      if (flags.json) return json(models);
      if (models.length === 0) return out('no models registered');
      out(table(['NAME', 'LATEST', 'ALIASES', 'CREATED', 'DESCRIPTION'], models.map((m) => [
        m.name, m.latestVersion ? String(m.latestVersion) : '—', Object.entries(m.aliases).map(([a, v]) => `${a}→${v}`).join(' '), m.createdAt, m.description,
      ])));
    } catch (err) {
      fail(err);
    }
  });

  addCommon(program.command('versions').description("list a model's versions").argument('<name>', 'model name'), { json: true }).action(async (name: string, flags: RegistryFlags) => {
    try {
      const { model, versions } = await withRegistry(flags, async (r) => ({ model: await r.getModel(name), versions: await r.listVersions(name) }));
      if (flags.json) return json(versions);
      if (versions.length === 0) return out(`${name} has no versions`);
      out(table(['VERSION', 'DIGEST', 'SIZE', 'CREATED', 'BY', 'ALIASES', 'LINEAGE'], versions.map((v) => [
        String(v.version), short(v.digest), formatBytes(v.size), v.createdAt, v.createdBy, aliasesOf(model.aliases, v.version).join(' '),
        [v.parent ? `← ${v.parent.name}:${v.parent.version}` : '', v.derivedBy ?? ''].filter(Boolean).join(' '),
      ])));
    } catch (err) {
      fail(err);
    }
  });

  addCommon(program.command('show').description('show one version: NAME:VERSION, NAME@ALIAS or NAME (latest)').argument('<ref>', 'NAME:VERSION | NAME@ALIAS | NAME'), { json: true }).action(async (ref: string, flags: RegistryFlags) => {
    try {
      const { v, aliases } = await withRegistry(flags, async (r) => {
        const v = await r.resolve(ref);
        return { v, aliases: (await r.getModel(v.name)).aliases };
      });
      if (flags.json) json({ ...v, aliases: aliasesOf(aliases, v.version) });
      else out(formatVersion(v, aliases));
    } catch (err) {
      fail(err);
    }
  });

  addCommon(
    program
      .command('alias')
      .description('point ALIAS of model NAME at VERSION, or remove it with --delete')
      .argument('<name>', 'model name')
      .argument('<alias>', 'alias, e.g. production, staging, champion')
      .argument('[version]', 'version number')
      .option('--delete', 'remove the alias'),
    { actor: true },
  ).action(async (name: string, alias: string, version: string | undefined, flags: RegistryFlags & { delete?: boolean }) => {
    try {
      if (flags.delete) {
        if (version !== undefined) throw new Error('give either VERSION or --delete, not both');
        await withRegistry(flags, (r) => r.deleteAlias(name, alias, flags.actor));
        out(`${name}@${alias} removed`);
        return;
      }
      if (version === undefined) throw new Error('missing VERSION (or --delete)');
      const n = Number(version);
      if (!/^[1-9][0-9]*$/.test(version)) throw new Error(`invalid version '${version}': expected a positive integer`);
      await withRegistry(flags, (r) => r.setAlias(name, alias, n, flags.actor));
      out(`${name}@${alias} → ${name}:${n}`);
    } catch (err) {
      fail(err);
    }
  });

  addCommon(
    program
      .command('pull')
      .description('write a version to FILE (external data files beside it), verifying every digest')
      .argument('<ref>', 'NAME:VERSION | NAME@ALIAS | NAME')
      .requiredOption('-o, --output <file>', 'where to write the model (a new file; see --force)')
      .option('--force', 'replace existing files (atomically; a symbolic link is replaced, not written through)'),
    { json: true },
  ).action(async (ref: string, flags: RegistryFlags & { output: string; force?: boolean }) => {
    try {
      const v = await withRegistry(flags, (r) => r.pull(ref, flags.output, { force: flags.force }));
      if (flags.json) json({ ...v, written: flags.output });
      else out(`${v.name}:${v.version} → ${flags.output} (${formatBytes(v.size)}, ${v.files.length} file${v.files.length === 1 ? '' : 's'}, verified)`);
    } catch (err) {
      fail(err);
    }
  });

  addCommon(
    program
      .command('audit')
      .description('the audit log, newest first: who changed what, when, before → after')
      .argument('[name]', 'only this model')
      .option('--limit <n>', 'at most N entries (default 100)', positive('--limit'), 100),
    { json: true },
  ).action(async (name: string | undefined, flags: RegistryFlags & { limit: number }) => {
    try {
      const entries = await withRegistry(flags, (r) => r.audit({ model: name, limit: flags.limit }));
      if (flags.json) return json(entries);
      out(entries.length ? formatAudit(entries) : 'no audit entries');
    } catch (err) {
      fail(err);
    }
  });

  addCommon(
    program
      .command('fsck')
      .description('check every blob against the catalog (present, digest); --repair removes orphan blobs and stale temporary files')
      .option('--repair', 'remove orphan blobs and leftovers of interrupted writes')
      .option('--grace <seconds>', 'leave orphans and temporary files younger than this alone (a push may be in flight)', (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('--grace must be a number of seconds ≥ 0');
        return n;
      }, 900),
    { json: true },
  ).action(async (flags: RegistryFlags & { repair?: boolean; grace: number }) => {
    try {
      const report = await withRegistry(flags, (r) => r.fsck({ repair: Boolean(flags.repair), graceSeconds: flags.grace }));
      if (flags.json) json(report);
      else out(formatFsck(report, Boolean(flags.repair)));
      if (report.missing.length > 0 || report.corrupt.length > 0) process.exitCode = 1;
    } catch (err) {
      fail(err);
    }
  });

  addCommon(
    program
      .command('publish')
      .description('upload versions in the catalog to the artifact store (--artifact-store oci://…): all, one model\'s, or one version; what the store has is not sent again')
      .argument('[ref]', 'NAME, NAME:VERSION or NAME@ALIAS (default: every version)'),
    { json: true },
  ).action(async (ref: string | undefined, flags: RegistryFlags) => {
    try {
      const published = await withRegistry(flags, async (r) => {
        if (r.blobs.location === 'filesystem') throw new InvalidArgumentError('publish needs an artifact store other than the filesystem: --artifact-store oci://HOST[:PORT]/REPO or $BERTH_ARTIFACT_STORE');
        return { store: r.blobs.location, versions: (await r.publish(ref)).map((v) => `${v.name}:${v.version}`) };
      });
      if (flags.json) json(published);
      else out(published.versions.length === 0 ? 'nothing to publish' : published.versions.map((v) => `${v} → ${published.store}`).join('\n'));
    } catch (err) {
      fail(err);
    }
  });

  const keys = program.command('keys').description('API keys for the admin API and (with --require-auth) inference');
  addCommon(
    keys
      .command('create')
      .description('create a key; it is printed once and stored only as a hash')
      .addOption(new Option('--scope <scope>', 'read: list and show; infer: inference; admin: everything').choices([...KEY_SCOPES]).makeOptionMandatory())
      .option('--name <name>', 'what the key is for'),
    { actor: true, json: true },
  ).action(async (flags: RegistryFlags & { scope: KeyScope; name?: string }) => {
    try {
      const k = await withRegistry(flags, (r) => r.createKey(flags.scope, { name: flags.name, actor: flags.actor }));
      if (flags.json) return json({ id: k.id, scope: flags.scope, ...(flags.name !== undefined ? { name: flags.name } : {}), key: k.key });
      out(k.key);
      process.stderr.write(`key ${k.id} (${flags.scope}) created: store it now, it cannot be shown again\n`);
    } catch (err) {
      fail(err);
    }
  });
  addCommon(keys.command('list').description('list keys (never the keys themselves)'), { json: true }).action(async (flags: RegistryFlags) => {
    try {
      const list = await withRegistry(flags, (r) => r.listKeys());
      if (flags.json) return json(list);
      out(list.length ? table(['ID', 'SCOPE', 'CREATED', 'STATUS', 'NAME'], list.map((k) => [k.id, k.scope, k.createdAt, k.revoked ? 'revoked' : 'active', k.name ?? ''])) : 'no keys');
    } catch (err) {
      fail(err);
    }
  });
  addCommon(keys.command('revoke').description('revoke a key by id').argument('<id>', 'key id (see keys list)'), { actor: true }).action(async (id: string, flags: RegistryFlags) => {
    try {
      await withRegistry(flags, (r) => r.revokeKey(id, flags.actor));
      out(`key ${id} revoked`);
    } catch (err) {
      fail(err);
    }
  });
}

// ------------------------------------------------------------------ --push for the model tools

export interface PushFlags extends RegistryFlags {
  push?: boolean;
  name?: string;
  from?: string;
}

/** Adds --from REF, --push, --name, --home, --catalog and --actor to a model tool. */
export function addPushOptions(cmd: Command): Command {
  return cmd
    .option('--from <ref>', 'take the input from the registry (NAME:VERSION, NAME@ALIAS or NAME) instead of a file')
    .option('--push', 'register the output as a new version, with its lineage (parent, how it was derived)')
    .option('--name <name>', 'with --push: the model name (default: the --from model, else the output file name)')
    .option('--home <dir>', 'registry home for --from/--push (default: $BERTH_HOME or ~/.berth)')
    .option('--catalog <url>', 'registry catalog for --from/--push (default: $BERTH_CATALOG_URL)')
    .option('--actor <name>', 'with --push: who to record in the audit log (default: $USER)');
}

export interface ModelInput {
  /** the file to read */
  path: string;
  /** what to call it in lineage text: 'digits:3' or the file path */
  label: string;
  /** set when it came from the registry */
  version?: { name: string; version: number };
}

/** The input of a model tool: the positional file, or `--from REF` materialized from the registry. */
export async function inputFromRegistry(input: string | undefined, flags: PushFlags): Promise<ModelInput> {
  if (flags.from !== undefined) {
    if (input !== undefined) throw new Error('give either an input file or --from REF, not both');
    return withRegistry(flags, async (r) => {
      const v = await r.resolve(flags.from!);
      return { path: await r.materialize(v.name, v.version), label: `${v.name}:${v.version}`, version: { name: v.name, version: v.version } };
    });
  }
  if (input === undefined) throw new Error('missing the input model (a file, or --from REF)');
  return { path: input, label: input };
}

/** Checks --push/--name before any work is done, so a bad name fails fast. */
export function checkPushFlags(flags: PushFlags, output: string): void {
  if (flags.name !== undefined && !flags.push) throw new Error('--name goes with --push');
  if (!flags.push) return;
  if (flags.name !== undefined) checkName(flags.name);
  else if (flags.from === undefined && !isValidName(basename(output, extname(output)))) {
    throw new Error(`--push: '${basename(output, extname(output))}' is not a valid model name; give --name`);
  }
}

/**
 * Registers a tool's output with its lineage: parent = the --from version, else the latest
 * version of the same name (when there is one). Returns the new version's NAME:VERSION.
 */
export async function pushDerived(output: string, input: ModelInput, flags: PushFlags, derivedBy: string): Promise<VersionRecord> {
  const name = flags.name ?? input.version?.name ?? basename(output, extname(output));
  return withRegistry(flags, async (r) => {
    let parent = input.version;
    if (!parent) {
      const existing = await r.getModel(name).catch(() => undefined);
      if (existing && existing.latestVersion > 0) parent = { name, version: existing.latestVersion };
    }
    return r.push(output, { name, parent, derivedBy, actor: flags.actor });
  });
}
