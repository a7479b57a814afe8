/**
 * The drift statistics against values computed independently: numpy (Debian python3-numpy)
 * for the empirical quantities, closed forms in Python's math module for the p-values, and
 * published table values of the Kolmogorov and chi-square distributions.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chiSquareGof, chiSquareHomogeneity, chiSquareSf, fillZeroShares, gammaQ, histogramSorted, jensenShannon, kolmogorovSf, ksTwoSample, mean,
  normalSf, psi, psiBand, sortedFinite, std, sturgesEdges, toShares, wasserstein1, wassersteinNormed,
  zTestProportions,
} from '../../src/monitor/drift/stats.js';
import { quantileLinear } from '../../src/util/stats.js';
import { hasNumpy, normals, python } from './helpers-drift.js';

const near = (actual: number, expected: number, tol: number, what: string): void => {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected} (tol ${tol})`);
};

// The numpy side: written from the definitions, not from berth's code.
const ORACLE = String.raw`
import json, math, sys
import numpy as np
cases = json.load(sys.stdin)
out = []
def kolmogorov_sf(lam):
    if lam <= 0: return 1.0
    return float(2 * sum((-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 200)))
for c in cases:
    a = np.sort(np.array(c['a'], dtype=np.float64)); b = np.sort(np.array(c['b'], dtype=np.float64))
    n, m = len(a), len(b)
    allv = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(a, allv, side='right') / n
    cdf_b = np.searchsorted(b, allv, side='right') / m
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    en = n * m / (n + m)
    lam = (math.sqrt(en) + 0.12 + 0.11 / math.sqrt(en)) * d
    deltas = np.diff(allv)
    w = float(np.sum(np.abs(cdf_a[:-1] - cdf_b[:-1]) * deltas))
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins='sturges')
    ha, _ = np.histogram(a, bins=edges); hb, _ = np.histogram(b, bins=edges)
    pa = ha / ha.sum(); pb = hb / hb.sum()
    mm = (pa + pb) / 2
    with np.errstate(divide='ignore', invalid='ignore'):
        kl_a = np.where(pa > 0, pa * np.log(pa / mm), 0.0).sum()
        kl_b = np.where(pb > 0, pb * np.log(pb / mm), 0.0).sum()
    js = math.sqrt(max(0.0, (kl_a + kl_b) / 2))
    def fill(p):
        p = p.copy(); nz = p[p > 0].min()
        p[p == 0] = nz / 1e6 if nz <= 0.0001 else 0.0001
        return p
    fa, fb = fill(pa), fill(pb)
    psi = float(np.sum((fa - fb) * np.log(fa / fb)))
    out.append(dict(d=d, p=kolmogorov_sf(lam), w=w, w_normed=w / max(float(np.std(a)), 0.001), edges=edges.tolist(),
                    ha=ha.tolist(), hb=hb.tolist(), js=js, psi=psi, mean=float(np.mean(a)), std=float(np.std(a)),
                    q=[float(np.quantile(a, q)) for q in (0, 0.01, 0.25, 0.5, 0.9, 0.999, 1)]))
print(json.dumps(out))
`;

describe('drift statistics', { skip: hasNumpy() ? false : 'needs /usr/bin/python3 with numpy (Debian python3-numpy)' }, () => {
  const cases = [
    { a: normals(1, 400), b: normals(2, 300) },
    { a: normals(3, 1000), b: normals(4, 500, 0.3, 1) },
    { a: normals(5, 200), b: normals(6, 800, 0, 1.5) },
    { a: normals(7, 50, 10, 3), b: normals(8, 60, 11, 3) },
    // ties and few distinct values
    { a: normals(9, 300).map((x) => Math.round(x * 2)), b: normals(10, 250, 0.5).map((x) => Math.round(x * 2)) },
    // disjoint supports
    { a: [1, 2, 3, 4, 5], b: [10, 11, 12] },
  ];
  const expected = python<{ d: number; p: number; w: number; w_normed: number; edges: number[]; ha: number[]; hb: number[]; js: number; psi: number; mean: number; std: number; q: number[] }[]>(ORACLE, cases);

  test('KS statistic and asymptotic p-value match numpy and the Kolmogorov series', () => {
    cases.forEach((c, i) => {
      const ks = ksTwoSample(sortedFinite(c.a), sortedFinite(c.b));
      near(ks.statistic, expected[i].d, 1e-12, `D case ${i}`);
      near(ks.pValue, expected[i].p, 1e-9, `p case ${i}`);
    });
  });

  test('Kolmogorov distribution at table values (both series forms)', () => {
    // Classical critical values of the Kolmogorov distribution: P(K > λ) = α.
    near(kolmogorovSf(1.3581), 0.05, 2e-4, 'λ 1.3581');
    near(kolmogorovSf(1.2238), 0.1, 2e-4, 'λ 1.2238');
    near(kolmogorovSf(1.6276), 0.01, 2e-4, 'λ 1.6276');
    near(kolmogorovSf(0.8276), 0.5, 2e-4, 'λ 0.8276 (median)');
    // the two series agree where they meet
    near(kolmogorovSf(1.1799), kolmogorovSf(1.1801), 1e-3, 'continuity at 1.18');
    assert.equal(kolmogorovSf(0), 1);
    assert.ok(kolmogorovSf(0.2) > 0.999999);
  });

  test('Wasserstein-1 and its normed form match numpy', () => {
    cases.forEach((c, i) => {
      const a = sortedFinite(c.a);
      const b = sortedFinite(c.b);
      near(wasserstein1(a, b), expected[i].w, 1e-9, `W case ${i}`);
      near(wassersteinNormed(a, b), expected[i].w_normed, 1e-9, `W normed case ${i}`);
    });
    // by hand: two point masses 3 apart
    assert.equal(wasserstein1([0], [3]), 3);
    // by hand: {0, 1} vs {0, 2}: half the mass moves 1
    assert.equal(wasserstein1([0, 1], [0, 2]), 0.5);
  });

  test('Sturges edges, histograms, JS distance and PSI match numpy', () => {
    cases.forEach((c, i) => {
      const a = sortedFinite(c.a);
      const b = sortedFinite(c.b);
      const edges = sturgesEdges(Math.min(a[0], b[0]), Math.max(a[a.length - 1], b[b.length - 1]), a.length + b.length);
      assert.equal(edges.length, expected[i].edges.length, `bins case ${i}`);
      edges.forEach((e, k) => near(e, expected[i].edges[k], 1e-12, `edge ${k} case ${i}`));
      const ha = histogramSorted(a, edges);
      const hb = histogramSorted(b, edges);
      assert.deepEqual(ha, expected[i].ha, `hist a case ${i}`);
      assert.deepEqual(hb, expected[i].hb, `hist b case ${i}`);
      near(jensenShannon(ha, hb), expected[i].js, 1e-12, `JS case ${i}`);
      near(psi(toShares(ha), toShares(hb)), expected[i].psi, 1e-9, `PSI case ${i}`);
    });
  });

  test('mean, std (ddof 0) and quantiles (linear) match numpy', () => {
    cases.forEach((c, i) => {
      const a = sortedFinite(c.a);
      near(mean(a), expected[i].mean, 1e-12, `mean ${i}`);
      near(std(a), expected[i].std, 1e-12, `std ${i}`);
      [0, 0.01, 0.25, 0.5, 0.9, 0.999, 1].forEach((q, k) => near(quantileLinear(a, q), expected[i].q[k], 1e-12, `q${q} case ${i}`));
    });
  });

  test('JS distance and PSI on hand-computed examples', () => {
    assert.equal(jensenShannon([1, 0], [1, 0]), 0);
    // disjoint: JSD = ln 2, distance √ln 2
    near(jensenShannon([1, 0], [0, 1]), Math.sqrt(Math.LN2), 1e-15, 'disjoint');
    // PSI of (0.5, 0.5) vs (0.25, 0.75) = 0.25 ln 2 − 0.25 ln(2/3) = 0.25 ln 3
    near(psi([0.5, 0.5], [0.25, 0.75]), 0.25 * Math.log(3), 1e-15, 'PSI by hand');
    // zero fill: a share of 0 next to shares above 0.0001 becomes 0.0001
    assert.deepEqual(fillZeroShares([0, 0.5, 0.5]), [0.0001, 0.5, 0.5]);
    // next to a tiny share it becomes that share / 10⁶
    assert.deepEqual(fillZeroShares([0, 0.00005, 0.99995]), [0.00005 / 1e6, 0.00005, 0.99995]);
    assert.deepEqual(['insignificant', 'moderate', 'moderate', 'major'], [0.05, 0.1, 0.2, 0.25].map(psiBand));
  });

  test('chi-square p-values match closed forms and table values', () => {
    const closed = python<number[]>(
      String.raw`
import json, math, sys
def sf(x, k):
    # even k: Poisson sum; odd k: erfc plus the same kind of sum (closed forms of the χ² tail)
    if k % 2 == 0:
        return math.exp(-x / 2) * sum((x / 2) ** i / math.factorial(i) for i in range(k // 2))
    s = math.erfc(math.sqrt(x / 2))
    for j in range(1, (k - 1) // 2 + 1):
        s += math.exp((j - 0.5) * math.log(x / 2) - x / 2 - math.lgamma(j + 0.5))
    return s
print(json.dumps([sf(x, k) for x, k in json.load(sys.stdin)]))
`,
      [[3.841458820694124, 1], [5.991464547107979, 2], [11.070497693516351, 5], [0.5, 1], [20, 9], [100, 30], [2.5, 4], [42.0, 40], [1e-3, 3]],
    );
    const inputs: [number, number][] = [[3.841458820694124, 1], [5.991464547107979, 2], [11.070497693516351, 5], [0.5, 1], [20, 9], [100, 30], [2.5, 4], [42.0, 40], [1e-3, 3]];
    inputs.forEach(([x, k], i) => near(chiSquareSf(x, k), closed[i], 1e-10, `χ² sf(${x}, ${k})`));
    // table: the 0.05 critical values for 1, 2, 5 degrees of freedom
    near(chiSquareSf(3.841458820694124, 1), 0.05, 1e-10, 'χ²₁ 0.95');
    near(chiSquareSf(5.991464547107979, 2), 0.05, 1e-10, 'χ²₂ 0.95');
    near(gammaQ(1, 2), Math.exp(-2), 1e-14, 'Q(1, x) = e^-x');
  });

  test('chi-square goodness of fit, by hand', () => {
    // observed (30, 20, 50) vs expected (25, 25, 50): χ² = 1 + 1 + 0 = 2, df 2, p = e^-1
    const r = chiSquareGof([30, 20, 50], [25, 25, 50]);
    near(r.statistic, 2, 1e-15, 'χ²');
    near(r.pValue, Math.exp(-1), 1e-12, 'p');
    // a category never seen in the reference: impossible under it
    assert.deepEqual(chiSquareGof([5, 5, 1], [5.5, 5.5, 0]), { statistic: Number.POSITIVE_INFINITY, pValue: 0 });
  });

  test('chi-square test of homogeneity matches numpy (2 × k contingency table)', () => {
    const tables: [number[], number[]][] = [[[30, 50, 20], [20, 40, 40]], [[700, 150, 146, 4], [350, 70, 78, 2]], [[500, 500], [230, 270]], [[10, 0, 5], [3, 4, 0]]];
    const expectedChi = python<{ stat: number; df: number; p: number }[]>(
      String.raw`
import json, math, sys
import numpy as np
def sf(x, k):
    if k % 2 == 0:
        return math.exp(-x / 2) * sum((x / 2) ** i / math.factorial(i) for i in range(k // 2))
    s = math.erfc(math.sqrt(x / 2))
    for j in range(1, (k - 1) // 2 + 1):
        s += math.exp((j - 0.5) * math.log(x / 2) - x / 2 - math.lgamma(j + 0.5))
    return s
out = []
for a, b in json.load(sys.stdin):
    t = np.array([a, b], dtype=float)
    t = t[:, t.sum(axis=0) > 0]
    e = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    stat = float(((t - e) ** 2 / e).sum()); df = t.shape[1] - 1
    out.append(dict(stat=stat, df=df, p=sf(stat, df)))
print(json.dumps(out))
`,
      tables,
    );
    tables.forEach(([a, b], i) => {
      const r = chiSquareHomogeneity(a, b);
      near(r.statistic, expectedChi[i].stat, 1e-12, `χ² table ${i}`);
      near(r.pValue, expectedChi[i].p, 1e-10, `p table ${i}`);
    });
    // a category only the current sample has is very unlikely, though not impossible, under homogeneity
    assert.ok(chiSquareHomogeneity([100, 100, 0], [40, 40, 20]).pValue < 1e-8);
  });

  test('normal tail and the two-proportion z-test', () => {
    near(normalSf(1.959963984540054), 0.025, 1e-12, 'Φ tail at 1.96');
    near(normalSf(0), 0.5, 1e-9, 'Φ tail at 0');
    near(normalSf(-1), 1 - normalSf(1), 1e-9, 'symmetry');
    const expectedZ = python<{ z: number; p: number }>(
      String.raw`
import json, math, sys
x1, n1, x2, n2 = json.load(sys.stdin)
p1, p2, p = x1 / n1, x2 / n2, (x1 + x2) / (n1 + n2)
z = (p1 - p2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
print(json.dumps(dict(z=z, p=math.erfc(abs(z) / math.sqrt(2)))))
`,
      [300, 1000, 180, 500],
    );
    const r = zTestProportions(300, 1000, 180, 500);
    near(r.statistic, expectedZ.z, 1e-12, 'z');
    near(r.pValue, expectedZ.p, 1e-12, 'p');
  });
});
