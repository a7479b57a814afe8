/**
 * Names become path segments under HOME and keys in the catalog: anything outside
 * [A-Za-z0-9][A-Za-z0-9_.-]{0,127} is refused with INVALID_ARGUMENT (400 at the API) before
 * anything is written, and nothing is ever written outside HOME.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BerthError } from '../../src/core/errors.js';
import { checkName, parseRef } from '../../src/registry/names.js';
import { Registry } from '../../src/registry/registry.js';
import { listTree, tempDir, writeAffine } from './helpers.js';

const BAD = [
  '../x', 'a/b', '..', '.', '', 'x'.repeat(129), 'x'.repeat(200), 'модель', 'naïve', '.hidden', '-dash', '_under',
  'a\\b', '/abs', 'C:\\x', 'a\0b', ' a', 'a ', 'a\n', 'a\nb', 'a:b', 'a@b', '%2e%2e', '..%2fx', 'a*', '~', '😀',
];
const GOOD = ['a', 'A', '0', 'digits', 'my-model_v2.onnx', 'a..b', 'x'.repeat(128)];

function isInvalid(err: unknown): boolean {
  return err instanceof BerthError && err.code === 'INVALID_ARGUMENT';
}

test('the name rule', () => {
  for (const name of GOOD) assert.equal(checkName(name), name);
  for (const name of BAD) assert.throws(() => checkName(name), isInvalid, JSON.stringify(name));
});

test('references', () => {
  assert.deepEqual(parseRef('m'), { name: 'm', kind: 'latest' });
  assert.deepEqual(parseRef('m:12'), { name: 'm', kind: 'version', version: 12 });
  assert.deepEqual(parseRef('m@prod'), { name: 'm', kind: 'alias', alias: 'prod' });
  assert.deepEqual(parseRef('m@latest'), { name: 'm', kind: 'latest' });
  for (const ref of ['', ':1', 'm:', 'm:0', 'm:01', 'm:1.5', 'm:-1', 'm@', '@a', 'm@../x', 'm@a/b', '../m:1', 'm:1:2', 'm:1e3']) {
    assert.throws(() => parseRef(ref), isInvalid, JSON.stringify(ref));
  }
});

let root: string;
let home: string;
let model: string;
let reg: Registry;
let outsideBefore: string[];

before(async () => {
  root = tempDir('berth-names-');
  home = join(root, 'home');
  model = await writeAffine(join(root, 'src'));
  reg = await Registry.open({ home });
  await reg.push(model, { name: 'ok' });
  outsideBefore = listTree(root).filter((p) => !p.startsWith('home/'));
});

after(() => reg.close());

test('every registry entry point refuses bad names with INVALID_ARGUMENT and writes nothing', async () => {
  const treeBefore = listTree(home);
  const auditBefore = (await reg.audit()).length;
  for (const name of BAD) {
    const label = JSON.stringify(name);
    await assert.rejects(reg.push(model, { name }), isInvalid, `push ${label}`);
    await assert.rejects(reg.getModel(name), isInvalid, `getModel ${label}`);
    await assert.rejects(reg.listVersions(name), isInvalid, `listVersions ${label}`);
    await assert.rejects(reg.getVersion(name, 1), isInvalid, `getVersion ${label}`);
    await assert.rejects(reg.materialize(name, 1), isInvalid, `materialize ${label}`);
    await assert.rejects(reg.setAlias(name, 'production', 1), isInvalid, `setAlias name ${label}`);
    await assert.rejects(reg.setAlias('ok', name, 1), isInvalid, `setAlias alias ${label}`);
    await assert.rejects(reg.deleteAlias('ok', name), isInvalid, `deleteAlias ${label}`);
    await assert.rejects(reg.startRollout(name, { canary: { version: 1, percent: 5 } }), isInvalid, `startRollout ${label}`);
    await assert.rejects(reg.rollback(name), isInvalid, `rollback ${label}`);
    await assert.rejects(reg.audit({ model: name }), isInvalid, `audit ${label}`);
    await assert.rejects(reg.push(model, { name: 'ok', parent: { name, version: 1 } }), isInvalid, `parent ${label}`);
    await assert.rejects(reg.pull(`${name}:1`, join(root, 'out.onnx')), isInvalid, `pull ${label}`);
  }
  for (const v of [0, -1, 1.5, Number.NaN, 2 ** 60]) {
    await assert.rejects(reg.getVersion('ok', v), isInvalid, `version ${v}`);
    await assert.rejects(reg.materialize('ok', v), isInvalid, `materialize version ${v}`);
  }
  // Nothing changed inside HOME except temporary files already cleaned up, and nothing outside.
  assert.deepEqual(listTree(home).filter((p) => !p.startsWith('tmp/')), treeBefore.filter((p) => !p.startsWith('tmp/')));
  assert.deepEqual(listTree(join(home, 'tmp')), []);
  assert.deepEqual(listTree(root).filter((p) => !p.startsWith('home/')), outsideBefore);
  assert.equal((await reg.audit()).length, auditBefore);
});

test('valid odd-looking names stay inside HOME', async () => {
  for (const name of ['a..b', 'x'.repeat(128), 'v1.0']) {
    await reg.push(model, { name });
    const path = await reg.materialize(name, 1);
    assert.ok(path.startsWith(join(home, 'materialized', name) + '/'), path);
  }
  assert.deepEqual(listTree(root).filter((p) => !p.startsWith('home/')), outsideBefore);
});
