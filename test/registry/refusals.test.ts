/**
 * What the registry refuses, it refuses before anything happens: new model names that collide
 * with the reference syntax (`latest`), routes (`stats`) or an existing model's letter case;
 * aliases that read as versions; and every refused write leaves the audit log as it was (the
 * log records what happened). `pull -o` writes only new regular files, replaces an existing one
 * only with --force (atomically, never through a link), and refuses FIFOs, devices and
 * directories.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BerthError } from '../../src/core/errors.js';
import { Registry } from '../../src/registry/registry.js';
import { tempDir, writeAffine, writeExternalModel } from './helpers.js';

let root: string;
let reg: Registry;
let model: string;

before(async () => {
  root = tempDir('berth-refusals-');
  model = await writeAffine(join(root, 'src'));
  reg = await Registry.open({ home: join(root, 'home') });
  await reg.push(model, { name: 'digits' });
  await reg.push(model, { name: 'digits' });
});
after(() => reg.close());

const code = (c: string, message?: RegExp) => (err: unknown) => err instanceof BerthError && err.code === c && (!message || message.test(err.message));

/** Runs `op`, which must fail as `check` says, and asserts the audit log did not grow. */
async function refusedUnaudited(label: string, op: () => Promise<unknown>, check: (err: unknown) => boolean): Promise<void> {
  const before = (await reg.audit()).length;
  await assert.rejects(op(), check, label);
  assert.equal((await reg.audit()).length, before, `${label}: no audit entry for a refused operation`);
}

test('new model names: reserved words, reference syntax, case twins, empty and too long are refused, unaudited', async () => {
  for (const name of ['latest', 'LATEST', 'stats', 'a:b', 'a@b', '../x', 'a/b', '', 'x'.repeat(129), 'digіts' /* Cyrillic і */]) {
    await refusedUnaudited(`push ${JSON.stringify(name)}`, () => reg.push(model, { name }), code('INVALID_ARGUMENT'));
    await refusedUnaudited(`create ${JSON.stringify(name)}`, () => reg.createModel(name), code('INVALID_ARGUMENT'));
  }
  await assert.rejects(reg.push(model, { name: 'latest' }), code('INVALID_ARGUMENT', /reserved/));
  for (const name of ['Digits', 'DIGITS']) {
    await refusedUnaudited(`push ${name}`, () => reg.push(model, { name }), code('ALREADY_EXISTS', /only in letter case/));
    await refusedUnaudited(`create ${name}`, () => reg.createModel(name), code('ALREADY_EXISTS', /only in letter case/));
  }
  assert.deepEqual((await reg.listModels()).map((m) => m.name), ['digits']);
});

test('aliases: latest and all-digit aliases are refused, unaudited', async () => {
  for (const alias of ['latest', '3', '007']) {
    await refusedUnaudited(`alias ${alias}`, () => reg.setAlias('digits', alias, 1), code('INVALID_ARGUMENT'));
  }
  await reg.setAlias('digits', 'v3-candidate', 1); // digits with letters are fine
});

test('refused alias moves and rollouts write no audit entry; a repeated rollout is not a second change', async () => {
  await refusedUnaudited('alias to a missing version', () => reg.setAlias('digits', 'production', 9), code('NOT_FOUND'));
  await refusedUnaudited('rollout without production', () => reg.startRollout('digits', { canary: { version: 2, percent: 10 } }), code('INVALID_ARGUMENT'));
  await refusedUnaudited('promote with no rollout', () => reg.promote('digits'), code('INVALID_ARGUMENT'));
  await refusedUnaudited('rollback with no history', () => reg.rollback('digits'), code('INVALID_ARGUMENT'));
  await reg.setAlias('digits', 'production', 1);
  await refusedUnaudited('canary = production', () => reg.startRollout('digits', { canary: { version: 1, percent: 10 } }), code('INVALID_ARGUMENT'));
  await refusedUnaudited('canary of a missing version', () => reg.startRollout('digits', { canary: { version: 9, percent: 10 } }), code('NOT_FOUND'));
  await refusedUnaudited('canary percent out of range', () => reg.startRollout('digits', { canary: { version: 2, percent: 101 } }), code('INVALID_ARGUMENT'));
  const before = (await reg.audit()).length;
  await reg.startRollout('digits', { canary: { version: 2, percent: 10 } });
  await reg.startRollout('digits', { canary: { version: 2, percent: 10 } });
  const entries = await reg.audit();
  assert.equal(entries.length, before + 1, 'the same rollout twice is one change');
  assert.equal(entries[0]!.action, 'rollout.start');
  await reg.startRollout('digits', { canary: { version: 2, percent: 20 } });
  assert.equal((await reg.audit()).length, before + 2, 'a new percentage is a change');
  await reg.abortRollout('digits');
});

test('pull -o: refuses FIFOs, devices, directories and links to them; an existing file needs --force', async () => {
  const dir = join(root, 'out');
  mkdirSync(dir);
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const linkToFifo = join(dir, 'link-to-fifo');
  symlinkSync(fifo, linkToFifo);
  const linkToDir = join(dir, 'link-to-dir');
  symlinkSync(dir, linkToDir);
  for (const target of [fifo, '/dev/null', dir, linkToFifo, linkToDir]) {
    for (const force of [false, true]) {
      await assert.rejects(reg.pull('digits:1', target, { force }), code('INVALID_ARGUMENT', /not a regular file/), `${target} force=${force}`);
    }
  }
  assert.ok(lstatSync(fifo).isFIFO(), 'the FIFO is untouched');
  assert.ok(lstatSync('/dev/null').isCharacterDevice());

  const existing = join(dir, 'existing.onnx');
  writeFileSync(existing, 'keep me');
  chmodSync(existing, 0o444);
  await assert.rejects(reg.pull('digits:1', existing), code('ALREADY_EXISTS', /--force/));
  assert.equal(readFileSync(existing, 'utf8'), 'keep me');
  await reg.pull('digits:1', existing, { force: true });
  assert.deepEqual(readFileSync(existing), readFileSync(model));

  // a link to a regular file: --force replaces the link itself, the file it pointed at is untouched
  const victim = join(root, 'victim.txt');
  writeFileSync(victim, 'not yours');
  const link = join(dir, 'link.onnx');
  symlinkSync(victim, link);
  await assert.rejects(reg.pull('digits:1', link), code('ALREADY_EXISTS', /replaces the link, not its target/));
  await reg.pull('digits:1', link, { force: true });
  assert.equal(readFileSync(victim, 'utf8'), 'not yours');
  assert.ok(lstatSync(link).isFile() && !lstatSync(link).isSymbolicLink());
  assert.deepEqual(readFileSync(link), readFileSync(model));
  assert.throws(() => readlinkSync(link));

  // a fresh path needs no --force, and nothing is left behind but the file
  const fresh = join(dir, 'new', 'model.onnx');
  await reg.pull('digits:1', fresh);
  assert.deepEqual(readFileSync(fresh), readFileSync(model));
});

test('pull -o with external data: an existing data file beside the model needs --force too; a FIFO there is refused', async () => {
  const src = await writeExternalModel(join(root, 'ext-src'));
  await reg.push(src, { name: 'ext' });
  const dir = join(root, 'ext-out');
  mkdirSync(dir);
  writeFileSync(join(dir, 'weights.bin'), 'old weights');
  const out = join(dir, 'model.onnx');
  await assert.rejects(reg.pull('ext:1', out), code('ALREADY_EXISTS', /weights\.bin already exists/));
  assert.equal(readFileSync(join(dir, 'weights.bin'), 'utf8'), 'old weights');
  assert.throws(() => lstatSync(out), 'nothing written when refused');
  await reg.pull('ext:1', out, { force: true });
  assert.deepEqual(readFileSync(join(dir, 'weights.bin')), readFileSync(join(root, 'ext-src', 'weights.bin')));
  const dir2 = join(root, 'ext-out2');
  mkdirSync(dir2);
  execFileSync('mkfifo', [join(dir2, 'weights.bin')]);
  await assert.rejects(reg.pull('ext:1', join(dir2, 'model.onnx'), { force: true }), code('INVALID_ARGUMENT', /a FIFO/));
});
