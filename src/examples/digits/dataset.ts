/**
 * The UCI optical digits data shipped in `data/digits/digits.csv.gz`: 1797 rows of 8×8 images,
 * 64 pixel counts (0–16) then the class (0–9). Pixels stay raw here; the model itself scales
 * them, so a served model accepts exactly what a user copies out of the CSV.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { mulberry32 } from '../../util/random.js';

export const FEATURES = 64;
export const CLASSES = 10;
/** Largest pixel value: each pixel counts set bits in a 4×4 block of the 32×32 original. */
export const PIXEL_MAX = 16;

/** Row-major samples: `x` is [n, 64] raw pixel values, `y` the class of each row. */
export interface Digits {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

export interface Split {
  train: Digits;
  test: Digits;
  /** row numbers in the full data set, ascending, so a split can be reported and reproduced */
  trainRows: number[];
  testRows: number[];
}

const RELATIVE_CSV = join('data', 'digits', 'digits.csv.gz');

/**
 * Where the CSV is. The module runs as `src/examples/digits/dataset.ts` (tsx) and as
 * `dist/examples/digits/dataset.js` (tsc); walking up to the first folder holding `data/`
 * finds the package root in both without hard-coding either depth.
 */
export function digitsCsvPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, RELATIVE_CSV);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`digits data not found: no ${RELATIVE_CSV} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** Parses the gzipped CSV; throws on any malformed row rather than training on garbage. */
export function parseDigitsCsv(gz: Buffer): Digits {
  const lines = gunzipSync(gz).toString('utf8').split('\n').filter((line) => line.trim() !== '');
  const n = lines.length;
  const x = new Float32Array(n * FEATURES);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cells = lines[i].split(',');
    if (cells.length !== FEATURES + 1) throw new Error(`digits row ${i + 1}: ${cells.length} columns, expected ${FEATURES + 1}`);
    for (let j = 0; j < FEATURES; j++) {
      const v = Number(cells[j]);
      if (!Number.isFinite(v) || v < 0 || v > PIXEL_MAX) throw new Error(`digits row ${i + 1}: pixel ${j} is ${cells[j]}`);
      x[i * FEATURES + j] = v;
    }
    const label = Number(cells[FEATURES]);
    if (!Number.isInteger(label) || label < 0 || label >= CLASSES) throw new Error(`digits row ${i + 1}: class ${cells[FEATURES]}`);
    y[i] = label;
  }
  return { x, y, n };
}

let cached: Digits | undefined;

/** The whole data set (1797 rows), read once per process. Callers must not mutate it. */
export function loadDigits(): Digits {
  cached ??= parseDigitsCsv(readFileSync(digitsCsvPath()));
  return cached;
}

/** Fisher–Yates in place. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** The rows `rows` of `data`, in that order. */
export function selectRows(data: Digits, rows: readonly number[]): Digits {
  const x = new Float32Array(rows.length * FEATURES);
  const y = new Int32Array(rows.length);
  rows.forEach((row, i) => {
    x.set(data.x.subarray(row * FEATURES, (row + 1) * FEATURES), i * FEATURES);
    y[i] = data.y[row];
  });
  return { x, y, n: rows.length };
}

export interface SplitOptions {
  /** share of each class held out; default 0.2 */
  testFraction?: number;
  seed?: number;
}

export const DEFAULT_SPLIT_SEED = 20240101;

/**
 * Stratified split: each class contributes the same share to the test set, so the held-out
 * accuracy is not skewed by one class being over- or under-represented.
 */
export function stratifiedSplit(data: Digits, options: SplitOptions = {}): Split {
  const testFraction = options.testFraction ?? 0.2;
  const random = mulberry32(options.seed ?? DEFAULT_SPLIT_SEED);
  const byClass: number[][] = Array.from({ length: CLASSES }, () => []);
  for (let i = 0; i < data.n; i++) byClass[data.y[i]].push(i);
  const trainRows: number[] = [];
  const testRows: number[] = [];
  for (const rows of byClass) {
    shuffle(rows, random);
    const held = Math.round(rows.length * testFraction);
    testRows.push(...rows.slice(0, held));
    trainRows.push(...rows.slice(held));
  }
  trainRows.sort((a, b) => a - b);
  testRows.sort((a, b) => a - b);
  return { train: selectRows(data, trainRows), test: selectRows(data, testRows), trainRows, testRows };
}

let cachedSplit: Split | undefined;

/** The example's split (default options) of the shipped data, computed once per process. */
export function digitsSplit(): Split {
  cachedSplit ??= stratifiedSplit(loadDigits());
  return cachedSplit;
}
