/**
 * Reference profiles: what "normal" looks like for one model version, per feature, and the
 * per-feature comparison of a live window against it.
 *
 * A profile keeps, per feature: count, mean, std, min, max, quantiles, a histogram, up to
 * MAX_SAMPLE reference values (sorted; quantile-thinned when there are more) for the exact
 * KS and Wasserstein computations, and the value counts when there are at most
 * MAX_DISTINCT distinct values (categorical features and few-valued numeric ones).
 *
 * Profiles are JSON files at HOME/monitor/profiles/MODEL/VERSION.json.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../../datasets/index.js';
import type { Datatype } from '../../core/tensor.js';
import type { Column, TensorLayout } from './features.js';
import { appendSamples, emptyColumns, featureNames, isIntegerType, layoutFor } from './features.js';
import {
  chiSquareHomogeneity, histogramSorted, mean, jensenShannon, ksTwoSample, psi, psiBand, sortedFinite,
  sturgesEdges, toShares, wassersteinNormed, zTestProportions,
} from './stats.js';
import type { PsiBand } from './stats.js';
import { quantileLinear } from '../../util/stats.js';

export const PROFILE_FORMAT = 'berth.drift-profile/1';
export const MAX_SAMPLE = 2000;
export const MAX_DISTINCT = 20;
/** string features keep their MAX_CATEGORIES − 1 most frequent values; the rest count as OTHER */
export const MAX_CATEGORIES = 200;
export const OTHER = '(other)';
/** Evidently's split: statistical tests up to this many samples, distances above. */
export const SMALL_SAMPLE = 1000;
export const P_THRESHOLD = 0.05;
export const DISTANCE_THRESHOLD = 0.1;
export const DRIFT_SHARE = 0.5;
const QUANTILES = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];

export type FeatureKind = 'numeric' | 'categorical';

export interface FeatureProfile {
  name: string;
  kind: FeatureKind;
  /** non-missing values */
  count: number;
  /** NaN values (numeric) */
  missing: number;
  mean?: number;
  std?: number;
  min?: number;
  max?: number;
  quantiles?: Record<string, number>;
  histogram?: { edges: number[]; counts: number[] };
  /** sorted reference values (all of them, or MAX_SAMPLE quantile points) */
  sample?: number[];
  /** value → count, when there are at most MAX_DISTINCT distinct values */
  distinct?: Record<string, number> | null;
}

export interface TensorProfile {
  name: string;
  datatype: Datatype;
  /** per-sample shape */
  shape: number[];
  mode: 'elements' | 'summary';
  features: FeatureProfile[];
}

export interface DriftProfile {
  format: typeof PROFILE_FORMAT;
  model?: string;
  version?: string;
  created: string;
  /** where the reference came from: a dataset file, or the first K live requests */
  source: 'dataset' | 'live';
  samples: number;
  inputs: TensorProfile[];
  /** model outputs (prediction drift); absent when made from inputs only */
  outputs?: TensorProfile[];
}

/** Profiles one column of reference values. */
export function profileColumn(name: string, column: Column, datatype: Datatype | string): FeatureProfile {
  if (datatype === 'BYTES') {
    let counts = emptyCounts();
    for (const v of column as string[]) counts[v] = (counts[v] ?? 0) + 1;
    const entries = Object.entries(counts);
    if (entries.length > MAX_CATEGORIES) {
      entries.sort((a, b) => b[1] - a[1]);
      counts = Object.assign(emptyCounts(), Object.fromEntries(entries.slice(0, MAX_CATEGORIES - 1)));
      counts[OTHER] = entries.slice(MAX_CATEGORIES - 1).reduce((n, e) => n + e[1], 0);
    }
    return { name, kind: 'categorical', count: column.length, missing: 0, distinct: counts };
  }
  const values = column as number[];
  const sorted = sortedFinite(values);
  const n = sorted.length;
  const distinct = distinctCounts(sorted);
  const kind: FeatureKind = isIntegerType(datatype) && distinct !== null ? 'categorical' : 'numeric';
  const profile: FeatureProfile = { name, kind, count: n, missing: values.length - n, distinct };
  if (n === 0) return profile;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const m = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (sorted[i] - m) ** 2;
  profile.mean = m;
  profile.std = Math.sqrt(ss / n);
  profile.min = sorted[0];
  profile.max = sorted[n - 1];
  profile.quantiles = Object.fromEntries(QUANTILES.map((q) => [String(q), quantileLinear(sorted, q)]));
  const edges = sturgesEdges(sorted[0], sorted[n - 1], n);
  profile.histogram = { edges, counts: histogramSorted(sorted, edges) };
  profile.sample = thin(sorted);
  return profile;
}

/** value → count for at most MAX_DISTINCT distinct values of sorted numbers, else null. */
function distinctCounts(sorted: Float64Array): Record<string, number> | null {
  const counts = emptyCounts();
  let distinct = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    if (++distinct > MAX_DISTINCT) return null;
    counts[String(sorted[i])] = j - i;
    i = j;
  }
  return counts;
}

function thin(sorted: Float64Array): number[] {
  const n = sorted.length;
  if (n <= MAX_SAMPLE) return Array.from(sorted);
  const out = new Array<number>(MAX_SAMPLE);
  for (let k = 0; k < MAX_SAMPLE; k++) out[k] = sorted[Math.round((k * (n - 1)) / (MAX_SAMPLE - 1))];
  return out;
}

/** Profiles the columns gathered for one tensor. */
export function profileTensor(layout: TensorLayout, columns: Column[]): TensorProfile {
  const names = featureNames(layout);
  const featureType = layout.mode === 'summary' ? 'FP64' : layout.datatype;
  return {
    name: layout.name,
    datatype: layout.datatype,
    shape: layout.shape,
    mode: layout.mode,
    features: names.map((name, i) => profileColumn(name, columns[i], featureType)),
  };
}

export interface ProfileSignature {
  /** the model's inputs, in order: a dataset's single unnamed array is given the first name */
  inputs?: { name: string; datatype?: string; shape?: readonly (number | string | null)[] | null }[];
}

export interface BuildProfileOptions {
  model?: string;
  version?: string;
  /** a dataset of model outputs for the same samples (prediction-drift reference) */
  outputs?: Dataset;
  source?: DriftProfile['source'];
}

function datasetProfiles(dataset: Dataset, signature?: ProfileSignature): TensorProfile[] {
  const names = Object.keys(dataset.inputs);
  const specs = signature?.inputs ?? [];
  return names.map((key) => {
    const t = dataset.inputs[key];
    const name = names.length === 1 && specs.length === 1 && !specs.some((s) => s.name === key) ? specs[0].name : key;
    const layout = layoutFor(name, t.datatype as Datatype, t.shape.slice(1));
    const columns = emptyColumns(layout);
    if (!appendSamples(layout, t.data, t.shape[0], columns)) throw new Error(`input '${key}': shape [${t.shape.join(', ')}] does not match its data`);
    return profileTensor(layout, columns);
  });
}

/**
 * Builds a reference profile from a dataset (first axis = samples), e.g. the training data or
 * `berth capture export` output. `signature` names a single unnamed array after the model's
 * input. What `berth monitor profile` and the registry's `push --reference-data` call.
 */
export function buildProfile(dataset: Dataset, signature?: ProfileSignature, options: BuildProfileOptions = {}): DriftProfile {
  return {
    format: PROFILE_FORMAT,
    model: options.model,
    version: options.version,
    created: new Date().toISOString(),
    source: options.source ?? 'dataset',
    samples: dataset.samples,
    inputs: datasetProfiles(dataset, signature),
    outputs: options.outputs ? datasetProfiles(options.outputs) : undefined,
  };
}

// --- store -----------------------------------------------------------------------------------

const safe = (s: string): string => encodeURIComponent(s);

export function profilePath(home: string, model: string, version: string): string {
  return join(home, 'monitor', 'profiles', safe(model), `${safe(version)}.json`);
}

export async function saveProfile(home: string, model: string, version: string, profile: DriftProfile): Promise<string> {
  const path = profilePath(home, model, version);
  await mkdir(join(home, 'monitor', 'profiles', safe(model)), { recursive: true });
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temp, JSON.stringify({ ...profile, model, version }));
  await rename(temp, path);
  return path;
}

/** The saved profile of a model version, or undefined when there is none. */
export async function loadProfile(home: string, model: string, version: string): Promise<DriftProfile | undefined> {
  let text: string;
  try {
    text = await readFile(profilePath(home, model, version), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as DriftProfile;
  if (parsed.format !== PROFILE_FORMAT) throw new Error(`${profilePath(home, model, version)} is not a berth drift profile (format ${String(parsed.format)})`);
  return parsed;
}

// --- comparison ------------------------------------------------------------------------------

export type DriftMethod = 'ks' | 'chisquare' | 'z' | 'wasserstein' | 'jensenshannon';

export interface FeatureDrift {
  name: string;
  kind: FeatureKind;
  method: DriftMethod;
  /** the drift score: a p-value (ks, chisquare, z) or a distance (wasserstein, jensenshannon) */
  statistic: number;
  score_type: 'p_value' | 'distance';
  threshold: number;
  drifted: boolean;
  /** the test's own statistic (D, χ², z) for tests */
  test_statistic?: number;
  psi: number;
  psi_band: PsiBand;
  reference_count: number;
  current_count: number;
  current_mean?: number;
  reference_mean?: number;
}

/**
 * Compares a window's values of one feature with its reference, choosing the test as Evidently
 * does, except that "small" means min(reference, window) ≤ 1000 samples and the chi-square
 * test is the two-sample test of homogeneity (see docs):
 * small: numeric with > 5 distinct values → KS (p ≤ 0.05); > 2 distinct → chi-square
 * (p < 0.05); ≤ 2 → z-test (p < 0.05); large: numeric with > 5 distinct → normed Wasserstein
 * (≥ 0.1); else Jensen–Shannon (≥ 0.1). PSI (threshold-free bands) is computed for all.
 */
export function compareFeature(ref: FeatureProfile, column: Column): FeatureDrift {
  const isStrings = column.length > 0 && typeof column[0] === 'string';
  const numericCur = isStrings ? undefined : sortedFinite(column as number[]);
  const curCounts = isStrings ? countStrings(column as string[], ref.distinct && Object.hasOwn(ref.distinct, OTHER) ? ref.distinct : undefined) : countNumbers(numericCur!, MAX_DISTINCT + 1);
  const m = isStrings ? column.length : numericCur!.length;
  // distinct values in reference ∪ current (Infinity when above MAX_DISTINCT)
  let keys: string[] | undefined;
  if (ref.distinct && curCounts) {
    const set = new Set([...Object.keys(ref.distinct), ...Object.keys(curCounts)]);
    if (set.size <= MAX_DISTINCT || ref.kind === 'categorical') keys = sortKeys([...set]);
  }
  const u = keys ? keys.length : Number.POSITIVE_INFINITY;
  const numericLike = ref.kind === 'numeric' && u > 5;
  const refSample = ref.sample ?? [];
  const n = numericLike ? refSample.length : ref.count;
  const small = Math.min(n, m) <= SMALL_SAMPLE;

  const base = { name: ref.name, kind: ref.kind, reference_count: n, current_count: m, reference_mean: ref.mean };
  const curMean = numericCur && numericCur.length > 0 ? mean(numericCur) : undefined;

  // PSI and JS share the binning: Sturges bins over reference ∪ current for numeric features
  // with more than MAX_DISTINCT values, one bin per value otherwise.
  let refBins: number[];
  let curBins: number[];
  if (keys) {
    refBins = keys.map((k) => own(ref.distinct!, k));
    curBins = keys.map((k) => own(curCounts!, k));
  } else {
    const lo = Math.min(refSample[0] ?? Infinity, numericCur!.length ? numericCur![0] : Infinity);
    const hi = Math.max(refSample[refSample.length - 1] ?? -Infinity, numericCur!.length ? numericCur![numericCur!.length - 1] : -Infinity);
    const edges = sturgesEdges(lo, hi, refSample.length + numericCur!.length);
    refBins = histogramSorted(refSample, edges);
    curBins = histogramSorted(numericCur!, edges);
  }
  const psiValue = m > 0 && n > 0 ? psi(toShares(refBins), toShares(curBins)) : Number.NaN;
  const withPsi = { psi: psiValue, psi_band: psiBand(psiValue), current_mean: curMean };

  if (m === 0 || n === 0) {
    return { ...base, ...withPsi, method: 'ks', statistic: Number.NaN, score_type: 'p_value', threshold: P_THRESHOLD, drifted: false };
  }
  if (small) {
    if (numericLike) {
      const ks = ksTwoSample(refSample, numericCur!);
      return { ...base, ...withPsi, method: 'ks', statistic: ks.pValue, score_type: 'p_value', threshold: P_THRESHOLD, drifted: ks.pValue <= P_THRESHOLD, test_statistic: ks.statistic };
    }
    if (u > 2) {
      const chi = chiSquareHomogeneity(refBins, curBins);
      return { ...base, ...withPsi, method: 'chisquare', statistic: chi.pValue, score_type: 'p_value', threshold: P_THRESHOLD, drifted: chi.pValue < P_THRESHOLD, test_statistic: chi.statistic };
    }
    const z = u <= 1 ? { statistic: 0, pValue: 1 } : zTestProportions(refBins[0], ref.count, curBins[0], m);
    return { ...base, ...withPsi, method: 'z', statistic: z.pValue, score_type: 'p_value', threshold: P_THRESHOLD, drifted: z.pValue < P_THRESHOLD, test_statistic: z.statistic };
  }
  if (numericLike) {
    const w = wassersteinNormed(refSample, numericCur!, ref.std ?? 0);
    return { ...base, ...withPsi, method: 'wasserstein', statistic: w, score_type: 'distance', threshold: DISTANCE_THRESHOLD, drifted: w >= DISTANCE_THRESHOLD };
  }
  const js = jensenShannon(refBins, curBins);
  return { ...base, ...withPsi, method: 'jensenshannon', statistic: js, score_type: 'distance', threshold: DISTANCE_THRESHOLD, drifted: js >= DISTANCE_THRESHOLD };
}

/** A counts object without a prototype: values like "constructor" or "__proto__" are plain keys. */
function emptyCounts(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

function own(counts: Record<string, number>, key: string): number {
  return Object.hasOwn(counts, key) ? counts[key] : 0;
}

function sortKeys(keys: string[]): string[] {
  return keys.sort((a, b) => {
    const x = Number(a);
    const y = Number(b);
    return Number.isNaN(x) || Number.isNaN(y) ? (a < b ? -1 : a > b ? 1 : 0) : x - y;
  });
}

/** value → count; with `known` (a profile that lumped rare values together), unknown values count as OTHER. */
function countStrings(values: string[], known?: Record<string, number>): Record<string, number> {
  const counts = emptyCounts();
  for (const raw of values) {
    const v = known && !Object.hasOwn(known, raw) ? OTHER : raw;
    counts[v] = (counts[v] ?? 0) + 1;
  }
  return counts;
}

/** value → count of sorted numbers, or undefined above `limit` distinct values. */
function countNumbers(sorted: Float64Array, limit: number): Record<string, number> | undefined {
  const counts = emptyCounts();
  let distinct = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    if (++distinct > limit) return undefined;
    counts[String(sorted[i])] = j - i;
    i = j;
  }
  return counts;
}

export interface TensorsDrift {
  drifted: boolean;
  drifted_share: number;
  n_features: number;
  n_drifted: number;
  features: FeatureDrift[];
}

/** Compares every feature of some tensors; the verdict is share of drifted features ≥ 0.5. */
export function compareTensors(refs: TensorProfile[], columnsByTensor: Map<string, Column[]>): TensorsDrift {
  const features: FeatureDrift[] = [];
  for (const t of refs) {
    const cols = columnsByTensor.get(t.name);
    if (!cols) continue;
    t.features.forEach((f, i) => features.push(compareFeature(f, cols[i] ?? [])));
  }
  const counted = features.filter((f) => f.current_count > 0);
  const nDrifted = counted.filter((f) => f.drifted).length;
  const share = counted.length ? nDrifted / counted.length : 0;
  return { drifted: counted.length > 0 && share >= DRIFT_SHARE, drifted_share: share, n_features: counted.length, n_drifted: nDrifted, features };
}
