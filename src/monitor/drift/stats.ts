/**
 * The statistics behind drift detection, written from their definitions (see
 * docs/monitoring.md "Drift" for the tests, defaults and where they come from):
 *
 * - two-sample Kolmogorov–Smirnov statistic D = sup |F_ref − F_cur| and its asymptotic p-value
 *   (Kolmogorov distribution, Stephens' small-sample correction of λ),
 * - Wasserstein-1 between empirical distributions, ∫ |F_ref − F_cur| dx, normalised by the
 *   reference standard deviation (floored at 0.001) as Evidently's `wasserstein` test does,
 * - Jensen–Shannon distance (natural log, the square root of the divergence) on shared bins,
 * - PSI = Σ (ref% − cur%) · ln(ref% / cur%) with Evidently's zero fill,
 * - chi-square tests (goodness of fit, and homogeneity of two samples, which drift uses) and
 *   the two-proportion z-test, with their p-values from the regularised incomplete gamma
 *   function,
 * - numpy-compatible quantiles (linear interpolation) and Sturges histogram edges.
 *
 * Arrays passed as `sorted` must be sorted ascending and free of NaN.
 */

/** Ascending copy without NaN. */
export function sortedFinite(values: ArrayLike<number>): Float64Array {
  let n = 0;
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isNaN(v)) out[n++] = v;
  }
  return out.subarray(0, n).sort();
}

export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) return Number.NaN;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

/** Population standard deviation (numpy's default, ddof = 0). */
export function std(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const m = mean(values);
  let s = 0;
  for (let i = 0; i < n; i++) s += (values[i] - m) ** 2;
  return Math.sqrt(s / n);
}

/** Index of the first element > x (upper bound) in a sorted array. */
function upperBound(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Kolmogorov's limiting distribution, P(K > λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2 j² λ²}.
 * For small λ the series converges slowly; there the complementary form
 * P(K ≤ λ) = √(2π)/λ Σ_{j≥1} e^{−(2j−1)² π² / (8 λ²)} is used instead.
 */
export function kolmogorovSf(lambda: number): number {
  if (!(lambda > 0)) return 1;
  if (lambda < 1.18) {
    const y = Math.exp((-Math.PI * Math.PI) / (8 * lambda * lambda));
    let s = 0;
    for (let j = 1; j <= 16; j++) s += y ** ((2 * j - 1) ** 2);
    return Math.min(1, Math.max(0, 1 - (Math.sqrt(2 * Math.PI) / lambda) * s));
  }
  let s = 0;
  for (let j = 1; j <= 100; j++) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    s += j % 2 === 1 ? term : -term;
    if (term < 1e-16) break;
  }
  return Math.min(1, Math.max(0, 2 * s));
}

export interface KsResult {
  /** D = sup_x |F_a(x) − F_b(x)| */
  statistic: number;
  pValue: number;
}

/**
 * Two-sample Kolmogorov–Smirnov test (two-sided). The p-value is asymptotic:
 * Q_KS(λ) with λ = (√nₑ + 0.12 + 0.11/√nₑ)·D and nₑ = n·m/(n+m) (Stephens, 1970).
 */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>): KsResult {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return { statistic: Number.NaN, pValue: Number.NaN };
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const x = Math.min(a[i], b[j]);
    while (i < n && a[i] <= x) i++;
    while (j < m && b[j] <= x) j++;
    const diff = Math.abs(i / n - j / m);
    if (diff > d) d = diff;
  }
  const en = (n * m) / (n + m);
  const sq = Math.sqrt(en);
  return { statistic: d, pValue: kolmogorovSf((sq + 0.12 + 0.11 / sq) * d) };
}

/** W₁ between two empirical distributions: ∫ |F_a(x) − F_b(x)| dx (scipy.stats.wasserstein_distance). */
export function wasserstein1(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return Number.NaN;
  let i = 0;
  let j = 0;
  let total = 0;
  let prev = Math.min(a[0], b[0]);
  while (i < n || j < m) {
    const x = j >= m || (i < n && a[i] <= b[j]) ? a[i] : b[j];
    // F_a and F_b are constant on [prev, x): add the area between them.
    total += Math.abs(i / n - j / m) * (x - prev);
    while (i < n && a[i] <= x) i++;
    while (j < m && b[j] <= x) j++;
    prev = x;
  }
  return total;
}

/** Evidently's normed Wasserstein: W₁(ref, cur) / max(std(ref), 0.001). */
export function wassersteinNormed(ref: ArrayLike<number>, cur: ArrayLike<number>, refStd = std(ref)): number {
  return wasserstein1(ref, cur) / Math.max(refStd, 0.001);
}

/** numpy.histogram_bin_edges(values, bins='sturges'): ceil(log2 n) + 1 equal bins over [min, max]. */
export function sturgesEdges(min: number, max: number, n: number): number[] {
  let lo = min;
  let hi = max;
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const bins = Math.max(1, Math.ceil(Math.log2(n) + 1));
  const edges = new Array<number>(bins + 1);
  for (let k = 0; k <= bins; k++) edges[k] = lo + ((hi - lo) * k) / bins;
  edges[bins] = hi;
  return edges;
}

/** numpy.histogram counts of sorted values on edges (bins half-open, the last one closed). */
export function histogramSorted(sorted: ArrayLike<number>, edges: readonly number[]): number[] {
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  let start = lowerBound(sorted, edges[0]);
  for (let k = 0; k < bins; k++) {
    const end = k === bins - 1 ? upperBound(sorted, edges[bins]) : lowerBound(sorted, edges[k + 1]);
    counts[k] = Math.max(0, end - start);
    start = end;
  }
  return counts;
}

/** Index of the first element ≥ x. */
function lowerBound(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Counts → shares summing to 1. */
export function toShares(counts: readonly number[]): number[] {
  const total = counts.reduce((s, c) => s + c, 0);
  return counts.map((c) => (total > 0 ? c / total : 0));
}

/**
 * Evidently's zero fill for PSI: empty bins get min(non-zero share)/10⁶ when that minimum is at
 * most 0.0001, else 0.0001 (so the logarithm stays finite).
 */
export function fillZeroShares(shares: readonly number[]): number[] {
  const nonzero = shares.filter((s) => s > 0);
  if (nonzero.length === 0) return shares.slice();
  const min = Math.min(...nonzero);
  const fill = min <= 0.0001 ? min / 1e6 : 0.0001;
  return shares.map((s) => (s === 0 ? fill : s));
}

/** Population stability index of two share vectors on the same bins (zero-filled here). */
export function psi(refShares: readonly number[], curShares: readonly number[]): number {
  const r = fillZeroShares(refShares);
  const c = fillZeroShares(curShares);
  let s = 0;
  for (let k = 0; k < r.length; k++) s += (r[k] - c[k]) * Math.log(r[k] / c[k]);
  return s;
}

export type PsiBand = 'insignificant' | 'moderate' | 'major';

/** The rule-of-thumb bands: < 0.1 insignificant, 0.1–0.25 moderate, ≥ 0.25 major. */
export function psiBand(value: number): PsiBand {
  if (value < 0.1) return 'insignificant';
  if (value < 0.25) return 'moderate';
  return 'major';
}

/**
 * Jensen–Shannon distance √JSD with natural logarithms (scipy.spatial.distance.jensenshannon's
 * default base): both vectors are normalised to sum 1 first; the value is in [0, √ln 2].
 */
export function jensenShannon(p: readonly number[], q: readonly number[]): number {
  const ps = toShares(p);
  const qs = toShares(q);
  let js = 0;
  for (let k = 0; k < ps.length; k++) {
    const m = (ps[k] + qs[k]) / 2;
    if (ps[k] > 0) js += ps[k] * Math.log(ps[k] / m);
    if (qs[k] > 0) js += qs[k] * Math.log(qs[k] / m);
  }
  return Math.sqrt(Math.max(0, js / 2));
}

// --- p-values from special functions ---------------------------------------------------------

const LANCZOS = [
  676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = 0.99999999999980993;
  const t = z + 7.5;
  for (let k = 0; k < LANCZOS.length; k++) a += LANCZOS[k] / (z + k + 1);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * Regularised upper incomplete gamma Q(s, x) = Γ(s, x)/Γ(s): the power series of P below
 * x < s + 1, the continued fraction (modified Lentz) above.
 */
export function gammaQ(s: number, x: number): number {
  if (x <= 0) return 1;
  if (!Number.isFinite(x)) return 0;
  const lnPrefix = s * Math.log(x) - x - logGamma(s);
  if (x < s + 1) {
    let term = 1 / s;
    let sum = term;
    for (let k = 1; k < 1000; k++) {
      term *= x / (s + k);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return Math.min(1, Math.max(0, 1 - sum * Math.exp(lnPrefix)));
  }
  const tiny = 1e-300;
  let b = x + 1 - s;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let k = 1; k < 1000; k++) {
    const an = -k * (k - s);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.min(1, Math.max(0, Math.exp(lnPrefix) * h));
}

/** P(χ²_df > x). */
export function chiSquareSf(x: number, df: number): number {
  if (df <= 0) return Number.NaN;
  return gammaQ(df / 2, x / 2);
}

export interface TestResult {
  statistic: number;
  pValue: number;
}

/**
 * Pearson's chi-square goodness of fit (scipy.stats.chisquare): Σ (o − e)²/e with k − 1 degrees
 * of freedom. A category expected 0 times but observed is infinitely unlikely: p = 0.
 */
export function chiSquareGof(observed: readonly number[], expected: readonly number[]): TestResult {
  let stat = 0;
  for (let k = 0; k < observed.length; k++) {
    const o = observed[k];
    const e = expected[k];
    if (e === 0) {
      if (o > 0) return { statistic: Number.POSITIVE_INFINITY, pValue: 0 };
      continue;
    }
    stat += ((o - e) * (o - e)) / e;
  }
  const df = observed.length - 1;
  if (df < 1) return { statistic: 0, pValue: 1 };
  return { statistic: stat, pValue: chiSquareSf(stat, df) };
}

/**
 * Pearson's chi-square test of homogeneity for two samples of counts over the same categories
 * (the 2 × k contingency table; scipy.stats.chi2_contingency without Yates' correction):
 * Σ (o − e)²/e over both rows with e = row total · column total / N, k − 1 degrees of freedom
 * (k = categories seen in either sample). Unlike the goodness of fit against the reference's
 * proportions, it counts the reference's own sampling noise, so it holds its level.
 */
export function chiSquareHomogeneity(a: readonly number[], b: readonly number[]): TestResult {
  const n = a.reduce((s, x) => s + x, 0);
  const m = b.reduce((s, x) => s + x, 0);
  const total = n + m;
  if (n === 0 || m === 0) return { statistic: 0, pValue: 1 };
  let stat = 0;
  let k = 0;
  for (let i = 0; i < a.length; i++) {
    const col = a[i] + b[i];
    if (col === 0) continue;
    k++;
    const ea = (n * col) / total;
    const eb = (m * col) / total;
    stat += ((a[i] - ea) * (a[i] - ea)) / ea + ((b[i] - eb) * (b[i] - eb)) / eb;
  }
  if (k < 2) return { statistic: 0, pValue: 1 };
  return { statistic: stat, pValue: chiSquareSf(stat, k - 1) };
}

/** erfc(x) = Q(½, x²) for x ≥ 0, and 2 − erfc(−x) below. */
export function erfc(x: number): number {
  const r = gammaQ(0.5, x * x);
  return x >= 0 ? r : 2 - r;
}

/** P(Z > z) for a standard normal Z. */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/**
 * Two-proportion z-test (pooled variance, two-sided): the share of one category in the
 * reference (x1 of n1) against the current window (x2 of n2).
 */
export function zTestProportions(x1: number, n1: number, x2: number, n2: number): TestResult {
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const p = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
  if (!(se > 0)) return { statistic: 0, pValue: p1 === p2 ? 1 : 0 };
  const z = (p1 - p2) / se;
  return { statistic: z, pValue: Math.min(1, 2 * normalSf(Math.abs(z))) };
}

// --- normal draws (for projections and tests; seeded uniform sources: util/random.ts) ----------

/** Standard normal draws from a uniform source (Box–Muller). */
export function gaussian(random: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}
