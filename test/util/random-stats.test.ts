/**
 * The shared PRNGs and quantile definitions (src/util/) against independent implementations:
 * the generators re-implemented in Python (arbitrary-precision integers, masked to 32 bits), the
 * quantiles by numpy (linear; inverted_cdf, which is the nearest-rank definition; median).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lcg32, mulberry32, xorshift32 } from '../../src/util/random.js';
import { median, quantileAtFloorIndex, quantileLinear, quantileNearestRank, sortedNumbers } from '../../src/util/stats.js';
import { NO_PYTHON, python } from '../onnx/helpers.js';

const SEEDS = [0, 1, 42, 0xdeadbeef, 2 ** 32 - 1];

describe('seeded PRNGs', () => {
  test('mulberry32, lcg32 and xorshift32 give the sequences of an independent Python implementation', { skip: NO_PYTHON }, () => {
    const script = `
import json, sys
M = 0xffffffff
def imul(a, b): return (a * b) & M
def mulberry32(seed, n):
    s, out = seed & M, []
    for _ in range(n):
        s = (s + 0x6d2b79f5) & M
        t = imul(s ^ (s >> 15), s | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & M
        out.append(((t ^ (t >> 14)) & M) / 4294967296)
    return out
def lcg32(seed, n, a=1664525, c=1013904223):
    s, out = seed & M, []
    for _ in range(n):
        s = (imul(s, a) + c) & M
        out.append(s)
    return out
def xorshift32(seed, n):
    s, out = seed & M, []
    for _ in range(n):
        s ^= (s << 13) & M
        s ^= s >> 17
        s ^= (s << 5) & M
        out.append(s)
    return out
seeds = json.loads(sys.argv[1])
print(json.dumps({'mulberry32': [mulberry32(s, 64) for s in seeds], 'lcg32': [lcg32(s, 64) for s in seeds],
                  'glibc': [lcg32(s, 64, 1103515245, 12345) for s in seeds], 'xorshift32': [xorshift32(s, 64) for s in seeds]}))
`;
    const want = JSON.parse(python(script, [JSON.stringify(SEEDS)])) as Record<'mulberry32' | 'lcg32' | 'glibc' | 'xorshift32', number[][]>;
    SEEDS.forEach((seed, i) => {
      const draw = (next: () => number): number[] => Array.from({ length: 64 }, next);
      assert.deepEqual(draw(mulberry32(seed)), want.mulberry32[i], `mulberry32(${seed})`);
      assert.deepEqual(draw(lcg32(seed)), want.lcg32[i], `lcg32(${seed})`);
      assert.deepEqual(draw(lcg32(seed, 1103515245, 12345)), want.glibc[i], `lcg32(${seed}, 1103515245, 12345)`);
      assert.deepEqual(draw(xorshift32(seed)), want.xorshift32[i], `xorshift32(${seed})`);
    });
  });

  test('mulberry32 stays in [0, 1) and two seeds give different streams', () => {
    const a = mulberry32(7);
    const b = mulberry32(8);
    let same = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = a();
      assert.ok(x >= 0 && x < 1);
      if (x === b()) same++;
    }
    assert.ok(same < 5);
  });
});

describe('medians and quantiles', () => {
  const samples = [[5], [3, 1], [9, 2, 7], [4, 8, 1, 6], [10, 3, 3, 7, 1, 12, 5, 9, 2, 8, 6, 11, 4]];
  const QS = [0, 0.01, 0.25, 0.5, 0.9, 0.99, 1];

  test('linear, nearest-rank and the median agree with numpy (linear, inverted_cdf, median)', { skip: NO_PYTHON }, () => {
    const script = `
import json, sys
import numpy as np
samples, qs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps([{'linear': [float(np.quantile(s, q)) for q in qs], 'rank': [float(np.quantile(s, q, method='inverted_cdf')) for q in qs], 'median': float(np.median(s))} for s in samples]))
`;
    const want = JSON.parse(python(script, [JSON.stringify(samples), JSON.stringify(QS)])) as { linear: number[]; rank: number[]; median: number }[];
    samples.forEach((s, i) => {
      const sorted = sortedNumbers(s);
      QS.forEach((q, k) => {
        assert.ok(Math.abs(quantileLinear(sorted, q) - want[i].linear[k]) < 1e-12, `linear q${q} of ${s}`);
        assert.equal(quantileNearestRank(sorted, q), want[i].rank[k], `nearest rank q${q} of ${s}`);
      });
      assert.equal(median(s), want[i].median, `median of ${s}`);
    });
  });

  test('element ⌊q·n⌋: the upper median at 0.5, clamped at 1', () => {
    assert.equal(quantileAtFloorIndex([1, 2, 3, 4], 0.5), 3);
    assert.equal(quantileAtFloorIndex([1, 2, 3], 0.5), 2);
    assert.equal(quantileAtFloorIndex([1, 2, 3, 4], 1), 4);
    assert.equal(quantileAtFloorIndex(sortedNumbers([40, 10, 30, 20]), 0.25), 20);
  });

  test('no values: NaN; sortedNumbers sorts numerically and leaves its input alone', () => {
    for (const f of [quantileLinear, quantileNearestRank, quantileAtFloorIndex]) assert.ok(Number.isNaN(f([], 0.5)));
    assert.ok(Number.isNaN(median([])));
    const input = [10, 9, 100, 1];
    assert.deepEqual(sortedNumbers(input), [1, 9, 10, 100]);
    assert.deepEqual(input, [10, 9, 100, 1]);
    assert.deepEqual(sortedNumbers(new Float64Array([2, 1])), [1, 2]);
  });
});
