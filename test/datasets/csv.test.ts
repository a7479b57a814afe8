/**
 * CSV data written by Python's csv module (an independent writer): quoted fields, CRLF line
 * ends, a quoted header; and csv-parse's own errors turned into one-line messages.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readDataset, readLabels } from '../../src/datasets/index.js';

const PYTHON = '/usr/bin/python3';
const skipPython = spawnSync(PYTHON, ['-c', 'import csv'], { stdio: 'ignore' }).status === 0 ? false : `${PYTHON} is not installed`;
const dir = mkdtempSync(join(tmpdir(), 'berth-csv-'));

describe('readDataset: CSV written by Python', { skip: skipPython }, () => {
  before(() => {
    const script = [
      'import csv, json, random',
      'random.seed(7)',
      'rows = [[random.uniform(-1e3, 1e3) for _ in range(5)] for _ in range(4)]',
      "with open('quoted.csv', 'w', newline='') as f:",
      '    w = csv.writer(f, quoting=csv.QUOTE_ALL)',
      "    w.writerow(['feature, one', 'b', 'c', 'd', 'e'])",
      '    w.writerows(rows)',
      "with open('plain.csv', 'w', newline='') as f: csv.writer(f, lineterminator='\\n').writerows([[1, 2.5], [3, -4]])",
      "json.dump(rows, open('expected.json', 'w'))",
    ].join('\n');
    const r = spawnSync(PYTHON, ['-c', script], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  });

  it('reads quoted fields and a header holding a comma', async () => {
    assert.ok(readFileSync(join(dir, 'quoted.csv'), 'utf8').includes('"\r\n"'), 'python wrote quoted CRLF rows');
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as number[][];
    const ds = await readDataset(join(dir, 'quoted.csv'));
    assert.deepEqual(ds.inputs.input.shape, [4, 5]);
    assert.deepEqual([...(ds.inputs.input.data as Float32Array)], expected.flat().map((v) => Math.fround(v)));
    const plain = await readDataset(join(dir, 'plain.csv'));
    assert.deepEqual([...(plain.inputs.input.data as Float32Array)], [1, 2.5, 3, -4]);
  });

  it('turns a malformed file into one line naming it', async () => {
    const path = join(dir, 'open-quote.csv');
    writeFileSync(path, '1,"2\n3,4\n');
    await assert.rejects(readDataset(path), (err: Error) => {
      assert.match(err.message, /open-quote\.csv: not valid CSV \(Quote Not Closed/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
    const labels = join(dir, 'labels.csv');
    writeFileSync(labels, '\uFEFF"label"\r\n"3"\r\n\r\n1\n');
    assert.deepEqual([...(await readLabels(labels))], [3, 1]);
  });
});
