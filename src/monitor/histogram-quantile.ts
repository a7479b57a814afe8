/**
 * Quantiles from Prometheus-style histogram buckets, the way PromQL's histogram_quantile()
 * estimates them: find the bucket holding the rank, interpolate linearly inside it. Pure and
 * dependency-free, because the web dashboard runs the same function in the browser (on its
 * own samples of /metrics when it cannot read the server's history).
 */

/** One bucket: its upper bound (`Infinity` for +Inf) and the cumulative count up to it. */
export interface CumulativeBucket {
  le: number;
  count: number;
}

/**
 * The q-quantile (0..1) of the observations in cumulative buckets sorted by `le`, or null when
 * there are none. Values in the +Inf bucket are reported as the highest finite bound (PromQL
 * does the same: a histogram cannot say more).
 */
export function histogramQuantile(q: number, buckets: readonly CumulativeBucket[]): number | null {
  if (buckets.length === 0) return null;
  const total = buckets[buckets.length - 1]!.count;
  if (!(total > 0)) return null;
  const rank = Math.min(Math.max(q, 0), 1) * total;
  let previousLe = 0;
  let previousCount = 0;
  for (const b of buckets) {
    if (b.count >= rank && b.count > previousCount) {
      if (b.le === Infinity) return previousLe;
      // The first bucket starts at 0 (durations and sizes are never negative).
      return previousLe + ((b.le - previousLe) * (rank - previousCount)) / (b.count - previousCount);
    }
    previousLe = b.le === Infinity ? previousLe : b.le;
    previousCount = b.count;
  }
  return previousLe;
}

/** Parses a Prometheus `le` label value ('0.005', '+Inf'). */
export function parseLe(le: string): number {
  return le === '+Inf' ? Infinity : Number(le);
}

/** Bucket-wise difference of two cumulative histograms (now − before), for rates over an interval. */
export function bucketDelta(now: readonly CumulativeBucket[], before: readonly CumulativeBucket[] | undefined): CumulativeBucket[] {
  if (!before || before.length !== now.length) return now.map((b) => ({ ...b }));
  const reset = now.some((b, i) => b.count < before[i]!.count);
  // A counter that went down was reset (a restarted process): the whole current value is new.
  return now.map((b, i) => ({ le: b.le, count: reset ? b.count : b.count - before[i]!.count }));
}
