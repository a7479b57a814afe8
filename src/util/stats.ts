/**
 * Medians and quantiles of samples. The definitions differ and each caller keeps the one its
 * figures were defined with, so each has its own name:
 *
 * - quantileNearestRank: the smallest value with at least q of the samples at or below it
 *   (element ⌈q·n⌉ − 1); every answer is a measured value (latency p50/p99).
 * - quantileLinear: numpy.quantile's default ('linear'), interpolating between neighbours.
 * - quantileAtFloorIndex: element ⌊q·n⌋ (clamped); for q = 0.5 the upper median.
 * - median: the middle value, or the mean of the two middle values.
 *
 * The quantile functions take values sorted ascending (sortedNumbers makes a sorted copy) and
 * answer NaN for no values. Not the Prometheus histogram quantile (monitor/histogram-quantile.ts),
 * which estimates from bucket counts. A leaf module: it imports nothing of berth.
 */

/** An ascending copy of `values` (numeric order, not Array.prototype.sort's string order). */
export function sortedNumbers(values: Iterable<number>): number[] {
  return Array.from(values).sort((a, b) => a - b);
}

/** Nearest-rank quantile, q in [0, 1], of ascending values: element ⌈q·n⌉ − 1, clamped. */
export function quantileNearestRank(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
}

/** numpy.quantile(values, q) with the default 'linear' method, q in [0, 1], of ascending values. */
export function quantileLinear(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Element ⌊q·n⌋ of ascending values, clamped to the last; q = 0.5 gives the upper median. */
export function quantileAtFloorIndex(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return sorted[Math.min(n - 1, Math.floor(q * n))];
}

/** The median of values in any order: the middle one, or the mean of the two middle ones; NaN for none. */
export function median(values: Iterable<number>): number {
  const s = sortedNumbers(values);
  const n = s.length;
  if (n === 0) return Number.NaN;
  const m = n >> 1;
  return n % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
