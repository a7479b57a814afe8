/**
 * The registry commands end to end, as a user runs them: push prints N:V, listings have --json,
 * pull writes byte-identical files, keys are printed once, fsck reports; and the model tools'
 * --from/--push register their output with its lineage.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ROOT, tempDir, writeAffine, writeExternalModel } from './helpers.js';

const ENTRY = fileURLToPath(new URL('./cli-entry.ts', import.meta.url));
let dir: string;
let home: string;

function berth(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ENTRY, ...args, '--home', home], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, USER: 'cli-user', BERTH_CATALOG_URL: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(...args: string[]): string {
  const r = berth(...args);
  assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

let affine: string;
let external: string;
before(async () => {
  dir = tempDir('berth-cli-');
  home = join(dir, 'home');
  affine = await writeAffine(join(dir, 'a'));
  external = await writeExternalModel(join(dir, 'e'));
});

test('push prints NAME:VERSION; models, versions, show list it (text and --json)', () => {
  assert.equal(ok('push', affine, '--name', 'affine', '--description', 'demo', '--tag', 'stage=dev', '--tag', 'team=ml', '--metric', 'accuracy=0.97'), 'affine:1\n');
  assert.equal(ok('push', external, '--name', 'affine', '--parent', 'affine:1', '--derived-by', 'retrained', '--actor', 'alice'), 'affine:2\n');
  const models = JSON.parse(ok('models', '--json'));
  assert.deepEqual(models.map((m: { name: string; latestVersion: number; description: string }) => [m.name, m.latestVersion, m.description]), [['affine', 2, 'demo']]);
  assert.match(ok('models'), /^NAME\s+LATEST.*\naffine\s+2\s/);
  const versions = JSON.parse(ok('versions', 'affine', '--json'));
  assert.deepEqual(versions.map((v: { version: number; createdBy: string }) => [v.version, v.createdBy]), [[1, 'cli-user'], [2, 'alice']]);
  assert.deepEqual(versions[0].tags, { stage: 'dev', team: 'ml' });
  assert.deepEqual(versions[0].metrics, { accuracy: 0.97 });
  assert.match(ok('versions', 'affine'), /← affine:1 retrained/);
  const shown = JSON.parse(ok('show', 'affine:2', '--json'));
  assert.deepEqual(shown.parent, { name: 'affine', version: 1 });
  assert.deepEqual(shown.files.map((f: { path: string }) => f.path), ['model.onnx', 'weights.bin']);
  assert.match(ok('show', 'affine'), /^affine:2\n[\s\S]*inputs {4}x FP32\[-1,64\]/);
});

test('alias, pull by alias (byte-identical, external data beside it), alias --delete', () => {
  assert.match(ok('alias', 'affine', 'production', '2'), /affine@production → affine:2/);
  assert.match(ok('show', 'affine@production'), /aliases {3}production/);
  const out = join(dir, 'pulled', 'm.onnx');
  assert.match(ok('pull', 'affine@production', '-o', out), /affine:2 → .*verified/);
  assert.ok(readFileSync(out).equals(readFileSync(external)));
  assert.ok(readFileSync(join(dir, 'pulled', 'weights.bin')).equals(readFileSync(join(dir, 'e', 'weights.bin'))));
  // a second pull onto the same file is refused without --force, replaces it with it
  const again = berth('pull', 'affine@production', '-o', out);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^error: .*m\.onnx already exists.*use --force to replace it\n$/);
  writeFileSync(out, 'stale');
  assert.match(ok('pull', 'affine@production', '-o', out, '--force'), /affine:2 → .*verified/);
  assert.ok(readFileSync(out).equals(readFileSync(external)));
  const dev = berth('pull', 'affine@production', '-o', '/dev/null', '--force');
  assert.equal(dev.code, 1);
  assert.match(dev.stderr, /refusing to write \/dev\/null: it is a device/);
  assert.match(ok('alias', 'affine', 'production', '--delete'), /removed/);
  const r = berth('show', 'affine@production');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: model 'affine' has no alias 'production'/);
});

test('errors: bad names, missing things, junk files exit 1 with one line on stderr', () => {
  for (const args of [['push', affine, '--name', '../evil'], ['show', 'nope:1'], ['push', join(dir, 'none.onnx'), '--name', 'x'], ['alias', 'affine', 'production', '7']]) {
    const r = berth(...args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, /^error: [^\n]+\n$/);
  }
  const junk = join(dir, 'junk.onnx');
  writeFileSync(junk, 'junk');
  assert.match(berth('push', junk, '--name', 'junk').stderr, /not a valid ONNX model/);
});

test('audit lists every change, newest first, filterable by model', () => {
  const entries = JSON.parse(ok('audit', 'affine', '--json'));
  assert.deepEqual(entries.map((e: { action: string }) => e.action), ['alias.delete', 'alias.set', 'version.create', 'version.create', 'model.create']);
  assert.equal(entries[1].actor, 'cli-user');
  assert.match(ok('audit', '--limit', '1'), /alias\.delete\s+affine\s+\{"alias":"production","version":2\} → \{"alias":"production"\}/);
});

test('keys: create prints the key once; list never shows it; revoke', () => {
  const key = ok('keys', 'create', '--scope', 'infer', '--name', 'web').trim();
  assert.match(key, /^berth_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  const id = key.split('_')[1]!;
  // the secret is everything after `berth_<id>_`; it may itself contain '_' (base64url)
  const secret = key.slice(`berth_${id}_`.length);
  const listed = ok('keys', 'list', '--json');
  assert.ok(!listed.includes(secret));
  assert.deepEqual(JSON.parse(listed), [{ id, scope: 'infer', name: 'web', createdAt: JSON.parse(listed)[0].createdAt, revoked: false }]);
  assert.match(ok('keys', 'revoke', id), /revoked/);
  assert.match(ok('keys', 'list'), new RegExp(`${id}\\s+infer\\s+\\S+\\s+revoked\\s+web`));
  assert.equal(berth('keys', 'create', '--scope', 'root').code, 1);
  for (const file of ['catalog.db', 'catalog.db-wal']) {
    const bytes = existsSync(join(home, file)) ? readFileSync(join(home, file)) : Buffer.alloc(0);
    assert.ok(!bytes.includes(Buffer.from(secret)), `${file} holds no key`);
  }
});

test('prune/convert/quantize --from REF --push register the output with its lineage', () => {
  assert.equal(ok('push', affine, '--name', 'digits'), 'digits:1\n');
  const pruned = ok('prune', '--from', 'digits:1', '-o', join(dir, 'pruned.onnx'), '--sparsity', '0.5', '--push');
  assert.match(pruned, /^digits:1 → .*pruned\.onnx\n[\s\S]*registered digits:2\n$/);
  const converted = JSON.parse(ok('convert', '--from', 'digits@latest', '-o', join(dir, 'fp16.onnx'), '--fp16', '--push', '--json'));
  assert.equal(converted.registered, 'digits:3');
  ok('quantize', '--from', 'digits:1', '-o', join(dir, 'q.onnx'), '--mode', 'dynamic', '--push', '--name', 'digits-int8');
  // From a file: parent is the latest version of the same name.
  ok('convert', join(dir, 'fp16.onnx'), '-o', join(dir, 'digits.onnx'), '--opset', '18', '--push');
  const v = (ref: string) => JSON.parse(ok('show', ref, '--json'));
  assert.deepEqual([v('digits:2').parent, v('digits:2').derivedBy], [{ name: 'digits', version: 1 }, 'prune 50.0% unstructured of digits:1']);
  assert.deepEqual([v('digits:3').parent, v('digits:3').derivedBy], [{ name: 'digits', version: 2 }, 'convert fp16 of digits:2']);
  assert.deepEqual([v('digits-int8:1').parent, v('digits-int8:1').derivedBy], [{ name: 'digits', version: 1 }, 'quantize dynamic int8 of digits:1']);
  const fromFile = v('digits:4');
  assert.deepEqual(fromFile.parent, { name: 'digits', version: 3 });
  assert.match(fromFile.derivedBy, /^convert opset \d+ to 18 of .*fp16\.onnx$/);
  assert.equal(fromFile.inputs[0].datatype, 'FP16');
  assert.match(berth('prune', affine, '--from', 'digits:1', '-o', join(dir, 'x.onnx'), '--sparsity', '0.5').stderr, /either an input file or --from/);
  assert.match(berth('prune', affine, '-o', join(dir, 'bad name.onnx'), '--sparsity', '0.5', '--push').stderr, /give --name/);
});

test('fsck reports a clean store, then a corrupt blob (exit 1)', () => {
  assert.match(ok('fsck'), /every referenced blob is present and verifies/);
  const report = JSON.parse(ok('fsck', '--json'));
  assert.deepEqual([report.missing, report.corrupt], [[], []]);
  const digest: string = JSON.parse(ok('show', 'affine:2', '--json')).files[1].digest;
  const blob = join(home, 'blobs', 'sha256', digest.slice(7));
  spawnSync('chmod', ['644', blob]);
  writeFileSync(blob, 'damaged');
  const r = berth('fsck');
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`corrupt  ${digest}.*affine:2/weights.bin`));
});
