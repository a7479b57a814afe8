/**
 * A registry with the digits example in two versions, for the dashboard tests and screenshots:
 * v1 is the bundled model, v2 a retrain derived from it (another hidden size and seed, so the
 * files differ while both classify well); production is v1 and v2 runs as a canary.
 */
import { join } from 'node:path';
import { Registry } from '../../src/registry/registry.js';
import { accuracy, exportDigitsModel, trainMlp } from '../../src/examples/digits/index.js';
import { testSplit, trainSplit } from '../../src/examples/digits/index.js';

export interface DigitsRegistry {
  home: string;
  registry: Registry;
  adminKey: string;
  readKey: string;
}

/** Trains a digits MLP and writes it as an .onnx file; returns its held-out accuracy. */
export async function writeDigitsVersion(path: string, options: { hidden?: number; seed?: number } = {}): Promise<number> {
  const trained = trainMlp(trainSplit(), options);
  const testAccuracy = accuracy(trained.model, testSplit());
  await exportDigitsModel(trained.model, path, { testAccuracy, testRows: testSplit().n });
  return testAccuracy;
}

export async function digitsRegistry(dir: string, options: { canaryPercent?: number } = {}): Promise<DigitsRegistry> {
  const home = join(dir, 'home');
  const registry = await Registry.open({ home });
  const v1 = join(dir, 'digits-v1.onnx');
  const v2 = join(dir, 'digits-v2.onnx');
  const a1 = await writeDigitsVersion(v1);
  const a2 = await writeDigitsVersion(v2, { hidden: 48, seed: 7 });
  const round = (a: number): number => Math.round(a * 10000) / 10000;
  await registry.push(v1, { name: 'digits', description: 'handwritten digits, 8×8 (UCI optdigits)', metrics: { accuracy: round(a1) }, actor: 'ci' });
  await registry.push(v2, { name: 'digits', metrics: { accuracy: round(a2) }, parent: { name: 'digits', version: 1 }, derivedBy: 'retrain: 48 hidden units, seed 7', actor: 'ci' });
  await registry.setAlias('digits', 'production', 1, 'ci');
  await registry.startRollout('digits', { canary: { version: 2, percent: options.canaryPercent ?? 30 } }, 'ci');
  const adminKey = (await registry.createKey('admin', { name: 'dashboard-admin', actor: 'ci' })).key;
  const readKey = (await registry.createKey('read', { name: 'dashboard-read', actor: 'ci' })).key;
  return { home, registry, adminKey, readKey };
}
