/** Ground-truth labels for `berth eval` and `berth optimize`. */
import { extname } from 'node:path';
import { tensorNumbers } from './cast.js';
import { parseCsv } from './csv.js';
import { failFile, fmtShape, readBytes } from './errors.js';
import { flattenJson, isRecord, type Json } from './json.js';
import { parseNpy } from './npy.js';

/**
 * Reads ground-truth labels: `.npy` ([n], [n, 1], or [n, classes] one-hot/probabilities, reduced
 * by argmax), `.json` (an array, possibly [[label], ...]) or `.csv` (one column, optional
 * header). Integer-valued labels come back as an Int32Array (class ids); anything else as a
 * Float32Array (regression targets).
 */
export async function readLabels(path: string): Promise<Int32Array | Float32Array> {
  const ext = extname(path).toLowerCase();
  const bytes = await readBytes(path, 'labels');
  let shape: number[];
  let values: ArrayLike<number>;
  if (ext === '.npy') {
    const t = parseNpy(bytes, path);
    shape = t.shape;
    values = tensorNumbers(t);
  } else if (ext === '.json') {
    let doc: Json;
    try {
      doc = JSON.parse(bytes.toString('utf8')) as Json;
    } catch (err) {
      failFile(path, `not valid JSON (${(err as Error).message})`);
    }
    if (isRecord(doc)) {
      const keys = Object.keys(doc);
      if (keys.length !== 1) failFile(path, `labels JSON must be an array (or an object with one key), found keys ${keys.join(', ')}`);
      doc = doc[keys[0]];
    }
    const flat = flattenJson(doc, path, 'labels');
    shape = flat.shape;
    values = flat.values;
  } else if (ext === '.csv') {
    const csv = parseCsv(bytes, path);
    if (csv.cols !== 1) failFile(path, `labels CSV must have one column, found ${csv.cols}`);
    shape = [csv.rows];
    values = csv.values;
  } else {
    failFile(path, `unknown labels format '${ext || '(no extension)'}': use .npy, .json or .csv`);
  }
  if (shape.length === 0) failFile(path, 'labels are a single value; expected one per sample');
  if (shape.length > 2) failFile(path, `labels have shape ${fmtShape(shape)}; expected [samples], [samples, 1] or [samples, classes]`);
  const n = shape[0];
  if (n === 0) failFile(path, 'holds no labels');
  if (shape.length === 2 && shape[1] > 1) {
    // One-hot or per-class scores: the label is the argmax of each row.
    const c = shape[1];
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < c; j++) if (values[i * c + j] > values[i * c + best]) best = j;
      out[i] = best;
    }
    return out;
  }
  let integral = true;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (Number.isNaN(v)) failFile(path, `label ${i} is not a number`);
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) integral = false;
  }
  return integral ? Int32Array.from({ length: n }, (_, i) => values[i]) : Float32Array.from({ length: n }, (_, i) => values[i]);
}
