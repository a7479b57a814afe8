/**
 * Evaluation and calibration data: the one reader every command uses (`eval`, `optimize`,
 * `quantize --calibration`, `monitor`, capture export).
 *
 * Formats (the first axis is always the sample axis):
 * - `.npy`: one input (npy.ts).
 * - `.npz`: a NumPy archive (`np.savez` / `np.savez_compressed`): one `.npy` per input, named
 *   by the member name (npz.ts).
 * - a directory: one `NAME.npy` per input.
 * - `.json`: a nested array, `{ "input_name": array, ... }`, an Open Inference Protocol request
 *   or a V1 predict request (json.ts).
 * - `.csv`: numeric rows, one sample per row, optional header row. One input (csv.ts).
 *
 * Errors are one line and name the file, so a CLI can print `error: <message>` and exit.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { csvTensor, parseCsv } from './csv.js';
import { failFile, readBytes } from './errors.js';
import { fitDataset } from './fit.js';
import { parseJsonData } from './json.js';
import { parseNpy } from './npy.js';
import { parseNpz } from './npz.js';
import type { RawInput } from './raw-input.js';
import type { Dataset, DatasetTensor, ModelInputSpec, ReadDatasetOptions } from './types.js';

/**
 * Reads evaluation/calibration data. With `inputNames`/`inputShapes`/`inputTypes` (see
 * `datasetOptionsFor(model)`), the result is fitted to the model: named after its inputs,
 * reshaped and cast; anything that does not fit is a one-line error.
 */
export async function readDataset(path: string, options: ReadDatasetOptions = {}): Promise<Dataset> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code === 'ENOENT' ? `data file not found: ${path}` : `cannot read data file ${path}: ${e.message}`);
  }
  let raw: RawInput[];
  if (isDir) {
    const files = (await readdir(path)).filter((f) => f.endsWith('.npy')).sort();
    if (files.length === 0) failFile(path, 'directory holds no .npy files (expected one NAME.npy per model input)');
    raw = [];
    for (const f of files) raw.push({ name: f.slice(0, -4), tensor: parseNpy(await readBytes(join(path, f), 'data'), join(path, f)) });
  } else {
    const ext = extname(path).toLowerCase();
    const bytes = await readBytes(path, 'data');
    if (ext === '.npy') raw = [{ tensor: parseNpy(bytes, path) }];
    else if (ext === '.npz') raw = parseNpz(bytes, path, options.maxNpzBytes);
    else if (ext === '.json') raw = parseJsonData(bytes, path, options.inputNames);
    else if (ext === '.csv') raw = [{ tensor: csvTensor(parseCsv(bytes, path), path) }];
    else failFile(path, `unknown data format '${ext || '(no extension)'}': use .npy, .npz, .json, .csv or a directory of NAME.npy files`);
  }
  const specs = options.inputNames?.map((name, i): ModelInputSpec => ({ name, shape: options.inputShapes?.[i], datatype: options.inputTypes?.[i] }));
  return assemble(raw, path, specs);
}

/** Names the raw inputs, checks sample counts, and fits them to the model when specs are given. */
function assemble(raw: RawInput[], path: string, specs: ModelInputSpec[] | undefined): Dataset {
  const inputs: Record<string, DatasetTensor> = {};
  if (raw.length === 1 && (raw[0].name === undefined || (specs?.length === 1 && !specs.some((s) => s.name === raw[0].name)))) {
    // A single array (or a single named one for a single-input model) feeds the only input.
    if (specs && specs.length > 1) {
      failFile(path, `holds one array but the model has ${specs.length} inputs (${specs.map((s) => s.name).join(', ')}): use a .json {name: array} file, an .npz, or a directory of NAME.npy files`);
    }
    inputs[specs?.[0]?.name ?? raw[0].name ?? 'input'] = raw[0].tensor;
  } else {
    for (const r of raw) {
      const name = r.name ?? 'input';
      if (Object.hasOwn(inputs, name)) failFile(path, `input '${name}' appears twice`);
      inputs[name] = r.tensor;
    }
  }
  const ds = makeDataset(inputs, path);
  return specs ? fitDataset(ds, specs, path) : ds;
}

function makeDataset(inputs: Record<string, DatasetTensor>, path: string): Dataset {
  const names = Object.keys(inputs);
  if (names.length === 0) failFile(path, 'no inputs');
  let samples: number | undefined;
  for (const name of names) {
    const t = inputs[name];
    if (t.shape.length === 0) failFile(path, `input '${name}' is a scalar; the first axis must be the sample axis`);
    if (samples === undefined) samples = t.shape[0];
    else if (t.shape[0] !== samples) {
      failFile(path, `sample counts differ between inputs: '${names[0]}' has ${samples}, '${name}' has ${t.shape[0]}`);
    }
  }
  if (samples === 0) failFile(path, 'holds no samples');
  return { samples: samples!, inputs };
}
