/**
 * .npz archives as hostile input: a zip bomb is refused from the sizes its directory declares,
 * before anything is inflated, and an archive that declares small sizes but inflates to more
 * is refused as soon as it passes them. Archives are written by Python's numpy and zipfile.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readDataset } from '../../src/datasets/index.js';

const PYTHON = '/usr/bin/python3';
const skipNumpy = spawnSync(PYTHON, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0 ? false : `${PYTHON} with numpy is not installed`;
const dir = mkdtempSync(join(tmpdir(), 'berth-npz-'));
const MiB = 1 << 20;

describe('readDataset: .npz size limits', { skip: skipNumpy }, () => {
  before(() => {
    const script = [
      'import io, struct, zipfile, numpy as np',
      // 16 MiB of zeros deflates to a few kilobytes.
      `np.savez_compressed('bomb.npz', x=np.zeros((16, ${MiB}), dtype=np.uint8))`,
      `np.savez_compressed('small.npz', x=np.arange(12, dtype=np.float32).reshape(3, 4), y=np.ones((3, 1), dtype=np.int64))`,
      // An archive whose headers claim 1000 bytes for a member that inflates to 8 MiB.
      'buf = io.BytesIO()',
      `np.save(buf, np.zeros((8, ${MiB}), dtype=np.uint8))`,
      "with zipfile.ZipFile('liar.npz', 'w', zipfile.ZIP_DEFLATED) as z: z.writestr('x.npy', buf.getvalue())",
      "data = bytearray(open('liar.npz', 'rb').read())",
      'assert data[0:4] == b"PK\\x03\\x04"',
      "struct.pack_into('<I', data, 22, 1000)",
      'cd = data.index(b"PK\\x01\\x02")',
      "struct.pack_into('<I', data, cd + 24, 1000)",
      "open('liar.npz', 'wb').write(data)",
    ].join('\n');
    const r = spawnSync(PYTHON, ['-c', script], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  });

  it('refuses an archive whose declared sizes pass the limit, with a one-line message', async () => {
    await assert.rejects(readDataset(join(dir, 'bomb.npz'), { maxNpzBytes: 4 * MiB }), (err: Error) => {
      assert.match(err.message, /bomb\.npz: \.npz archive declares 16777344 bytes of arrays uncompressed, over the limit of 4194304 bytes/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  });

  it('reads the same archive under a limit it fits', async () => {
    const ds = await readDataset(join(dir, 'bomb.npz'), { maxNpzBytes: 32 * MiB });
    assert.deepEqual(ds.inputs.x.shape, [16, MiB]);
    assert.equal(ds.inputs.x.datatype, 'UINT8');
  });

  it('counts the limit over all members together', async () => {
    const small = await readDataset(join(dir, 'small.npz'));
    assert.deepEqual(Object.keys(small.inputs).sort(), ['x', 'y']);
    // Each member is 128 bytes of header plus data: 48 and 24 bytes.
    await assert.rejects(readDataset(join(dir, 'small.npz'), { maxNpzBytes: 300 }), /declares 328 bytes of arrays uncompressed, over the limit of 300 bytes/);
    await readDataset(join(dir, 'small.npz'), { maxNpzBytes: 328 });
  });

  it('stops inflating a member that passes the size its headers declare', async () => {
    await assert.rejects(readDataset(join(dir, 'liar.npz')), /liar\.npz: \.npz member x\.npy inflates past the 1000 bytes the archive declares for it/);
  });

  it('names what is not an archive', async () => {
    const r = spawnSync(PYTHON, ['-c', "open('junk.npz', 'wb').write(b'not a zip at all' * 4)"], { cwd: dir });
    assert.equal(r.status, 0);
    await assert.rejects(readDataset(join(dir, 'junk.npz')), /junk\.npz: not a NumPy \.npz archive \(no zip directory\)/);
  });
});
