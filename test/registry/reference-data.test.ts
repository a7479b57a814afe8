import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDigitsModel, trainSplit } from '../../src/examples/digits/index.js';
import { loadProfile } from '../../src/monitor/drift/index.js';

test('push --reference-data saves the drift reference profile of the new version', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-refdata-'));
  const { modelPath } = await ensureDigitsModel(join(dir, 'models'));
  const train = trainSplit();
  const rows = Array.from({ length: 200 }, (_, i) => Array.from(train.x.subarray(i * 64, (i + 1) * 64)));
  writeFileSync(join(dir, 'ref.json'), JSON.stringify(rows));
  const home = join(dir, 'home');
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'push', modelPath, '--name', 'digits', '--home', home, '--reference-data', join(dir, 'ref.json')], { encoding: 'utf8' });
  assert.equal(out.trim(), 'digits:1');
  const profile = await loadProfile(home, 'digits', '1');
  assert.ok(profile, 'profile saved');
  assert.equal(profile.samples, 200);
  assert.equal(profile.inputs[0]!.name, 'pixels');
  assert.equal(profile.inputs[0]!.features.length, 64);
});
