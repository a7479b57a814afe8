/** Shared by the onnx tests: the ONNX test data location and an independent Python `onnx` to compare with. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const TESTDATA = '/usr/share/libonnx-testdata/data';
export const HAS_TESTDATA = existsSync(TESTDATA);
export const NO_TESTDATA = HAS_TESTDATA ? false : `${TESTDATA} is absent (Debian package libonnx-testdata)`;

/** A python3 that can import onnx and numpy: Debian's, which a pyenv python3 on PATH may shadow. */
export const PYTHON: string | undefined = ['/usr/bin/python3', 'python3'].find((py) => {
  const r = spawnSync(py, ['-c', 'import onnx, numpy'], { stdio: 'ignore' });
  return r.status === 0;
});
export const NO_PYTHON = PYTHON ? false : 'no python3 with the onnx and numpy modules (Debian packages python3-onnx, python3-numpy)';

/** Runs a Python script (argv after it in sys.argv[1:]) and returns its stdout. */
export function python(script: string, args: string[] = [], input?: string | Uint8Array): string {
  if (!PYTHON) throw new Error('python with onnx is not available');
  return execFileSync(PYTHON, ['-c', script, ...args], { input, encoding: 'utf8', maxBuffer: 256 << 20 });
}

/** Runs the ONNX checker on a model file; returns '' when it passes, the error text otherwise. */
export function onnxCheck(path: string): string {
  const r = spawnSync(PYTHON!, ['-c', 'import onnx, sys; onnx.checker.check_model(sys.argv[1], full_check=True)', path], { encoding: 'utf8' });
  return r.status === 0 ? '' : (r.stderr || r.stdout || `exit ${r.status}`);
}

/** The model.onnx files of the given testdata groups (node, simple, ...). */
export function testModels(...groups: string[]): string[] {
  const out: string[] = [];
  for (const g of groups) {
    const dir = join(TESTDATA, g);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      const f = join(dir, name, 'model.onnx');
      if (existsSync(f)) out.push(f);
    }
  }
  return out;
}
