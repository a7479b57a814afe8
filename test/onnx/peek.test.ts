import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readOpsetImports } from '../../src/onnx/index.js';
import { NO_PYTHON, NO_TESTDATA, python, testModels } from './helpers.js';

test('readOpsetImports agrees with python onnx on every test model', { skip: NO_TESTDATA || NO_PYTHON }, () => {
  const files = testModels('node', 'pytorch-converted', 'pytorch-operator', 'simple');
  const expected = JSON.parse(python(
    'import onnx, sys, json; print(json.dumps([[{"domain": o.domain, "version": o.version} for o in onnx.load(p, load_external_data=False).opset_import] for p in sys.argv[1:]]))',
    files,
  )) as { domain: string; version: number }[][];
  files.forEach((f, i) => assert.deepEqual(readOpsetImports(f, statSync(f).size), expected[i], f));
  assert.ok(files.length > 1000);
});

test('a file that is not a model is an error, not a guess', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-peek-'));
  const path = join(dir, 'bad.onnx');
  writeFileSync(path, Buffer.from([0x0f, 0xff, 0xff]));
  assert.throws(() => readOpsetImports(path, 3));
});
