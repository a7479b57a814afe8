/**
 * Drift detection on data whose answer is known: seeded generators with no change, a mean
 * shift of 0.5 σ in 3 of 10 features, a scale change, a new category; and the digits example
 * (reference: its training split) fed clean held-out images, rotated ones and noisy ones.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import type { Tensor } from '../../src/core/tensor.js';
import { DriftMonitor, getDriftSnapshot, registerDriftMonitor } from '../../src/monitor/drift/monitor.js';
import type { DriftReport } from '../../src/monitor/drift/monitor.js';
import { MAX_CATEGORIES, OTHER, buildProfile, compareFeature, loadProfile, profileColumn, profilePath, saveProfile } from '../../src/monitor/drift/profile.js';
import { HIGH_DIM_ELEMENTS } from '../../src/monitor/drift/features.js';
import { mulberry32 } from '../../src/util/random.js';
import { testSplit, trainSplit } from '../../src/examples/digits/index.js';
import { writeNpy } from '../../src/datasets/index.js';
import { registerMonitorCommands } from '../../src/cli/commands/monitor.js';
import { record, rows } from './helpers-drift.js';
import { tempDir } from '../helpers/models.js';

const F = 10;

/** A toy classifier's answer: which of 4 quadrants features 0 and 1 fall in (all four are common). */
function labels(x: Float32Array, n: number): BigInt64Array {
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) out[i] = BigInt((x[i * F] > 0 ? 1 : 0) + (x[i * F + 1] > 1 ? 2 : 0));
  return out;
}

function fx(x: Float32Array, n: number): Tensor {
  return { name: 'x', datatype: 'FP32', shape: [n, F], data: x };
}

function labelTensor(x: Float32Array, n: number): Tensor {
  return { name: 'label', datatype: 'INT64', shape: [n], data: labels(x, n) };
}

/** A monitor with a reference of `refN` seeded rows (inputs and outputs) and a report collector. */
function monitorWithReference(windowSize: number, refN: number, seed = 1): { monitor: DriftMonitor; reports: DriftReport[] } {
  const monitor = new DriftMonitor({ windowSize });
  const x = rows(seed, refN, F);
  const profile = buildProfile(
    { samples: refN, inputs: { x: { datatype: 'FP32', shape: [refN, F], data: x } } },
    undefined,
    { outputs: { samples: refN, inputs: { label: { datatype: 'INT64', shape: [refN], data: labels(x, refN) } } } },
  );
  monitor.setProfile('toy', '1', profile);
  const reports: DriftReport[] = [];
  monitor.onWindow = (r) => reports.push(r);
  return { monitor, reports };
}

/** Sends `n` rows from a seeded generator in requests of 50 rows. */
function send(monitor: DriftMonitor, seed: number, n: number, change: Parameters<typeof rows>[3] = {}): void {
  const x = rows(seed, n, F, change);
  for (let i = 0; i < n; i += 50) {
    const part = x.slice(i * F, (i + 50) * F);
    monitor.offer(record('toy', '1', [fx(part, 50)], [labelTensor(part, 50)], 50));
  }
}

const flagged = (r: DriftReport): string[] => r.features.filter((f) => f.drifted).map((f) => f.name);

describe('drift on seeded data', () => {
  test('same distribution: no dataset drift over 20 windows (at most one false alarm)', async () => {
    const { monitor, reports } = monitorWithReference(500, 1000);
    for (let w = 0; w < 20; w++) send(monitor, 100 + w, 500);
    await monitor.flush();
    monitor.close();
    assert.equal(reports.length, 20);
    const falseAlarms = reports.filter((r) => r.dataset_drift).length;
    const featureFlags = reports.reduce((n, r) => n + r.n_drifted, 0);
    const predictionAlarms = reports.filter((r) => r.prediction_drift?.drifted).length;
    console.log(`# same distribution: ${falseAlarms} dataset false alarms in 20 windows; ${featureFlags}/200 feature-level flags (KS at p ≤ 0.05); ${predictionAlarms} prediction-drift alarms`);
    assert.ok(falseAlarms <= 1, `${falseAlarms} false alarms`);
    // each feature test is at the 5% level: about 10 of 200 are expected by chance
    assert.ok(featureFlags <= 20, `${featureFlags} feature flags`);
    assert.ok(predictionAlarms <= 1, `${predictionAlarms} prediction drift alarms`);
    // the small windows use KS on numeric features and chi-square on the 4-class output
    assert.ok(reports[0].features.every((f) => f.method === 'ks' && f.score_type === 'p_value' && f.threshold === 0.05));
    assert.equal(reports[0].prediction_drift!.features[0].method, 'chisquare');
    assert.equal(reports[19].window!.index, 20);
    assert.equal(reports[19].window!.closed_by, 'count');
  });

  test('a 0.5 σ mean shift in 3 of 10 features: those 3 are flagged', async () => {
    // small windows (500 ≤ 1000): KS, p ≤ 0.05
    const small = monitorWithReference(500, 1000);
    for (let w = 0; w < 5; w++) send(small.monitor, 200 + w, 500, { shift: 0.5, on: [2, 5, 7] });
    await small.monitor.flush();
    small.monitor.close();
    let extra = 0;
    for (const r of small.reports) {
      const names = flagged(r);
      for (const f of ['x[2]', 'x[5]', 'x[7]']) assert.ok(names.includes(f), `window ${r.window!.index}: ${f} not flagged (${names.join(', ')})`);
      extra += names.length - 3;
      assert.ok(r.features.filter((f) => ['x[2]', 'x[5]', 'x[7]'].includes(f.name)).every((f) => f.statistic < 1e-6), 'shifted features: p < 1e-6');
      // 3 of 10 is below the 0.5 share: no dataset-level drift
      assert.equal(r.dataset_drift, false);
      assert.ok(Math.abs(r.drifted_share! - names.length / 10) < 1e-12);
    }
    // the 7 unshifted features are tested at the 5% level: a few chance flags over 5 windows
    console.log(`# 0.5σ shift, windows of 500 (KS): the 3 shifted features flagged in 5/5 windows; ${extra} chance flags among 35 unshifted feature tests`);
    assert.ok(extra <= 4, `${extra} unshifted features flagged`);

    // large windows (> 1000): normed Wasserstein ≥ 0.1 — exactly those 3, every window
    const large = monitorWithReference(2000, 5000, 9);
    for (let w = 0; w < 5; w++) send(large.monitor, 400 + w, 2000, { shift: 0.5, on: [2, 5, 7] });
    for (let w = 0; w < 5; w++) send(large.monitor, 500 + w, 2000);
    await large.monitor.flush();
    large.monitor.close();
    assert.equal(large.reports.length, 10);
    for (const r of large.reports.slice(0, 5)) {
      assert.deepEqual(flagged(r), ['x[2]', 'x[5]', 'x[7]']);
      assert.ok(r.features.every((f) => f.method === 'wasserstein' && f.threshold === 0.1));
      for (const f of r.features.filter((g) => g.drifted)) assert.ok(Math.abs(f.statistic - 0.5) < 0.1, `${f.name}: W/σ ${f.statistic} ≈ 0.5`);
    }
    for (const r of large.reports.slice(5)) assert.deepEqual(flagged(r), [], 'unchanged windows after the shift ends');
    // PSI is reported beside every test, with its bands
    const shifted = large.reports[0].features.find((f) => f.name === 'x[2]')!;
    assert.ok(shifted.psi >= 0.1 && shifted.psi_band !== 'insignificant', `PSI ${shifted.psi}`);
    assert.equal(large.reports[5].features[0].psi_band, 'insignificant');
  });

  test('a scale change is flagged', async () => {
    const { monitor, reports } = monitorWithReference(500, 1000);
    send(monitor, 300, 500, { scale: 1.5, on: Array.from({ length: F }, (_, f) => f) });
    send(monitor, 301, 500, { scale: 1.5, on: [4] });
    await monitor.flush();
    monitor.close();
    assert.equal(reports[0].dataset_drift, true, 'every feature 1.5× wider: dataset drift');
    assert.equal(reports[0].drifted_share, 1);
    assert.ok(flagged(reports[1]).includes('x[4]'), 'one feature 1.5× wider: that feature flagged');
    assert.equal(reports[1].dataset_drift, false);
  });

  test('a new category is flagged (integer and string features, small and large windows)', async () => {
    const random = mulberry32(3);
    const colours = ['red', 'green', 'blue'];
    const draw = (n: number, newShare: number): { codes: Int32Array; names: Buffer[] } => {
      const codes = new Int32Array(n);
      const names: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const c = random() < newShare ? 3 : Math.floor(random() * 3);
        codes[i] = c;
        names.push(Buffer.from(c === 3 ? 'purple' : colours[c]));
      }
      return { codes, names };
    };
    for (const [windowSize, method] of [[400, 'chisquare'], [1500, 'jensenshannon']] as const) {
      const monitor = new DriftMonitor({ windowSize, referenceSize: 2000 });
      const reports: DriftReport[] = [];
      monitor.onWindow = (r) => reports.push(r);
      const sendCats = (n: number, share: number): void => {
        const { codes, names } = draw(n, share);
        monitor.offer(record('cats', '1', [
          { name: 'code', datatype: 'INT32', shape: [n], data: codes },
          { name: 'colour', datatype: 'BYTES', shape: [n], data: names },
        ], [{ name: 'y', datatype: 'FP32', shape: [n], data: new Float32Array(n) }], n));
      };
      sendCats(2000, 0); // the reference, from live traffic
      sendCats(windowSize, 0);
      sendCats(windowSize, 0.15);
      await monitor.flush();
      monitor.close();
      assert.equal(reports.length, 2);
      const [same, changed] = reports;
      assert.equal(same.reference.source, 'live');
      assert.deepEqual(same.features.map((f) => [f.name, f.kind, f.method]), [['code', 'categorical', method], ['colour', 'categorical', method]]);
      assert.deepEqual(flagged(changed), ['code', 'colour'], `${method}: the new category is flagged`);
      if (method === 'chisquare') {
        // the control window is a 5%-level test like any other: not extreme, where the new category is
        for (const f of same.features) assert.ok(f.statistic > 0.01, `control p ${f.statistic}`);
        for (const f of changed.features) assert.ok(f.statistic < 1e-10, `new category p ${f.statistic}`);
      } else {
        assert.deepEqual(flagged(same), [], `${method}: no new category, nothing flagged`);
        for (const f of same.features) assert.ok(f.statistic < 0.05, `control JS ${f.statistic}`);
      }
      assert.equal(changed.dataset_drift, true);
      for (const f of changed.features) assert.equal(f.psi_band, 'major');
    }
  });

  test('string features: awkward values are plain categories; many distinct values are lumped', () => {
    const random = mulberry32(11);
    const words = ['constructor', '__proto__', 'toString', 'hasOwnProperty', ''];
    const column = (n: number): string[] => Array.from({ length: n }, () => words[Math.floor(random() * words.length)]);
    const part = column(500);
    const ref = profileColumn('w', [...part, ...part, ...part, ...part], 'BYTES');
    assert.deepEqual(Object.keys(ref.distinct!).sort(), [...words].sort());
    const self = compareFeature(ref, part); // the same proportions exactly
    assert.deepEqual([self.method, self.statistic, self.drifted], ['chisquare', 1, false]);
    // the two-sample chi-square holds its 5% level: 400 seeded same-distribution trials
    let rejected = 0;
    for (let t = 0; t < 400; t++) {
      const r = mulberry32(1000 + t);
      const draw = (n: number): string[] => Array.from({ length: n }, () => words[Math.floor(r() * words.length)]);
      if (compareFeature(profileColumn('w', draw(2000), 'BYTES'), draw(500)).drifted) rejected++;
    }
    console.log(`# chi-square false-alarm rate on same-distribution categories: ${rejected}/400`);
    assert.ok(rejected >= 8 && rejected <= 32, `${rejected}/400 rejected at the 5% level`);
    // many distinct values (150 frequent, 500 rare): the 199 most frequent are kept, the rest lumped as (other)
    const values = [...Array.from({ length: 4500 }, (_, i) => `common${i % 150}`), ...Array.from({ length: 500 }, (_, i) => `rare${i}`)];
    const many = profileColumn('t', values, 'BYTES');
    assert.equal(Object.keys(many.distinct!).length, MAX_CATEGORIES);
    assert.equal(many.distinct![OTHER], 451);
    const familiar = compareFeature(many, values.filter((_, i) => i % 7 === 0)); // 7 is prime to 150: every common value, evenly
    assert.equal(familiar.drifted, false);
    const unseen = compareFeature(many, Array.from({ length: 500 }, (_, i) => `new${i}`)); // all new: all (other)
    assert.ok(unseen.drifted && unseen.statistic < 1e-10, 'every value in (other): drift');
  });

  test('no window closed yet: no verdict (null), not "no drift"', async () => {
    const monitor = new DriftMonitor({ windowSize: 200, referenceSize: 300 });
    send(monitor, 1, 100); // building the reference
    await monitor.flush();
    let r = monitor.snapshot('toy')!;
    assert.equal(r.status, 'building_reference');
    assert.deepEqual([r.dataset_drift, r.drifted_share], [null, null]);
    send(monitor, 1, 200); // the reference is complete; no window yet
    send(monitor, 2, 100);
    await monitor.flush();
    r = monitor.snapshot('toy')!;
    assert.equal(r.status, 'collecting');
    assert.deepEqual([r.dataset_drift, r.drifted_share], [null, null]);
    send(monitor, 2, 100); // the first window closes: a verdict
    await monitor.flush();
    r = monitor.snapshot('toy')!;
    assert.equal(r.status, 'ok');
    assert.equal(typeof r.dataset_drift, 'boolean');
    assert.equal(typeof r.drifted_share, 'number');
    monitor.close();
  });

  test('a live reference is saved, reloaded by a new monitor, and served by getDriftSnapshot', async () => {
    const home = tempDir('berth-drift-');
    const first = new DriftMonitor({ home, windowSize: 200, referenceSize: 300 });
    send(first, 1, 300); // becomes the reference
    send(first, 2, 200); // one window
    await first.flush();
    await waitForFile(profilePath(home, 'toy', '1'));
    const saved = await loadProfile(home, 'toy', '1');
    assert.equal(saved!.source, 'live');
    assert.equal(saved!.samples, 300);
    assert.equal(saved!.inputs[0].features.length, F);
    assert.equal(saved!.outputs![0].features[0].kind, 'categorical');
    const unregister = registerDriftMonitor(first);
    const snap = getDriftSnapshot('toy');
    assert.equal(snap?.status, 'ok');
    assert.equal(snap?.windows_evaluated, 1);
    unregister();
    first.close();

    const second = new DriftMonitor({ home, windowSize: 200, referenceSize: 300 });
    const reports: DriftReport[] = [];
    second.onWindow = (r) => reports.push(r);
    send(second, 3, 200, { shift: 2, on: Array.from({ length: F }, (_, f) => f) });
    await second.flush();
    second.close();
    assert.equal(reports.length, 1, 'the saved reference was used: the first 200 samples already formed a window');
    assert.equal(reports[0].reference.created, saved!.created);
    assert.equal(reports[0].dataset_drift, true);
    assert.equal(reports[0].prediction_drift?.drifted, true, 'a 2σ shift moves the toy classifier’s answers too');
  });

  test('a window also closes by time', async () => {
    const monitor = new DriftMonitor({ windowSize: 10_000, windowSecs: 0.2 });
    monitor.setProfile('toy', '1', buildProfile({ samples: 1000, inputs: { x: { datatype: 'FP32', shape: [1000, F], data: rows(1, 1000, F) } } }));
    const reports: DriftReport[] = [];
    monitor.onWindow = (r) => reports.push(r);
    send(monitor, 7, 100);
    await monitor.flush();
    await new Promise((r) => setTimeout(r, 800));
    monitor.close();
    assert.equal(reports.length, 1);
    assert.equal(reports[0].window!.closed_by, 'time');
    assert.equal(reports[0].window!.samples, 100);
  });
});

// --- the digits example -----------------------------------------------------------------------

const rotate90 = (x: Float32Array, n: number, side = 8): Float32Array => {
  const out = new Float32Array(x.length);
  const s = side * side;
  for (let i = 0; i < n; i++) for (let r = 0; r < side; r++) for (let c = 0; c < side; c++) out[i * s + c * side + (side - 1 - r)] = x[i * s + r * side + c];
  return out;
};

const noisy = (x: Float32Array, amplitude: number, seed = 5): Float32Array => {
  const random = mulberry32(seed);
  return x.map((v) => Math.min(16, Math.max(0, v + Math.round((random() * 2 - 1) * amplitude))));
};

/** 8×8 → 16×16 by pixel doubling: 256 values per sample, above the per-element limit. */
const upscale = (x: Float32Array, n: number): Float32Array => {
  const out = new Float32Array(n * 256);
  for (let i = 0; i < n; i++) for (let r = 0; r < 16; r++) for (let c = 0; c < 16; c++) out[i * 256 + r * 16 + c] = x[i * 64 + (r >> 1) * 8 + (c >> 1)];
  return out;
};

describe('drift on the digits example (reference: the training split)', () => {
  const train = trainSplit();
  const held = testSplit();

  async function judge(reference: Float32Array, refN: number, current: Float32Array, n: number, perSample: number): Promise<DriftReport> {
    const monitor = new DriftMonitor({ windowSize: n });
    monitor.setProfile('digits', '1', buildProfile({ samples: refN, inputs: { pixels: { datatype: 'FP32', shape: [refN, perSample], data: reference } } }));
    let report: DriftReport | undefined;
    monitor.onWindow = (r) => (report = r);
    // as served: requests of up to 32 rows
    for (let i = 0; i < n; i += 32) {
      const k = Math.min(32, n - i);
      monitor.offer(record('digits', '1', [{ name: 'pixels', datatype: 'FP32', shape: [k, perSample], data: current.slice(i * perSample, (i + k) * perSample) }], [{ name: 'label', datatype: 'INT64', shape: [k], data: new BigInt64Array(k) }], k));
    }
    await monitor.flush();
    monitor.close();
    assert.ok(report, 'a window closed');
    return report!;
  }

  test('64 pixels are profiled one feature each; held-out clean images are not flagged', async () => {
    assert.equal(HIGH_DIM_ELEMENTS, 64);
    const r = await judge(train.x, train.n, held.x, held.n, 64);
    console.log(`# digits clean held-out (${held.n} images): drifted share ${r.drifted_share!.toFixed(3)}`);
    assert.equal(r.n_features, 64);
    assert.equal(r.features[10].name, 'pixels[10]');
    assert.equal(r.dataset_drift, false);
    assert.ok(r.drifted_share! < 0.1);
  });

  test('rotated images are flagged', async () => {
    const r = await judge(train.x, train.n, rotate90(held.x, held.n), held.n, 64);
    console.log(`# digits rotated 90°: drifted share ${r.drifted_share!.toFixed(3)}`);
    assert.equal(r.dataset_drift, true);
    assert.ok(r.drifted_share! >= 0.5);
  });

  test('noisy images are flagged', async () => {
    const r = await judge(train.x, train.n, noisy(held.x, 3), held.n, 64);
    console.log(`# digits with ±3 noise: drifted share ${r.drifted_share!.toFixed(3)}`);
    assert.equal(r.dataset_drift, true);
    // pixels that are always 0 in training become categorical news
    assert.ok(r.features.find((f) => f.name === 'pixels[0]')!.drifted);
  });

  test('high-dimensional images use summary features and projections: rotation is flagged, clean is not', async () => {
    const ref = upscale(train.x, train.n);
    const clean = await judge(ref, train.n, upscale(held.x, held.n), held.n, 256);
    assert.deepEqual(clean.features.map((f) => f.name), ['pixels:mean', 'pixels:std', 'pixels:l2', ...Array.from({ length: 8 }, (_, k) => `pixels:proj${k}`)]);
    assert.equal(clean.dataset_drift, false);
    const rotated = await judge(ref, train.n, upscale(rotate90(held.x, held.n), held.n), held.n, 256);
    console.log(`# 16×16 digits rotated: drifted share ${rotated.drifted_share!.toFixed(3)} (mean/std/norm unchanged: ${rotated.features.slice(0, 3).map((f) => f.drifted).join('/')})`);
    assert.equal(rotated.dataset_drift, true);
    // rotation keeps every pixel value: the per-sample mean, std and norm do not move
    assert.ok(rotated.features.slice(0, 3).every((f) => !f.drifted));
    const brighter = await judge(ref, train.n, upscale(noisy(held.x, 4), held.n), held.n, 256);
    assert.ok(brighter.features.find((f) => f.name === 'pixels:mean')!.drifted, 'noise raises the mean brightness');
    assert.ok(brighter.features.find((f) => f.name === 'pixels:std')!.drifted);
  });

  test('berth monitor profile saves a reference from an .npy dataset', async () => {
    const home = tempDir('berth-profile-');
    const data = join(home, 'train.npy');
    await writeNpy(data, [train.n, 64], train.x);
    const program = new Command().exitOverride();
    registerMonitorCommands(program);
    const write = process.stdout.write.bind(process.stdout);
    let out = '';
    process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
    try {
      await program.parseAsync(['node', 'berth', 'monitor', 'profile', 'digits:1', '--data', data, '--home', home, '--json']);
    } finally {
      process.stdout.write = write;
    }
    const summary = JSON.parse(out) as { path: string; samples: number; inputs: { name: string; features: number }[] };
    assert.equal(summary.samples, train.n);
    assert.deepEqual(summary.inputs, [{ name: 'input', mode: 'elements', features: 64 }]);
    assert.ok(existsSync(summary.path));
    const profile = JSON.parse(readFileSync(summary.path, 'utf8')) as { model: string; version: string };
    assert.deepEqual([profile.model, profile.version], ['digits', '1']);
    // a reference named `input` (no --model) still matches the served model's only input
    const loaded = (await loadProfile(home, 'digits', '1'))!;
    const monitor = new DriftMonitor({ home, windowSize: held.n });
    let report: DriftReport | undefined;
    monitor.onWindow = (r) => (report = r);
    monitor.offer(record('digits', '1', [{ name: 'pixels', datatype: 'FP32', shape: [held.n, 64], data: rotate90(held.x, held.n) }], [{ name: 'label', datatype: 'INT64', shape: [held.n], data: new BigInt64Array(held.n) }], held.n));
    await monitor.flush();
    monitor.close();
    assert.equal(report?.reference.created, loaded.created);
    assert.equal(report?.dataset_drift, true);
    await saveProfile(home, 'digits', '2', loaded);
    assert.ok(existsSync(profilePath(home, 'digits', '2')));
  });
});

async function waitForFile(path: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} not written`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
