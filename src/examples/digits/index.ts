/**
 * berth's bundled example model: an MLP for the UCI 8×8 digits, trained here in TypeScript
 * and written as a model repository entry (`<dir>/digits/1/model.onnx` + `config.json`), so
 * `berth serve` has something real to serve with no download.
 *
 * Run directly to build one: `node --import tsx src/examples/digits/index.ts OUTDIR`.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../onnx/index.js';
import { CLASSES, digitsSplit, type Digits } from './dataset.js';
import { exportDigitsModel, recordedAccuracy } from './export.js';
import { accuracy, trainMlp, type TrainResult } from './train.js';

export { loadDigits, type Digits } from './dataset.js';
export { accuracy, forward, predict, trainMlp, type Forward, type Mlp, type TrainOptions, type TrainResult } from './train.js';
export { buildDigitsModel, exportDigitsModel, INPUT_NAME, LABEL_NAME, PROBABILITIES_NAME } from './export.js';

export const MODEL_NAME = 'digits';
export const MODEL_VERSION = '1';

/** The held-out rows (20% of each class, fixed seed) that the reported accuracy is measured on. */
export function testSplit(): Digits {
  return digitsSplit().test;
}

/** The rows the example model is trained on: everything `testSplit` leaves out. */
export function trainSplit(): Digits {
  return digitsSplit().train;
}

/** Trains the example model on `trainSplit()` and measures it on `testSplit()`. */
export function trainDigits(): TrainResult & { testAccuracy: number } {
  const result = trainMlp(trainSplit());
  return { ...result, testAccuracy: accuracy(result.model, testSplit()) };
}

export interface EnsureResult {
  modelPath: string;
  /**
   * held-out accuracy: measured when built; when reused, the figure recorded in the model's
   * metadata (NaN if the file there is not one this function wrote)
   */
  testAccuracy: number;
  /** false when `modelPath` already existed and was left alone */
  built: boolean;
}

/** Writes through a temp file and rename, so a reader never sees half a config. */
async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}

/**
 * Makes sure `<dir>/digits/1/model.onnx` exists, training and exporting it if not.
 * config.json is written before the model, so whoever sees the model also sees its config.
 */
export async function ensureDigitsModel(dir: string): Promise<EnsureResult> {
  const modelDir = join(dir, MODEL_NAME);
  const modelPath = join(modelDir, MODEL_VERSION, 'model.onnx');
  if (existsSync(modelPath)) {
    // A model someone else put there (or a corrupt one) is still theirs to keep: report no
    // accuracy and let the server's loader be the one to judge the file.
    const testAccuracy = await loadModel(modelPath).then(recordedAccuracy, () => Number.NaN);
    return { modelPath, testAccuracy, built: false };
  }

  const trained = trainDigits();
  await mkdir(join(modelDir, MODEL_VERSION), { recursive: true });
  const config = { max_batch_size: 32, labels: Array.from({ length: CLASSES }, (_, i) => String(i)) };
  await writeFileAtomic(join(modelDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await exportDigitsModel(trained.model, modelPath, { testAccuracy: trained.testAccuracy, testRows: testSplit().n });
  return { modelPath, testAccuracy: trained.testAccuracy, built: true };
}

async function main(argv: string[]): Promise<void> {
  const out = argv[0];
  if (!out) {
    console.error('usage: node --import tsx src/examples/digits/index.ts OUTDIR');
    process.exitCode = 2;
    return;
  }
  const started = performance.now();
  const result = await ensureDigitsModel(resolve(out));
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  if (result.built) {
    console.log(`trained and wrote ${result.modelPath} in ${seconds}s; held-out accuracy ${(result.testAccuracy * 100).toFixed(2)}% (${testSplit().n} rows)`);
  } else {
    console.log(`${result.modelPath} already exists; left as is (recorded held-out accuracy ${(result.testAccuracy * 100).toFixed(2)}%)`);
  }
}

// Run main only when this file is the entry point, not when it is imported.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
